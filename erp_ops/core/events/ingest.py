"""The ingest protocol: every delivery of an event has the effect of exactly one.

	new key                      → row inserted (unique (source, key)) → processed once
	same key, same payload hash  → the stored status and result, duplicate=true
	same key, another hash       → KeyConflict (409), the attempt recorded as a Conflict row
	live claim                   → InProgress (409)
	Received, Failed, or expired claim → claimed (compare-and-set) and processed: a takeover

Processing = one transaction that locks the event row (or, for a new key delivered inline, inserts
it), checks that our claim token still holds, applies the conflict policy on the locked ordering
row, runs the handler on the same connection and sets the final status. A worker killed before the commit leaves no effect and a claim that
expires; a worker whose claim was taken over finds another token and rolls back. Redis (fastpath)
is consulted first and may only answer what the database would: a cached answer is confirmed
against its row (one point read by primary key) before it is given.
"""

import json
import os
import socket
import time
import uuid
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from erp_ops.core.clock import UTC
from erp_ops.core.events import policies
from erp_ops.core.events.canonical import key_digest
from erp_ops.core.events.checks import (
	ERROR_MAX,
	CheckedEvent,
	check_request,
	refusal_record,
	validate_payload,
)
from erp_ops.core.events.errors import (
	ClaimLost,
	EventRefused,
	InProgress,
	KeyConflict,
	KeyExists,
	TransientStoreError,
)
from erp_ops.core.events.fastpath import Begin, FastPath
from erp_ops.core.events.handlers import EventHandler, HandlerRegistry
from erp_ops.core.events.models import (
	FINAL_STATUSES,
	Claim,
	Event,
	EventQuery,
	EventRecord,
	EventStatus,
	HandlerResult,
	IngestRequest,
	IngestResult,
	IngestSettings,
	Outcome,
	ReplayEntry,
)
from erp_ops.core.events.store import EventStore, Finish, WorkTransaction

DEFAULT_SETTINGS = IngestSettings()


def default_worker() -> str:
	return f"{socket.gethostname()}:{os.getpid()}"


def ingest(
	store: EventStore,
	handlers: HandlerRegistry,
	request: IngestRequest,
	*,
	settings: IngestSettings = DEFAULT_SETTINGS,
	fast: FastPath | None = None,
	inline: bool = True,
	worker: str | None = None,
	now: datetime | None = None,
) -> IngestResult:
	"""Accept one delivery; process it now (`inline`) or answer `enqueue=True` for a background `process`.

	Raises the refusals (400/409/413/422) after recording them; a handler failure is not a refusal:
	the event is stored as Failed, retryable, and the answer says so.
	"""
	now = now or datetime.now(UTC)
	try:
		checked = check_request(handlers, request, settings)
	except EventRefused as refusal:
		refusal.event_name = store.add(refusal_record(request, refusal, settings, now)).name
		raise
	digest = key_digest(request.source, request.idempotency_key)
	token = uuid.uuid4().hex
	locked = False
	if fast is not None:
		state, value = fast.begin(digest, token, checked.payload_hash, settings.inflight_lock_s)
		if state == Begin.DONE and value[0] == checked.payload_hash:
			if _confirmed(store, value[1], checked):
				return value[1]
			# The database no longer has what the cache says (restored from an older backup, the
			# row purged): the cache is wrong, the database decides and the event is processed.
			fast.forget(digest)
		if state == Begin.HELD and value == checked.payload_hash:
			raise InProgress(f"event {checked.name} is being processed", event_name=checked.name)
		# A cached answer or a holder with another payload hash: the database records the conflict.
		locked = state == Begin.LOCKED
	final: EventRecord | None = None
	try:
		claim = _claim(worker, token, now, settings) if inline else None
		new = _new_record(checked, claim, now)
		if inline:
			try:
				# Insert, handler and status in one transaction: one commit for a new key.
				final = _run(
					store, checked.handler, new, token, settings, now, insert=True, payload=checked.payload
				)[0]
				return IngestResult.of(final)
			except KeyExists:
				pass  # seen before, or inserted concurrently and now committed: the stored row answers
		record, created = store.insert_or_get(new)
		if created and not inline:
			return IngestResult.of(record, enqueue=True)
		if created:
			final = _run_claimed(store, checked.handler, record, token, settings, now)
			return IngestResult.of(final)
		final, answer = _delivered_again(
			store, handlers, record, checked, token, settings, inline, worker, now
		)
		return answer
	finally:
		if fast is not None and (locked or final is not None):
			ttl = _cache_ttl(final, settings, now) if final is not None else 0
			fast.end(digest, token if locked else None, checked.payload_hash, final, ttl)


def _confirmed(store: EventStore, answer: IngestResult, checked: CheckedEvent) -> bool:
	"""The cached answer's row is in the database, final, for this key and payload (one point read)."""
	record = store.get(answer.name)
	return (
		record is not None
		and record.status == answer.status
		and record.status in (EventStatus.PROCESSED, EventStatus.SUPERSEDED)
		and record.payload_hash == checked.payload_hash
		and record.idempotency_key == checked.request.idempotency_key
		and record.source == checked.request.source
	)


def process(
	store: EventStore,
	handlers: HandlerRegistry,
	name: str,
	*,
	settings: IngestSettings = DEFAULT_SETTINGS,
	fast: FastPath | None = None,
	worker: str | None = None,
	now: datetime | None = None,
) -> IngestResult | None:
	"""Process a stored event (the background job); a no-op answer when it is done or claimed elsewhere."""
	now = now or datetime.now(UTC)
	record = store.get(name)
	if record is None:
		return None
	if record.status in FINAL_STATUSES or record.claim_live(now):
		return IngestResult.of(record)
	token = uuid.uuid4().hex
	claimed = store.try_claim(name, _claim(worker, token, now, settings), now)
	if claimed is None:
		current = store.get(name)
		return IngestResult.of(current) if current else None
	try:
		done = _run(store, handlers.get(claimed.event_type), claimed, token, settings, now)[0]
	except ClaimLost:
		current = store.get(name)
		return IngestResult.of(current) if current else None
	if fast is not None and done.idempotency_key:
		fast.remember(key_digest(done.source, done.idempotency_key), done, _cache_ttl(done, settings, now))
	return IngestResult.of(done)


def recoverable(
	store: EventStore, *, now: datetime | None = None, received_grace_s: float = 60, limit: int = 500
) -> list[str]:
	"""Events a sweep should enqueue `process` for: Received and never picked up, or claimed by a dead worker.

	A killed background job leaves its event Processing until the claim expires; without a sweep
	it would wait for the sender's next delivery. Failed events are left to redelivery and replay.
	"""
	now = now or datetime.now(UTC)
	waiting = store.select(
		EventQuery(
			statuses=[EventStatus.RECEIVED],
			received_to=now - timedelta(seconds=received_grace_s),
			limit=limit,
		)
	)
	claimed = store.select(EventQuery(statuses=[EventStatus.PROCESSING], limit=limit))
	return [r.name for r in waiting] + [r.name for r in claimed if not r.claim_live(now)]


def _delivered_again(
	store: EventStore,
	handlers: HandlerRegistry,
	record: EventRecord,
	checked: CheckedEvent,
	token: str,
	settings: IngestSettings,
	inline: bool,
	worker: str | None,
	now: datetime,
) -> tuple[EventRecord | None, IngestResult]:
	"""The answer to a key seen before, and the final record to cache (if any)."""
	if record.payload_hash != checked.payload_hash:
		refusal = KeyConflict(
			f"the idempotency key {checked.request.idempotency_key!r} of {checked.request.source!r} was "
			f"used by {record.name} with another payload",
			existing=record.name,
		)
		conflict = refusal_record(
			checked.request, refusal, settings, now, status=EventStatus.CONFLICT, conflict_with=record.name
		)
		refusal.event_name = store.add(conflict).name
		raise refusal
	if record.status in FINAL_STATUSES:
		return record, IngestResult.of(record, duplicate=True)
	if record.claim_live(now):
		raise InProgress(f"event {record.name} is being processed", event_name=record.name)
	if not inline:
		return None, IngestResult.of(record, duplicate=True, enqueue=True)
	# Received, Failed, or a claim whose worker died: this delivery may take it over.
	claimed = store.try_claim(record.name, _claim(worker, token, now, settings), now)
	if claimed is None:
		current = store.get(record.name) or record
		if current.status in FINAL_STATUSES:
			return current, IngestResult.of(current, duplicate=True)
		raise InProgress(f"event {record.name} is being processed", event_name=record.name)
	done = _run_claimed(store, handlers.get(claimed.event_type), claimed, token, settings, now)
	return done, IngestResult.of(done, duplicate=True)


def _run_claimed(
	store: EventStore,
	handler: EventHandler | None,
	record: EventRecord,
	token: str,
	settings: IngestSettings,
	now: datetime,
) -> EventRecord:
	"""`_run` for a delivery: losing the claim to a takeover is answered as "in progress"."""
	try:
		return _run(store, handler, record, token, settings, now)[0]
	except ClaimLost:
		raise InProgress(
			f"event {record.name} was taken over by another worker", event_name=record.name
		) from None


def _run(
	store: EventStore,
	handler: EventHandler | None,
	record: EventRecord,
	token: str,
	settings: IngestSettings,
	now: datetime,
	*,
	replay: ReplayEntry | None = None,
	insert: bool = False,
	payload: Any = None,
) -> tuple[EventRecord, HandlerResult | None]:
	"""Process a claimed event in one transaction; on failure store Failed (retryable).

	With `insert`, `record` is new and is inserted in that same transaction (KeyExists when the key
	is taken); `payload` is then the already validated payload. Raises ClaimLost when our claim was
	taken over. Returns the stored outcome and what the handler reported (None when it failed).
	"""
	fail = _fail_new if insert else _fail
	if handler is None:
		return fail(store, record, token, f"no handler is registered for {record.event_type!r}", now), None
	try:
		event = to_event(record, handler, replay=replay is not None, payload=payload)
	except EventRefused as e:  # the schema changed since the event was stored
		return fail(store, record, token, str(e), now), None
	for attempt in range(settings.transient_retries + 1):
		try:
			with store.work(record.name, insert=record if insert else None) as tx:
				if tx.record.claim_token != token:
					raise ClaimLost(f"the claim on {record.name} expired and was taken over")
				applied = apply(tx, handler, event, now, replay=replay)
			return applied.record, applied.result
		except TransientStoreError as e:
			if attempt == settings.transient_retries:
				return fail(store, record, token, f"gave up after {attempt + 1} deadlocks: {e}", now), None
			time.sleep(0.01 * (attempt + 1))
		except (ClaimLost, KeyExists):
			raise
		except Exception as e:
			return fail(store, record, token, f"{type(e).__name__}: {e}", now), None
	raise AssertionError("unreachable: the loop returns or fails")


class Applied(NamedTuple):
	outcome: Outcome
	reason: str | None
	result: HandlerResult
	record: EventRecord


def apply(
	tx: WorkTransaction,
	handler: EventHandler,
	event: Event,
	now: datetime,
	*,
	replay: ReplayEntry | None = None,
) -> Applied:
	"""Inside the work transaction: policy, handler, ordering state, final status (and replay evidence)."""
	state = tx.ordering(event.source, event.entity_key) if event.entity_key else None
	outcome, reason = Outcome.APPLY, None
	if event.entity_key:
		max_age = handler.max_age.total_seconds() if handler.max_age else None
		outcome, reason = policies.decide(handler.policy, state, event, max_age_s=max_age)
	result = HandlerResult()
	if outcome == Outcome.APPLY:
		result = handler.fn(event, tx) or HandlerResult()
		if event.entity_key:
			new_state = policies.advanced(state, event)
			if new_state != state:
				tx.save_ordering(new_state)
	status = EventStatus.PROCESSED if outcome == Outcome.APPLY else EventStatus.SUPERSEDED
	# A replay keeps the changes of the first processing on the event; its own go to the replay entry.
	record = tx.finish(
		Finish(
			status=status,
			now=now,
			handler=handler.label,
			result=result.result if outcome == Outcome.APPLY else None,
			touched=None if replay else result.touched,
			changes=None if replay else result.changes,
			reason=reason,
		)
	)
	if replay is not None:
		tx.add_replay(
			replay.model_copy(
				update={
					"outcome": outcome,
					"status_after": status,
					"changes": result.changes,
					"changed": bool(result.changes),
				}
			)
		)
	return Applied(outcome, reason, result, record)


def to_event(
	record: EventRecord, handler: EventHandler, *, replay: bool = False, payload: Any = None
) -> Event:
	"""The typed event a handler receives, its stored payload validated by the handler's schema."""
	if payload is None:
		payload = validate_payload(handler, json.loads(record.payload or "null"))
	return Event(
		name=record.name,
		source=record.source,
		event_type=record.event_type,
		idempotency_key=record.idempotency_key or "",
		payload=payload,
		sequence=record.sequence,
		occurred_at=record.occurred_at,
		entity_key=record.entity_key,
		received_at=record.received_at,
		attempt=record.attempts,
		replay=replay,
	)


def _fail(store: EventStore, record: EventRecord, token: str, error: str, now: datetime) -> EventRecord:
	failed = store.fail(record.name, token, error=error[:ERROR_MAX], now=now)
	if failed is None:
		raise ClaimLost(f"the claim on {record.name} expired and was taken over")
	return failed


def _fail_new(store: EventStore, record: EventRecord, token: str, error: str, now: datetime) -> EventRecord:
	"""A new event's transaction rolled back with its row: store the row as Failed (or find it taken)."""
	failed = record.model_copy(
		update={
			"status": EventStatus.FAILED,
			"error": error[:ERROR_MAX],
			"claim_token": None,
			"claim_expires_at": None,
			"processed_at": now,
		}
	)
	stored, created = store.insert_or_get(failed)
	if not created:
		raise KeyExists(f"{record.name} was stored by another delivery meanwhile")
	return stored


def _claim(worker: str | None, token: str, now: datetime, settings: IngestSettings) -> Claim:
	return Claim(
		worker=worker or default_worker(),
		token=token,
		expires_at=now + timedelta(seconds=settings.claim_ttl_s),
	)


def _new_record(checked: CheckedEvent, claim: Claim | None, now: datetime) -> EventRecord:
	return EventRecord(
		name=checked.name,
		source=checked.request.source,
		event_type=checked.request.event_type,
		idempotency_key=checked.request.idempotency_key,
		payload=checked.canonical,
		payload_hash=checked.payload_hash,
		payload_size=len(checked.canonical.encode()),
		sequence=checked.sequence,
		occurred_at=checked.occurred_at,
		entity_key=checked.entity_key,
		status=EventStatus.PROCESSING if claim else EventStatus.RECEIVED,
		attempts=1 if claim else 0,
		handler=checked.handler.label,
		claimed_by=claim.worker if claim else None,
		claim_token=claim.token if claim else None,
		claim_expires_at=claim.expires_at if claim else None,
		received_at=now,
	)


def _cache_ttl(record: EventRecord, settings: IngestSettings, now: datetime) -> float:
	# Never past the end of retention: a purged key must not keep answering from Redis.
	left = (record.received_at + timedelta(days=settings.retention_days) - now).total_seconds()
	return min(settings.done_cache_s, left)

"""Replay stored events with a reason, dry run first; and the retention purge.

A dry run processes each selected event in a transaction that is rolled back, so it reports what
the handler would change, not a guess. A replay claims each event (also a Processed or Superseded
one), runs it through the same policy and handler as the first time, and stores a replay entry,
what changed or that nothing did, in the transaction that made the changes.
"""

import uuid
from datetime import datetime, timedelta

from erp_ops.core.clock import UTC
from erp_ops.core.errors import InvalidInput
from erp_ops.core.events.canonical import key_digest
from erp_ops.core.events.errors import ClaimLost, EventRefused
from erp_ops.core.events.fastpath import FastPath
from erp_ops.core.events.handlers import HandlerRegistry
from erp_ops.core.events.ingest import DEFAULT_SETTINGS, _claim, _run, apply, to_event
from erp_ops.core.events.models import (
	REFUSAL_STATUSES,
	EventQuery,
	EventRecord,
	EventStatus,
	IngestSettings,
	Outcome,
	PurgeResult,
	ReplayEntry,
	ReplayItem,
	ReplayReport,
)
from erp_ops.core.events.store import EventStore


def replay(
	store: EventStore,
	handlers: HandlerRegistry,
	query: EventQuery,
	*,
	reason: str,
	actor: str,
	dry_run: bool = True,
	settings: IngestSettings = DEFAULT_SETTINGS,
	fast: FastPath | None = None,
	worker: str | None = None,
	now: datetime | None = None,
) -> ReplayReport:
	"""Replay the selected events (a dry run unless `dry_run=False`); one item per event, in order."""
	if not reason or not reason.strip():
		raise InvalidInput("a replay needs a reason")
	now = now or datetime.now(UTC)
	replay_id = f"RPL-{uuid.uuid4().hex[:16]}"
	items = []
	for record in store.select(query):
		skip = _skip_reason(record, handlers, now)
		if skip:
			items.append(_item(record, Outcome.SKIP, reason=skip))
		elif dry_run:
			items.append(_dry_run(store, handlers, record, now))
		else:
			entry = ReplayEntry(
				replay_id=replay_id,
				event=record.name,
				reason=reason,
				actor=actor,
				outcome=Outcome.SKIP,
				status_after=record.status,
				at=now,
			)
			items.append(_execute(store, handlers, record, entry, settings, fast, worker, now))
	return ReplayReport(replay_id=replay_id, dry_run=dry_run, reason=reason, actor=actor, items=items)


def purge(
	store: EventStore,
	*,
	retention_days: int = DEFAULT_SETTINGS.retention_days,
	now: datetime | None = None,
	batch: int = 1000,
	max_batches: int = 1000,
) -> PurgeResult:
	"""Delete events received more than `retention_days` ago, in batches; live claims stay.

	The idempotency guarantee holds for the retention window: a key delivered again after its event
	was purged is a new event.
	"""
	now = now or datetime.now(UTC)
	cutoff = now - timedelta(days=retention_days)
	deleted = 0
	for _ in range(max_batches):
		n = store.purge(cutoff, now, batch=batch)
		deleted += n
		if n < batch:
			break
	return PurgeResult(cutoff=cutoff, deleted=deleted)


def _skip_reason(record: EventRecord, handlers: HandlerRegistry, now: datetime) -> str | None:
	if record.status in REFUSAL_STATUSES:
		return f"a {record.status.value.lower()} request: no event was accepted, nothing to replay"
	if record.claim_live(now):
		return f"in progress: claimed by {record.claimed_by} until {record.claim_expires_at}"
	if handlers.get(record.event_type) is None:
		return f"no handler is registered for {record.event_type!r}"
	return None


def _dry_run(store: EventStore, handlers: HandlerRegistry, record: EventRecord, now: datetime) -> ReplayItem:
	handler = handlers.get(record.event_type)
	try:
		event = to_event(record, handler, replay=True)
		with store.work(record.name, dry_run=True) as tx:
			outcome, reason, result, _record = apply(tx, handler, event, now)
	except EventRefused as e:
		return _item(record, Outcome.SKIP, reason=f"the stored payload no longer passes the schema: {e}")
	except Exception as e:
		return _item(record, Outcome.SKIP, reason="the handler would fail", error=f"{type(e).__name__}: {e}")
	status = EventStatus.PROCESSED if outcome == Outcome.APPLY else EventStatus.SUPERSEDED
	return _item(record, outcome, status_after=status, reason=reason, changes=result.changes)


def _execute(
	store: EventStore,
	handlers: HandlerRegistry,
	record: EventRecord,
	entry: ReplayEntry,
	settings: IngestSettings,
	fast: FastPath | None,
	worker: str | None,
	now: datetime,
) -> ReplayItem:
	token = uuid.uuid4().hex
	claimed = store.try_claim(record.name, _claim(worker, token, now, settings), now, force=True)
	if claimed is None:
		return _item(record, Outcome.SKIP, reason="claimed by another worker meanwhile")
	try:
		done, reported = _run(
			store, handlers.get(record.event_type), claimed, token, settings, now, replay=entry
		)
	except ClaimLost as e:
		return _item(record, Outcome.SKIP, reason=str(e))
	if fast is not None and done.idempotency_key:
		fast.forget(key_digest(done.source, done.idempotency_key))
	if done.status == EventStatus.FAILED:
		return _item(
			record, Outcome.SKIP, status_after=done.status, reason="the handler failed", error=done.error
		)
	changes = reported.changes if reported and done.status == EventStatus.PROCESSED else []
	outcome = Outcome.APPLY if done.status == EventStatus.PROCESSED else Outcome.SUPERSEDE
	return _item(record, outcome, status_after=done.status, reason=done.reason, changes=changes)


def _item(
	record: EventRecord,
	outcome: Outcome,
	*,
	status_after: EventStatus | None = None,
	reason: str | None = None,
	error: str | None = None,
	changes: list | None = None,
) -> ReplayItem:
	return ReplayItem(
		name=record.name,
		source=record.source,
		event_type=record.event_type,
		status_before=record.status,
		outcome=outcome,
		status_after=status_after,
		reason=reason,
		error=error,
		changes=changes or [],
		changed=bool(changes),
	)

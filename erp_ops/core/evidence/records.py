"""The evidence record as a model (for the flush, the sweep and the Frappe layer, never the
worker), and its move from the stream into durable storage, at least once, idempotently.

Protocol: entries are read through a consumer group, written to the sink (which upserts by
record name, job id + attempt), and only then acknowledged and deleted. A flusher killed after
the write but before the ack re-reads its pending entries on the next run and the sink ignores
the duplicates; killed before the write, the entries are still in the stream. Either way nothing
is lost and nothing is doubled. Jobs whose worker died are recorded as abandoned by the sweep.
"""

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError
from redis import Redis
from redis.exceptions import ResponseError

from erp_ops.core.clock import from_timestamp
from erp_ops.core.evidence import stream
from erp_ops.core.evidence.capture import (
	ATTEMPT_TTL_S,
	FAILED_OUTCOMES,
	STREAM_MAXLEN,
	Outcome,
	append_fields,
	evidence_name,
	stream_key,
)
from erp_ops.core.models import Frozen
from erp_ops.core.rq_keys import as_text
from erp_ops.core.signals.models import StartedJob


class EvidenceRecord(Frozen):
	"""One execution of one job. `name` is stable for the same job and attempt."""

	job_id: str
	attempt: int = 1
	site: str | None = None
	method: str | None = None
	queue: str | None = None
	user: str | None = None
	enqueued_at: datetime | None = None
	started_at: datetime | None = None
	ended_at: datetime | None = None
	queue_wait_ms: float | None = None
	duration_ms: float | None = None
	outcome: Outcome
	exc_type: str | None = None
	exc_message: str | None = None
	worker: str | None = None
	kwargs_digest: str | None = None
	retry_of: str | None = None
	frappe_retries: int = 0
	ref_doctype: str | None = None
	ref_name: str | None = None

	@property
	def name(self) -> str:
		return evidence_name(self.job_id, self.attempt)

	def to_fields(self) -> dict[str, str]:
		"""Flat string fields for XADD; empty values are left out to keep entries small."""
		data = self.model_dump(mode="json", exclude={"attempt"})
		return {k: str(v) for k, v in data.items() if v not in (None, "")}

	@classmethod
	def from_fields(cls, fields: dict[str, str]) -> "EvidenceRecord":
		return cls.model_validate({k: v for k, v in fields.items() if v != ""})


GROUP = "erp_ops-flush"
CONSUMER = "flusher"  # one flush runs at a time per site (the caller holds a lock)


class EvidenceSink(Protocol):
	"""Durable storage for evidence. `upsert` must ignore a record whose name it already has."""

	def upsert(self, records: list[EvidenceRecord]) -> int:
		"""Store the records; return how many were new."""
		...


class FlushResult(BaseModel):
	read: int = 0
	inserted: int = 0
	duplicates: int = 0
	malformed: int = 0
	# Records left out by `skip_methods` (the app's own ticks): acknowledged, counted, not stored.
	skipped: int = 0
	backlog: int = 0


def records_to_insert(
	records: Iterable[EvidenceRecord],
	stored_starts: Callable[[tuple[str, ...]], Mapping[str, Any]],
	prior_runs: Callable[[tuple[str, ...]], Iterable[tuple[str, int, Any]]],
	as_stored: Callable[[datetime | None], Any] = lambda value: value,
) -> list[EvidenceRecord]:
	"""The records a sink must insert, renumbered where Redis forgot their attempts.

	A record is already stored when a row has its name (job id + attempt) and its start time. Same
	name but another start means Redis lost its attempt counters (a restarted `redis_queue` keeps
	nothing): the record is a later execution and takes the next free attempt of its job instead of
	being dropped as a duplicate; one whose job id and start are stored under any attempt is a
	redelivery. `stored_starts(names)` answers name → stored start, `prior_runs(job_ids)` the
	(job id, attempt, start) of every stored run; `as_stored` turns a record's UTC start into the
	value the sink stores, so the two compare.
	"""
	unique: dict[str, EvidenceRecord] = {}
	for record in records:
		unique.setdefault(record.name, record)
	if not unique:
		return []
	stored = stored_starts(tuple(unique))
	new, collided = [], []
	for name, record in unique.items():
		if name not in stored:
			new.append(record)
		elif stored[name] != as_stored(record.started_at):
			collided.append(record)
	if not collided:
		return new
	last_attempt: dict[str, int] = {}
	starts: set[tuple[str, Any]] = set()
	for job_id, attempt, started_at in prior_runs(tuple({r.job_id for r in collided})):
		last_attempt[job_id] = max(last_attempt.get(job_id, 0), attempt or 0)
		starts.add((job_id, started_at))
	for record in collided:
		if (record.job_id, as_stored(record.started_at)) in starts:
			continue  # stored before under its new attempt: a redelivery
		attempt = last_attempt.get(record.job_id, 0) + 1
		last_attempt[record.job_id] = attempt
		new.append(record.model_copy(update={"attempt": attempt}))
	return new


def ensure_group(conn: Redis, bench_id: str, site: str) -> None:
	try:
		conn.xgroup_create(stream_key(bench_id, site), GROUP, id="0", mkstream=True)
	except ResponseError as e:
		if "BUSYGROUP" not in str(e):
			raise


def flush(
	conn: Redis,
	bench_id: str,
	site: str,
	sink: EvidenceSink,
	*,
	batch: int = 500,
	max_batches: int = 100,
	skip_methods: tuple[str, ...] = (),
) -> FlushResult:
	"""Flush up to `batch * max_batches` of one site's entries, pending ones (from a killed run) first.

	Records whose method starts with one of `skip_methods` are acknowledged and counted in
	`skipped` but not stored (their outcome was already counted by the worker's append). The
	caller holds a lock so that one flush per site runs at a time.
	"""
	key = stream_key(bench_id, site)
	ensure_group(conn, bench_id, site)
	result = FlushResult()
	# "0" re-delivers what this consumer read but never acknowledged; ">" reads new entries.
	for start in ("0", ">"):
		for _ in range(max_batches):
			reply = conn.xreadgroup(GROUP, CONSUMER, {key: start}, count=batch)
			entries = reply[0][1] if reply else []
			if not entries:
				break
			ids, records = [], []
			for entry_id, fields in entries:
				ids.append(entry_id)
				if not fields:  # trimmed by MAXLEN while pending: nothing left to store
					continue
				try:
					record = EvidenceRecord.from_fields({as_text(k): as_text(v) for k, v in fields.items()})
				except ValidationError:
					result.malformed += 1
					continue
				if skip_methods and (record.method or "").startswith(skip_methods):
					result.skipped += 1
				else:
					records.append(record)
			inserted = sink.upsert(records) if records else 0
			result.read += len(records)
			result.inserted += inserted
			result.duplicates += len(records) - inserted
			pipe = conn.pipeline(transaction=True)
			pipe.xack(key, GROUP, *ids)
			pipe.xdel(key, *ids)
			pipe.execute()
			if start == "0" and len(entries) < batch:
				break
	result.backlog = stream.backlog(conn, bench_id, site)
	return result


def record_abandoned(
	conn: Redis, bench_id: str, started_jobs: Iterable[StartedJob], *, now: float | None = None
) -> list[EvidenceRecord]:
	"""Append an `abandoned` record for each started job whose worker died, once per execution.

	Every site's flush task may run this over the whole bench: the marker makes it once per death,
	and each record goes to its own site's stream.
	"""
	now = time.time() if now is None else now
	recorded = []
	for job in started_jobs:
		if not job.abandoned:
			continue
		marker = ABANDONED_SEEN.format(bench=bench_id, job_id=job.job_id)
		execution = job.started_at.isoformat() if job.started_at else "unknown"
		# SET NX: the sweep runs every few minutes and must not number the same death twice.
		if not conn.set(f"{marker}:{execution}", "1", nx=True, ex=ATTEMPT_TTL_S):
			continue
		record = EvidenceRecord(
			job_id=job.job_id,
			site=job.site,
			method=job.method,
			queue=job.queue,
			started_at=job.started_at,
			ended_at=from_timestamp(now),
			duration_ms=round(job.elapsed_s * 1000, 3) if job.elapsed_s is not None else None,
			outcome=Outcome.ABANDONED,
			exc_type="WorkerDied",
			exc_message=job.abandoned_reason,
			worker=job.worker,
		)
		_entry, attempt = append_record(conn, bench_id, record, now=now)
		recorded.append(record.model_copy(update={"attempt": attempt}))
	return recorded


ABANDONED_SEEN = "erp_ops:{bench}:abandoned:{job_id}"


def append_record(
	conn: Redis,
	bench_id: str,
	record: EvidenceRecord,
	*,
	attempt_base: int = 0,
	maxlen: int = STREAM_MAXLEN,
	now: float | None = None,
) -> tuple[str, int]:
	"""Append a record model (off the hot path: the abandoned-job sweep); see `append_fields`."""
	return append_fields(
		conn,
		bench_id,
		record.to_fields(),
		failed=record.outcome in FAILED_OUTCOMES,
		attempt_base=attempt_base,
		maxlen=maxlen,
		now=now,
	)

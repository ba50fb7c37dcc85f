"""Capture evidence in the worker process, between Frappe's `before_job` and `after_job` hooks.

The worker has already loaded the job, so everything but the clock comes from memory; the only
I/O is the single append in `stream.append`. Frappe's `execute_job` calls itself on deadlocks and
`RetryBackgroundJobError`, so the hooks nest: only the outermost `after_job` records, counting the
inner runs as `frappe_retries`.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from redis import Redis
from rq.job import Job
from rq.timeouts import JobTimeoutException

from erp_ops.core.evidence import stream
from erp_ops.core.evidence.models import (
	EvidenceRecord,
	Outcome,
	kwargs_digest,
	referenced_document,
	short_message,
)
from erp_ops.core.rq_keys import split_frappe_job_id

log = logging.getLogger(__name__)

# Set in a job's meta by erp_ops' own retry: which job it retries and that job's attempt.
META_RETRY_OF = "erp_ops_retry_of"
META_ATTEMPT_BASE = "erp_ops_attempt_base"


@dataclass
class _Open:
	started_mono: float
	started_at: datetime
	depth: int
	site: str | None
	method: str | None
	user: str | None
	kwargs: dict | None
	retries: int = 0


class JobCapture:
	"""Per-process state of the jobs a worker horse is running (normally one at a time)."""

	def __init__(self) -> None:
		self._open: dict[str, _Open] = {}

	def begin(
		self, job: Job | None, *, site: str | None, method: str | None, kwargs: dict | None, user: str | None
	) -> None:
		if job is None:
			return
		entry = self._open.get(job.id)
		if entry:
			entry.depth += 1
			return
		self._open[job.id] = _Open(
			started_mono=time.monotonic(),
			started_at=_aware(job.started_at) or datetime.now(timezone.utc),
			depth=1,
			site=site,
			method=method,
			user=user,
			kwargs=kwargs,
		)

	def end(
		self, job: Job | None, conn: Redis, bench_id: str, *, error: BaseException | None
	) -> EvidenceRecord | None:
		"""Record the job if this closes its outermost run; never raises into the job."""
		if job is None or job.id not in self._open:
			return None
		entry = self._open[job.id]
		entry.depth -= 1
		if entry.depth > 0:
			entry.retries += 1
			return None
		del self._open[job.id]
		try:
			record = build_record(job, entry, error)
			attempt_base = int((job.meta or {}).get(META_ATTEMPT_BASE) or 0)
			_entry_id, attempt = stream.append(conn, bench_id, record, attempt_base=attempt_base)
			return record.model_copy(update={"attempt": attempt})
		except Exception:
			# Evidence must never fail the job it observes.
			log.exception("erp_ops: could not record evidence for job %s", job.id)
			return None


def build_record(job: Job, entry: _Open, error: BaseException | None) -> EvidenceRecord:
	ended_at = datetime.now(timezone.utc)
	enqueued_at = _aware(job.enqueued_at)
	site = entry.site or split_frappe_job_id(job.id)[0]
	ref_doctype, ref_name = referenced_document(entry.method, entry.kwargs)
	if error is None:
		outcome = Outcome.SUCCESS
	elif isinstance(error, JobTimeoutException):
		outcome = Outcome.TIMED_OUT
	else:
		outcome = Outcome.FAILED
	return EvidenceRecord(
		job_id=job.id,
		site=site,
		method=entry.method,
		queue=job.origin,
		user=entry.user,
		enqueued_at=enqueued_at,
		started_at=entry.started_at,
		ended_at=ended_at,
		queue_wait_ms=round((entry.started_at - enqueued_at).total_seconds() * 1000, 3)
		if enqueued_at
		else None,
		duration_ms=round((time.monotonic() - entry.started_mono) * 1000, 3),
		outcome=outcome,
		exc_type=type(error).__name__ if error is not None else None,
		exc_message=short_message(error),
		worker=getattr(job, "worker_name", None),
		kwargs_digest=kwargs_digest(entry.kwargs) if entry.kwargs is not None else None,
		retry_of=(job.meta or {}).get(META_RETRY_OF),
		frappe_retries=entry.retries,
		ref_doctype=ref_doctype,
		ref_name=ref_name,
	)


def _aware(value: datetime | None) -> datetime | None:
	"""rq 1.x keeps naive UTC datetimes, rq 2.x aware ones."""
	if value is None:
		return None
	return value if value.tzinfo else value.replace(tzinfo=timezone.utc)

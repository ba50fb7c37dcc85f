"""Capture evidence in the worker process, between Frappe's `before_job` and `after_job` hooks.

The worker has already loaded the job, so everything but the clock comes from memory; the only
I/O is the single append in `append.append_fields`. This module imports the standard library and
the two light evidence modules only: Frappe v15 imports hook modules inside each forked work
horse, so every import here would be paid on every job.

Frappe's `execute_job` calls itself on deadlocks and `RetryBackgroundJobError`, so the hooks nest:
only the outermost `after_job` records, counting the inner runs as `frappe_retries`.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from erp_ops.core.evidence.append import append_fields
from erp_ops.core.evidence.fields import (
	FAILED_OUTCOMES,
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
		self, job: Any, *, site: str | None, method: str | None, kwargs: dict | None, user: str | None
	) -> None:
		"""Remember the start of `job` (an rq Job); a nested call only deepens the count."""
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
		self, job: Any, conn: Any, bench_id: str, *, error: BaseException | None
	) -> dict[str, str] | None:
		"""Record the job if this closes its outermost run and return the fields stored (with the
		attempt given); never raises into the job."""
		if job is None or job.id not in self._open:
			return None
		entry = self._open[job.id]
		entry.depth -= 1
		if entry.depth > 0:
			entry.retries += 1
			return None
		del self._open[job.id]
		try:
			outcome, fields = record_fields(job, entry, error)
			attempt_base = int((job.meta or {}).get(META_ATTEMPT_BASE) or 0)
			_entry_id, attempt = append_fields(
				conn, bench_id, fields, failed=outcome in FAILED_OUTCOMES, attempt_base=attempt_base
			)
			return {**fields, "attempt": str(attempt)}
		except Exception:
			# Evidence must never fail the job it observes.
			log.exception("erp_ops: could not record evidence for job %s", job.id)
			return None


def record_fields(job: Any, entry: _Open, error: BaseException | None) -> tuple[Outcome, dict[str, str]]:
	"""The record as the stream's string fields (the shape `EvidenceRecord.from_fields` reads)."""
	ended_at = datetime.now(timezone.utc)
	enqueued_at = _aware(job.enqueued_at)
	site = entry.site or split_frappe_job_id(job.id)[0]
	ref_doctype, ref_name = referenced_document(entry.method, entry.kwargs)
	if error is None:
		outcome = Outcome.SUCCESS
	elif type(error).__name__ == "JobTimeoutException":  # rq.timeouts, without importing rq here
		outcome = Outcome.TIMED_OUT
	else:
		outcome = Outcome.FAILED
	values = {
		"job_id": job.id,
		"site": site,
		"method": entry.method,
		"queue": job.origin,
		"user": entry.user,
		"enqueued_at": enqueued_at.isoformat() if enqueued_at else None,
		"started_at": entry.started_at.isoformat(),
		"ended_at": ended_at.isoformat(),
		"queue_wait_ms": round((entry.started_at - enqueued_at).total_seconds() * 1000, 3)
		if enqueued_at
		else None,
		"duration_ms": round((time.monotonic() - entry.started_mono) * 1000, 3),
		"outcome": outcome.value,
		"exc_type": type(error).__name__ if error is not None else None,
		"exc_message": short_message(error),
		"worker": getattr(job, "worker_name", None),
		"kwargs_digest": kwargs_digest(entry.kwargs) if entry.kwargs is not None else None,
		"retry_of": (job.meta or {}).get(META_RETRY_OF),
		"frappe_retries": entry.retries,
		"ref_doctype": ref_doctype,
		"ref_name": ref_name,
	}
	return outcome, {k: str(v) for k, v in values.items() if v not in (None, "")}


def _warm_up() -> None:
	"""Run the one-time initialisations (OpenSSL's sha256, the JSON encoder, datetime formatting)
	at import. In a bench that is the worker's parent process, so forked horses inherit them
	instead of paying for them on every job."""
	kwargs_digest({"warm": [1, "up"]})
	datetime.now(timezone.utc).isoformat()
	short_message(ValueError("warm"))


_warm_up()


def _aware(value: datetime | None) -> datetime | None:
	"""rq 1.x keeps naive UTC datetimes, rq 2.x aware ones."""
	if value is None:
		return None
	return value if value.tzinfo else value.replace(tzinfo=timezone.utc)

"""Capture evidence in the worker process, between Frappe's `before_job` and `after_job` hooks:
what a record says, and the one Redis call a job pays for it.

Frappe v15 forks a work horse per job and imports hook modules inside it, so everything imported
here is paid on every job: the standard library and redis-py only, no pydantic (building the
models costs about 90 ms; `benchmarks/evidence_overhead.py` measures). The worker has already
loaded the job, so everything but the clock comes from memory; the only I/O is `append_fields`.

Frappe's `execute_job` calls itself on deadlocks and `RetryBackgroundJobError`, so the hooks nest:
only the outermost `after_job` records, counting the inner runs as `frappe_retries`.

Key layout (bench-scoped, like Frappe's `<bench_id>:<queue>` queue names):
  erp_ops:<bench>:evidence:<site>       capped stream of one site's records waiting to be flushed
  erp_ops:<bench>:evidence-sites        the sites that have a stream (for the backlog figure)
  erp_ops:<bench>:attempt:<job id>      executions seen of one job id (numbers the attempts)
  erp_ops:<bench>:outcomes:<minute>     hash of counters, kept 2 h: `<method>|total` (every run),
                                        `<method>|failed` (failed, timed out, abandoned) and
                                        `<method>|failed|<exception>` (the record's exc_type, at
                                        most 100 characters, `?` when it has none); counters
                                        written before the split have no `|failed|<exception>`
"""

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from redis.exceptions import NoScriptError

from erp_ops.core.clock import as_utc
from erp_ops.core.rq_keys import split_frappe_job_id

NAME_MAX = 140  # Frappe's `name` column
MESSAGE_MAX = 240


class Outcome(str, Enum):
	SUCCESS = "success"
	FAILED = "failed"
	TIMED_OUT = "timed out"
	ABANDONED = "abandoned"
	CANCELED = "canceled"


FAILED_OUTCOMES = frozenset({Outcome.FAILED, Outcome.TIMED_OUT, Outcome.ABANDONED})


def evidence_name(job_id: str, attempt: int) -> str:
	"""`<job id>#<attempt>`, shortened with a digest when it would not fit Frappe's name column."""
	name = f"{job_id}#{attempt}"
	if len(name) <= NAME_MAX:
		return name
	digest = hashlib.sha256(job_id.encode()).hexdigest()[:24]
	return f"{job_id[: NAME_MAX - len(digest) - 12]}~{digest}#{attempt}"


def kwargs_digest(kwargs: Any) -> str:
	"""A stable digest of job arguments: equal arguments, equal digest; the values never leave."""
	canonical = json.dumps(kwargs, sort_keys=True, separators=(",", ":"), default=repr)
	return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def short_message(exc: BaseException | None) -> str | None:
	if exc is None:
		return None
	text = str(exc).strip()
	return text.splitlines()[0][:MESSAGE_MAX] if text else None


def referenced_document(method: str | None, kwargs: dict | None) -> tuple[str | None, str | None]:
	"""The business document a job names: `enqueue_doc`/`run_doc_method`, `queue_action`, or
	doctype/name keyword arguments."""
	if not isinstance(kwargs, dict):
		return None, None
	doctype = kwargs.get("doctype") or kwargs.get("__doctype") or kwargs.get("reference_doctype")
	name = kwargs.get("name") or kwargs.get("docname") or kwargs.get("reference_name")
	if isinstance(doctype, str) and isinstance(name, (str, int)) and doctype:
		return doctype, str(name)
	return None, None


STREAM = "erp_ops:{bench}:evidence:{site}"
STREAM_SITES = "erp_ops:{bench}:evidence-sites"
NO_SITE = "-"  # jobs enqueued outside Frappe name no site
ATTEMPT = "erp_ops:{bench}:attempt:{job_id}"
OUTCOMES = "erp_ops:{bench}:outcomes:{minute}"
FAILED_BY = "|failed|"  # `<method>|failed|<exception>`: method names are dotted paths, never this
EXCEPTION_MAX = 100

STREAM_MAXLEN = 200_000  # about a day of a busy bench if the flush task stops
ATTEMPT_TTL_S = 30 * 86400
OUTCOMES_TTL_S = 2 * 3600

# One round trip: number the attempt, append the record, count the outcome, note the site.
# ARGV[6] is the failure's exception label, empty for a success (which pays no extra HINCRBY).
_APPEND_LUA = """
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
local attempt = n + tonumber(ARGV[3])
local fields = {'attempt', tostring(attempt)}
for i = 8, #ARGV do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(fields))
redis.call('HINCRBY', KEYS[3], ARGV[5] .. '|total', 1)
if ARGV[6] ~= '' then
  redis.call('HINCRBY', KEYS[3], ARGV[5] .. '|failed', 1)
  redis.call('HINCRBY', KEYS[3], ARGV[5] .. '|failed|' .. ARGV[6], 1)
end
redis.call('EXPIRE', KEYS[3], ARGV[4])
redis.call('SADD', KEYS[4], ARGV[7])
return {id, attempt}
"""
# Hashed once, at import: in a bench the worker's parent imports this module (erp_ops.commands
# preloads the job hooks), so no forked horse pays for redis-py's Script object or the digest.
_APPEND_SHA = hashlib.sha1(_APPEND_LUA.encode()).hexdigest()


def stream_key(bench_id: str, site: str | None) -> str:
	"""Each site has its own stream, so each site's flush task stores only its own evidence."""
	return STREAM.format(bench=bench_id, site=site or NO_SITE)


def append_fields(
	conn: Any,
	bench_id: str,
	fields: dict[str, str],
	*,
	failed: bool,
	attempt_base: int = 0,
	maxlen: int = STREAM_MAXLEN,
	now: float | None = None,
) -> tuple[str, int]:
	"""Append one record's string fields (`job_id` required); returns (entry id, attempt given).

	The attempt is `attempt_base` plus the number of executions of this job id seen so far, so a
	job requeued under the same id gets a new attempt and never overwrites its earlier evidence.
	A failed record is counted under its method and under its method and `exc_type` field.
	"""
	minute = int((time.time() if now is None else now) // 60)
	site = fields.get("site") or None
	argv: list[str | int] = [
		ATTEMPT_TTL_S,
		maxlen,
		attempt_base,
		OUTCOMES_TTL_S,
		fields.get("method") or "?",
		(fields.get("exc_type") or "?")[:EXCEPTION_MAX] if failed else "",
		site or NO_SITE,
	]
	for key, value in fields.items():
		argv += [key, value]
	keys = (
		ATTEMPT.format(bench=bench_id, job_id=fields["job_id"]),
		stream_key(bench_id, site),
		OUTCOMES.format(bench=bench_id, minute=minute),
		STREAM_SITES.format(bench=bench_id),
	)
	try:
		entry_id, attempt = conn.evalsha(_APPEND_SHA, len(keys), *keys, *argv)
	except NoScriptError:  # a restarted Redis forgot the script: load it once, then as before
		conn.script_load(_APPEND_LUA)
		entry_id, attempt = conn.evalsha(_APPEND_SHA, len(keys), *keys, *argv)
	return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id), int(attempt)


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
			started_at=as_utc(job.started_at) or datetime.now(timezone.utc),
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
	enqueued_at = as_utc(job.enqueued_at)
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

"""Single-job actions on a bench's RQ queues: retry, requeue, cancel, quarantine, release, purge.

Each action reads what it needs to build its arguments, then one Lua script decides and moves on
the server (see `scripts.py`): if the job is no longer where the action needs it, nothing is
written and the caller gets `JobConflict` (409). There is no window in which a job is in two
places or in none. The same steps (`Step`) are what a bulk batch runs inside MULTI/EXEC.

Site scope: a bench's queues hold every site's jobs. Given `site`, every read and action here
sees only that site's jobs (`site_of`: the prefix of Frappe's job id, else the `site` its
arguments name); another site's job is `ForeignJob`, a `JobNotFound` with the same message as a
job that does not exist, so a caller cannot tell the two apart. `site=None` is the whole bench:
for the bench's own tools (the standalone CLI, `bench ... --all-sites`), never for a site's users.
"""

import math
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from redis import Redis
from rq.command import send_command
from rq.defaults import DEFAULT_FAILURE_TTL, DEFAULT_RESULT_TTL
from rq.job import Job
from rq.serializers import DefaultSerializer

from erp_ops.core import rq_keys
from erp_ops.core.bounds import checked
from erp_ops.core.control import keys, scripts
from erp_ops.core.control.errors import ForeignJob, JobConflict, JobNotFound
from erp_ops.core.control.models import (
	Action,
	ActionResult,
	JobPayload,
	JobState,
	PurgeResult,
	QuarantineResult,
)
from erp_ops.core.control.payload import decode_data, decode_meta, latest_exc_info, payload_from_hash
from erp_ops.core.errors import InvalidInput
from erp_ops.core.evidence.capture import ATTEMPT, META_ATTEMPT_BASE, META_RETRY_OF
from erp_ops.core.rq_keys import Registry, as_text, parse_rq_time, rq_time

# The states each action accepts, in the order they are tried.
ACCEPTS: dict[Action, tuple[JobState, ...]] = {
	Action.RETRY: (JobState.FAILED,),
	Action.REQUEUE: (JobState.FAILED,),
	Action.CANCEL: (JobState.QUEUED, JobState.DEFERRED, JobState.SCHEDULED, JobState.STARTED),
	# A started job is the worker's: cancel it first. A retried one lives on as its new attempt.
	Action.QUARANTINE: (
		JobState.FAILED,
		JobState.QUEUED,
		JobState.DEFERRED,
		JobState.SCHEDULED,
		JobState.CANCELED,
		JobState.FINISHED,
		JobState.ORPHAN,
	),
	Action.RELEASE: (JobState.QUARANTINED,),
}

# Fields a retry copies from the failed job; everything about its execution starts afresh.
RETRY_COPIED_FIELDS = (
	"data",
	"origin",
	"description",
	"timeout",
	"result_ttl",
	"failure_ttl",
	"ttl",
	"success_callback_name",
	"failure_callback_name",
	"stopped_callback_name",
	"success_callback_timeout",
	"failure_callback_timeout",
	"stopped_callback_timeout",
)
CANCEL_WAIT_S = 10.0


@dataclass
class Step:
	"""One script call on one job: what a single action runs, and what a bulk batch queues."""

	action: Action
	job_id: str
	queue: str
	source: str
	keys: list[str]
	args: list = field(default_factory=list)
	new_job_id: str | None = None
	attempt_base: int | None = None
	count: int = 1  # jobs the step acts on (a batch script acts on many)


def job_keys(bench_id: str, job_id: str, queue: str, progress_key: str | None = None) -> list[str]:
	return [
		rq_keys.job_key(job_id),
		rq_keys.queue_key(queue),
		rq_keys.INTERMEDIATE.format(queue=queue),
		Registry.STARTED.key(queue),
		Registry.FAILED.key(queue),
		Registry.FINISHED.key(queue),
		Registry.DEFERRED.key(queue),
		Registry.SCHEDULED.key(queue),
		Registry.CANCELED.key(queue),
		keys.quarantine_key(bench_id),
		keys.quarantined_job_key(bench_id, job_id),
		rq_keys.QUEUES_SET,
		progress_key or keys.quarantine_key(bench_id),
	]


def job_args(
	job_id: str, queue: str, accepted: Iterable[JobState], now: float, *, progress: bool = False
) -> list:
	moment = datetime.fromtimestamp(now, timezone.utc)
	return [
		job_id,
		"1" if rq_keys.RQ_STARTED_MEMBERS_ARE_COMPOSITE else "0",
		repr(now),
		rq_time(moment),
		rq_keys.queue_key(queue),
		",".join(s.value for s in accepted),
		queue,
		"1" if progress else "0",
	]


def many_step(
	action: Action, bench_id: str, queue: str, job_ids: list[str], now: float, progress_key: str
) -> Step:
	"""Requeue or cancel many jobs of one queue in one script call (for bulk batches)."""
	source = {Action.REQUEUE: scripts.REQUEUE_MANY, Action.CANCEL: scripts.CANCEL_MANY}[action]
	accepted = ACCEPTS[Action.REQUEUE] if action is Action.REQUEUE else (JobState.QUEUED,)
	key_list = job_keys(bench_id, job_ids[0], queue, progress_key)
	for job_id in job_ids:
		key_list += [rq_keys.job_key(job_id), keys.quarantined_job_key(bench_id, job_id)]
	args = job_args(job_ids[0], queue, accepted, now, progress=True)
	return Step(
		action, job_ids[0], queue, source, key_list, [*args, len(job_ids), *job_ids], count=len(job_ids)
	)


def accepted_states(action: Action, expected: JobState | None) -> tuple[JobState, ...]:
	"""What the action accepts, narrowed to what the operator saw (so a change in between conflicts)."""
	allowed = ACCEPTS[action]
	if expected is None:
		return allowed
	if expected not in allowed:
		raise InvalidInput(f"{action.value} does not apply to a {expected.value} job")
	return (expected,)


def queue_of(conn: Redis, bench_id: str, job_id: str, site: str | None = None) -> str:
	"""The job's queue, from its hash or its quarantined copy; only this bench's queues count.

	With `site`, a job of another site raises `ForeignJob` (a `JobNotFound` worded like one).
	"""
	pipe = conn.pipeline(transaction=False)
	pipe.hmget(rq_keys.job_key(job_id), "origin", "data")
	pipe.hmget(keys.quarantined_job_key(bench_id, job_id), "origin", "data")
	(live, live_data), (quarantined, quarantined_data) = pipe.execute()
	origin = as_text(live or quarantined or b"")
	if not origin or not origin.startswith(f"{bench_id}:"):
		raise JobNotFound(not_found_message(bench_id, job_id, site))
	if site is not None and site_of(job_id, live_data if live else quarantined_data) != site:
		raise ForeignJob(not_found_message(bench_id, job_id, site))
	return origin


def not_found_message(bench_id: str, job_id: str, site: str | None) -> str:
	"""One wording for a missing job and, with `site`, for another site's job."""
	return (
		f"no job {job_id!r} on site {site!r}"
		if site is not None
		else f"no job {job_id!r} on bench {bench_id!r}"
	)


def site_of(job_id: str, data: bytes | str | None) -> str | None:
	"""The Frappe site a job belongs to: its id's prefix (`<site>::` v15, `<site>||` v16), else the
	`site` its kwargs name (what Frappe's `execute_job` connects to); None for a job of no site."""
	site, _rest = rq_keys.split_frappe_job_id(job_id)
	if site:
		return site
	if not data:
		return None
	try:
		_function, _args, kwargs = decode_data(data if isinstance(data, bytes) else data.encode())
	except Exception:
		return None  # an unreadable payload names no site: only the bench's tools reach it
	named = kwargs.get("site")
	return named if isinstance(named, str) and named else None


def sites_of(
	conn: Redis, job_ids: list[str], hash_key: Callable[[str], str] = rq_keys.job_key
) -> dict[str, str | None]:
	"""`site_of` for many jobs: ids without a site prefix cost one pipelined read of their data."""
	found: dict[str, str | None] = {}
	unprefixed = []
	for job_id in job_ids:
		prefix, _rest = rq_keys.split_frappe_job_id(job_id)
		if prefix:
			found[job_id] = prefix
		else:
			unprefixed.append(job_id)
	if unprefixed:
		pipe = conn.pipeline(transaction=False)
		for job_id in unprefixed:
			pipe.hget(hash_key(job_id), "data")
		for job_id, data in zip(unprefixed, pipe.execute(), strict=True):
			found[job_id] = site_of(job_id, data)
	return found


def job_state(conn: Redis, bench_id: str, job_id: str, *, site: str | None = None) -> JobState:
	"""Where the job is now, by the queue or registry holding it.

	A missing job is `MISSING`; with `site`, another site's job raises `ForeignJob` (the caller
	answers it as it answers a missing job, and may record the attempt).
	"""
	try:
		queue = queue_of(conn, bench_id, job_id, site)
	except ForeignJob:
		raise
	except JobNotFound:
		return JobState.MISSING
	result = _eval(conn, scripts.LOCATE, job_keys(bench_id, job_id, queue), job_args(job_id, queue, (), 0.0))
	return JobState(as_text(result[1]))


def run_step(conn: Redis, step: Step) -> ActionResult:
	"""Run one step alone; raise on conflict."""
	reply = _eval(conn, step.source, step.keys, step.args)
	return step_result(step, reply)


def step_result(step: Step, reply: list) -> ActionResult:
	status, state = as_text(reply[0]), JobState(as_text(reply[1]))
	if status == "conflict":
		if state is JobState.MISSING:
			raise JobNotFound(f"job {step.job_id} no longer exists")
		needs = " or ".join(s.value for s in _accepted_of(step))
		raise JobConflict(
			step.job_id, state.value, f"job {step.job_id} is {state.value}; {step.action.value} needs {needs}"
		)
	after = {
		Action.RETRY: JobState.RETRIED,
		Action.REQUEUE: JobState.QUEUED,
		Action.CANCEL: JobState.STOPPING if status == "stop" else JobState.CANCELED,
		Action.QUARANTINE: JobState.QUARANTINED,
		Action.RELEASE: JobState.QUEUED,
	}[step.action]
	return ActionResult(
		action=step.action,
		job_id=step.job_id,
		queue=step.queue,
		state_before=state,
		state_after=after,
		new_job_id=step.new_job_id,
		attempt_base=step.attempt_base,
	)


def _accepted_of(step: Step) -> list[JobState]:
	return [JobState(s) for s in step.args[5].split(",") if s]


# Single-job actions


def requeue(
	conn: Redis,
	bench_id: str,
	job_id: str,
	*,
	expected: JobState | None = None,
	now: float | None = None,
	site: str | None = None,
) -> ActionResult:
	"""Put a failed job back on its queue under the same id (its evidence gets the next attempt)."""
	queue = queue_of(conn, bench_id, job_id, site)
	return run_step(conn, move_step(Action.REQUEUE, bench_id, job_id, queue, expected=expected, now=now))


def move_step(
	action: Action,
	bench_id: str,
	job_id: str,
	queue: str,
	*,
	expected: JobState | None = None,
	now: float | None = None,
) -> Step:
	"""The one-job step of an action whose script only moves the job (requeue, cancel)."""
	now = time.time() if now is None else now
	script = {Action.REQUEUE: scripts.REQUEUE, Action.CANCEL: scripts.CANCEL}[action]
	return Step(
		action,
		job_id,
		queue,
		script,
		job_keys(bench_id, job_id, queue, None),
		job_args(job_id, queue, accepted_states(action, expected), now, progress=False),
	)


def retry(
	conn: Redis,
	bench_id: str,
	job_id: str,
	*,
	expected: JobState | None = None,
	now: float | None = None,
	new_job_id: str | None = None,
	site: str | None = None,
) -> ActionResult:
	"""Enqueue a new attempt of a failed job; the failed one leaves the failed registry, marked.

	The new job has the same function, arguments and meta, plus `erp_ops_retry_of` (the old id)
	and `erp_ops_attempt_base` (the old attempt), so its Job Evidence continues the numbering.
	"""
	queue = queue_of(conn, bench_id, job_id, site)
	pipe = conn.pipeline(transaction=False)
	pipe.hgetall(rq_keys.job_key(job_id))
	pipe.get(ATTEMPT.format(bench=bench_id, job_id=job_id))
	raw, seen = pipe.execute()
	if not raw:
		# Quarantined (or deleted) since its queue was read.
		state = job_state(conn, bench_id, job_id, site=site)
		if state is JobState.MISSING:
			raise JobNotFound(f"job {job_id} no longer exists")
		raise JobConflict(job_id, state.value, f"job {job_id} is {state.value}; retry needs failed")
	step = retry_step(bench_id, job_id, queue, raw, seen, expected=expected, now=now, new_job_id=new_job_id)
	return run_step(conn, step)


def retry_step(
	bench_id: str,
	job_id: str,
	queue: str,
	raw: dict,
	attempts_seen: bytes | str | int | None,
	*,
	expected: JobState | None = None,
	now: float | None = None,
	new_job_id: str | None = None,
	progress_key: str | None = None,
) -> Step:
	now = time.time() if now is None else now
	new_job_id = new_job_id or new_frappe_job_id(job_id)
	fields, attempt_base = retry_fields(raw, job_id, attempts_seen, now)
	accepted = accepted_states(Action.RETRY, expected)
	flat: list = []
	for name, value in fields.items():
		flat += [name, value]
	return Step(
		Action.RETRY,
		job_id,
		queue,
		scripts.RETRY,
		[*job_keys(bench_id, job_id, queue, progress_key), rq_keys.job_key(new_job_id)],
		[*job_args(job_id, queue, accepted, now, progress=progress_key is not None), new_job_id, *flat],
		new_job_id=new_job_id,
		attempt_base=attempt_base,
	)


def retry_fields(
	raw: dict, old_job_id: str, attempts_seen: bytes | str | int | None, now: float
) -> tuple[dict[str, bytes | str], int]:
	"""The new attempt's hash: the old job's call copied byte for byte, a fresh execution state."""
	old = {as_text(k): v for k, v in raw.items()}
	try:
		meta = DefaultSerializer.loads(old["meta"]) if old.get("meta") else {}
	except Exception:
		meta = decode_meta(old.get("meta"))
	meta = dict(meta) if isinstance(meta, dict) else {}
	seen = int(attempts_seen) if attempts_seen not in (None, b"", "") else 0
	# The evidence counter may be gone (TTL, a Redis restart): a failed job ran at least once.
	old_attempt = max(seen, 1) + int(meta.get(META_ATTEMPT_BASE) or 0)
	meta.update({META_RETRY_OF: old_job_id, META_ATTEMPT_BASE: old_attempt})
	moment = rq_time(datetime.fromtimestamp(now, timezone.utc))
	fields: dict[str, bytes | str] = {k: old[k] for k in RETRY_COPIED_FIELDS if k in old}
	fields.update(
		created_at=moment,
		meta=DefaultSerializer.dumps(meta),
		status="queued",
		last_heartbeat="",
	)
	return fields, old_attempt


def new_frappe_job_id(old_job_id: str) -> str:
	"""A fresh id in Frappe's style for the old job's site: `<site>::<uuid>` (rq 1) or `<site>||<uuid>`."""
	site, _rest = rq_keys.split_frappe_job_id(old_job_id)
	fresh = str(uuid.uuid4())
	if not site:
		return fresh
	return f"{site}{'||' if rq_keys.RQ_MAJOR >= 2 else '::'}{fresh}"


def cancel(
	conn: Redis,
	bench_id: str,
	job_id: str,
	*,
	expected: JobState | None = None,
	wait_s: float = CANCEL_WAIT_S,
	now: float | None = None,
	site: str | None = None,
) -> ActionResult:
	"""Cancel a queued, deferred or scheduled job; stop a started one through its worker.

	A started job is marked first (a second cancel conflicts), then its worker gets RQ's stop-job
	command; when the worker has moved it to the failed registry as stopped, it is moved on to the
	canceled registry. If that takes longer than `wait_s`, the result says `stopping` and
	`finish_cancel` completes it later.
	"""
	queue = queue_of(conn, bench_id, job_id, site)
	step = move_step(Action.CANCEL, bench_id, job_id, queue, expected=expected, now=now)
	reply = _eval(conn, step.source, step.keys, step.args)
	result = step_result(step, reply)
	if as_text(reply[0]) != "stop":
		return result
	worker = as_text(reply[2]) if len(reply) > 2 else ""
	if worker:
		send_command(conn, worker, "stop-job", job_id=job_id)
	deadline = time.monotonic() + wait_s
	while time.monotonic() < deadline:
		try:
			finish_cancel(conn, bench_id, job_id, site=site)
		except JobConflict:
			time.sleep(0.05)
			continue
		return result.model_copy(update={"state_after": JobState.CANCELED})
	detail = "stop sent to worker" if worker else "no worker recorded for the job"
	return result.model_copy(update={"detail": detail})


def finish_cancel(
	conn: Redis, bench_id: str, job_id: str, *, now: float | None = None, site: str | None = None
) -> ActionResult:
	"""Move a job stopped on a cancel request from the failed to the canceled registry."""
	queue = queue_of(conn, bench_id, job_id, site)
	now = time.time() if now is None else now
	step = Step(
		Action.CANCEL,
		job_id,
		queue,
		scripts.FINISH_CANCEL,
		job_keys(bench_id, job_id, queue),
		job_args(job_id, queue, (JobState.FAILED,), now),
	)
	result = run_step(conn, step)
	return result.model_copy(update={"state_before": JobState.STOPPING})


def finish_stopped(
	conn: Redis, bench_id: str, *, now: float | None = None, site: str | None = None
) -> list[ActionResult]:
	"""Complete every cancel whose worker has stopped the job since (for a periodic task); with
	`site`, only that site's jobs (each site's scheduler finishes its own)."""
	names = bench_queues(conn, bench_id)
	pipe = conn.pipeline(transaction=False)
	for q in names:
		pipe.zrange(Registry.FAILED.key(q), 0, -1)
	members = [as_text(m) for found in pipe.execute() for m in found]
	if site is not None and members:
		owners = sites_of(conn, members)
		members = [m for m in members if owners[m] == site]
	if not members:
		return []
	pipe = conn.pipeline(transaction=False)
	for job_id in members:
		pipe.hmget(rq_keys.job_key(job_id), "status", "erp_ops_cancel")
	done = []
	for job_id, (status, marker) in zip(members, pipe.execute(), strict=True):
		if status != b"stopped" or not marker:
			continue
		try:
			done.append(finish_cancel(conn, bench_id, job_id, now=now, site=site))
		except (JobConflict, JobNotFound):
			continue
	return done


def quarantine(
	conn: Redis,
	bench_id: str,
	job_id: str,
	*,
	expected: JobState | None = None,
	now: float | None = None,
	site: str | None = None,
) -> QuarantineResult:
	"""Take a job out of every queue and registry, keeping its whole hash under erp_ops' key.

	The payload is returned for the Frappe layer's `Quarantine` record; the Redis copy (no TTL,
	nothing runs it) is what `release` puts back, byte for byte.
	"""
	queue = queue_of(conn, bench_id, job_id, site)
	step = quarantine_step(bench_id, job_id, queue, latest_exc_info(conn, job_id), expected=expected, now=now)
	reply = _eval(conn, step.source, step.keys, step.args)
	result = step_result(step, reply)
	return QuarantineResult(result=result, payload=payload_from_hash(job_id, _pairs(reply[2])))


def quarantine_step(
	bench_id: str,
	job_id: str,
	queue: str,
	exc_info: str | None,
	*,
	expected: JobState | None = None,
	now: float | None = None,
	progress_key: str | None = None,
) -> Step:
	now = time.time() if now is None else now
	accepted = accepted_states(Action.QUARANTINE, expected)
	return Step(
		Action.QUARANTINE,
		job_id,
		queue,
		scripts.QUARANTINE,
		job_keys(bench_id, job_id, queue, progress_key),
		[*job_args(job_id, queue, accepted, now, progress=progress_key is not None), exc_info or ""],
	)


def quarantined_payload(conn: Redis, bench_id: str, job_id: str, *, site: str | None = None) -> JobPayload:
	"""The payload of a quarantined job as erp_ops keeps it in Redis."""
	raw = conn.hgetall(keys.quarantined_job_key(bench_id, job_id))
	if not raw or (site is not None and site_of(job_id, raw.get(b"data", raw.get("data"))) != site):
		raise (ForeignJob if raw else JobNotFound)(not_found_message(bench_id, job_id, site))
	return payload_from_hash(job_id, raw)


def quarantined_ids(conn: Redis, bench_id: str, *, site: str | None = None) -> list[str]:
	"""Ids in erp_ops' quarantine; with `site`, only that site's."""
	ids = [as_text(m) for m in conn.zrange(keys.quarantine_key(bench_id), 0, -1)]
	if site is None or not ids:
		return ids
	owners = sites_of(conn, ids, lambda job_id: keys.quarantined_job_key(bench_id, job_id))
	return [job_id for job_id in ids if owners[job_id] == site]


def release(
	conn: Redis, bench_id: str, job_id: str, *, now: float | None = None, site: str | None = None
) -> ActionResult:
	"""Put a quarantined job back on its queue under its own id, exactly as it was stored."""
	queue = queue_of(conn, bench_id, job_id, site)
	return run_step(conn, release_step(bench_id, job_id, queue, now=now))


def release_step(
	bench_id: str, job_id: str, queue: str, *, now: float | None = None, progress_key: str | None = None
) -> Step:
	now = time.time() if now is None else now
	return Step(
		Action.RELEASE,
		job_id,
		queue,
		scripts.RELEASE,
		job_keys(bench_id, job_id, queue, progress_key),
		job_args(job_id, queue, ACCEPTS[Action.RELEASE], now, progress=progress_key is not None),
	)


def release_payload(
	conn: Redis, bench_id: str, payload: JobPayload, *, now: float | None = None, site: str | None = None
) -> ActionResult:
	"""Re-enqueue a quarantined job from its stored payload (the Quarantine record), under its id.

	For when erp_ops' Redis copy is gone (a `redis_queue` restarted without persistence); while
	the copy exists, `release` puts back the exact bytes and this refuses. Arguments come back
	as stored: JSON types, which is what Frappe passes to its jobs.
	"""
	queue = payload.queue or ""
	if site is not None and (payload.site or payload.kwargs.get("site")) != site:
		raise ForeignJob(not_found_message(bench_id, payload.job_id, site))
	if any(u.field == "data" for u in payload.unreadable):
		raise InvalidInput(
			f"the stored payload of {payload.job_id} was unreadable when it was quarantined (only its digest"
			" is kept): it can be released only from erp_ops' Redis copy"
		)
	if not queue.startswith(f"{bench_id}:") or not payload.function:
		raise InvalidInput(f"payload of {payload.job_id} names no queue of bench {bench_id!r} or no function")
	now = time.time() if now is None else now
	job = Job.create(
		payload.function,
		args=list(payload.args),
		kwargs=dict(payload.kwargs),
		connection=conn,
		id=payload.job_id,
		origin=queue,
		meta=dict(payload.meta),
		timeout=payload.timeout,
	)
	flat: list = []
	for name, value in job.to_dict().items():
		flat += [name, value]
	step = Step(
		Action.RELEASE,
		payload.job_id,
		queue,
		scripts.RELEASE_PAYLOAD,
		job_keys(bench_id, payload.job_id, queue),
		[*job_args(payload.job_id, queue, (), now), *flat],
	)
	return run_step(conn, step)


def purge(
	conn: Redis,
	bench_id: str,
	*,
	older_than: timedelta,
	registries: Iterable[JobState] = (JobState.FINISHED, JobState.FAILED),
	queues: Iterable[str] | None = None,
	dry_run: bool = True,
	batch: int = 500,
	sample_size: int = 20,
	now: datetime | None = None,
	site: str | None = None,
) -> PurgeResult:
	"""Delete finished or failed jobs last seen before `now - older_than` (a dry run by default).

	A job's age is that of the newest time known for it (`job_age_at`): a job RQ's cleanup moved
	to failed a second ago, with no `ended_at`, is one second old. A job with no time at all is
	kept and reported (`undated`). A job that ended again after it was read (its registry score
	changed) is kept. With `site`, only that site's jobs are candidates; without, every site's
	(the bench's own tools only).
	"""
	checked("older_than_days", older_than.total_seconds() / 86_400, "older_than_days")
	checked("batch", batch)
	registry_of = {JobState.FINISHED: Registry.FINISHED, JobState.FAILED: Registry.FAILED}
	chosen = [registry_of[JobState(r)] for r in registries if JobState(r) in registry_of]
	now = now or datetime.now(timezone.utc)
	cutoff = now - older_than
	names = bench_queues(conn, bench_id, queues)
	pipe = conn.pipeline(transaction=False)
	slots = [(q, r) for q in names for r in chosen]
	for q, r in slots:
		pipe.zrange(r.key(q), 0, -1, withscores=True)
	members = pipe.execute()
	candidates: list[tuple[str, Registry, str, float]] = []
	undated: list[str] = []
	pipe = conn.pipeline(transaction=False)
	flat = [(q, r, as_text(m), s) for (q, r), entries in zip(slots, members, strict=True) for m, s in entries]
	if site is not None and flat:
		owners = sites_of(conn, [job_id for _q, _r, job_id, _s in flat])
		flat = [row for row in flat if owners[row[2]] == site]
	for _q, _r, job_id, _s in flat:
		pipe.hmget(rq_keys.job_key(job_id), *AGE_FIELDS)
	found = pipe.execute(raise_on_error=False) if flat else []
	for (q, r, job_id, score), fields in zip(flat, found, strict=True):
		if isinstance(fields, Exception):  # not a hash: not RQ's job, not ours to delete
			undated.append(job_id)
			continue
		seen = job_age_at(r, dict(zip(AGE_FIELDS, fields, strict=True)), score)
		if seen is None:
			undated.append(job_id)
		elif seen < cutoff:
			candidates.append((q, r, job_id, score))
	by_registry: dict[str, int] = {}
	deleted = 0
	if not dry_run:
		source = conn.register_script(scripts.PURGE)
		for start in range(0, len(candidates), batch):
			chunk = candidates[start : start + batch]
			for (q, r), group in _group(chunk).items():
				key_list = [r.key(q)]
				argv: list = []
				for job_id, score in group:
					key_list += [rq_keys.job_key(job_id), f"rq:results:{job_id}"]
					argv += [job_id, repr(score)]
				n = int(source(keys=key_list, args=argv))
				deleted += n
				name = r.name.lower()
				by_registry[name] = by_registry.get(name, 0) + n
	else:
		for _q, r, _id, _s in candidates:
			name = r.name.lower()
			by_registry[name] = by_registry.get(name, 0) + 1
	return PurgeResult(
		dry_run=dry_run,
		matched=len(candidates),
		deleted=deleted,
		by_registry=by_registry,
		sample=[c[2] for c in candidates[:sample_size]],
		cutoff=cutoff,
		kept_undated=len(undated),
		undated_sample=undated[:sample_size],
	)


# What a job hash says about when the job was last seen, and the TTLs behind its registry score.
AGE_FIELDS = (
	"ended_at",
	"started_at",
	"enqueued_at",
	"last_heartbeat",
	"created_at",
	"failure_ttl",
	"result_ttl",
)


def job_age_at(registry: Registry, fields: dict, score: float) -> datetime | None:
	"""The newest moment known for a job in the finished or failed registry, or None.

	Times of the hash (ended, started, enqueued, heartbeat, created), and the moment it entered
	the registry: RQ scores these registries with that moment plus the job's TTL (its
	`failure_ttl` / `result_ttl`, else RQ's default); an infinite TTL says nothing.
	"""
	moments = [parse_rq_time(fields.get(name)) for name in AGE_FIELDS[:5]]
	ttl_field, default_ttl = (
		("failure_ttl", DEFAULT_FAILURE_TTL)
		if registry is Registry.FAILED
		else ("result_ttl", DEFAULT_RESULT_TTL)
	)
	try:
		raw_ttl = fields.get(ttl_field)
		ttl = float(as_text(raw_ttl)) if raw_ttl not in (None, b"", "") else float(default_ttl)
	except ValueError:
		ttl = float(default_ttl)
	if ttl >= 0 and math.isfinite(score) and math.isfinite(ttl):
		try:
			moments.append(datetime.fromtimestamp(score - ttl, timezone.utc))
		except (OverflowError, OSError, ValueError):
			pass
	known = [m for m in moments if m is not None]
	return max(known) if known else None


def bench_queues(conn: Redis, bench_id: str, shorts: Iterable[str] | None = None) -> list[str]:
	"""The bench's queue names (`<bench_id>:<short>`), from RQ's queue set or the names given."""
	if shorts:
		return [s if s.startswith(f"{bench_id}:") else f"{bench_id}:{s}" for s in shorts]
	prefix = f"{rq_keys.QUEUE_PREFIX}{bench_id}:"
	found = {as_text(k)[len(rq_keys.QUEUE_PREFIX) :] for k in conn.smembers(rq_keys.QUEUES_SET)}
	found = {q for q in found if f"{rq_keys.QUEUE_PREFIX}{q}".startswith(prefix)}
	# A queue whose last job left is dropped from rq:queues but its registries live on.
	found |= {f"{bench_id}:{s}" for s in ("short", "default", "long")}
	return sorted(found)


def _group(chunk: list[tuple[str, Registry, str, float]]) -> dict[tuple[str, Registry], list]:
	grouped: dict[tuple[str, Registry], list] = {}
	for q, r, job_id, score in chunk:
		grouped.setdefault((q, r), []).append((job_id, score))
	return grouped


def _eval(conn: Redis, source: str, key_list: list[str], args: list):
	return conn.register_script(source)(keys=key_list, args=args)


def _pairs(flat: list) -> dict:
	return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


__all__ = [
	"ACCEPTS",
	"Step",
	"bench_queues",
	"cancel",
	"finish_cancel",
	"finish_stopped",
	"job_state",
	"not_found_message",
	"purge",
	"quarantine",
	"quarantined_ids",
	"quarantined_payload",
	"release",
	"release_payload",
	"requeue",
	"retry",
	"run_step",
	"site_of",
	"sites_of",
	"step_result",
]

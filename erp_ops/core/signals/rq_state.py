"""Read queues, registries, workers and started jobs straight from RQ's keys.

Three pipelined round trips whatever the number of jobs: (1) discover queues and workers,
(2) count every queue and registry and read every worker, (3) read the few job hashes that the
figures need (the oldest queued job per queue and the jobs in started registries). Nothing is
written: RQ's cleanup never runs here, so observing a bench never moves its jobs.
"""

import pickle
import socket
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone

import psutil
from redis import Redis

from erp_ops.core import rq_keys
from erp_ops.core.rq_keys import Registry, as_text, parse_rq_time
from erp_ops.core.signals.models import QueueStats, StartedJob, WorkerInfo, WorkerStatus

FRAPPE_QUEUES = ("short", "default", "long")
STARTED_SAMPLE_LIMIT = 500  # started registries hold about one entry per worker; cap the odd pile-up


@dataclass
class RqState:
	queues: list[QueueStats] = field(default_factory=list)
	workers: list[WorkerInfo] = field(default_factory=list)
	started_jobs: list[StartedJob] = field(default_factory=list)


def read_rq_state(
	conn: Redis,
	bench_id: str,
	*,
	extra_queues: tuple[str, ...] = (),
	now: float | None = None,
	local_hostname: str | None = None,
) -> RqState:
	"""Read the RQ state of one bench (queues named `<bench_id>:<name>`) without changing it."""
	now = time.time() if now is None else now
	local_hostname = local_hostname or socket.gethostname()
	prefix = f"{bench_id}:"

	pipe = conn.pipeline(transaction=False)
	pipe.smembers(rq_keys.QUEUES_SET)
	pipe.smembers(rq_keys.WORKERS_SET)
	queue_keys, worker_keys = pipe.execute()

	names = {f"{prefix}{q}" for q in (*FRAPPE_QUEUES, *extra_queues)}
	for key in map(as_text, queue_keys):
		name = key.removeprefix(rq_keys.QUEUE_PREFIX)
		if name.startswith(prefix):
			names.add(name)
	queue_names = sorted(names)
	worker_names = sorted(as_text(k).removeprefix(rq_keys.WORKER_PREFIX) for k in worker_keys)

	pipe = conn.pipeline(transaction=False)
	for name in queue_names:
		_count_queue(pipe, name, now)
	for worker in worker_names:
		key = rq_keys.worker_key(worker)
		pipe.hmget(key, *_WORKER_FIELDS)
		pipe.ttl(key)
	replies = pipe.execute()

	per_queue = len(_QUEUE_COUNTS)
	queue_replies = [replies[i * per_queue : (i + 1) * per_queue] for i in range(len(queue_names))]
	worker_replies = replies[len(queue_names) * per_queue :]

	workers = [
		_worker_info(name, fields, ttl, now, local_hostname)
		for name, fields, ttl in zip(worker_names, worker_replies[0::2], worker_replies[1::2], strict=True)
	]
	workers = [w for w in workers if any(q.startswith(prefix) for q in w.queues)]

	oldest_at, members_at = _QUEUE_COUNTS.index("oldest"), _QUEUE_COUNTS.index("started_members")
	oldest_ids = [as_text(r[oldest_at]) if r[oldest_at] else None for r in queue_replies]
	started = [
		(queue, member, float(score))
		for queue, r in zip(queue_names, queue_replies, strict=True)
		for member, score in r[members_at]
	]

	pipe = conn.pipeline(transaction=False)
	for job_id in oldest_ids:
		if job_id:
			pipe.hmget(rq_keys.job_key(job_id), "enqueued_at", "created_at")
	for _queue, member, _score in started:
		pipe.hmget(rq_keys.job_key(rq_keys.started_member_job_id(as_text(member))), *_JOB_FIELDS)
	job_replies = pipe.execute() if (any(oldest_ids) or started) else []

	oldest_ages: list[float | None] = []
	cursor = 0
	for job_id in oldest_ids:
		if not job_id:
			oldest_ages.append(None)
			continue
		enqueued_at, created_at = job_replies[cursor]
		cursor += 1
		stamp = parse_rq_time(enqueued_at) or parse_rq_time(created_at)
		oldest_ages.append(max(0.0, now - stamp.timestamp()) if stamp else None)

	alive = {w.name for w in workers if w.status is WorkerStatus.ALIVE}
	started_jobs = [
		_started_job(queue, as_text(member), score, job_replies[cursor + i], alive, now)
		for i, (queue, member, score) in enumerate(started)
	]

	listening: dict[str, int] = {}
	for w in workers:
		if w.status is WorkerStatus.ALIVE:
			for q in w.queues:
				listening[q] = listening.get(q, 0) + 1

	queues = []
	for name, r, age, oldest in zip(queue_names, queue_replies, oldest_ages, oldest_ids, strict=True):
		counts = dict(zip(_QUEUE_COUNTS, r, strict=True))
		queues.append(
			QueueStats(
				name=name,
				short_name=rq_keys.queue_short_name(name, bench_id),
				queued=counts["queued"],
				intermediate=counts["intermediate"],
				started=counts["started"],
				expired_started=counts["expired_started"],
				failed=counts["failed"],
				deferred=counts["deferred"],
				scheduled=counts["scheduled"],
				finished=counts["finished"],
				canceled=counts["canceled"],
				oldest_queued_job_id=oldest,
				oldest_queued_age_s=age,
				workers=listening.get(name, 0),
				running_past_timeout=sum(1 for j in started_jobs if j.queue == name and j.overdue),
			)
		)
	return RqState(queues=queues, workers=workers, started_jobs=started_jobs)


# The order of commands _count_queue adds to a pipeline, named for reading the replies back.
_COUNT_ORDER = (Registry.FINISHED, Registry.FAILED, Registry.CANCELED, Registry.DEFERRED, Registry.SCHEDULED)
_QUEUE_COUNTS = (
	"queued",
	"intermediate",
	"started",
	"expired_started",
	"finished",
	"failed",
	"canceled",
	"deferred",
	"scheduled",
	"oldest",
	"started_members",
)


def _count_queue(pipe, name: str, now: float) -> None:
	pipe.llen(rq_keys.queue_key(name))
	pipe.llen(rq_keys.INTERMEDIATE.format(queue=name))
	pipe.zcount(Registry.STARTED.key(name), now, "+inf")
	pipe.zcount(Registry.STARTED.key(name), "-inf", f"({now}")
	for registry in _COUNT_ORDER:
		if registry in rq_keys.EXPIRING_REGISTRIES:
			pipe.zcount(registry.key(name), now, "+inf")
		else:
			pipe.zcard(registry.key(name))
	# RQ appends with RPUSH; at_front jobs (LPUSH) are newer, which only makes this age conservative.
	pipe.lindex(rq_keys.queue_key(name), 0)
	pipe.zrange(Registry.STARTED.key(name), 0, STARTED_SAMPLE_LIMIT - 1, withscores=True)


_WORKER_FIELDS = (
	"queues",
	"state",
	"current_job",
	"hostname",
	"pid",
	"birth",
	"last_heartbeat",
	"successful_job_count",
	"failed_job_count",
	"total_working_time",
)

_JOB_FIELDS = ("started_at", "timeout", "worker_name", "data", "status")


def _worker_info(name: str, fields: list, ttl: int, now: float, local_hostname: str) -> WorkerInfo:
	values = dict(zip(_WORKER_FIELDS, (as_text(v) if v is not None else None for v in fields), strict=True))
	pid = _int(values["pid"])
	last_heartbeat = parse_rq_time(values["last_heartbeat"])
	status, reason = WorkerStatus.ALIVE, None
	rss = cpu = None
	if ttl == -2 or not any(values.values()):
		# The key expired: no heartbeat within worker_ttl. An idle worker's last_heartbeat can be
		# minutes old while its key is alive, so the key's TTL is the judge, not the heartbeat age.
		status, reason = WorkerStatus.DEAD, "worker key expired: no heartbeat within its TTL"
	elif values["hostname"] == local_hostname and pid:
		try:
			proc = psutil.Process(pid)
			if proc.status() == psutil.STATUS_ZOMBIE:
				raise psutil.NoSuchProcess(pid)
			with proc.oneshot():
				rss = proc.memory_info().rss
				cpu_times = proc.cpu_times()
				lifetime = max(1e-3, now - proc.create_time())
				cpu = round(100.0 * (cpu_times.user + cpu_times.system) / lifetime, 2)
		except (psutil.NoSuchProcess, ValueError, OverflowError):  # gone, or not a pid at all
			status, reason = WorkerStatus.DEAD, f"process {pid} is not running on {local_hostname}"
		except psutil.AccessDenied:
			pass
	return WorkerInfo(
		name=name,
		queues=[q for q in (values["queues"] or "").split(",") if q],
		state=values["state"],
		current_job=values["current_job"] or None,
		hostname=values["hostname"],
		pid=pid,
		birth=parse_rq_time(values["birth"]),
		last_heartbeat=last_heartbeat,
		heartbeat_age_s=round(now - last_heartbeat.timestamp(), 3) if last_heartbeat else None,
		ttl_s=ttl if ttl >= 0 else None,
		successful_jobs=_int(values["successful_job_count"]) or 0,
		failed_jobs=_int(values["failed_job_count"]) or 0,
		total_working_time_s=_float(values["total_working_time"]) or 0.0,
		status=status,
		dead_reason=reason,
		rss_bytes=rss,
		cpu_percent=cpu,
	)


def _started_job(
	queue: str, member: str, score: float, fields: list, alive: set[str], now: float
) -> StartedJob:
	started_at_raw, timeout_raw, worker_raw, data, _status = fields
	job_id = rq_keys.started_member_job_id(member)
	started_at = parse_rq_time(started_at_raw)
	timeout = _float(timeout_raw)
	elapsed = round(now - started_at.timestamp(), 3) if started_at else None
	worker = as_text(worker_raw) if worker_raw else None
	site, method = _frappe_call(data)
	reason = None
	if score < now:
		reason = "started-registry entry expired: its worker stopped heartbeating"
	elif worker and worker not in alive:
		reason = f"worker {worker} is dead"
	return StartedJob(
		job_id=job_id,
		queue=queue,
		worker=worker,
		site=site,
		method=method,
		started_at=started_at,
		elapsed_s=elapsed,
		timeout_s=timeout,
		overdue=bool(elapsed is not None and timeout and timeout > 0 and elapsed > timeout),
		abandoned=reason is not None,
		abandoned_reason=reason,
	)


def decode_job_data(data: bytes | None) -> tuple | None:
	"""RQ's default serialized job tuple (func name, instance, args, kwargs), or None."""
	if not data:
		return None
	try:
		try:
			raw = zlib.decompress(data)
		except zlib.error:
			raw = data
		return pickle.loads(raw)
	except Exception:
		# A job pickled with classes this process cannot import; the figure is optional.
		return None


def _frappe_call(data: bytes | None) -> tuple[str | None, str | None]:
	"""Site and method of a job enqueued through Frappe's `execute_job(site, method, ...)`."""
	decoded = decode_job_data(data)
	if not decoded or len(decoded) < 4 or not isinstance(decoded[3], dict):
		return None, None
	kwargs = decoded[3]
	method = kwargs.get("method")
	if method is not None and not isinstance(method, str):
		# Frappe names a callable job `<module>.<qualname>` (background_jobs.enqueue)
		qualname = getattr(method, "__qualname__", None)
		method = f"{method.__module__}.{qualname}" if qualname else None
	site = kwargs.get("site")
	return (site if isinstance(site, str) else None), method or (
		decoded[0] if isinstance(decoded[0], str) else None
	)


def _int(value) -> int | None:
	try:
		return int(value) if value not in (None, b"", "") else None
	except (TypeError, ValueError):
		return None


def _float(value) -> float | None:
	try:
		return float(value) if value not in (None, b"", "") else None
	except (TypeError, ValueError):
		return None

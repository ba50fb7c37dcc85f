"""Read queues, registries, workers and started jobs straight from RQ's keys.

Round trips are constant in the number of jobs: (1) discover queues and workers, (2) one
server-side script per queue (`rq_read_lua.py`: counts, the head and the oldest waiting job, per-site
counts, started jobs, the last hour's failures) and every registered worker's hash, (3) only when
a started job or a `rq:workers:<queue>` set names a worker `rq:workers` does not list, or a key
needs its type named: those. Nothing is written: RQ's cleanup never runs here, so observing a
bench never moves its jobs.

Broken data does not stop the read: a key of the wrong type, a job key that is not a hash, a time
or counter that does not parse becomes an `Unreadable` entry (key, type, why) and the rest is read.
Only a connection failure (a `RedisError` other than a reply error) propagates.
"""

import base64
import hashlib
import pickle
import re
import socket
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone

import psutil
from redis import Redis
from redis.exceptions import NoScriptError, ResponseError

from erp_ops.core import rq_keys
from erp_ops.core.rq_keys import Registry, as_text, parse_rq_time
from erp_ops.core.signals import rq_read_lua
from erp_ops.core.signals.models import (
	FailureCount,
	QueueStats,
	RqFailures,
	SiteCounts,
	SiteQueueCounts,
	StartedJob,
	Unreadable,
	WorkerInfo,
	WorkerStatus,
)

FRAPPE_QUEUES = ("short", "default", "long")
STARTED_SAMPLE_LIMIT = 500  # started registries hold about one entry per worker; cap the odd pile-up
# The oldest waiting job is looked for among the first HEAD_WINDOW jobs of a queue, the walk
# stopping SCAN_MARGIN jobs past the lowest enqueued_at (see rq_read_lua.py)
HEAD_WINDOW = 1_000
SCAN_MARGIN = 32
# Queued job ids counted per site; beyond it per-site queued figures are lower bounds
SITE_WINDOW = 1_000
# Most recent entries of each failed registry read for the last hour's failures (the walk stops
# SCAN_MARGIN entries past the hour) and counted per site. Frappe trims a failed registry to
# rq_failed_jobs_limit (1,000) after each failure it sees, but failures it does not see (other
# workers, RQ's own cleanup) are not trimmed, so the read is bounded here.
FAILED_WINDOW = 1_000
MAX_UNREADABLE = 100
FAILURE_WINDOWS_S = (300, 3600)

LUA = rq_read_lua.SCRIPT
LUA_SHA = hashlib.sha1(LUA.encode()).hexdigest()
ATTEMPT_PREFIX = "erp_ops:{bench}:attempt:"  # evidence/append.py's ATTEMPT key without the job id


@dataclass
class FailedRun:
	"""Failures in a failed registry that ended in the last hour, alike in all but their job id."""

	queue: str
	site: str | None
	method: str | None  # known for failures the evidence never saw
	exc_type: str
	seen_by_evidence: bool
	recent: bool  # ended in the last 5 minutes
	count: int = 1


@dataclass
class RqState:
	queues: list[QueueStats] = field(default_factory=list)
	workers: list[WorkerInfo] = field(default_factory=list)
	started_jobs: list[StartedJob] = field(default_factory=list)
	failed_runs: list[FailedRun] = field(default_factory=list)
	rq_failures: RqFailures | None = None
	sites: list[SiteCounts] = field(default_factory=list)
	unreadable: list[Unreadable] = field(default_factory=list)


class _Unreadable:
	"""Collects unreadable keys, once each, at most MAX_UNREADABLE."""

	def __init__(self):
		self.items: dict[str, Unreadable] = {}

	def add(self, key, kind: str, why: str) -> None:
		key = as_text(key)
		if key not in self.items and len(self.items) < MAX_UNREADABLE:
			self.items[key] = Unreadable(key=key, type=as_text(kind), why=why)


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
	bad = _Unreadable()

	pipe = conn.pipeline(transaction=False)
	for key in (rq_keys.QUEUES_SET, rq_keys.WORKERS_SET):
		pipe.type(key)
		pipe.smembers(key)
	queues_type, queue_keys, workers_type, worker_keys = pipe.execute(raise_on_error=False)
	queue_keys = _members(bad, rq_keys.QUEUES_SET, queues_type, queue_keys)
	worker_keys = _members(bad, rq_keys.WORKERS_SET, workers_type, worker_keys)

	names = {f"{prefix}{q}" for q in (*FRAPPE_QUEUES, *extra_queues)}
	for key in map(as_text, queue_keys):
		name = key.removeprefix(rq_keys.QUEUE_PREFIX)
		if key.startswith(rq_keys.QUEUE_PREFIX) and name.startswith(prefix):
			names.add(name)
	queue_names = sorted(names)
	listed = sorted({_worker_name(k) for k in worker_keys})

	args = _script_args(bench_id, now)
	replies = _round_two(conn, queue_names, listed, args)
	per_queue = [_queue_reply(r) for r in replies[: len(queue_names)]]
	worker_replies = replies[len(queue_names) :]
	for reply in per_queue:
		for key, kind, why in reply["bad"]:
			bad.add(key, kind, why)

	fields_by_worker = {
		name: (fields, ttl)
		for name, fields, ttl in zip(listed, worker_replies[0::2], worker_replies[1::2], strict=True)
	}
	# Workers this bench's keys name: its per-queue sets and its started jobs
	in_queue_sets: dict[str, list[str]] = {}
	for name, reply in zip(queue_names, per_queue, strict=True):
		for key in reply["workers"]:
			in_queue_sets.setdefault(_worker_name(key), []).append(name)
	held: dict[str, list[tuple[str, str]]] = {}
	for name, reply in zip(queue_names, per_queue, strict=True):
		for row in reply["started"]:
			if row[4]:
				held.setdefault(as_text(row[4]), []).append((name, _job_id(row[0])))
	unlisted = sorted((set(in_queue_sets) | set(held)) - set(fields_by_worker))
	broken = [n for n, (fields, _ttl) in fields_by_worker.items() if isinstance(fields, ResponseError)]
	if unlisted or broken:
		pipe = conn.pipeline(transaction=False)
		for name in unlisted:
			pipe.hmget(rq_keys.worker_key(name), *_WORKER_FIELDS)
			pipe.ttl(rq_keys.worker_key(name))
		for name in (*unlisted, *broken):
			pipe.type(rq_keys.worker_key(name))
		more = pipe.execute(raise_on_error=False)
		for i, name in enumerate(unlisted):
			fields_by_worker[name] = (more[2 * i], more[2 * i + 1])
		kinds = dict(zip((*unlisted, *broken), more[2 * len(unlisted) :], strict=True))
		for name, kind in kinds.items():
			if isinstance(fields_by_worker[name][0], ResponseError):
				kind = kind if not isinstance(kind, Exception) else "unknown"
				bad.add(rq_keys.worker_key(name), kind, "a worker key that is not a hash")

	workers = []
	for name in sorted(fields_by_worker):
		fields, ttl = fields_by_worker[name]
		if isinstance(fields, ResponseError):
			continue  # reported above
		sets = in_queue_sets.get(name, [])
		jobs = held.get(name, [])
		info = _worker_info(name, fields, ttl, now, local_hostname, bad)
		if not info.queues:
			info = info.model_copy(update={"queues": sorted(set(sets) | {q for q, _ in jobs})})
		ours = any(q.startswith(prefix) for q in info.queues) or sets or jobs
		if not ours:
			continue
		known_from = (["rq:workers"] if name in listed else []) + [
			rq_keys.WORKERS_BY_QUEUE.format(queue=q) for q in sets
		]
		if jobs:
			known_from.append("started job")
		workers.append(info.model_copy(update={"jobs_held": [j for _, j in jobs], "known_from": known_from}))

	alive = {w.name for w in workers if w.status is WorkerStatus.ALIVE}
	started_jobs = [
		_started_job(name, row, alive, now, bad)
		for name, reply in zip(queue_names, per_queue, strict=True)
		for row in reply["started"]
	]

	listening: dict[str, int] = {}
	for w in workers:
		if w.status is WorkerStatus.ALIVE:
			for q in w.queues:
				listening[q] = listening.get(q, 0) + 1

	queues = [
		_queue_stats(name, bench_id, reply, started_jobs, listening.get(name, 0), now)
		for name, reply in zip(queue_names, per_queue, strict=True)
	]
	failed_runs = [
		_failed_run(name, row, reply["exc_types"])
		for name, reply in zip(queue_names, per_queue, strict=True)
		for row in reply["failures"]
	]
	return RqState(
		queues=queues,
		workers=workers,
		started_jobs=started_jobs,
		failed_runs=failed_runs,
		rq_failures=_rq_failures(failed_runs, per_queue, bench_id, queue_names),
		sites=_sites(queue_names, bench_id, per_queue, started_jobs),
		unreadable=list(bad.items.values()),
	)


def _members(bad: _Unreadable, key: str, kind, members) -> set:
	if isinstance(members, ResponseError):
		bad.add(key, kind if not isinstance(kind, Exception) else "unknown", "expected a set")
		return set()
	return members


def _worker_name(key) -> str:
	return as_text(key).removeprefix(rq_keys.WORKER_PREFIX)


def _job_id(member) -> str:
	return rq_keys.started_member_job_id(as_text(member))


def _script_args(bench_id: str, now: float) -> list:
	return [
		repr(now),
		HEAD_WINDOW,
		SITE_WINDOW,
		STARTED_SAMPLE_LIMIT,
		FAILED_WINDOW,
		rq_keys.rq_time(datetime.fromtimestamp(now - FAILURE_WINDOWS_S[1], tz=timezone.utc)),
		ATTEMPT_PREFIX.format(bench=bench_id),
		"1" if rq_keys.RQ_STARTED_MEMBERS_ARE_COMPOSITE else "0",
		"1" if Registry.DEFERRED in rq_keys.EXPIRING_REGISTRIES else "0",
		rq_keys.JOB_PREFIX,
		rq_keys.RESULTS_PREFIX,
		MAX_UNREADABLE,
		SCAN_MARGIN,
		rq_keys.rq_time(datetime.fromtimestamp(now - FAILURE_WINDOWS_S[0], tz=timezone.utc)),
	]


# The registries in the order the script takes them as KEYS[3..8]
_SCRIPT_REGISTRIES = (
	Registry.STARTED,
	Registry.FINISHED,
	Registry.FAILED,
	Registry.CANCELED,
	Registry.DEFERRED,
	Registry.SCHEDULED,
)


def _queue_keys(name: str) -> list[str]:
	registries = [registry.key(name) for registry in _SCRIPT_REGISTRIES]
	return [
		rq_keys.queue_key(name),
		rq_keys.INTERMEDIATE.format(queue=name),
		*registries,
		rq_keys.WORKERS_BY_QUEUE.format(queue=name),
	]


def _round_two(conn: Redis, queue_names: list[str], workers: list[str], args: list) -> list:
	"""The per-queue scripts and the listed workers' hashes, in one round trip.

	EVALSHA first; a Redis that does not know the script yet (restarted, first read) gets it
	loaded once and the round is sent again. Loading a script changes no key.
	"""
	for attempt in range(2):
		pipe = conn.pipeline(transaction=False)
		for name in queue_names:
			keys = _queue_keys(name)
			pipe.evalsha(LUA_SHA, len(keys), *keys, *args)
		for worker in workers:
			key = rq_keys.worker_key(worker)
			pipe.hmget(key, *_WORKER_FIELDS)
			pipe.ttl(key)
		replies = pipe.execute(raise_on_error=False)
		if attempt == 0 and any(isinstance(r, NoScriptError) for r in replies[: len(queue_names)]):
			conn.script_load(LUA)
			continue
		for r in replies[: len(queue_names)]:
			if isinstance(r, ResponseError):
				raise r  # the script itself failed: a bug, not data
		return replies
	raise AssertionError("unreachable")


_COUNTS = (
	"queued",
	"intermediate",
	"started",
	"expired_started",
	"finished",
	"failed",
	"canceled",
	"deferred",
	"scheduled",
)


def _queue_reply(r: list) -> dict:
	counts, head, oldest, queued_sites, queued_scanned, started, failed_sites, failed_scanned = r[:8]
	failures, workers, bad, _bad_count, failed_walked, failed_complete, excs = r[8:15]
	return {
		"counts": dict(zip(_COUNTS, (int(c) for c in counts), strict=True)),
		"head": head,
		"oldest": oldest,
		"queued_sites": _pairs(queued_sites),
		"queued_scanned": int(queued_scanned),
		"started": started,
		"failed_sites": _pairs(failed_sites),
		"failed_scanned": int(failed_scanned),
		"failed_walked": int(failed_walked),
		"failed_complete": bool(failed_complete),
		"failures": failures,
		# distinct tracebacks of the failures, decoded once each
		"exc_types": [exception_type(_exc_text(raw, encoding)) for raw, encoding in excs],
		"workers": workers,
		"bad": [(k, t, as_text(w)) for k, t, w in bad],
	}


def _pairs(flat: list) -> dict[str, int]:
	return {as_text(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}


def _age(raw, now: float) -> float | None:
	moment = parse_rq_time(raw) if raw else None
	return round(max(0.0, now - moment.timestamp()), 3) if moment else None


def _queue_stats(
	name: str, bench_id: str, reply: dict, started_jobs: list[StartedJob], workers: int, now: float
) -> QueueStats:
	counts = reply["counts"]
	head_id, head_at = reply["head"]
	oldest_id, oldest_at, _scanned, open_ended = reply["oldest"]
	mine = [j for j in started_jobs if j.queue == name]
	# current entries whose worker is dead; expired entries are counted whole by ZCOUNT
	dead_current = sum(1 for j in mine if j.abandoned and not j.entry_expired)
	return QueueStats(
		name=name,
		short_name=rq_keys.queue_short_name(name, bench_id),
		**counts,
		running=counts["started"] - dead_current,
		abandoned=counts["expired_started"] + dead_current,
		oldest_queued_job_id=as_text(oldest_id) if oldest_id else None,
		oldest_queued_age_s=_age(oldest_at, now),
		oldest_queued_exact=not open_ended,
		head_job_id=as_text(head_id) if head_id else None,
		head_age_s=_age(head_at, now),
		workers=workers,
		running_past_timeout=sum(1 for j in mine if j.overdue),
	)


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


def _worker_info(
	name: str, fields: list, ttl, now: float, local_hostname: str, bad: _Unreadable
) -> WorkerInfo:
	key = rq_keys.worker_key(name)
	values = dict(zip(_WORKER_FIELDS, (as_text(v) if v is not None else None for v in fields), strict=True))

	def number(field: str, kind=int):
		raw = values[field]
		if raw in (None, ""):
			return None
		try:
			value = kind(raw)
		except (TypeError, ValueError, OverflowError):
			value = None
		if value is None or (kind is float and value != value):
			bad.add(key, "hash", f"{field} is not a number: {raw[:40]!r}")
			return None
		return value

	def moment(field: str) -> datetime | None:
		raw = values[field]
		parsed = parse_rq_time(raw) if raw else None
		if raw and parsed is None:
			bad.add(key, "hash", f"{field} is not a time: {raw[:40]!r}")
		return parsed

	ttl = ttl if isinstance(ttl, int) else -2
	pid = number("pid")
	last_heartbeat = moment("last_heartbeat")
	birth = moment("birth")
	status, reason = WorkerStatus.ALIVE, None
	rss = cpu = None
	if ttl == -2 or not any(values.values()):
		# The key expired: no heartbeat within worker_ttl. An idle worker's last_heartbeat can be
		# minutes old while its key is alive, so the key's TTL is the judge, not the heartbeat age.
		status, reason = WorkerStatus.DEAD, "worker key expired: no heartbeat within its TTL"
	elif values["hostname"] == local_hostname and pid and pid > 0:
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
		birth=birth,
		last_heartbeat=last_heartbeat,
		heartbeat_age_s=round(now - last_heartbeat.timestamp(), 3) if last_heartbeat else None,
		ttl_s=ttl if ttl >= 0 else None,
		successful_jobs=number("successful_job_count") or 0,
		failed_jobs=number("failed_job_count") or 0,
		total_working_time_s=number("total_working_time", float) or 0.0,
		status=status,
		dead_reason=reason,
		rss_bytes=rss,
		cpu_percent=cpu,
	)


def _started_job(queue: str, row: list, alive: set[str], now: float, bad: _Unreadable) -> StartedJob:
	member, raw_score, started_at_raw, timeout_raw, worker_raw, data, heartbeat_raw = row
	job_id = _job_id(member)
	score = float(raw_score)
	started_at = parse_rq_time(started_at_raw) if started_at_raw else None
	heartbeat = parse_rq_time(heartbeat_raw) if heartbeat_raw else None
	timeout = _float(timeout_raw)
	if timeout_raw and timeout is None:
		bad.add(rq_keys.job_key(job_id), "hash", f"timeout is not a number: {as_text(timeout_raw)[:40]!r}")
	elapsed = round(now - started_at.timestamp(), 3) if started_at else None
	worker = as_text(worker_raw) if worker_raw else None
	site, method = _frappe_call(data)
	site = site or rq_keys.split_frappe_job_id(job_id)[0]
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
		entry_expired=score < now,
		last_heartbeat=heartbeat,
		heartbeat_age_s=round(now - heartbeat.timestamp(), 3) if heartbeat else None,
	)


_EXC_TYPE = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")


def exception_type(traceback_text: str | None) -> str:
	"""The exception class a traceback ends with (`frappe.exceptions.ValidationError`), or `unknown`."""
	for line in reversed((traceback_text or "").strip().splitlines()):
		match = _EXC_TYPE.match(line.strip())
		if match:
			return match.group(1)
		if line.strip():
			break
	return "unknown"


def _exc_text(raw, encoding) -> str | None:
	if not raw:
		return None
	try:
		data = raw if isinstance(raw, bytes) else str(raw).encode()
		if encoding and as_text(encoding) == "b64zlib":
			data = base64.b64decode(data)
		try:
			data = zlib.decompress(data)
		except zlib.error:
			pass
		return data.decode(errors="replace")
	except (ValueError, TypeError):
		return None


def _failed_run(queue: str, row: list, exc_types: list[str]) -> FailedRun:
	raw_id, recent, seen, method, data, exc_at, count = row
	site = rq_keys.split_frappe_job_id(as_text(raw_id))[0]
	if method:
		method = as_text(method)
	elif not seen:  # no `method='...'` in RQ's call string: the script sent the job's data
		kwargs_site, method = _frappe_call(data)
		site = site or kwargs_site
	return FailedRun(
		queue=queue,
		site=site,
		method=method,
		exc_type=exc_types[exc_at - 1] if exc_at else "unknown",
		seen_by_evidence=bool(seen),
		recent=bool(recent),
		count=int(count),
	)


def _count_by(runs: list[FailedRun], key) -> list[FailureCount]:
	rows: dict[str, list[int]] = {}
	for run in runs:
		k = key(run)
		if k is None:
			continue
		row = rows.get(k)
		if row is None:
			row = rows[k] = [0, 0, 0, 0]
		n, unseen = run.count, 0 if run.seen_by_evidence else run.count
		row[1] += n
		row[3] += unseen
		if run.recent:
			row[0] += n
			row[2] += unseen
	return sorted(
		(
			FailureCount(key=k, failed_5m=a, failed_1h=b, rq_only_5m=c, rq_only_1h=d)
			for k, (a, b, c, d) in rows.items()
		),
		key=lambda c: (-c.failed_1h, c.key),
	)


def _rq_failures(
	runs: list[FailedRun], per_queue: list[dict], bench_id: str, queue_names: list[str]
) -> RqFailures:
	short = {name: rq_keys.queue_short_name(name, bench_id) for name in queue_names}
	return RqFailures(
		scan_limit=FAILED_WINDOW,
		scanned=sum(r["failed_walked"] for r in per_queue),
		bounded=not all(r["failed_complete"] for r in per_queue),
		by_queue=_count_by(runs, lambda r: short[r.queue]),
		by_exception=_count_by(runs, lambda r: r.exc_type),
		by_site=_count_by(runs, lambda r: r.site),
	)


def _sites(
	queue_names: list[str], bench_id: str, per_queue: list[dict], started_jobs: list[StartedJob]
) -> list[SiteCounts]:
	"""Per site and queue: queued and failed from the job-id prefixes the script counted, started
	and abandoned from the started jobs; exact when every queue and registry fit in its window."""
	rows: dict[tuple[str, str], dict[str, int]] = {}
	exact = True
	for name, reply in zip(queue_names, per_queue, strict=True):
		counts = reply["counts"]
		exact &= reply["queued_scanned"] >= counts["queued"] and reply["failed_scanned"] >= counts["failed"]
		exact &= len(reply["started"]) >= counts["started"] + counts["expired_started"]
		for site, n in reply["queued_sites"].items():
			rows.setdefault((site, name), {}).setdefault("queued", 0)
			rows[(site, name)]["queued"] += n
		for site, n in reply["failed_sites"].items():
			rows.setdefault((site, name), {}).setdefault("failed", 0)
			rows[(site, name)]["failed"] += n
	for job in started_jobs:
		site = rq_keys.split_frappe_job_id(job.job_id)[0]
		if site:
			figure = "abandoned" if job.abandoned else "started"
			row = rows.setdefault((site, job.queue), {})
			row[figure] = row.get(figure, 0) + 1
	by_site: dict[str, list[SiteQueueCounts]] = {}
	for (site, name), figures in sorted(rows.items()):
		by_site.setdefault(site, []).append(
			SiteQueueCounts(queue=rq_keys.queue_short_name(name, bench_id), **figures)
		)
	return [
		SiteCounts(
			site=site,
			queued=sum(q.queued for q in qs),
			started=sum(q.started for q in qs),
			abandoned=sum(q.abandoned for q in qs),
			failed=sum(q.failed for q in qs),
			exact=exact,
			queues=qs,
		)
		for site, qs in by_site.items()
	]


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
	if not isinstance(decoded, tuple | list) or len(decoded) < 4 or not isinstance(decoded[3], dict):
		return None, None
	kwargs = decoded[3]
	method = kwargs.get("method")
	if method is not None and not isinstance(method, str):
		# Frappe names a callable job `<module>.<qualname>` (background_jobs.enqueue)
		qualname = getattr(method, "__qualname__", None)
		module = getattr(method, "__module__", None)
		method = f"{module}.{qualname}" if isinstance(qualname, str) and isinstance(module, str) else None
	site = kwargs.get("site")
	return (site if isinstance(site, str) else None), method or (
		decoded[0] if isinstance(decoded[0], str) else None
	)


def _float(value) -> float | None:
	try:
		return float(value) if value not in (None, b"", "") else None
	except (TypeError, ValueError):
		return None

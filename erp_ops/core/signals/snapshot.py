"""Compose the operations snapshot and cache it in Redis for a few seconds.

Round trips to Redis: two (rarely three) for RQ's state, one for evidence counters and
scheduled-job ids, one for the evidence backlog, plus the cache get and set: constant in the
number of jobs. Many open dashboards within the cache window share one read.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from pydantic import BaseModel
from redis import Redis
from redis.exceptions import RedisError, ResponseError

from erp_ops.core import rq_keys
from erp_ops.core.evidence import stream
from erp_ops.core.rq_keys import as_text
from erp_ops.core.signals import scheduler as scheduler_rules
from erp_ops.core.signals.host import read_host
from erp_ops.core.signals.locks import read_locks
from erp_ops.core.signals.models import (
	DbTransaction,
	FailureRate,
	Finding,
	Severity,
	SiteCounts,
	SiteSchedulerFacts,
	Snapshot,
	Unreadable,
	WorkerStatus,
)
from erp_ops.core.signals.rq_state import FailedRun, RqState, read_rq_state

CACHE_KEY = "erp_ops:{bench}:snapshot:{scope}"
CACHE_LOCK_WAIT_S = 0.5


class Thresholds(BaseModel):
	"""When a figure becomes a warning or critical finding."""

	oldest_job_warning_s: float = 300
	oldest_job_critical_s: float = 1800
	failure_rate_warning: float = 0.25
	failure_rate_min_jobs: int = 5
	disk_free_warning_pct: float = 15
	disk_free_critical_pct: float = 5
	evidence_backlog_warning: int = 50_000
	long_transaction_s: float = 300


SiteFacts = list[SiteSchedulerFacts] | Callable[[], list[SiteSchedulerFacts]]


def snapshot(
	conn: Redis,
	bench_id: str,
	*,
	sites: SiteFacts | None = None,
	sites_path: str | None = None,
	disk_paths: dict[str, str] | None = None,
	db_transactions: list[DbTransaction] | Callable[[], list[DbTransaction]] | None = None,
	thresholds: Thresholds | None = None,
	cache_seconds: float = 5,
	cache_scope: str = "bench",
	extra_queues: tuple[str, ...] = (),
	site: str | None = None,
) -> Snapshot:
	"""Return the snapshot, from the cache when one younger than `cache_seconds` exists.

	`sites` may be a callable so that a cache hit costs the caller no database reads. `site`
	scopes the snapshot to one site: its own figures (`site_figures`) beside the bench totals.
	"""
	key = CACHE_KEY.format(bench=bench_id, scope=cache_scope)
	if cache_seconds > 0:
		try:
			cached = conn.get(key)
			if cached:
				return Snapshot.model_validate_json(cached).model_copy(update={"cached": True})
		except RedisError:
			pass  # read() below reports Redis as unreachable
		except ValueError:
			pass  # a cache entry this version cannot read: read afresh and replace it
	result = read(
		conn,
		bench_id,
		sites=sites,
		sites_path=sites_path,
		disk_paths=disk_paths,
		db_transactions=db_transactions,
		thresholds=thresholds,
		extra_queues=extra_queues,
		site=site,
	)
	if cache_seconds > 0 and result.redis_ok:
		try:
			conn.set(key, result.model_dump_json(), px=int(cache_seconds * 1000))
		except RedisError:
			pass
	return result


def read(
	conn: Redis,
	bench_id: str,
	*,
	sites: SiteFacts | None = None,
	sites_path: str | None = None,
	disk_paths: dict[str, str] | None = None,
	db_transactions: list[DbTransaction] | Callable[[], list[DbTransaction]] | None = None,
	thresholds: Thresholds | None = None,
	extra_queues: tuple[str, ...] = (),
	site: str | None = None,
) -> Snapshot:
	"""Read every figure now, bypassing the cache."""
	scope_site = site
	started = time.perf_counter()
	now = time.time()
	thresholds = thresholds or Thresholds()
	sites = (sites() if callable(sites) else sites) or []
	if callable(db_transactions):
		db_transactions = db_transactions()
	redis_ok, redis_error = True, None
	state = RqState()
	buckets: list[dict] = []
	backlog = 0
	stuck_methods: dict[str, frozenset[str]] = {}
	unreadable: list[Unreadable] = []
	try:
		state = read_rq_state(conn, bench_id, extra_queues=extra_queues, now=now)
		pipe = conn.pipeline(transaction=False)
		bucket_keys = stream.queue_failure_rate_reads(pipe, bench_id, now)
		pipe.smembers(stream.STREAM_SITES.format(bench=bench_id))
		scheduled_ids = {site.site: scheduler_rules.stuck_job_ids(site.site, site) for site in sites}
		flat_ids = [(site, job_id) for site, ids in scheduled_ids.items() for job_id in ids]
		for _site, job_id in flat_ids:
			pipe.hget(rq_keys.job_key(job_id), "status")
		replies = pipe.execute(raise_on_error=False)
		buckets, evidence_sites, statuses = (
			replies[:bucket_keys],
			replies[bucket_keys],
			replies[bucket_keys + 1 :],
		)
		buckets = _readable_buckets(buckets, bench_id, now, unreadable)
		if isinstance(evidence_sites, ResponseError):
			unreadable.append(_unreadable(stream.STREAM_SITES.format(bench=bench_id), "expected a set"))
			evidence_sites = set()
		if evidence_sites:
			pipe = conn.pipeline(transaction=False)
			for site in sorted(evidence_sites):
				pipe.xlen(stream.stream_key(bench_id, as_text(site)))
			lengths = pipe.execute(raise_on_error=False)
			backlog = sum(n for n in lengths if isinstance(n, int))
			for site, n in zip(sorted(evidence_sites), lengths, strict=True):
				if not isinstance(n, int):
					unreadable.append(
						_unreadable(stream.stream_key(bench_id, as_text(site)), "expected a stream")
					)
		stuck: dict[str, set[str]] = {}
		for (site, job_id), status in zip(flat_ids, statuses, strict=True):
			if isinstance(status, ResponseError):
				unreadable.append(_unreadable(rq_keys.job_key(job_id), "a job key that is not a hash"))
			elif status and as_text(status) in ("queued", "started"):
				stuck.setdefault(site, set()).add(scheduled_ids[site][job_id])
		stuck_methods = {site: frozenset(methods) for site, methods in stuck.items()}
	except RedisError as e:
		redis_ok, redis_error = False, f"{type(e).__name__}: {e}"

	listening = sum(
		1
		for w in state.workers
		if w.status is WorkerStatus.ALIVE
		and any(rq_keys.queue_short_name(q, bench_id) in ("default", "long") for q in w.queues)
	)
	schedulers = [
		scheduler_rules.diagnose(
			site,
			redis_ok=redis_ok,
			workers_listening=listening,
			stuck_job_methods=stuck_methods.get(site.site, frozenset()),
		)
		for site in sites
	]
	result = Snapshot(
		taken_at=datetime.fromtimestamp(now, tz=timezone.utc),
		bench_id=bench_id,
		redis_ok=redis_ok,
		redis_error=redis_error,
		queues=state.queues,
		workers=state.workers,
		started_jobs=state.started_jobs,
		failure_rates=merge_failure_rates(stream.failure_rates(buckets), state.failed_runs),
		rq_failures=state.rq_failures,
		sites=state.sites,
		site=scope_site,
		site_figures=_site_figures(state, scope_site),
		unreadable=state.unreadable + unreadable,
		evidence_backlog=backlog,
		schedulers=schedulers,
		locks=read_locks(sites_path, now=now) if sites_path else [],
		db_transactions=db_transactions or [],
		host=read_host(disk_paths or {}),
	)
	return result.model_copy(
		update={
			"findings": evaluate(result, thresholds),
			"read_ms": round((time.perf_counter() - started) * 1000, 3),
		}
	)


def _unreadable(key: str, why: str) -> Unreadable:
	# the type is what the error said it was not; naming it would cost a round trip for a rare case
	return Unreadable(key=key, type="wrong type", why=why)


def _readable_buckets(buckets: list, bench_id: str, now: float, unreadable: list[Unreadable]) -> list[dict]:
	"""The outcome-counter hashes with every count an integer; the others reported."""
	minute = int(now // 60)
	out = []
	for index, bucket in enumerate(buckets):
		key = stream.OUTCOMES.format(bench=bench_id, minute=minute - len(buckets) + 1 + index)
		if isinstance(bucket, ResponseError):
			unreadable.append(_unreadable(key, "expected a hash of counters"))
			out.append({})
			continue
		good = {}
		for name, count in bucket.items():
			try:
				good[name] = int(count)
			except ValueError:
				unreadable.append(Unreadable(key=key, type="hash", why=f"{as_text(name)} is not a count"))
		out.append(good)
	return out


def _site_figures(state: RqState, site: str | None):
	if not site:
		return None
	return next((s for s in state.sites if s.site == site), None) or SiteCounts(site=site)


def merge_failure_rates(evidence: list[FailureRate], runs: list[FailedRun]) -> list[FailureRate]:
	"""Evidence rates plus the failures only RQ's failed registries hold.

	A registry failure whose job id has an evidence attempt key was counted by the evidence
	stream already; the others each add one run and one failure to their method (the rate of a
	method no hook saw is then 1: RQ keeps no record of its successes here), and one failure to
	their exception in `failed_by_exception_*`, by class name as the evidence names it (RQ's
	traceback says `frappe.exceptions.ValidationError`, the record `ValidationError`).
	"""
	extra: dict[str, _RqOnly] = {}
	for run in runs:
		if run.seen_by_evidence:
			continue
		row = extra.setdefault(run.method or "?", _RqOnly())
		exception = run.exc_type.rpartition(".")[2]
		row.hour += run.count
		row.by_exception_1h[exception] = row.by_exception_1h.get(exception, 0) + run.count
		if run.recent:
			row.five += run.count
			row.by_exception_5m[exception] = row.by_exception_5m.get(exception, 0) + run.count
	out = []
	for rate in evidence:
		out.append(_with_rq_only(rate, extra.pop(rate.method, _RqOnly()), ["evidence"]))
	out += [_with_rq_only(FailureRate(method=m), row, []) for m, row in extra.items()]
	return sorted(out, key=lambda r: (-r.failed_1h, r.method))


@dataclass
class _RqOnly:
	"""A method's failures only RQ's failed registries hold."""

	five: int = 0
	hour: int = 0
	by_exception_5m: dict[str, int] = field(default_factory=dict)
	by_exception_1h: dict[str, int] = field(default_factory=dict)


def _added(counts: dict[str, int], more: dict[str, int]) -> dict[str, int]:
	return {k: counts.get(k, 0) + more.get(k, 0) for k in sorted(counts.keys() | more.keys())}


def _with_rq_only(rate: FailureRate, rq: _RqOnly, sources: list[str]) -> FailureRate:
	total_5m, failed_5m = rate.total_5m + rq.five, rate.failed_5m + rq.five
	total_1h, failed_1h = rate.total_1h + rq.hour, rate.failed_1h + rq.hour
	return rate.model_copy(
		update={
			"total_5m": total_5m,
			"failed_5m": failed_5m,
			"rate_5m": round(failed_5m / total_5m, 4) if total_5m else 0.0,
			"total_1h": total_1h,
			"failed_1h": failed_1h,
			"rate_1h": round(failed_1h / total_1h, 4) if total_1h else 0.0,
			"rq_only_failed_5m": rq.five,
			"rq_only_failed_1h": rq.hour,
			"failed_by_exception_5m": _added(rate.failed_by_exception_5m, rq.by_exception_5m),
			"failed_by_exception_1h": _added(rate.failed_by_exception_1h, rq.by_exception_1h),
			"sources": sources + (["rq"] if rq.hour else []),
		}
	)


def evaluate(snap: Snapshot, t: Thresholds) -> list[Finding]:
	"""Findings in severity order; any CRITICAL one makes `erp-ops status` exit 2."""
	out: list[Finding] = []

	def add(
		code: str, severity: Severity, message: str, subject: str | None = None, value: float | None = None
	):
		out.append(Finding(code=code, severity=severity, message=message, subject=subject, value=value))

	if not snap.redis_ok:
		add("redis_unreachable", Severity.CRITICAL, f"Redis is unreachable: {snap.redis_error}")
	for w in snap.workers:
		if w.status is WorkerStatus.DEAD:
			held = f"; it held {len(w.jobs_held)} started job(s)" if w.jobs_held else ""
			add("worker_dead", Severity.CRITICAL, f"worker {w.name} is dead: {w.dead_reason}{held}", w.name)
	for q in snap.queues:
		if q.queued and q.workers == 0 and snap.redis_ok:
			message = f"{q.queued} job(s) queued on {q.short_name} and no live worker listens to it"
			add("queue_unserved", Severity.CRITICAL, message, q.name, q.queued)
		age = q.oldest_queued_age_s
		if age is not None and age >= t.oldest_job_warning_s:
			severity = Severity.CRITICAL if age >= t.oldest_job_critical_s else Severity.WARNING
			at_least = "" if q.oldest_queued_exact else "at least "
			message = f"oldest job on {q.short_name} has waited {at_least}{int(age)} s"
			add("oldest_job_age", severity, message, q.name, round(age, 1))
		if q.running_past_timeout:
			message = f"{q.running_past_timeout} job(s) on {q.short_name} run past their timeout"
			add("job_past_timeout", Severity.WARNING, message, q.name, q.running_past_timeout)
	for job in snap.started_jobs:
		if job.abandoned:
			add(
				"job_abandoned",
				Severity.WARNING,
				f"job {job.job_id} was abandoned: {job.abandoned_reason}",
				job.job_id,
			)
	for rate in snap.failure_rates:
		if rate.total_5m >= t.failure_rate_min_jobs and rate.rate_5m >= t.failure_rate_warning:
			message = f"{rate.method} failed {rate.failed_5m} of {rate.total_5m} runs in 5 min"
			add("failure_rate", Severity.WARNING, message, rate.method, rate.rate_5m)
	for bad in snap.unreadable:
		add("unreadable", Severity.WARNING, f"{bad.key} ({bad.type}) is unreadable: {bad.why}", bad.key)
	for site in snap.schedulers:
		if site.severity is not Severity.OK:
			add(
				"scheduler",
				site.severity,
				f"{site.site}: scheduler {site.status.value}: {site.reason}",
				site.site,
			)
	for lock in snap.locks:
		if lock.stale:
			message = f"{lock.site}: {lock.kind} lock {lock.name} held for {int(lock.age_s)} s"
			add("stale_lock", Severity.WARNING, message, lock.path, lock.age_s)
	for trx in snap.db_transactions:
		if trx.age_s >= t.long_transaction_s:
			add(
				"long_transaction",
				Severity.WARNING,
				f"transaction {trx.id} open for {int(trx.age_s)} s",
				trx.id,
				trx.age_s,
			)
	for disk in snap.host.disks if snap.host else []:
		if disk.free_pct <= t.disk_free_warning_pct:
			severity = Severity.CRITICAL if disk.free_pct <= t.disk_free_critical_pct else Severity.WARNING
			message = f"{disk.label} ({disk.path}) has {disk.free_pct}% free"
			add("disk_headroom", severity, message, disk.path, disk.free_pct)
	if snap.evidence_backlog >= t.evidence_backlog_warning:
		message = f"{snap.evidence_backlog} evidence records wait to be flushed: is the scheduler running?"
		add("evidence_backlog", Severity.WARNING, message, value=snap.evidence_backlog)
	order = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.OK: 2}
	return sorted(out, key=lambda f: order[f.severity])


def site_view(snap: Snapshot, site: str) -> Snapshot:
	"""The snapshot as one site's users may see it: counts stay the bench's; job ids, started
	jobs, file locks and the findings naming them only where they are this site's."""

	def ours(job_id: str | None) -> bool:
		return bool(job_id) and rq_keys.split_frappe_job_id(job_id)[0] == site

	started = [j for j in snap.started_jobs if j.site == site or (j.site is None and ours(j.job_id))]
	locks = [lock for lock in snap.locks if lock.site == site]
	hidden = {j.job_id for j in snap.started_jobs if j not in started}
	hidden |= {lock.path for lock in snap.locks if lock not in locks}
	return snap.model_copy(
		update={
			"queues": [
				q if ours(q.oldest_queued_job_id) else q.model_copy(update={"oldest_queued_job_id": None})
				for q in snap.queues
			],
			"workers": [
				w if not w.current_job or ours(w.current_job) else w.model_copy(update={"current_job": None})
				for w in snap.workers
			],
			"started_jobs": started,
			"locks": locks,
			"findings": [f for f in snap.findings if f.subject not in hidden],
		}
	)

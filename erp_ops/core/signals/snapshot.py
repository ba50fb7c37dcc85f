"""Compose the operations snapshot and cache it in Redis for a few seconds.

Round trips to Redis: three for RQ's state, one for evidence counters and scheduled-job ids,
plus the cache get and set: constant in the number of jobs. Many open dashboards within the cache
window share one read.
"""

import time
from datetime import datetime, timezone

from pydantic import BaseModel
from redis import Redis
from redis.exceptions import RedisError

from erp_ops.core import rq_keys
from erp_ops.core.evidence import stream
from erp_ops.core.signals import scheduler as scheduler_rules
from erp_ops.core.signals.host import read_host
from erp_ops.core.signals.locks import read_locks
from erp_ops.core.signals.models import (
    DbTransaction,
    Finding,
    SchedulerStatus,
    Severity,
    SiteSchedulerFacts,
    Snapshot,
    WorkerStatus,
)
from erp_ops.core.signals.rq_state import RqState, read_rq_state

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


def snapshot(
    conn: Redis,
    bench_id: str,
    *,
    sites: list[SiteSchedulerFacts] | None = None,
    sites_path: str | None = None,
    disk_paths: dict[str, str] | None = None,
    db_transactions: list[DbTransaction] | None = None,
    thresholds: Thresholds | None = None,
    cache_seconds: float = 5,
    cache_scope: str = "bench",
    extra_queues: tuple[str, ...] = (),
) -> Snapshot:
    """Return the snapshot, from the cache when one younger than `cache_seconds` exists."""
    key = CACHE_KEY.format(bench=bench_id, scope=cache_scope)
    if cache_seconds > 0:
        try:
            cached = conn.get(key)
            if cached:
                return Snapshot.model_validate_json(cached).model_copy(update={"cached": True})
        except RedisError:
            pass  # read() below reports Redis as unreachable
    result = read(
        conn,
        bench_id,
        sites=sites,
        sites_path=sites_path,
        disk_paths=disk_paths,
        db_transactions=db_transactions,
        thresholds=thresholds,
        extra_queues=extra_queues,
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
    sites: list[SiteSchedulerFacts] | None = None,
    sites_path: str | None = None,
    disk_paths: dict[str, str] | None = None,
    db_transactions: list[DbTransaction] | None = None,
    thresholds: Thresholds | None = None,
    extra_queues: tuple[str, ...] = (),
) -> Snapshot:
    """Read every figure now, bypassing the cache."""
    started = time.perf_counter()
    now = time.time()
    thresholds = thresholds or Thresholds()
    sites = sites or []
    redis_ok, redis_error = True, None
    state = RqState()
    buckets: list[dict] = []
    backlog = 0
    stuck_methods: dict[str, frozenset[str]] = {}
    try:
        state = read_rq_state(conn, bench_id, extra_queues=extra_queues, now=now)
        pipe = conn.pipeline(transaction=False)
        stream.queue_failure_rate_reads(pipe, bench_id, now)
        pipe.xlen(stream.stream_key(bench_id))
        scheduled_ids = {site.site: scheduler_rules.stuck_job_ids(site.site, site) for site in sites}
        flat_ids = [(site, job_id) for site, ids in scheduled_ids.items() for job_id in ids]
        for _site, job_id in flat_ids:
            pipe.hget(rq_keys.job_key(job_id), "status")
        replies = pipe.execute()
        buckets, backlog, statuses = replies[:60], int(replies[60]), replies[61:]
        stuck: dict[str, set[str]] = {}
        for (site, job_id), status in zip(flat_ids, statuses, strict=True):
            if status and _text(status) in ("queued", "started"):
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
        failure_rates=stream.failure_rates(buckets),
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


def evaluate(snap: Snapshot, t: Thresholds) -> list[Finding]:
    """Findings in severity order; any CRITICAL one makes `erp-ops status` exit 2."""
    out: list[Finding] = []
    if not snap.redis_ok:
        out.append(Finding(code="redis_unreachable", severity=Severity.CRITICAL, message=f"Redis is unreachable: {snap.redis_error}"))
    for w in snap.workers:
        if w.status is WorkerStatus.DEAD:
            out.append(Finding(code="worker_dead", severity=Severity.CRITICAL, subject=w.name, message=f"worker {w.name} is dead: {w.dead_reason}"))
    for q in snap.queues:
        age = q.oldest_queued_age_s
        if q.queued and q.workers == 0 and snap.redis_ok:
            out.append(Finding(code="queue_unserved", severity=Severity.CRITICAL, subject=q.name, value=q.queued, message=f"{q.queued} job(s) queued on {q.short_name} and no live worker listens to it"))
        if age is not None and age >= t.oldest_job_warning_s:
            severity = Severity.CRITICAL if age >= t.oldest_job_critical_s else Severity.WARNING
            out.append(Finding(code="oldest_job_age", severity=severity, subject=q.name, value=round(age, 1), message=f"oldest job on {q.short_name} has waited {int(age)} s"))
        if q.running_past_timeout:
            out.append(Finding(code="job_past_timeout", severity=Severity.WARNING, subject=q.name, value=q.running_past_timeout, message=f"{q.running_past_timeout} job(s) on {q.short_name} run past their timeout"))
    for job in snap.started_jobs:
        if job.abandoned:
            out.append(Finding(code="job_abandoned", severity=Severity.WARNING, subject=job.job_id, message=f"job {job.job_id} was abandoned: {job.abandoned_reason}"))
    for rate in snap.failure_rates:
        if rate.total_5m >= t.failure_rate_min_jobs and rate.rate_5m >= t.failure_rate_warning:
            out.append(Finding(code="failure_rate", severity=Severity.WARNING, subject=rate.method, value=rate.rate_5m, message=f"{rate.method} failed {rate.failed_5m} of {rate.total_5m} runs in 5 min"))
    for site in snap.schedulers:
        if site.status in (SchedulerStatus.INACTIVE, SchedulerStatus.DEGRADED):
            out.append(Finding(code="scheduler", severity=Severity.CRITICAL, subject=site.site, message=f"{site.site}: scheduler {site.status.value}: {site.reason}"))
        elif site.reasons:
            out.append(Finding(code="scheduler", severity=Severity.WARNING, subject=site.site, message=f"{site.site}: {site.reasons[0]}"))
    for lock in snap.locks:
        if lock.stale:
            out.append(Finding(code="stale_lock", severity=Severity.WARNING, subject=lock.path, value=lock.age_s, message=f"{lock.site}: lock {lock.name} is {int(lock.age_s)} s old"))
    for trx in snap.db_transactions:
        if trx.age_s >= t.long_transaction_s:
            out.append(Finding(code="long_transaction", severity=Severity.WARNING, subject=trx.id, value=trx.age_s, message=f"transaction {trx.id} open for {int(trx.age_s)} s"))
    if snap.host:
        for disk in snap.host.disks:
            if disk.free_pct <= t.disk_free_warning_pct:
                severity = Severity.CRITICAL if disk.free_pct <= t.disk_free_critical_pct else Severity.WARNING
                out.append(Finding(code="disk_headroom", severity=severity, subject=disk.path, value=disk.free_pct, message=f"{disk.label} ({disk.path}) has {disk.free_pct}% free"))
    if snap.evidence_backlog >= t.evidence_backlog_warning:
        out.append(Finding(code="evidence_backlog", severity=Severity.WARNING, value=snap.evidence_backlog, message=f"{snap.evidence_backlog} evidence records wait to be flushed: is the scheduler running?"))
    order = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.OK: 2}
    return sorted(out, key=lambda f: order[f.severity])


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

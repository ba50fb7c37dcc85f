"""The snapshot as Prometheus metrics: one `prometheus_client` Collector for the exporter and the site.

`SnapshotCollector` turns a snapshot (and the facts only some callers know, `MetricFacts`) into
metric families on every scrape; `prometheus_client` writes the exposition. Two callers:

- `erp-ops exporter` (`core/signals/exporter.py`), bench scope: the snapshot from Redis, plus what
  Redis and the bench folder tell (firing alerts, tick durations, the newest backup of each site,
  the sites' scheduler switches in site_config.json);
- `erp_ops.api.signals.metrics`, site scope: the site's snapshot, plus facts only the site's
  database holds (drills, preflight, integration events, a failed migrate, the full scheduler
  diagnosis). docs/monitoring.md has the table of which metric comes from where.

Names follow Prometheus' conventions: base units (`_seconds`, `_bytes`), `_total` only on counters,
every series labelled with `bench`; `queue`, `site`, `method` where they apply. Figures that are a
reading of the present (jobs in a state, failures in the last 5 minutes) are gauges; RQ's
per-worker job and working-time counters are counters. Method labels are bounded: the top N
methods by failures (then runs) keep their name, the rest are summed as `other`.

Every read of a snapshot field is in the "field mapping" section below: a later snapshot model is
wired there and nowhere else.
"""

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import Field

from erp_ops.core.clock import as_utc
from erp_ops.core.signals.models import (
	Frozen,
	QueueStats,
	SchedulerStatus,
	Severity,
	Snapshot,
	WorkerInfo,
	WorkerStatus,
)

# What `render` writes: the classic text format (every name here is a legacy Prometheus name, so the
# output is the same whatever format version this prometheus_client calls its latest).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_TOP_METHODS = 10
DEFAULT_TOP_EXCEPTIONS = 5
OTHER = "other"
UNKNOWN = "unknown"

# `state` label values of erp_ops_queue_jobs, always all present (rq-exporter's set plus RQ 2's
# intermediate list, canceled and abandoned), so a scrape's shape does not depend on the bench.
QUEUE_STATES = (
	"queued",
	"started",
	"abandoned",
	"deferred",
	"scheduled",
	"failed",
	"finished",
	"canceled",
	"intermediate",
)
# Worker `state` label values always present: RQ's states of a live worker, and dead.
WORKER_STATES = ("idle", "busy", "suspended", "dead")
WINDOWS = ("5m", "1h")


# --- Facts only some callers know -------------------------------------------------------------


class DrillFacts(Frozen):
	"""The newest finished restore drill of a site (Restore Drill)."""

	verdict: str = Field(description="Passed, Failed, ... as the drill record says")
	age_s: float = Field(description="seconds since the drill finished")
	rpo_s: float | None = None
	rto_s: float | None = None
	last_success_age_s: float | None = Field(
		None, description="seconds since the newest passed drill; only while drills are scheduled"
	)


class PreflightFacts(Frozen):
	"""The newest Upgrade Preflight of a site."""

	verdict: str
	score: float
	age_s: float
	target: str = ""


class SiteMetricFacts(Frozen):
	site: str
	backup_age_s: float | None = Field(None, description="age of the newest full database backup")
	drill: DrillFacts | None = None
	preflight: PreflightFacts | None = None
	integration_events: dict[str, int] = Field({}, description="Integration Event rows by status")
	integration_conflicts_5m: int | None = None
	migrate_failed: bool | None = None


class FiringAlert(Frozen):
	rule: str
	severity: str
	count: int = 1


class Tick(Frozen):
	"""The last run of one of the app's scheduled ticks (`core/signals/ticks.py`)."""

	site: str
	task: str
	duration_s: float
	ended_at: datetime


class MetricFacts(Frozen):
	"""What the snapshot does not carry; each caller fills what it can know."""

	sites: list[SiteMetricFacts] = []
	alerts: list[FiringAlert] | None = Field(None, description="None: not known to this caller")
	ticks: list[Tick] = []
	now: datetime | None = None


Reading = Callable[[], tuple[Snapshot, MetricFacts | None]]


class SnapshotCollector(Collector):
	"""A custom collector: each scrape calls `reading` once for the snapshot (cached by the
	caller's source) and the facts the caller knows (None: only the snapshot)."""

	def __init__(
		self,
		reading: Reading,
		*,
		top_methods: int = DEFAULT_TOP_METHODS,
		top_exceptions: int = DEFAULT_TOP_EXCEPTIONS,
	):
		self._reading = reading
		self.top_methods = top_methods
		self.top_exceptions = top_exceptions

	def collect(self) -> Iterator:
		snap, facts = self._reading()
		yield from families(
			snap, facts or MetricFacts(), top_methods=self.top_methods, top_exceptions=self.top_exceptions
		)


def registry(reading: Reading, *, top_methods: int = DEFAULT_TOP_METHODS) -> CollectorRegistry:
	"""A registry holding only the collector: no process or platform metrics of the host process."""
	out = CollectorRegistry(auto_describe=False)
	out.register(SnapshotCollector(reading, top_methods=top_methods))
	return out


def render(
	snapshot: Snapshot, facts: MetricFacts | None = None, *, top_methods: int = DEFAULT_TOP_METHODS
) -> str:
	"""The text exposition (format 0.0.4) of one snapshot, written by prometheus_client."""
	return generate_latest(registry(lambda: (snapshot, facts), top_methods=top_methods)).decode()


# --- Families ---------------------------------------------------------------------------------


# Every gauge this module writes, with its help text (the catalogue docs/monitoring.md describes).
HELP: dict[str, str] = {
	"erp_ops_redis_up": "1 if the bench's queue Redis answered the snapshot's reads.",
	"erp_ops_snapshot_read_seconds": "Time the snapshot took to read from Redis.",
	"erp_ops_snapshot_age_seconds": "Age of the snapshot served (it is cached a few seconds).",
	"erp_ops_queue_jobs": "Jobs in an RQ queue (state=queued) or one of its registries; abandoned: started jobs whose worker is gone.",
	"erp_ops_queue_oldest_job_age_seconds": "Age of the oldest job waiting in the queue; 0 when none waits.",
	"erp_ops_queue_workers": "Live workers listening on the queue.",
	"erp_ops_queue_jobs_past_timeout": "Started jobs running longer than their timeout.",
	"erp_ops_site_jobs": "Jobs of one site (by Frappe's job-id prefix) queued, started (running), abandoned or failed.",
	"erp_ops_unreadable_keys": "RQ keys the snapshot could not read (wrong type, garbage values).",
	"erp_ops_workers": "RQ workers of the bench by state (dead: key expired or process gone).",
	"erp_ops_worker_resident_memory_bytes": "Resident memory of a worker process on this host.",
	"erp_ops_job_runs": "Job executions that ended in the window, by method (top N, rest as other).",
	"erp_ops_job_failures": "Job executions in the window that failed, timed out or were abandoned, by method and exception.",
	"erp_ops_rq_failed_jobs": "Jobs in RQ's failed registries that ended in the window, by exception type (top N, rest as other).",
	"erp_ops_scheduler_up": "1 if the site's scheduler is running without a known problem.",
	"erp_ops_scheduler_status": "1 for the scheduler's current status (running, inactive, degraded, unknown).",
	"erp_ops_scheduler_overdue_jobs": "Scheduled Job Types of the site that are overdue.",
	"erp_ops_scheduler_overdue_seconds": "How late the most overdue scheduled job of the site is.",
	"erp_ops_evidence_backlog": "Job Evidence records waiting in Redis to be written to the database.",
	"erp_ops_stale_locks": "Frappe file locks older than their timeout.",
	"erp_ops_db_transaction_oldest_age_seconds": "Age of the oldest open database transaction seen; 0 when none.",
	"erp_ops_disk_free_bytes": "Free bytes on the filesystem holding the bench, its sites or backups.",
	"erp_ops_disk_size_bytes": "Size in bytes of the filesystem holding the bench, its sites or backups.",
	"erp_ops_findings": "Findings of the snapshot by severity.",
	"erp_ops_alerts_firing": "Alerts of erp_ops' own rules firing now, by rule.",
	"erp_ops_tick_duration_seconds": "How long the app's last scheduled tick took, by task.",
	"erp_ops_tick_age_seconds": "Seconds since the app's last scheduled tick ended, by task.",
	"erp_ops_backup_last_age_seconds": "Age of the site's newest full database backup.",
	"erp_ops_drill_last_verdict": "1 for the verdict of the site's newest finished restore drill.",
	"erp_ops_drill_last_age_seconds": "Seconds since the site's newest restore drill finished.",
	"erp_ops_drill_last_success_age_seconds": "Seconds since the site's newest passed restore drill (since the first drill when none passed); only while drills are scheduled.",
	"erp_ops_drill_rpo_seconds": "Recovery point of the newest drill: age of the backup it restored.",
	"erp_ops_drill_rto_seconds": "Recovery time of the newest drill: how long the restore took.",
	"erp_ops_preflight_last_verdict": "1 for the verdict of the site's newest upgrade preflight.",
	"erp_ops_preflight_last_score": "Risk score of the site's newest upgrade preflight.",
	"erp_ops_preflight_last_age_seconds": "Seconds since the site's newest upgrade preflight ran.",
	"erp_ops_integration_events": "Integration Event records of the site by status.",
	"erp_ops_integration_conflicts": "Integration events refused as Conflict in the window.",
	"erp_ops_migrate_failed": "1 if the site's last bench migrate stopped with an error.",
}


def _gauge(name: str, labels: list[str]) -> GaugeMetricFamily:
	return GaugeMetricFamily(name, HELP[name], labels=["bench", *labels])


def families(
	snap: Snapshot,
	facts: MetricFacts,
	*,
	top_methods: int = DEFAULT_TOP_METHODS,
	top_exceptions: int = DEFAULT_TOP_EXCEPTIONS,
) -> Iterable:
	b = snap.bench_id
	now = facts.now or datetime.now(timezone.utc)

	up = _gauge("erp_ops_redis_up", [])
	up.add_metric([b], 1.0 if snap.redis_ok else 0.0)
	yield up
	read = _gauge("erp_ops_snapshot_read_seconds", [])
	read.add_metric([b], snap.read_ms / 1000)
	yield read
	age = _gauge("erp_ops_snapshot_age_seconds", [])
	age.add_metric([b], max(0.0, (now - as_utc(snap.taken_at)).total_seconds()))
	yield age

	# Queues (rq-exporter's rq_jobs{queue,status}, plus what RQ's counters do not say).
	jobs = _gauge("erp_ops_queue_jobs", ["queue", "state"])
	oldest = _gauge("erp_ops_queue_oldest_job_age_seconds", ["queue"])
	serving = _gauge("erp_ops_queue_workers", ["queue"])
	past = _gauge("erp_ops_queue_jobs_past_timeout", ["queue"])
	for q in snap.queues:
		name = q.short_name
		for state, count in queue_states(q).items():
			jobs.add_metric([b, name, state], float(count))
		oldest.add_metric([b, name], oldest_age_s(q))
		serving.add_metric([b, name], float(q.workers))
		past.add_metric([b, name], float(q.running_past_timeout))
	yield from (jobs, oldest, serving, past)

	# Per site (Frappe's job-id prefix): a multi-site bench's figures beside the bench totals.
	site_jobs = _gauge("erp_ops_site_jobs", ["site", "state"])
	for counts in snap.sites:
		for state in ("queued", "started", "abandoned", "failed"):
			site_jobs.add_metric([b, counts.site, state], float(getattr(counts, state)))
	unreadable = _gauge("erp_ops_unreadable_keys", [])
	unreadable.add_metric([b], float(len(snap.unreadable)))
	yield from (site_jobs, unreadable)

	# Workers (rq-exporter's rq_workers{state} and per-worker counters).
	by_state = {state: 0 for state in WORKER_STATES}
	for w in snap.workers:
		state = worker_state(w)
		by_state[state] = by_state.get(state, 0) + 1
	workers = _gauge("erp_ops_workers", ["state"])
	for state, count in by_state.items():
		workers.add_metric([b, state], float(count))
	yield workers
	rss = _gauge("erp_ops_worker_resident_memory_bytes", ["worker"])
	done = CounterMetricFamily(
		"erp_ops_worker_jobs",
		"Jobs a live worker finished since it started, by outcome.",
		labels=["bench", "worker", "outcome"],
	)
	busy = CounterMetricFamily(
		"erp_ops_worker_busy_seconds",
		"Time a live worker spent running jobs since it started.",
		labels=["bench", "worker"],
	)
	for w in snap.workers:
		if w.rss_bytes is not None:
			rss.add_metric([b, w.name], float(w.rss_bytes))
		if w.status is WorkerStatus.ALIVE:
			done.add_metric([b, w.name, "succeeded"], float(w.successful_jobs))
			done.add_metric([b, w.name, "failed"], float(w.failed_jobs))
			busy.add_metric([b, w.name], float(w.total_working_time_s))
	yield from (rss, done, busy)

	# Failures by method (bounded) and exception, over two windows.
	runs = _gauge("erp_ops_job_runs", ["method", "window"])
	failures = _gauge("erp_ops_job_failures", ["method", "exception", "window"])
	for (method, window), count in failure_runs(snap, top_methods).items():
		runs.add_metric([b, method, window], float(count))
	for (method, exception, window), count in failure_counts(snap, top_methods, top_exceptions).items():
		failures.add_metric([b, method, exception, window], float(count))
	yield from (runs, failures)
	# What RQ's failed registries hold (also failures of workers without erp_ops's hooks).
	rq_failed = _gauge("erp_ops_rq_failed_jobs", ["exception", "window"])
	if snap.rq_failures is not None:
		ranked = sorted(snap.rq_failures.by_exception, key=lambda c: (-c.failed_1h, c.key))
		kept: dict[str, tuple[int, int]] = {}
		for i, count in enumerate(ranked):
			key = count.key if i < top_exceptions else OTHER
			f5, f60 = kept.get(key, (0, 0))
			kept[key] = (f5 + count.failed_5m, f60 + count.failed_1h)
		for exception, (f5, f60) in kept.items():
			rq_failed.add_metric([b, exception or UNKNOWN, "5m"], float(f5))
			rq_failed.add_metric([b, exception or UNKNOWN, "1h"], float(f60))
	yield rq_failed

	# Scheduler, one answer per site.
	sched_up = _gauge("erp_ops_scheduler_up", ["site"])
	sched_status = _gauge("erp_ops_scheduler_status", ["site", "status"])
	overdue = _gauge("erp_ops_scheduler_overdue_jobs", ["site"])
	overdue_s = _gauge("erp_ops_scheduler_overdue_seconds", ["site"])
	for s in snap.schedulers:
		sched_up.add_metric([b, s.site], 1.0 if s.status is SchedulerStatus.RUNNING else 0.0)
		for status in SchedulerStatus:
			sched_status.add_metric([b, s.site, status.value], 1.0 if s.status is status else 0.0)
		overdue.add_metric([b, s.site], float(len(s.overdue)))
		overdue_s.add_metric([b, s.site], max((j.overdue_s for j in s.overdue), default=0.0))
	yield from (sched_up, sched_status, overdue, overdue_s)

	backlog = _gauge("erp_ops_evidence_backlog", [])
	backlog.add_metric([b], float(snap.evidence_backlog))
	yield backlog
	locks = _gauge("erp_ops_stale_locks", [])
	locks.add_metric([b], float(sum(1 for lock in snap.locks if lock.stale)))
	yield locks
	trx = _gauge("erp_ops_db_transaction_oldest_age_seconds", [])
	trx.add_metric([b], max((t.age_s for t in snap.db_transactions), default=0.0))
	yield trx
	free = _gauge("erp_ops_disk_free_bytes", ["disk"])
	size = _gauge("erp_ops_disk_size_bytes", ["disk"])
	for d in snap.host.disks if snap.host else []:
		free.add_metric([b, d.label], float(d.free_bytes))
		size.add_metric([b, d.label], float(d.total_bytes))
	yield from (free, size)
	findings = _gauge("erp_ops_findings", ["severity"])
	for severity in (Severity.CRITICAL, Severity.WARNING):
		findings.add_metric(
			[b, severity.value], float(sum(1 for f in snap.findings if f.severity is severity))
		)
	yield findings

	yield from _fact_families(b, facts, now)


def _fact_families(b: str, facts: MetricFacts, now: datetime) -> Iterable:
	alerts = _gauge("erp_ops_alerts_firing", ["rule", "severity"])
	for alert in facts.alerts or []:
		alerts.add_metric([b, alert.rule, alert.severity], float(alert.count))
	yield alerts
	tick = _gauge("erp_ops_tick_duration_seconds", ["site", "task"])
	tick_age = _gauge("erp_ops_tick_age_seconds", ["site", "task"])
	for t in facts.ticks:
		tick.add_metric([b, t.site, t.task], t.duration_s)
		tick_age.add_metric([b, t.site, t.task], max(0.0, (now - as_utc(t.ended_at)).total_seconds()))
	yield from (tick, tick_age)

	backup = _gauge("erp_ops_backup_last_age_seconds", ["site"])
	verdict = _gauge("erp_ops_drill_last_verdict", ["site", "verdict"])
	drill_age = _gauge("erp_ops_drill_last_age_seconds", ["site"])
	success_age = _gauge("erp_ops_drill_last_success_age_seconds", ["site"])
	rpo = _gauge("erp_ops_drill_rpo_seconds", ["site"])
	rto = _gauge("erp_ops_drill_rto_seconds", ["site"])
	pf_verdict = _gauge("erp_ops_preflight_last_verdict", ["site", "target", "verdict"])
	pf_score = _gauge("erp_ops_preflight_last_score", ["site", "target"])
	pf_age = _gauge("erp_ops_preflight_last_age_seconds", ["site", "target"])
	events = _gauge("erp_ops_integration_events", ["site", "status"])
	conflicts = _gauge("erp_ops_integration_conflicts", ["site", "window"])
	migrate = _gauge("erp_ops_migrate_failed", ["site"])
	for s in facts.sites:
		if s.backup_age_s is not None:
			backup.add_metric([b, s.site], s.backup_age_s)
		if s.drill:
			verdict.add_metric([b, s.site, s.drill.verdict], 1.0)
			drill_age.add_metric([b, s.site], s.drill.age_s)
			if s.drill.last_success_age_s is not None:
				success_age.add_metric([b, s.site], s.drill.last_success_age_s)
			if s.drill.rpo_s is not None:
				rpo.add_metric([b, s.site], s.drill.rpo_s)
			if s.drill.rto_s is not None:
				rto.add_metric([b, s.site], s.drill.rto_s)
		if s.preflight:
			p = s.preflight
			pf_verdict.add_metric([b, s.site, p.target, p.verdict], 1.0)
			pf_score.add_metric([b, s.site, p.target], p.score)
			pf_age.add_metric([b, s.site, p.target], p.age_s)
		for status, count in sorted(s.integration_events.items()):
			events.add_metric([b, s.site, status], float(count))
		if s.integration_conflicts_5m is not None:
			conflicts.add_metric([b, s.site, "5m"], float(s.integration_conflicts_5m))
		if s.migrate_failed is not None:
			migrate.add_metric([b, s.site], 1.0 if s.migrate_failed else 0.0)
	yield from (
		backup,
		verdict,
		drill_age,
		success_age,
		rpo,
		rto,
		pf_verdict,
		pf_score,
		pf_age,
		events,
		conflicts,
		migrate,
	)


# --- Field mapping: the one place that reads snapshot fields ----------------------------------
# A newer snapshot model is wired here and nowhere else.


def queue_states(q: QueueStats) -> dict[str, int]:
	"""Counts per `state` label: `started` are the jobs running (current registry entry, live
	worker), `abandoned` the started-registry entries that expired or whose worker is dead; the two
	add up to what RQ's started registry holds."""
	return {
		"queued": q.queued,
		"started": q.running,
		"abandoned": q.abandoned,
		"deferred": q.deferred,
		"scheduled": q.scheduled,
		"failed": q.failed,
		"finished": q.finished,
		"canceled": q.canceled,
		"intermediate": q.intermediate,
	}


def oldest_age_s(q: QueueStats) -> float:
	"""The true oldest waiting job (by enqueued_at), not the head: `at_front` jobs sit at the head."""
	return float(q.oldest_queued_age_s or 0.0)


def worker_state(w: WorkerInfo) -> str:
	if w.status is WorkerStatus.DEAD:
		return "dead"
	return (w.state or UNKNOWN).lower()


def _failure_rows(snap: Snapshot) -> list[tuple[str, str, str, int, int]]:
	"""(method, exception, window, runs, failures) per method and window.

	Failures are split by `failed_by_exception_5m`/`_1h`; what they leave (failures counted before
	the capture split them by exception) and an exception the capture did not know (`?`) are
	`unknown`. A method without failures still has its `unknown` row of 0.
	"""
	rows = []
	for r in snap.failure_rates:
		for window, total, failed, split in (
			("5m", r.total_5m, r.failed_5m, r.failed_by_exception_5m),
			("1h", r.total_1h, r.failed_1h, r.failed_by_exception_1h),
		):
			rest = failed - sum(split.values())
			rows.append((r.method, "", window, total, 0))
			for exception, count in split.items():
				rows.append(
					(r.method, exception if exception not in ("", "?") else UNKNOWN, window, 0, count)
				)
			if rest > 0 or not split:
				rows.append((r.method, UNKNOWN, window, 0, max(0, rest)))
	return rows


def _top_methods(snap: Snapshot, n: int) -> set[str]:
	ranked = sorted(snap.failure_rates, key=lambda r: (-r.failed_1h, -r.failed_5m, -r.total_1h, r.method))
	return {r.method for r in ranked[:n]}


def failure_runs(snap: Snapshot, top_methods: int) -> dict[tuple[str, str], int]:
	keep = _top_methods(snap, top_methods)
	out: dict[tuple[str, str], int] = {}
	for method, _exc, window, runs, _failed in _failure_rows(snap):
		key = (method if method in keep else OTHER, window)
		out[key] = out.get(key, 0) + runs
	return out


def failure_counts(snap: Snapshot, top_methods: int, top_exceptions: int) -> dict[tuple[str, str, str], int]:
	keep = _top_methods(snap, top_methods)
	rows = [row for row in _failure_rows(snap) if row[1]]
	per_exception: dict[str, int] = {}
	for _m, exception, _w, _r, failed in rows:
		per_exception[exception] = per_exception.get(exception, 0) + failed
	kept_exc = {e for e, _ in sorted(per_exception.items(), key=lambda kv: (-kv[1], kv[0]))[:top_exceptions]}
	out: dict[tuple[str, str, str], int] = {}
	for method, exception, window, _runs, failed in rows:
		key = (method if method in keep else OTHER, exception if exception in kept_exc else OTHER, window)
		out[key] = out.get(key, 0) + failed
	return out

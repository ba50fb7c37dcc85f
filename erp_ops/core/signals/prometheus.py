"""The snapshot in Prometheus' text exposition format, version 0.0.4.

Every figure is a gauge: the snapshot is a reading of the present (window counts such as "runs in
the last 5 minutes" included), not a counter Prometheus could rate. Each family is written once,
HELP and TYPE first, and families always appear, empty or not, so a scrape's shape does not
depend on what the bench is doing.
"""

from collections.abc import Iterable

from erp_ops.core.signals.models import SchedulerStatus, Severity, Snapshot, WorkerStatus

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Sample = tuple[dict[str, str], float]

# QueueStats field → `state` label value of erp_ops_queue_jobs.
_QUEUE_STATES = (
	("queued", "queued"),
	("intermediate", "intermediate"),
	("started", "started"),
	("expired_started", "abandoned"),
	("deferred", "deferred"),
	("scheduled", "scheduled"),
	("failed", "failed"),
	("finished", "finished"),
	("canceled", "canceled"),
)


def render(snapshot: Snapshot) -> str:
	"""The whole exposition, ending with a newline as the format requires."""
	lines: list[str] = []
	for name, help_text, samples in _families(snapshot):
		lines.append(f"# HELP {name} {escape_help(help_text)}")
		lines.append(f"# TYPE {name} gauge")
		lines.extend(f"{name}{_labels(labels)} {format_value(value)}" for labels, value in samples)
	return "\n".join(lines) + "\n"


def _families(snap: Snapshot) -> Iterable[tuple[str, str, list[Sample]]]:
	yield (
		"erp_ops_redis_up",
		"1 if the bench's queue Redis answered the snapshot's reads.",
		[({}, 1.0 if snap.redis_ok else 0.0)],
	)
	yield (
		"erp_ops_snapshot_read_seconds",
		"Time the snapshot took to read, 0 when served from cache.",
		[({}, 0.0 if snap.cached else snap.read_ms / 1000)],
	)
	yield (
		"erp_ops_queue_jobs",
		"Jobs in an RQ queue (state=queued) or one of its registries.",
		[
			({"queue": q.short_name, "state": state}, float(getattr(q, field)))
			for q in snap.queues
			for field, state in _QUEUE_STATES
		],
	)
	yield (
		"erp_ops_queue_oldest_job_age_seconds",
		"Age of the oldest job waiting in the queue; 0 when none waits.",
		[({"queue": q.short_name}, float(q.oldest_queued_age_s or 0.0)) for q in snap.queues],
	)
	yield (
		"erp_ops_queue_workers",
		"Live workers listening on the queue.",
		[({"queue": q.short_name}, float(q.workers)) for q in snap.queues],
	)
	yield (
		"erp_ops_queue_jobs_past_timeout",
		"Started jobs running longer than their timeout.",
		[({"queue": q.short_name}, float(q.running_past_timeout)) for q in snap.queues],
	)
	yield (
		"erp_ops_workers",
		"RQ workers of the bench by liveness.",
		[
			({"status": status.value}, float(sum(1 for w in snap.workers if w.status is status)))
			for status in WorkerStatus
		],
	)
	yield (
		"erp_ops_worker_rss_bytes",
		"Resident memory of a worker process on this host.",
		[({"worker": w.name}, float(w.rss_bytes)) for w in snap.workers if w.rss_bytes is not None],
	)
	yield (
		"erp_ops_job_runs",
		"Job executions recorded in the window, by method.",
		[
			({"method": r.method, "window": window}, float(total))
			for r in snap.failure_rates
			for window, total in (("5m", r.total_5m), ("1h", r.total_1h))
		],
	)
	yield (
		"erp_ops_job_failure_rate",
		"Share of a method's executions in the window that failed, timed out or were abandoned.",
		[
			({"method": r.method, "window": window}, rate)
			for r in snap.failure_rates
			for window, rate in (("5m", r.rate_5m), ("1h", r.rate_1h))
		],
	)
	yield (
		"erp_ops_scheduler_up",
		"1 if the site's scheduler is running without a known problem.",
		[({"site": s.site}, 1.0 if s.status is SchedulerStatus.RUNNING else 0.0) for s in snap.schedulers],
	)
	yield (
		"erp_ops_scheduler_overdue_jobs",
		"Scheduled Job Types of the site that are overdue.",
		[({"site": s.site}, float(len(s.overdue))) for s in snap.schedulers],
	)
	yield (
		"erp_ops_evidence_backlog",
		"Job Evidence records waiting in Redis to be flushed to the database.",
		[({}, float(snap.evidence_backlog))],
	)
	yield (
		"erp_ops_stale_locks",
		"Frappe file locks older than their timeout.",
		[({}, float(sum(1 for lock in snap.locks if lock.stale)))],
	)
	yield (
		"erp_ops_db_transaction_oldest_age_seconds",
		"Age of the oldest open database transaction seen; 0 when none.",
		[({}, max((t.age_s for t in snap.db_transactions), default=0.0))],
	)
	disks = snap.host.disks if snap.host else []
	yield (
		"erp_ops_disk_free_bytes",
		"Free bytes on the filesystem holding the labelled path.",
		[({"label": d.label}, float(d.free_bytes)) for d in disks],
	)
	yield (
		"erp_ops_disk_total_bytes",
		"Size in bytes of the filesystem holding the labelled path.",
		[({"label": d.label}, float(d.total_bytes)) for d in disks],
	)
	yield (
		"erp_ops_findings",
		"Findings of the snapshot by severity.",
		[
			({"severity": severity.value}, float(sum(1 for f in snap.findings if f.severity is severity)))
			for severity in (Severity.CRITICAL, Severity.WARNING)
		],
	)


def escape_label_value(value: str) -> str:
	"""Backslash, double quote and line feed are the three characters a label value escapes."""
	return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
	return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
	if value != value:
		return "NaN"
	if value in (float("inf"), float("-inf")):
		return "+Inf" if value > 0 else "-Inf"
	if float(value).is_integer():
		return str(int(value))
	return repr(float(value))


def _labels(labels: dict[str, str]) -> str:
	if not labels:
		return ""
	return "{" + ",".join(f'{key}="{escape_label_value(str(value))}"' for key, value in labels.items()) + "}"

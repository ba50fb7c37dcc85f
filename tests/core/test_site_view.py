"""core/signals/snapshot.site_view: what one site's users may see of the bench's snapshot."""

from datetime import datetime, timezone

from erp_ops.core.signals.models import (
	FileLock,
	Finding,
	QueueStats,
	Severity,
	Snapshot,
	StartedJob,
	WorkerInfo,
)
from erp_ops.core.signals.snapshot import site_view

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
MINE, THEIRS = "a.localhost::job-1", "b.localhost::job-2"


def test_another_sites_job_ids_locks_and_findings_are_hidden_and_the_counts_stay_the_benchs():
	snap = Snapshot(
		taken_at=NOW,
		bench_id="bench",
		queues=[
			QueueStats(name="bench:default", short_name="default", queued=7, oldest_queued_job_id=THEIRS),
			QueueStats(name="bench:long", short_name="long", queued=1, oldest_queued_job_id=MINE),
		],
		workers=[WorkerInfo(name="w1", current_job=THEIRS), WorkerInfo(name="w2", current_job=MINE)],
		started_jobs=[
			StartedJob(job_id=MINE, queue="bench:long", site="a.localhost"),
			StartedJob(job_id=THEIRS, queue="bench:default", site="b.localhost"),
			StartedJob(job_id="a.localhost::no-site-field", queue="bench:default"),  # site from the id
		],
		locks=[
			FileLock(site="a.localhost", name="x", path="/a/x.lock", kind="process", age_s=1, stale=False),
			FileLock(site="b.localhost", name="y", path="/b/y.lock", kind="process", age_s=1, stale=False),
		],
		findings=[
			Finding(code="job_abandoned", severity=Severity.CRITICAL, message="theirs", subject=THEIRS),
			Finding(code="job_abandoned", severity=Severity.CRITICAL, message="mine", subject=MINE),
			Finding(code="stale_lock", severity=Severity.WARNING, message="their lock", subject="/b/y.lock"),
			Finding(code="oldest_job_age", severity=Severity.WARNING, message="bench-wide", subject="default"),
		],
	)
	view = site_view(snap, "a.localhost")
	assert [q.queued for q in view.queues] == [7, 1]  # the bench's counts
	assert [q.oldest_queued_job_id for q in view.queues] == [None, MINE]
	assert [w.current_job for w in view.workers] == [None, MINE]
	assert [j.job_id for j in view.started_jobs] == [MINE, "a.localhost::no-site-field"]
	assert [lock.path for lock in view.locks] == ["/a/x.lock"]
	assert [f.message for f in view.findings] == ["mine", "bench-wide"]

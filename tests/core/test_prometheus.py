"""The collector: what the exposition says equals the snapshot, Prometheus' own checker finds it clean,
method labels stay bounded, and the site scope's facts come out under their names."""

import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import pytest
from prometheus_client.parser import text_string_to_metric_families

from erp_ops.core.signals import prometheus
from erp_ops.core.signals.models import (
	DiskUsage,
	FailureCount,
	FailureRate,
	Finding,
	HostInfo,
	OverdueJob,
	QueueStats,
	RqFailures,
	SchedulerStatus,
	Severity,
	SiteCounts,
	SiteScheduler,
	Snapshot,
	StartedJob,
	WorkerInfo,
	WorkerStatus,
)
from erp_ops.core.signals.prometheus import (
	DrillFacts,
	FiringAlert,
	MetricFacts,
	PreflightFacts,
	SiteMetricFacts,
	Tick,
)

NASTY = 'a\\b"c\nd'  # every character a label value must escape
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def sample_snapshot() -> Snapshot:
	return Snapshot(
		taken_at=NOW - timedelta(seconds=2),
		bench_id="bench-x",
		read_ms=12.5,
		queues=[
			QueueStats(
				name="bench-x:default",
				short_name="default",
				queued=3,
				started=2,
				failed=2,
				expired_started=1,
				# As rq_state reads them: of the 3 started-registry entries, 1 runs (live worker,
				# current entry), 2 are abandoned (one expired, one held by the dead worker w2).
				running=1,
				abandoned=2,
				oldest_queued_age_s=42.5,
				workers=1,
			),
			QueueStats(name="bench-x:long", short_name="long"),
		],
		workers=[
			WorkerInfo(
				name="w1",
				queues=["bench-x:default"],
				state="busy",
				rss_bytes=123456789,
				successful_jobs=7,
				failed_jobs=2,
				total_working_time_s=3.5,
			),
			WorkerInfo(name="w2", status=WorkerStatus.DEAD, dead_reason="gone", successful_jobs=99),
		],
		sites=[SiteCounts(site="one.localhost", queued=2, started=1, abandoned=1, failed=2)],
		rq_failures=RqFailures(
			by_exception=[FailureCount(key="frappe.exceptions.ValidationError", failed_5m=1, failed_1h=4)]
		),
		started_jobs=[
			StartedJob(job_id="j1", queue="bench-x:default", worker="w1"),
			StartedJob(job_id="j2", queue="bench-x:default", worker="w2", abandoned=True),
			StartedJob(job_id="j3", queue="bench-x:default", abandoned=True),
		],
		failure_rates=[
			FailureRate(
				method=f"app.{NASTY}",
				total_5m=4,
				failed_5m=1,
				rate_5m=0.25,
				total_1h=10,
				failed_1h=5,
				rate_1h=0.5,
			)
		],
		evidence_backlog=7,
		schedulers=[
			SiteScheduler(site="one.localhost", status=SchedulerStatus.RUNNING),
			SiteScheduler(
				site="two.localhost",
				status=SchedulerStatus.INACTIVE,
				reason="maintenance_mode",
				overdue=[
					OverdueJob(
						name="a",
						method="m",
						frequency="Hourly",
						last_execution=None,
						next_due=NOW,
						overdue_s=4000,
					),
					OverdueJob(
						name="b",
						method="m",
						frequency="Daily",
						last_execution=None,
						next_due=NOW,
						overdue_s=10,
					),
				],
			),
		],
		host=HostInfo(
			hostname="h",
			disks=[DiskUsage(label="bench", path="/b", total_bytes=100, free_bytes=40, free_pct=40.0)],
		),
		findings=[Finding(code="worker_dead", severity=Severity.CRITICAL, message="w2 dead")],
	)


def site_facts() -> MetricFacts:
	return MetricFacts(
		now=NOW,
		sites=[
			SiteMetricFacts(
				site="one.localhost",
				backup_age_s=3600,
				drill=DrillFacts(
					verdict="Failed", age_s=600, rpo_s=7200, rto_s=95.5, last_success_age_s=700_000
				),
				preflight=PreflightFacts(verdict="Blocked", score=73, age_s=86400, target="16"),
				integration_events={"Processed": 120, "Conflict": 3},
				integration_conflicts_5m=3,
				migrate_failed=False,
			)
		],
		alerts=[FiringAlert(rule="worker-dead", severity="critical", count=1)],
		ticks=[
			Tick(
				site="one.localhost",
				task="evaluate_alerts",
				duration_s=0.25,
				ended_at=NOW - timedelta(seconds=30),
			)
		],
	)


def samples(text: str) -> dict[tuple[str, tuple], float]:
	"""{(sample name, sorted labels): value} through prometheus_client's own parser."""
	out = {}
	for family in text_string_to_metric_families(text):
		for s in family.samples:
			key = (s.name, tuple(sorted(s.labels.items())))
			assert key not in out, f"duplicate series {key}"
			out[key] = s.value
	return out


def value(parsed: dict, name: str, **labels: str) -> float:
	return parsed[(name, tuple(sorted({"bench": "bench-x", **labels}.items())))]


def promtool_check(text: str) -> subprocess.CompletedProcess:
	promtool = shutil.which("promtool")
	assert promtool, "promtool is not installed (Debian's prometheus package; .ci/run installs it)"
	return subprocess.run(
		[promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=60
	)


def test_values_say_what_the_snapshot_says():
	p = samples(prometheus.render(sample_snapshot(), MetricFacts(now=NOW)))
	assert value(p, "erp_ops_queue_jobs", queue="default", state="queued") == 3
	assert value(p, "erp_ops_queue_jobs", queue="default", state="failed") == 2
	# 3 in the started registry (2 live + 1 expired), 2 of them abandoned: 1 started, 2 abandoned
	assert value(p, "erp_ops_queue_jobs", queue="default", state="started") == 1
	assert value(p, "erp_ops_queue_jobs", queue="default", state="abandoned") == 2
	assert value(p, "erp_ops_queue_jobs", queue="long", state="queued") == 0
	assert value(p, "erp_ops_site_jobs", site="one.localhost", state="abandoned") == 1
	assert value(p, "erp_ops_site_jobs", site="one.localhost", state="failed") == 2
	exc = "frappe.exceptions.ValidationError"
	assert value(p, "erp_ops_rq_failed_jobs", exception=exc, window="1h") == 4
	assert value(p, "erp_ops_rq_failed_jobs", exception=exc, window="5m") == 1
	assert value(p, "erp_ops_queue_oldest_job_age_seconds", queue="default") == 42.5
	assert value(p, "erp_ops_queue_oldest_job_age_seconds", queue="long") == 0
	assert value(p, "erp_ops_workers", state="busy") == 1
	assert value(p, "erp_ops_workers", state="dead") == 1
	assert value(p, "erp_ops_workers", state="idle") == 0
	assert value(p, "erp_ops_worker_resident_memory_bytes", worker="w1") == 123456789
	assert value(p, "erp_ops_worker_jobs_total", worker="w1", outcome="succeeded") == 7
	assert value(p, "erp_ops_worker_jobs_total", worker="w1", outcome="failed") == 2
	assert value(p, "erp_ops_worker_busy_seconds_total", worker="w1") == 3.5
	assert not any(k[0] == "erp_ops_worker_jobs_total" and ("worker", "w2") in k[1] for k in p), "dead worker"
	method = f"app.{NASTY}"
	assert value(p, "erp_ops_job_runs", method=method, window="5m") == 4
	assert value(p, "erp_ops_job_runs", method=method, window="1h") == 10
	assert value(p, "erp_ops_job_failures", method=method, exception="unknown", window="5m") == 1
	assert value(p, "erp_ops_job_failures", method=method, exception="unknown", window="1h") == 5
	assert value(p, "erp_ops_scheduler_up", site="one.localhost") == 1
	assert value(p, "erp_ops_scheduler_up", site="two.localhost") == 0
	assert value(p, "erp_ops_scheduler_status", site="two.localhost", status="inactive") == 1
	assert value(p, "erp_ops_scheduler_status", site="two.localhost", status="running") == 0
	assert value(p, "erp_ops_scheduler_overdue_jobs", site="two.localhost") == 2
	assert value(p, "erp_ops_scheduler_overdue_seconds", site="two.localhost") == 4000
	assert value(p, "erp_ops_evidence_backlog") == 7
	assert value(p, "erp_ops_disk_free_bytes", disk="bench") == 40
	assert value(p, "erp_ops_disk_size_bytes", disk="bench") == 100
	assert value(p, "erp_ops_findings", severity="critical") == 1
	assert value(p, "erp_ops_snapshot_read_seconds") == pytest.approx(0.0125)
	assert value(p, "erp_ops_snapshot_age_seconds") == pytest.approx(2)
	assert all(dict(labels)["bench"] == "bench-x" for _name, labels in p), "a series without bench"


def test_site_scope_facts_come_out_under_their_names():
	p = samples(prometheus.render(sample_snapshot(), site_facts()))
	site = {"site": "one.localhost"}
	assert value(p, "erp_ops_backup_last_age_seconds", **site) == 3600
	assert value(p, "erp_ops_drill_last_verdict", **site, verdict="Failed") == 1
	assert value(p, "erp_ops_drill_last_age_seconds", **site) == 600
	assert value(p, "erp_ops_drill_last_success_age_seconds", **site) == 700_000
	assert value(p, "erp_ops_drill_rpo_seconds", **site) == 7200
	assert value(p, "erp_ops_drill_rto_seconds", **site) == 95.5
	assert value(p, "erp_ops_preflight_last_verdict", **site, target="16", verdict="Blocked") == 1
	assert value(p, "erp_ops_preflight_last_score", **site, target="16") == 73
	assert value(p, "erp_ops_integration_events", **site, status="Conflict") == 3
	assert value(p, "erp_ops_integration_conflicts", **site, window="5m") == 3
	assert value(p, "erp_ops_migrate_failed", **site) == 0
	assert value(p, "erp_ops_alerts_firing", rule="worker-dead", severity="critical") == 1
	assert value(p, "erp_ops_tick_duration_seconds", **site, task="evaluate_alerts") == 0.25
	assert value(p, "erp_ops_tick_age_seconds", **site, task="evaluate_alerts") == 30


@pytest.mark.parametrize("scope", ["bench", "site", "empty"])
def test_promtool_check_metrics_is_clean(scope):
	if scope == "empty":
		snap = Snapshot(taken_at=NOW, bench_id="b", redis_ok=False, redis_error="down")
		text = prometheus.render(snap)
	else:
		text = prometheus.render(sample_snapshot(), site_facts() if scope == "site" else None)
	result = promtool_check(text)
	assert result.returncode == 0 and not result.stdout and not result.stderr, (
		result.stdout.decode() + result.stderr.decode()
	)
	assert "# TYPE erp_ops_queue_jobs gauge" in text  # promtool read something real


def test_promtool_check_metrics_can_fail():
	"""The check above is not vacuous: promtool flags a counter without _total and a non-base unit."""
	bad = "# HELP x_milliseconds a\n# TYPE x_milliseconds counter\nx_milliseconds 1\n"
	result = promtool_check(bad)
	assert result.returncode != 0, result
	assert b'should have "_total" suffix' in result.stderr and b"base unit" in result.stderr, result


def test_method_labels_are_bounded_and_sums_are_kept():
	rates = [
		FailureRate(method=f"app.m{i:02d}", total_5m=i + 1, failed_5m=i, total_1h=2 * i + 2, failed_1h=2 * i)
		for i in range(30)
	]
	snap = sample_snapshot().model_copy(update={"failure_rates": rates})
	p = samples(prometheus.render(snap, top_methods=10))
	methods = {dict(labels)["method"] for name, labels in p if name == "erp_ops_job_failures"}
	assert methods == {f"app.m{i:02d}" for i in range(20, 30)} | {"other"}  # the 10 failing most
	for window, field in (("5m", "failed_5m"), ("1h", "failed_1h")):
		exported = sum(
			v
			for (name, labels), v in p.items()
			if name == "erp_ops_job_failures" and ("window", window) in labels
		)
		assert exported == sum(getattr(r, field) for r in rates)
	other_runs = value(p, "erp_ops_job_runs", method="other", window="1h")
	assert other_runs == sum(r.total_1h for r in rates[:20])


def test_failures_are_split_by_exception_and_the_rest_is_unknown():
	rate = FailureRate(
		method="app.x",
		total_5m=10,
		failed_5m=6,
		total_1h=12,
		failed_1h=8,
		# 1 failure of the 5 minutes and 1 of the hour were counted before the split; `?` is a
		# failure whose record named no exception
		failed_by_exception_5m={"ValueError": 4, "KeyError": 1},
		failed_by_exception_1h={"ValueError": 6, "?": 1},
	)
	p = samples(prometheus.render(sample_snapshot().model_copy(update={"failure_rates": [rate]})))
	assert value(p, "erp_ops_job_failures", method="app.x", exception="ValueError", window="5m") == 4
	assert value(p, "erp_ops_job_failures", method="app.x", exception="KeyError", window="5m") == 1
	assert value(p, "erp_ops_job_failures", method="app.x", exception="unknown", window="5m") == 1
	assert value(p, "erp_ops_job_failures", method="app.x", exception="ValueError", window="1h") == 6
	assert value(p, "erp_ops_job_failures", method="app.x", exception="unknown", window="1h") == 2
	assert not any(dict(labels).get("exception") == "?" for _name, labels in p)


def test_label_values_round_trip_through_escaping():
	text = prometheus.render(sample_snapshot())
	assert 'method="app.a\\\\b\\"c\\nd"' in text
	methods = {dict(labels)["method"] for name, labels in samples(text) if name == "erp_ops_job_runs"}
	assert methods == {f"app.{NASTY}"}


def test_an_empty_snapshot_still_declares_the_snapshot_families():
	empty = Snapshot(taken_at=NOW, bench_id="b", redis_ok=False, redis_error="down")
	names = {f.name for f in text_string_to_metric_families(prometheus.render(empty))}
	full = {
		f.name for f in text_string_to_metric_families(prometheus.render(sample_snapshot(), site_facts()))
	}
	assert names == full
	assert samples(prometheus.render(empty))[("erp_ops_redis_up", (("bench", "b"),))] == 0

"""Scheduler diagnosis over the facts the Frappe layer passes in (cron via croniter)."""

from datetime import datetime, timedelta

import pytest

from erp_ops.core.signals import scheduler
from erp_ops.core.signals.models import ScheduledJobRow, SchedulerStatus, SiteSchedulerFacts

NOW = datetime(2026, 11, 27, 12, 0, 0)


def row(method: str, frequency: str, last: datetime | None, **kw) -> ScheduledJobRow:
	return ScheduledJobRow(
		name=".".join(method.split(".")[-2:]),
		method=method,
		frequency=frequency,
		last_execution=last,
		creation=NOW - timedelta(days=30),
		**kw,
	)


def healthy_jobs() -> list[ScheduledJobRow]:
	return [
		row("app.tasks.every_tick", "All", NOW - timedelta(minutes=2)),
		row("app.tasks.hourly", "Hourly", NOW - timedelta(minutes=30)),
		row("app.tasks.daily", "Daily Long", NOW - timedelta(hours=12)),
		row("app.tasks.nightly_cron", "Cron", NOW - timedelta(hours=3), cron_format="0 2 * * *"),
	]


def facts(**kw) -> SiteSchedulerFacts:
	return SiteSchedulerFacts(
		site="s.local", now=kw.pop("now", NOW), jobs=kw.pop("jobs", healthy_jobs()), **kw
	)


def test_healthy_site_is_running():
	result = scheduler.diagnose(facts(), redis_ok=True, workers_listening=2)
	assert (result.status, result.reason, result.overdue) == (SchedulerStatus.RUNNING, None, [])
	assert result.last_tick == NOW - timedelta(minutes=2)


@pytest.mark.parametrize(
	("changes", "expected"),
	[
		({"maintenance_mode": True}, "maintenance_mode is set"),
		({"disable_scheduler": True}, "disable_scheduler is set"),
		({"pause_scheduler": True}, "pause_scheduler is set"),
		({"enable_scheduler": False}, "disabled in System Settings"),
	],
)
def test_each_switch_is_named_as_the_reason(changes, expected):
	result = scheduler.diagnose(facts(**changes), redis_ok=True, workers_listening=1)
	assert result.status is SchedulerStatus.INACTIVE and expected in result.reason


def test_redis_down_comes_first():
	result = scheduler.diagnose(facts(pause_scheduler=True), redis_ok=False, workers_listening=0)
	assert result.reason.startswith("Redis") and len(result.reasons) == 2


def test_no_worker_listening():
	result = scheduler.diagnose(facts(), redis_ok=True, workers_listening=0)
	assert result.status is SchedulerStatus.DEGRADED and "no live worker" in result.reason


def test_dormant_site_is_explained_not_failed():
	jobs = [row("app.tasks.hourly", "Hourly", NOW - timedelta(hours=20))]
	result = scheduler.diagnose(facts(dormant=True, jobs=jobs), redis_ok=True, workers_listening=1)
	assert result.status is SchedulerStatus.DEGRADED and "dormant" in result.reason
	assert result.severity.value == "warning"


def test_silent_scheduler_process():
	jobs = [
		row("app.tasks.every_tick", "All", NOW - timedelta(hours=2)),
		row("app.tasks.hourly", "Hourly", NOW - timedelta(hours=2)),
	]
	result = scheduler.diagnose(facts(jobs=jobs), redis_ok=True, workers_listening=1)
	assert "bench schedule" in result.reason
	assert {j.method for j in result.overdue} == {"app.tasks.every_tick", "app.tasks.hourly"}


def test_overdue_cron_job_and_stuck_in_queue():
	jobs = [
		*healthy_jobs()[:1],
		row("app.tasks.nightly_cron", "Cron", NOW - timedelta(days=2), cron_format="0 2 * * *"),
	]
	result = scheduler.diagnose(
		facts(jobs=jobs),
		redis_ok=True,
		workers_listening=1,
		stuck_job_methods=frozenset({"app.tasks.nightly_cron"}),
	)
	(job,) = result.overdue
	assert job.next_due == datetime(2026, 11, 26, 2, 0) and job.stuck_in_queue
	assert job.overdue_s == pytest.approx(34 * 3600)
	assert "found in queue" in result.reason


def test_long_jobs_get_their_jitter_and_stopped_jobs_are_ignored():
	# Both due at 12:00 and 9 minutes late: past two ticks (8 min) for a plain job, within two
	# ticks plus Frappe's 10-minute jitter for a Long one.
	jobs = [
		row("app.tasks.every_tick", "All", NOW + timedelta(minutes=7)),
		row("app.tasks.plain", "Hourly", NOW - timedelta(minutes=1)),
		row("app.tasks.heavy", "Hourly Long", NOW - timedelta(minutes=1)),
		row("app.tasks.stopped", "Hourly", NOW - timedelta(days=3), stopped=True),
	]
	result = scheduler.diagnose(
		facts(now=NOW + timedelta(minutes=9), jobs=jobs), redis_ok=True, workers_listening=1
	)
	assert [j.method for j in result.overdue] == ["app.tasks.plain"]


def test_cold_start_uses_creation_and_bad_cron_is_skipped():
	jobs = [
		row("app.tasks.new", "Hourly", None),
		row("app.tasks.broken", "Cron", NOW - timedelta(days=1), cron_format="not a cron"),
	]
	overdue = scheduler.overdue_jobs(facts(jobs=jobs))
	assert [j.method for j in overdue] == ["app.tasks.new"]


def test_scheduled_job_ids_in_both_frappe_styles():
	ids = scheduler.stuck_job_ids("s.local", facts(jobs=healthy_jobs()[:1]))
	assert ids == {
		"s.local::scheduled_job::app.tasks.every_tick": "app.tasks.every_tick",
		"s.local||scheduled_job::app.tasks.every_tick": "app.tasks.every_tick",
	}

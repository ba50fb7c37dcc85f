"""One answer to "why is the scheduler not running?" per site, and which jobs are overdue.

The Frappe layer reads System Settings, site config and `Scheduled Job Type` rows and passes them
in as `SiteSchedulerFacts`; this module only reasons over them, so it runs standalone too.
"""

from datetime import datetime

from croniter import croniter

from erp_ops.core.signals.models import (
	OverdueJob,
	ScheduledJobRow,
	SchedulerStatus,
	Severity,
	SiteScheduler,
	SiteSchedulerFacts,
)

# Frappe v15's `ScheduledJobType.get_next_execution` map; "All" depends on scheduler_interval.
FREQUENCY_CRON = {
	"Yearly": "0 0 1 1 *",
	"Annual": "0 0 1 1 *",
	"Monthly": "0 0 1 * *",
	"Monthly Long": "0 0 1 * *",
	"Weekly": "0 0 * * 0",
	"Weekly Long": "0 0 * * 0",
	"Daily": "0 0 * * *",
	"Daily Long": "0 0 * * *",
	"Hourly": "0 * * * *",
	"Hourly Long": "0 * * * *",
}
LONG_JITTER_S = 600  # Frappe adds up to 10 minutes of jitter to "Long" frequencies


def cron_for(row: ScheduledJobRow, scheduler_interval_s: int) -> str | None:
	if row.cron_format:
		return row.cron_format
	if row.frequency == "All":
		return f"*/{max(1, scheduler_interval_s // 60)} * * * *"
	return FREQUENCY_CRON.get(row.frequency)


def next_due(row: ScheduledJobRow, scheduler_interval_s: int) -> datetime | None:
	cron = cron_for(row, scheduler_interval_s)
	base = row.last_execution or row.creation
	if not cron or base is None:
		return None
	try:
		return croniter(cron, base).get_next(datetime)
	except (ValueError, KeyError):
		return None


def overdue_jobs(
	facts: SiteSchedulerFacts, *, stuck_job_methods: frozenset[str] = frozenset()
) -> list[OverdueJob]:
	"""Jobs whose next run is past by more than two ticks (and the jitter, for Long ones)."""
	tick = max(60, facts.scheduler_interval_s)
	result = []
	for row in facts.jobs:
		if row.stopped:
			continue
		due = next_due(row, facts.scheduler_interval_s)
		if due is None:
			continue
		grace = 2 * tick + (LONG_JITTER_S if "Long" in row.frequency else 0)
		late = (facts.now - due).total_seconds()
		if late > grace:
			result.append(
				OverdueJob(
					name=row.name,
					method=row.method,
					frequency=row.frequency,
					last_execution=row.last_execution,
					next_due=due,
					overdue_s=round(late, 1),
					stuck_in_queue=row.method in stuck_job_methods,
				)
			)
	return sorted(result, key=lambda j: -j.overdue_s)


def last_tick(facts: SiteSchedulerFacts) -> datetime | None:
	runs = [row.last_execution for row in facts.jobs if row.last_execution]
	return max(runs) if runs else None


def diagnose(
	facts: SiteSchedulerFacts,
	*,
	redis_ok: bool,
	workers_listening: int,
	stuck_job_methods: frozenset[str] = frozenset(),
) -> SiteScheduler:
	"""Reasons in the order an operator should act on them; the first is the answer."""
	reasons: list[str] = []
	if not redis_ok:
		reasons.append("Redis (redis_queue) is unreachable: nothing can be enqueued")
	if facts.maintenance_mode:
		reasons.append("maintenance_mode is set in site config")
	if facts.disable_scheduler:
		reasons.append("disable_scheduler is set in site config")
	if facts.pause_scheduler:
		reasons.append("pause_scheduler is set in site config")
	if not facts.enable_scheduler:
		reasons.append("the scheduler is disabled in System Settings (enable_scheduler)")
	inactive = bool(reasons)
	if facts.dormant:
		reasons.append("the site is dormant (no user activity within dormant_days): jobs run once a day")
	if redis_ok and workers_listening == 0:
		reasons.append("no live worker listens on the default or long queue: jobs are enqueued but never run")
	overdue = overdue_jobs(facts, stuck_job_methods=stuck_job_methods)
	stuck = [j for j in overdue if j.stuck_in_queue]
	if stuck:
		reasons.append(
			f"{len(stuck)} scheduled job(s) are stuck 'found in queue' (e.g. {stuck[0].method}): "
			"Frappe skips them until the queued or started job is cleared"
		)
	tick = last_tick(facts)
	silent_for = (facts.now - tick).total_seconds() if tick else None
	every_tick = [row for row in facts.jobs if row.frequency == "All" and not row.stopped]
	if (
		not inactive
		and not facts.dormant
		and every_tick
		and silent_for is not None
		and silent_for > 3 * max(60, facts.scheduler_interval_s)
	):
		reasons.append(
			f"no scheduled job has started for {int(silent_for)} s: the scheduler process "
			"(`bench schedule`) is probably not running"
		)
	elif overdue and not inactive and not stuck and not facts.dormant:
		reasons.append(f"{len(overdue)} scheduled job(s) are overdue (e.g. {overdue[0].method})")

	if inactive:
		status, severity = SchedulerStatus.INACTIVE, Severity.CRITICAL
	elif reasons:
		# A dormant site runs its jobs once a day by design: worth knowing, not an outage.
		dormant_only = facts.dormant and len(reasons) == 1
		status = SchedulerStatus.DEGRADED
		severity = Severity.WARNING if dormant_only else Severity.CRITICAL
	else:
		status, severity = SchedulerStatus.RUNNING, Severity.OK
	return SiteScheduler(
		site=facts.site,
		status=status,
		severity=severity,
		reason=reasons[0] if reasons else None,
		reasons=reasons,
		last_tick=tick,
		overdue=overdue,
	)


def stuck_job_ids(site: str, facts: SiteSchedulerFacts) -> dict[str, str]:
	"""RQ job ids Frappe gives scheduled jobs (`scheduled_job::<method>`), both id styles."""
	ids = {}
	for row in facts.jobs:
		for sep in ("::", "||"):
			ids[f"{site}{sep}scheduled_job::{row.method}"] = row.method
	return ids

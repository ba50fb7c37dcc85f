"""Around the drill: when the next one is due, whether the last good one is too old, and one
drill at a time per site.

Redis keys (the bench's `redis_queue`, like the rest of erp_ops):
  erp_ops:<bench>:drill-lock:<site>     redis-py Lock (token + Lua release), expires after the time limit
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from croniter import croniter

from erp_ops.core import redis_lock
from erp_ops.core.drills.errors import DrillAlreadyRunning
from erp_ops.core.errors import InvalidInput
from erp_ops.core.models import Frozen
from erp_ops.core.signals.models import Severity

LOCK = "erp_ops:{bench}:drill-lock:{site}"
DEFAULT_MAX_AGE = timedelta(days=7)


def next_drill_at(cron: str, last_started_at: datetime | None, now: datetime) -> datetime:
	"""The first cron tick after the last drill started (now, when there never was one)."""
	if not croniter.is_valid(cron):
		raise InvalidInput(f"{cron!r} is not a cron expression (e.g. '30 2 * * *' for 02:30 daily)")
	if last_started_at is None:
		return now
	return croniter(cron, last_started_at).get_next(datetime)


def drill_due(cron: str, last_started_at: datetime | None, now: datetime) -> bool:
	"""True when the scheduler tick at `now` should start a drill.

	Times are in the site's time zone, as Frappe evaluates its own cron jobs; a tick missed while
	the scheduler was down runs once, not once per missed tick.
	"""
	return next_drill_at(cron, last_started_at, now) <= now


class DrillHealth(Frozen):
	"""What the Operations workspace and the staleness alert show."""

	severity: Severity
	message: str
	last_drill_at: datetime | None = None
	last_outcome: str | None = None
	last_success_at: datetime | None = None
	success_age_s: float | None = None
	rpo_s: float | None = None
	rto_s: float | None = None


def drill_health(
	now: datetime,
	last_drill_at: datetime | None,
	last_outcome: str | None,
	last_success_at: datetime | None,
	*,
	last_reason: str | None = None,
	rpo_s: float | None = None,
	rto_s: float | None = None,
	max_age: timedelta = DEFAULT_MAX_AGE,
) -> DrillHealth:
	"""Critical when no drill passed within `max_age`; a warning when the latest one failed or was
	not verified (`last_outcome`: a DrillOutcome value, "passed", "not_verified" or "failed")."""
	facts = {
		"last_drill_at": last_drill_at,
		"last_outcome": last_outcome,
		"last_success_at": last_success_at,
		"rpo_s": rpo_s,
		"rto_s": rto_s,
	}
	if last_success_at is None:
		return DrillHealth(
			severity=Severity.CRITICAL,
			message="no restore drill has passed yet: the backups are unproven",
			**facts,
		)
	age = now - last_success_at
	facts["success_age_s"] = age.total_seconds()
	if age > max_age:
		return DrillHealth(
			severity=Severity.CRITICAL,
			message=f"the last passing restore drill is {_days(age)} old (limit {_days(max_age)})",
			**facts,
		)
	if last_outcome == "not_verified":
		return DrillHealth(
			severity=Severity.WARNING,
			message=f"the latest restore drill restored the backup but could not verify it: {last_reason or 'see its record'}",
			**facts,
		)
	if last_outcome is not None and last_outcome != "passed":
		return DrillHealth(
			severity=Severity.WARNING,
			message=f"the latest restore drill failed: {last_reason or 'see its record'}",
			**facts,
		)
	return DrillHealth(severity=Severity.OK, message=f"restore drill passed {_days(age)} ago", **facts)


@contextmanager
def drill_lock(conn, bench_id: str, site: str, time_limit_s: float) -> Iterator[None]:
	"""Hold the site's drill lock for the block; DrillAlreadyRunning when another drill holds it.

	The lock expires after the time limit (plus a minute to drop the scratch database), so a
	killed worker cannot block the next drill for longer than one drill could run.
	"""
	with redis_lock.held(
		conn, LOCK.format(bench=bench_id, site=site), timeout_s=time_limit_s + 60
	) as acquired:
		if not acquired:
			raise DrillAlreadyRunning(f"a restore drill of {site} is already running")
		yield


def _days(delta: timedelta) -> str:
	hours = delta.total_seconds() / 3600
	return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"

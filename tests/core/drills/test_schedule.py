"""Drill schedule (croniter), staleness verdicts, and the per-site lock on a real Redis."""

import threading
from datetime import datetime, timedelta, timezone

import pytest

from erp_ops.core.drills.errors import DrillAlreadyRunning
from erp_ops.core.drills.schedule import LOCK, drill_due, drill_health, drill_lock, next_drill_at
from erp_ops.core.errors import InvalidInput
from erp_ops.core.signals.models import Severity

NOW = datetime(2024, 3, 10, 2, 45, tzinfo=timezone.utc)


def test_cron_decides_when_a_drill_is_due():
	assert drill_due("30 2 * * *", None, NOW)  # never ran: now
	assert drill_due("30 2 * * *", NOW - timedelta(days=1), NOW)  # yesterday 02:45 → today 02:30 passed
	assert not drill_due("30 2 * * *", NOW - timedelta(minutes=10), NOW)  # ran at 02:35 today
	# Down for three days: one drill now, then the next tick.
	assert next_drill_at("30 2 * * *", NOW - timedelta(days=3), NOW) == NOW - timedelta(days=2, minutes=15)
	assert next_drill_at("30 2 * * *", NOW, NOW) == NOW + timedelta(days=1, minutes=-15)
	with pytest.raises(InvalidInput):
		drill_due("every day", None, NOW)


def test_health_is_critical_when_no_drill_passed_within_the_limit():
	never = drill_health(NOW, None, None, None)
	assert never.severity == Severity.CRITICAL and "no restore drill has passed" in never.message
	old = drill_health(NOW, NOW, "passed", NOW - timedelta(days=8))
	assert old.severity == Severity.CRITICAL and "8.0 days old (limit 7.0 days)" in old.message
	failed = drill_health(NOW, NOW, "failed", NOW - timedelta(days=2), last_reason="truncated dump")
	assert failed.severity == Severity.WARNING and failed.message.endswith("truncated dump")
	unverified = drill_health(NOW, NOW, "not_verified", NOW - timedelta(days=2), last_reason="no counts")
	assert unverified.severity == Severity.WARNING
	assert (
		unverified.message
		== "the latest restore drill restored the backup but could not verify it: no counts"
	)
	good = drill_health(NOW, NOW, "passed", NOW - timedelta(hours=3), rpo_s=3600, rto_s=42)
	assert good.severity == Severity.OK and good.rto_s == 42 and good.success_age_s == 3 * 3600
	assert drill_health(NOW, NOW, "passed", NOW - timedelta(days=2), max_age=timedelta(days=1)).severity == (
		Severity.CRITICAL
	)


def test_one_drill_at_a_time_per_site(redis_conn):
	entered = threading.Event()
	leave = threading.Event()

	def first() -> None:
		with drill_lock(redis_conn, "bench", "a.example.com", time_limit_s=60):
			entered.set()
			leave.wait(10)

	holder = threading.Thread(target=first)
	holder.start()
	assert entered.wait(10)
	try:
		with pytest.raises(DrillAlreadyRunning):
			with drill_lock(redis_conn, "bench", "a.example.com", time_limit_s=60):
				pass
		with drill_lock(redis_conn, "bench", "b.example.com", time_limit_s=60):  # other sites are free
			ttl = redis_conn.pttl(LOCK.format(bench="bench", site="b.example.com"))
			assert 60_000 < ttl <= 120_000
	finally:
		leave.set()
		holder.join()
	assert not redis_conn.exists(LOCK.format(bench="bench", site="a.example.com"))
	with drill_lock(redis_conn, "bench", "a.example.com", time_limit_s=60):
		pass

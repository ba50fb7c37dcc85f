"""The outbox protocol end to end: Redis state + outbox → a real MariaDB `Ops Alert` table, with a
crash between the database commit and the outbox trim losing and doubling nothing."""

from datetime import timedelta

import pytest

from erp_ops.core.alerts import store
from erp_ops.core.alerts.models import AlertRule
from erp_ops.core.signals import read
from tests.support.mariadb_alert_sink import MariaDBAlertSink
from tests.support.rq_helpers import WorkerProcess, enqueue, qname

BENCH = "bench-outbox"
M = "tests.support.frappe_like"


class Crash(Exception):
	pass


def test_crash_after_commit_before_trim_redelivers_without_duplicates(redis_conn, redis_url, mariadb_db):
	sink = MariaDBAlertSink(mariadb_db[0])
	try:
		rule = AlertRule(
			name="backlog",
			signal="queues.*.queued",
			threshold=3,
			severity="critical",
			runbook="RB-QUEUE-BACKLOG",
		)
		for i in range(5):
			enqueue(redis_conn, BENCH, "default", f"{M}.work", n=i)
		snap = read(redis_conn, BENCH)
		store.evaluate(redis_conn, BENCH, [rule], snap)

		def commit_then_crash(batch):
			sink.store(batch)
			raise Crash("worker killed after the commit")

		with pytest.raises(Crash):
			store.drain(redis_conn, BENCH, commit_then_crash)
		assert len(store.pending_transitions(redis_conn, BENCH)) == 1  # still there
		assert store.drain(redis_conn, BENCH, sink.store) == 1  # redelivered, ignored by id

		worker = WorkerProcess(redis_url, [qname(BENCH, "default")], burst=True)
		assert worker.wait(60) == 0
		store.evaluate(
			redis_conn, BENCH, [rule], read(redis_conn, BENCH), now=snap.taken_at + timedelta(seconds=60)
		)
		assert store.drain(redis_conn, BENCH, sink.store) == 1
		assert store.pending_transitions(redis_conn, BENCH) == []

		alerts = sink.rows("ops_alert")
		assert len(alerts) == 1
		assert (alerts[0]["rule"], alerts[0]["subject"], alerts[0]["status"]) == (
			"backlog",
			"default",
			"resolved",
		)
		assert alerts[0]["trigger_value"] == 5 and alerts[0]["value"] == 0 and alerts[0]["transitions"] == 2
		assert [r["kind"] for r in sink.rows("ops_alert_transition")] == ["fired", "resolved"]
	finally:
		sink.close()

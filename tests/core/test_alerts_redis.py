"""Alert rules evaluated against REAL snapshots of a real Redis, filled and drained by real RQ workers.

Figures come from `erp_ops.core.signals.read` over queues filled with `enqueue` and drained by a
burst worker; state lives in Redis through `alerts.store`. Only the clock is passed in (`now`), so
for-durations and resolve delays are tested without sleeping.
"""

import os
import signal
from datetime import timedelta

import pytest
from redis import Redis
from rq import Queue

from erp_ops.core.alerts import store
from erp_ops.core.alerts.errors import AlertNotFound, EvaluationBusy
from erp_ops.core.alerts.models import AlertRule, AlertStatus, TransitionKind
from erp_ops.core.signals import read
from tests.support.rq_helpers import WorkerProcess, enqueue, qname, wait_for

BENCH = "bench-alerts"
M = "tests.support.frappe_like"
PENDING, FIRING, RESOLVED = AlertStatus.PENDING, AlertStatus.FIRING, AlertStatus.RESOLVED


def fill(conn: Redis, short: str, n: int) -> list:
	return [enqueue(conn, BENCH, short, f"{M}.work", n=i) for i in range(n)]


def remove(conn: Redis, short: str, jobs: list) -> None:
	queue = Queue(qname(BENCH, short), connection=conn)
	for job in jobs:
		queue.remove(job)


def drain(redis_url: str, short: str) -> None:
	worker = WorkerProcess(redis_url, [qname(BENCH, short)], burst=True)
	assert worker.wait(60) == 0, worker.output()


def states(ev) -> list[tuple[str, str, AlertStatus]]:
	return [(a.rule, a.subject, a.status) for a in ev.alerts]


def kinds(ev) -> list[tuple[TransitionKind, bool]]:
	return [(t.kind, t.notify) for t in ev.transitions]


def test_backlog_pends_fires_folds_and_resolves_after_the_queue_drains(redis_conn, redis_url):
	rule = AlertRule(
		name="queue-backlog",
		signal="queues.*.queued",
		comparison=">",
		threshold=5,
		for_s=60,
		resolve_after_s=30,
		runbook="RB-QUEUE-BACKLOG",
	)
	fill(redis_conn, "long", 8)
	fill(redis_conn, "short", 2)  # under the threshold: never an alert
	snap = read(redis_conn, BENCH)
	t0 = snap.taken_at
	assert snap.queue("long").queued == 8

	ev = store.evaluate(redis_conn, BENCH, [rule], snap)
	assert states(ev) == [("queue-backlog", "long", PENDING)]
	assert kinds(ev) == [(TransitionKind.PENDING, False)]

	ev = store.evaluate(redis_conn, BENCH, [rule], read(redis_conn, BENCH), now=t0 + timedelta(seconds=30))
	assert states(ev) == [("queue-backlog", "long", PENDING)] and ev.transitions == []

	ev = store.evaluate(redis_conn, BENCH, [rule], read(redis_conn, BENCH), now=t0 + timedelta(seconds=61))
	assert states(ev) == [("queue-backlog", "long", FIRING)]
	assert kinds(ev) == [(TransitionKind.FIRED, True)]
	fired = ev.alerts[0]
	assert fired.trigger_value == 8 and fired.runbook == "RB-QUEUE-BACKLOG"

	# Duplicates fold: more evaluations while firing change counters, never open a second alert.
	fill(redis_conn, "long", 1)
	ev = store.evaluate(redis_conn, BENCH, [rule], read(redis_conn, BENCH), now=t0 + timedelta(seconds=90))
	assert len(ev.alerts) == 1 and ev.transitions == []
	assert (
		ev.alerts[0].value == 9 and ev.alerts[0].evaluations == 4 and ev.alerts[0].incident == fired.incident
	)

	drain(redis_url, "long")
	drained = read(redis_conn, BENCH)
	assert drained.queue("long").queued == 0
	# Clear, but not yet for resolve_after_s: still firing.
	ev = store.evaluate(redis_conn, BENCH, [rule], drained, now=t0 + timedelta(seconds=120))
	assert states(ev) == [("queue-backlog", "long", FIRING)] and ev.transitions == []
	ev = store.evaluate(redis_conn, BENCH, [rule], read(redis_conn, BENCH), now=t0 + timedelta(seconds=151))
	assert states(ev) == [("queue-backlog", "long", RESOLVED)]
	assert kinds(ev) == [(TransitionKind.RESOLVED, True)]

	# Everything that happened waits in the outbox, in order, with stable ids.
	outbox = store.pending_transitions(redis_conn, BENCH)
	assert [t.kind for t in outbox] == [TransitionKind.PENDING, TransitionKind.FIRED, TransitionKind.RESOLVED]
	assert len({t.id for t in outbox}) == 3
	assert store.load(redis_conn, BENCH)[0].status is RESOLVED
	assert 0 < redis_conn.ttl(store.ALERTS.format(bench=BENCH)) <= store.STATE_TTL_S


def test_pending_that_does_not_last_the_for_duration_is_canceled_silently(redis_conn, redis_url):
	rule = AlertRule(name="backlog", signal="queue.default.queued", comparison=">=", threshold=3, for_s=120)
	fill(redis_conn, "default", 3)
	snap = read(redis_conn, BENCH)
	ev = store.evaluate(redis_conn, BENCH, [rule], snap)
	assert states(ev) == [("backlog", "default", PENDING)]
	drain(redis_url, "default")
	ev = store.evaluate(
		redis_conn, BENCH, [rule], read(redis_conn, BENCH), now=snap.taken_at + timedelta(seconds=60)
	)
	assert ev.alerts == []
	assert kinds(ev) == [(TransitionKind.CANCELED, False)]
	# Back above, the for-duration starts over.
	fill(redis_conn, "default", 4)
	ev = store.evaluate(
		redis_conn, BENCH, [rule], read(redis_conn, BENCH), now=snap.taken_at + timedelta(seconds=200)
	)
	assert states(ev) == [("backlog", "default", PENDING)]


def test_hysteresis_keeps_an_alert_firing_inside_the_band(redis_conn):
	rule = AlertRule(name="backlog", signal="queues.*.queued", comparison=">", threshold=5, clear_threshold=2)
	jobs = fill(redis_conn, "short", 8)
	snap = read(redis_conn, BENCH)
	t = snap.taken_at
	assert kinds(store.evaluate(redis_conn, BENCH, [rule], snap)) == [(TransitionKind.FIRED, True)]
	remove(redis_conn, "short", jobs[:4])  # 4 left: below the threshold, above the clear threshold
	ev = store.evaluate(redis_conn, BENCH, [rule], read(redis_conn, BENCH), now=t + timedelta(seconds=60))
	assert states(ev) == [("backlog", "short", FIRING)] and ev.transitions == []
	assert ev.alerts[0].value == 4
	remove(redis_conn, "short", jobs[4:7])  # 1 left: clear
	ev = store.evaluate(redis_conn, BENCH, [rule], read(redis_conn, BENCH), now=t + timedelta(seconds=120))
	assert kinds(ev) == [(TransitionKind.RESOLVED, True)]


def test_flapping_is_announced_once_then_folded_into_one_incident(redis_conn):
	rule = AlertRule(
		name="backlog", signal="queues.*.queued", comparison=">", threshold=5, flap_limit=2, flap_window_s=600
	)
	t = read(redis_conn, BENCH).taken_at
	sent: list[TransitionKind] = []
	incidents = []
	for cycle in range(5):
		jobs = fill(redis_conn, "long", 6)
		ev = store.evaluate(
			redis_conn, BENCH, [rule], read(redis_conn, BENCH), now=t + timedelta(seconds=60 * cycle)
		)
		sent += [tr.kind for tr in ev.transitions if tr.notify]
		incidents.append(ev.alerts[0].incident)
		remove(redis_conn, "long", jobs)
		ev = store.evaluate(
			redis_conn, BENCH, [rule], read(redis_conn, BENCH), now=t + timedelta(seconds=60 * cycle + 30)
		)
		assert ev.alerts[0].status is RESOLVED
		sent += [tr.kind for tr in ev.transitions if tr.notify]
	F, R = TransitionKind.FIRED, TransitionKind.RESOLVED
	# Two ordinary cycles, the third firing announces the flapping, then silence.
	assert sent == [F, R, F, R, TransitionKind.FLAPPING]
	assert len(set(incidents[:3])) == 3 and incidents[2] == incidents[3] == incidents[4]
	# A whole quiet window later the next firing is an ordinary, notified one with a new incident.
	jobs = fill(redis_conn, "long", 6)
	later = t + timedelta(seconds=60 * 4 + 30 + 601)
	ev = store.evaluate(redis_conn, BENCH, [rule], read(redis_conn, BENCH), now=later)
	assert kinds(ev) == [(TransitionKind.FIRED, True)]
	assert ev.alerts[0].incident not in incidents and ev.alerts[0].flapping is False


def test_dead_worker_fires_and_abandoned_job_is_seen(redis_conn, redis_url, tmp_path):
	rules = [
		AlertRule(name="worker-dead", signal="workers.dead", threshold=0, severity="critical"),
		AlertRule(name="abandoned", signal="started.abandoned", threshold=0),
	]
	marker = tmp_path / "started"
	enqueue(
		redis_conn, BENCH, "default", "tests.support.alert_jobs.hang_and_tell", seconds=30, marker=str(marker)
	)
	worker = WorkerProcess(redis_url, [qname(BENCH, "default")])
	try:
		wait_for(marker.exists, timeout=30, what="the job to start")
		ev = store.evaluate(redis_conn, BENCH, rules, read(redis_conn, BENCH))
		assert ev.alerts == []
		worker.kill()  # as the OOM killer would
		snap = read(redis_conn, BENCH)
		ev = store.evaluate(redis_conn, BENCH, rules, snap)
		assert states(ev) == [("abandoned", "", FIRING), ("worker-dead", "", FIRING)]
		assert {a.rule: a.value for a in ev.alerts} == {"abandoned": 1, "worker-dead": 1}
	finally:
		worker.kill()
		# rq's work horse runs in its own session: killing the worker's group orphans it.
		if marker.exists():
			try:
				os.kill(int(marker.read_text()), signal.SIGKILL)
			except ProcessLookupError:
				pass


def test_failure_rate_with_a_guard_fires_only_for_the_failing_method(redis_conn, redis_url):
	for i in range(6):
		enqueue(redis_conn, BENCH, "default", f"{M}.fail", message=f"bad {i}")
	for i in range(6):
		enqueue(redis_conn, BENCH, "default", f"{M}.work", n=i)
	drain(redis_url, "default")
	snap = read(redis_conn, BENCH)
	rates = {r.method: r for r in snap.failure_rates}
	assert rates[f"{M}.fail"].failed_5m == 6 and rates[f"{M}.work"].failed_5m == 0
	guarded = dict(signal="failure_rate.*.rate_5m", comparison=">=", threshold=0.5)
	rules = [
		AlertRule(name="failing", guard={"signal": "failure_rate.*.total_5m", "threshold": 5}, **guarded),
		AlertRule(
			name="too-few-runs", guard={"signal": "failure_rate.*.total_5m", "threshold": 10}, **guarded
		),
		AlertRule(name="worst", aggregate="max", **guarded),
	]
	ev = store.evaluate(redis_conn, BENCH, rules, snap)
	assert states(ev) == [("failing", f"{M}.fail", FIRING), ("worst", "", FIRING)]
	assert ev.alerts[0].value == 1.0


def test_no_data_from_a_dead_redis_is_not_recovery(redis_conn):
	rules = [
		AlertRule(name="backlog", signal="queues.*.queued", threshold=5),
		AlertRule(name="redis-down", signal="redis.down", comparison=">=", threshold=1, severity="critical"),
	]
	fill(redis_conn, "long", 6)
	snap = read(redis_conn, BENCH)
	ev = store.evaluate(redis_conn, BENCH, rules, snap)
	assert states(ev) == [("backlog", "long", FIRING)]
	# A real snapshot of a Redis that does not answer (nothing listens on port 1).
	dead = read(Redis(host="127.0.0.1", port=1, socket_connect_timeout=1), BENCH)
	assert dead.redis_ok is False and dead.queues == []
	ev = store.evaluate(redis_conn, BENCH, rules, dead, now=snap.taken_at + timedelta(seconds=60))
	assert states(ev) == [("backlog", "long", FIRING), ("redis-down", "", FIRING)]
	assert "backlog" in ev.skipped and kinds(ev) == [(TransitionKind.FIRED, True)]


def test_acknowledge_is_recorded_and_stops_repeat_notifications(redis_conn):
	rule = AlertRule(name="backlog", signal="queues.*.queued", threshold=5, renotify_s=300)
	fill(redis_conn, "long", 6)
	snap = read(redis_conn, BENCH)
	t = snap.taken_at
	store.evaluate(redis_conn, BENCH, [rule], snap)
	ev = store.evaluate(redis_conn, BENCH, [rule], read(redis_conn, BENCH), now=t + timedelta(seconds=301))
	assert kinds(ev) == [(TransitionKind.RENOTIFY, True)]
	ack = store.acknowledge(
		redis_conn, BENCH, "backlog", "long", "ops@example.com", note="on it", now=t + timedelta(seconds=320)
	)
	assert ack.kind is TransitionKind.ACKNOWLEDGED and ack.alert.acknowledged_by == "ops@example.com"
	ev = store.evaluate(redis_conn, BENCH, [rule], read(redis_conn, BENCH), now=t + timedelta(seconds=700))
	assert ev.transitions == [] and ev.alerts[0].ack_note == "on it"
	with pytest.raises(AlertNotFound):
		store.acknowledge(redis_conn, BENCH, "backlog", "short", "ops@example.com", now=t)
	assert store.pending_transitions(redis_conn, BENCH)[-1].kind is TransitionKind.ACKNOWLEDGED


def test_one_evaluator_at_a_time_and_the_outbox_drains_exactly_once(redis_conn):
	rule = AlertRule(name="backlog", signal="queues.*.queued", threshold=0)
	fill(redis_conn, "long", 1)
	snap = read(redis_conn, BENCH)
	lock = store.LOCK.format(bench=BENCH)
	redis_conn.set(lock, "someone-else", px=5000)
	with pytest.raises(EvaluationBusy) as busy:
		store.evaluate(redis_conn, BENCH, [rule], snap)
	assert busy.value.http_status == 409
	assert redis_conn.get(lock) == b"someone-else"  # never released by a non-holder
	redis_conn.delete(lock)
	store.evaluate(redis_conn, BENCH, [rule], snap)
	assert redis_conn.exists(lock) == 0

	def explode(batch):
		raise RuntimeError("database down")

	with pytest.raises(RuntimeError):
		store.drain(redis_conn, BENCH, explode)
	assert len(store.pending_transitions(redis_conn, BENCH)) == 1  # kept for the next drain
	seen = []
	assert store.drain(redis_conn, BENCH, seen.extend) == 1
	assert [t.kind for t in seen] == [TransitionKind.FIRED]
	assert store.drain(redis_conn, BENCH, seen.extend) == 0 and len(seen) == 1

	# The head changed under the drainer: nothing is trimmed, nothing lost.
	store.evaluate(redis_conn, BENCH, [rule], read(redis_conn, BENCH), now=snap.taken_at)
	fill(redis_conn, "short", 1)
	store.evaluate(
		redis_conn, BENCH, [rule], read(redis_conn, BENCH), now=snap.taken_at + timedelta(seconds=1)
	)
	outbox = store.OUTBOX.format(bench=BENCH)
	before = redis_conn.llen(outbox)

	def meddle(batch):
		redis_conn.lpush(outbox, b'"someone else\'s entry"')

	assert store.drain(redis_conn, BENCH, meddle) == 0
	assert redis_conn.llen(outbox) == before + 1

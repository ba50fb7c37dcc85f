"""The path language, rule validation and the state machine's edges, over hand-built snapshots."""

from datetime import datetime, timedelta, timezone

import pytest

from erp_ops.core.alerts import engine
from erp_ops.core.alerts.errors import InvalidRule
from erp_ops.core.alerts.models import AlertRule, AlertStatus, TransitionKind
from erp_ops.core.alerts.paths import observe, parse
from erp_ops.core.signals.models import (
	DiskUsage,
	FailureRate,
	HostInfo,
	OverdueJob,
	QueueStats,
	SchedulerStatus,
	SiteScheduler,
	Snapshot,
	WorkerInfo,
	WorkerStatus,
)

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def snap(at: datetime = T0, *, free_pct: float = 50.0, queued: int = 0, **extra) -> Snapshot:
	return Snapshot(
		taken_at=at,
		bench_id="b",
		queues=[
			QueueStats(name="b:long", short_name="long", queued=queued, oldest_queued_age_s=120.0, workers=1),
			QueueStats(name="b:short", short_name="short", queued=1, oldest_queued_age_s=None, workers=0),
		],
		workers=[
			WorkerInfo(name="w1", status=WorkerStatus.ALIVE),
			WorkerInfo(name="w2", status=WorkerStatus.DEAD, dead_reason="pid gone"),
		],
		failure_rates=[FailureRate(method="erpnext.stock.repost", total_5m=8, failed_5m=6, rate_5m=0.75)],
		schedulers=[
			SiteScheduler(
				site="a.local",
				status=SchedulerStatus.DEGRADED,
				overdue=[
					OverdueJob(
						name="j",
						method="m",
						frequency="Daily",
						last_execution=None,
						next_due=T0,
						overdue_s=7200.0,
					)
				],
			),
			SiteScheduler(site="b.local", status=SchedulerStatus.INACTIVE),
		],
		host=HostInfo(
			hostname="h",
			disks=[
				DiskUsage(label="backups", path="/b", total_bytes=100, free_bytes=10, free_pct=free_pct),
				DiskUsage(label="bench", path="/", total_bytes=100, free_bytes=60, free_pct=60.0),
			],
		),
		**extra,
	)


def values(path: str, s: Snapshot | None = None, facts=None) -> dict[str, float]:
	return {o.subject: o.value for o in observe(s or snap(), path, facts)}


def test_paths_name_every_kind_of_figure():
	assert values("queue.long.oldest_queued_age_s") == {"long": 120.0}
	assert values("queues.*.oldest_queued_age_s") == {"long": 120.0}  # no value is no observation
	assert values("queues.*.workers") == {"long": 0 + 1, "short": 0}
	assert values("queues.unserved") == {"": 1}
	assert values("workers.dead") == {"": 1} and values("workers.alive") == {"": 1}
	assert values("failure_rate.erpnext.stock.repost.rate_5m") == {"erpnext.stock.repost": 0.75}
	assert values("disk.backups.free_pct") == {"backups": 50.0}
	assert values("disk.*.free_pct") == {"backups": 50.0, "bench": 60.0}
	assert values("scheduler.*.inactive") == {"a.local": 0.0, "b.local": 1.0}
	assert values("scheduler.a.local.overdue_s") == {"a.local": 7200.0}
	assert values("redis.down") == {"": 0.0}
	assert values("queue.missing.queued") == {}
	facts = {"drill.age_hours": 30, "drill.a.local.age_hours": 5, "drill.b.local.age_hours": 500, "x": None}
	assert values("drill.age_hours", facts=facts) == {"": 30.0}
	assert values("drill.*.age_hours", facts=facts) == {"a.local": 5.0, "b.local": 500.0}
	assert values("drill.age_hours") == {}


@pytest.mark.parametrize(
	"path",
	[
		"",
		"queue",
		"queue.long",
		"queues.*.nope",
		"queues.l*.queued",
		"workers.zombie",
		"a..b",
		"queue.long.queued x",
	],
)
def test_bad_paths_are_refused_when_the_rule_is_made(path):
	with pytest.raises(InvalidRule):
		parse(path)
	with pytest.raises(InvalidRule):
		AlertRule(name="r", signal=path, threshold=1)


def test_rule_validation():
	with pytest.raises(InvalidRule):
		AlertRule(name="r", signal="queues.*.queued", threshold=5, clear_threshold=8)  # wrong side for >
	with pytest.raises(InvalidRule):
		AlertRule(name="r", signal="disk.*.free_pct", comparison="<", threshold=15, clear_threshold=10)
	with pytest.raises(InvalidRule):
		AlertRule(name="r|x", signal="workers.dead", threshold=0)
	with pytest.raises(InvalidRule):
		AlertRule(name="r", signal="workers.dead", comparison="==", threshold=0, clear_threshold=1)
	assert InvalidRule.http_status == 422


def test_falling_figure_with_hysteresis_and_an_exact_for_duration():
	rule = AlertRule(
		name="disk", signal="disk.*.free_pct", comparison="<", threshold=15, clear_threshold=18, for_s=60
	)
	ev = engine.evaluate([rule], snap(free_pct=14.0))
	assert [(a.subject, a.status) for a in ev.alerts] == [("backups", AlertStatus.PENDING)]
	ev = engine.evaluate([rule], snap(T0 + timedelta(seconds=60), free_pct=13.0), ev.alerts)
	assert [t.kind for t in ev.transitions] == [TransitionKind.FIRED]  # exactly for_s: fires
	ev = engine.evaluate([rule], snap(T0 + timedelta(seconds=90), free_pct=16.0), ev.alerts)
	assert ev.alerts[0].status is AlertStatus.FIRING  # 16 is in the band 15..18
	ev = engine.evaluate([rule], snap(T0 + timedelta(seconds=120), free_pct=18.5), ev.alerts)
	assert [t.kind for t in ev.transitions] == [TransitionKind.RESOLVED]


def test_resolve_clock_restarts_when_the_value_comes_back():
	rule = AlertRule(name="q", signal="queue.long.queued", threshold=5, resolve_after_s=60)
	ev = engine.evaluate([rule], snap(queued=9))
	for sec, queued in ((30, 0), (60, 9), (100, 0), (150, 0)):
		ev = engine.evaluate([rule], snap(T0 + timedelta(seconds=sec), queued=queued), ev.alerts)
		assert ev.alerts[0].status is AlertStatus.FIRING, sec
	ev = engine.evaluate([rule], snap(T0 + timedelta(seconds=160), queued=0), ev.alerts)
	assert ev.alerts[0].status is AlertStatus.RESOLVED


def test_resolved_alerts_are_forgotten_after_the_flap_window_and_removed_rules_close():
	rule = AlertRule(name="q", signal="queue.long.queued", threshold=5, flap_window_s=300)
	ev = engine.evaluate([rule], snap(queued=9))
	ev = engine.evaluate([rule], snap(T0 + timedelta(seconds=10)), ev.alerts)
	assert ev.alerts[0].status is AlertStatus.RESOLVED
	ev = engine.evaluate([rule], snap(T0 + timedelta(seconds=400)), ev.alerts)
	assert ev.alerts == [] and ev.transitions == []
	ev = engine.evaluate([rule], snap(T0 + timedelta(seconds=500), queued=9), ev.alerts)
	ev = engine.evaluate([], snap(T0 + timedelta(seconds=560), queued=9), ev.alerts)
	assert [(t.kind, t.notify, t.reason) for t in ev.transitions] == [
		(TransitionKind.RESOLVED, True, "rule removed or disabled")
	]
	assert ev.alerts == []


def test_aggregates_fold_subjects_into_one_bench_wide_alert():
	worst = AlertRule(name="worst", signal="disk.*.free_pct", comparison="<", threshold=55, aggregate="min")
	ev = engine.evaluate([worst], snap())
	assert [(a.subject, a.value) for a in ev.alerts] == [("", 50.0)]
	count = AlertRule(name="n", signal="drill.*.age_hours", threshold=1, aggregate="count")
	facts = {"drill.a.age_hours": 1.0, "drill.b.age_hours": 2.0}
	assert engine.evaluate([count], snap(), facts=facts).alerts[0].value == 2
	assert engine.evaluate([count], snap(), facts={}).alerts == []  # count of none is 0, not above 1


def test_naive_times_are_refused():
	rule = AlertRule(name="q", signal="queue.long.queued", threshold=5)
	with pytest.raises(InvalidRule, match="timezone-aware"):
		engine.evaluate([rule], snap(queued=9), now=datetime(2026, 6, 1, 12, 0))
	ev = engine.evaluate([rule], snap(queued=9))
	with pytest.raises(InvalidRule):
		engine.acknowledge(ev.alerts, "q", "long", "ops@example.com", datetime(2026, 6, 1, 12, 1))


def test_an_acknowledgement_lasts_for_its_incident_only():
	rule = AlertRule(name="q", signal="queue.long.queued", threshold=5, for_s=60, renotify_s=60)
	ev = engine.evaluate([rule], snap(queued=9))
	alerts, ack = engine.acknowledge(ev.alerts, "q", "long", "ops@example.com", T0, "looking")
	assert ack.kind is TransitionKind.ACKNOWLEDGED and ack.notify is False
	ev = engine.evaluate([rule], snap(T0 + timedelta(seconds=60), queued=9), alerts)
	assert [t.kind for t in ev.transitions] == [TransitionKind.FIRED]
	assert ev.alerts[0].acknowledged_by == "ops@example.com"  # acknowledged while pending: still
	ev = engine.evaluate([rule], snap(T0 + timedelta(seconds=200), queued=9), ev.alerts)
	assert ev.transitions == []  # no repeat for an acknowledged incident
	ev = engine.evaluate([rule], snap(T0 + timedelta(seconds=210)), ev.alerts)
	assert ev.alerts[0].status is AlertStatus.RESOLVED
	ev = engine.evaluate([rule], snap(T0 + timedelta(seconds=220), queued=9), ev.alerts)
	assert ev.alerts[0].status is AlertStatus.PENDING and ev.alerts[0].acknowledged_by is None  # new incident

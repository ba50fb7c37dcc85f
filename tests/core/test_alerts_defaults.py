"""The shipped alert rules: valid, tied to existing runbooks, every seeded runbook reachable."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from erp_ops.core.alerts import engine
from erp_ops.core.alerts.defaults import RULES_FILE, load_rules
from erp_ops.core.alerts.errors import InvalidRule
from erp_ops.core.alerts.models import AlertRule
from erp_ops.core.alerts.report import coverage_report
from erp_ops.core.evidence.capture import Outcome
from erp_ops.core.evidence.records import EvidenceRecord
from erp_ops.core.runbooks.seed import load_runbooks
from erp_ops.core.signals.models import DiskUsage, HostInfo, QueueStats, Snapshot, WorkerInfo, WorkerStatus

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def test_default_rules_point_at_seeded_runbooks_and_cover_each_one():
	rules = load_rules()
	runbooks = {rb.name for rb in load_runbooks()}
	assert len(rules) >= 12
	assert {r.runbook for r in rules} == runbooks
	assert coverage_report(rules, load_runbooks(), []).rules == []


def test_default_rules_fire_on_a_bad_snapshot_and_stay_quiet_on_a_good_one():
	def snapshot(bad: bool) -> Snapshot:
		return Snapshot(
			taken_at=NOW,
			bench_id="b",
			queues=[
				QueueStats(
					name="b:long",
					short_name="long",
					queued=900 if bad else 3,
					oldest_queued_age_s=4000 if bad else 5,
					workers=1,
				)
			],
			workers=[WorkerInfo(name="w", status=WorkerStatus.DEAD if bad else WorkerStatus.ALIVE)],
			host=HostInfo(
				hostname="h",
				disks=[
					DiskUsage(
						label="backups", path="/b", total_bytes=1, free_bytes=1, free_pct=3 if bad else 40
					)
				],
			),
		)

	rules = load_rules()
	facts_bad = {"drill.a.local.age_hours": 400, "drill.a.local.failed": 1, "migrate.a.local.failed": 1}
	quiet = engine.evaluate(
		rules, snapshot(False), facts={"drill.a.local.age_hours": 20, "drill.a.local.failed": 0}
	)
	assert quiet.alerts == []
	later = snapshot(True).model_copy(update={"taken_at": NOW + timedelta(minutes=10)})
	ev = engine.evaluate(rules, snapshot(True), facts=facts_bad)
	ev = engine.evaluate(rules, later, ev.alerts, facts=facts_bad)
	firing = {a.rule for a in ev.alerts if a.status.value == "firing"}
	assert firing >= {
		"queue-backlog",
		"oldest-job-age",
		"worker-dead",
		"disk-headroom-low",
		"disk-headroom-critical",
		"restore-drill-stale",
		"restore-drill-failed",
		"migrate-failed",
	}


def test_a_broken_rules_file_is_refused(tmp_path):
	raw = json.loads(RULES_FILE.read_text())["rules"]
	path = tmp_path / "rules.json"
	path.write_text(json.dumps({"format": 1, "rules": [raw[0], dict(raw[1], signal="queues.*.bogus")]}))
	with pytest.raises(InvalidRule, match=raw[1]["name"]):
		load_rules(path)
	path.write_text(json.dumps({"format": 1, "rules": [raw[0], raw[0]]}))
	with pytest.raises(InvalidRule, match="twice"):
		load_rules(path)


def test_report_lists_rules_without_runbooks_and_uncovered_failures():
	rules = [
		AlertRule(name="ok", signal="workers.dead", threshold=0, runbook="RB-WORKER-DOWN"),
		AlertRule(name="none", signal="redis.down", threshold=0),
		AlertRule(name="typo", signal="workers.dead", threshold=0, runbook="RB-NOPE"),
		AlertRule(name="off", signal="workers.dead", threshold=0, enabled=False),
	]
	records = [
		EvidenceRecord(
			job_id="s::1", method="app.sync", outcome=Outcome.FAILED, exc_type="KeyError", ended_at=NOW
		),
		EvidenceRecord(job_id="s::2", method="app.sync", outcome=Outcome.TIMED_OUT, ended_at=NOW),
	]
	report = coverage_report(rules, load_runbooks(), records, since=NOW - timedelta(days=1))
	assert [(g.rule, g.problem) for g in report.rules] == [
		("none", "no runbook"),
		("typo", "runbook does not exist"),
	]
	assert [(s.method, s.exc_type) for s in report.signatures] == [("app.sync", "KeyError")]

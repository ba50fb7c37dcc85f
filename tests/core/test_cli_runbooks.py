"""`erp-ops runbooks ...` through `erp_ops.cli.main`, in a fresh interpreter, against a real Redis."""

import json
import os
import subprocess
import sys

from tests.support.rq_helpers import ROOT, WorkerProcess, enqueue, qname
from tests.support.webhook_receiver import Receiver

BENCH = "bench-cli-rb"
M = "tests.support.frappe_like"
HARNESS = "import sys\nfrom erp_ops.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def erp_ops(*args: str) -> subprocess.CompletedProcess:
	env = {**os.environ, "PYTHONPATH": str(ROOT)}
	return subprocess.run(
		[sys.executable, "-c", HARNESS, "runbooks", *args],
		capture_output=True,
		text=True,
		env=env,
		timeout=60,
		cwd=ROOT,
	)


def test_search_prints_the_best_runbook_first():
	result = erp_ops("search", "worker out of memory", "--limit", "3")
	assert result.returncode == 0, result.stderr
	assert result.stdout.splitlines()[0].split()[1] == "RB-WORKER-DOWN"
	as_json = json.loads(erp_ops("search", "bench --site S enable-scheduler", "--json").stdout)
	assert as_json[0]["name"] == "RB-SCHEDULER-INACTIVE"


def test_review_exits_2_when_a_runbook_is_past_due(tmp_path):
	seed = json.loads((ROOT / "erp_ops/core/runbooks/seed/runbooks.json").read_text())
	for i, rb in enumerate(seed["runbooks"]):
		rb["last_reviewed"] = "2026-01-01"
		rb["review_cadence_days"] = 30 if i == 0 else 365
	path = tmp_path / "runbooks.json"
	path.write_text(json.dumps(seed))
	late = erp_ops("review", "--file", str(path), "--today", "2026-03-01")
	assert late.returncode == 2 and late.stdout.split()[0] == seed["runbooks"][0]["name"], late.stdout
	fine = erp_ops("review", "--file", str(path), "--today", "2026-01-20")
	assert fine.returncode == 0 and "within its review cadence" in fine.stdout


def test_alerts_fire_notify_and_resolve_from_cron(redis_conn, redis_url, tmp_path):
	with Receiver() as rx:
		rules = tmp_path / "rules.json"
		rule = {
			"name": "long-backlog",
			"signal": "queue.long.queued",
			"comparison": ">",
			"threshold": 2,
			"severity": "critical",
			"runbook": "RB-QUEUE-BACKLOG",
			"notify": {"webhooks": [f"{rx.url}/ok"]},
		}
		rules.write_text(json.dumps({"format": 1, "rules": [rule]}))
		for i in range(4):
			enqueue(redis_conn, BENCH, "long", f"{M}.work", n=i)
		args = ("alerts", "--redis", redis_url, "--bench-id", BENCH, "--rules", str(rules), "--drain")
		first = erp_ops(*args)
		assert first.returncode == 2, first.stdout + first.stderr
		assert "FIRING  critical long-backlog long value=4.0 runbook=RB-QUEUE-BACKLOG" in first.stdout
		again = erp_ops(*args)
		assert again.returncode == 2 and "fired" not in again.stdout  # folded: nothing new to send
		worker = WorkerProcess(redis_url, [qname(BENCH, "long")], burst=True)
		assert worker.wait(60) == 0
		resolved = erp_ops(*args, "--json")
		assert resolved.returncode == 0, resolved.stdout + resolved.stderr
		report = json.loads(resolved.stdout)
		assert [t["kind"] for t in report["evaluation"]["transitions"]] == ["resolved"]
		assert [r["body"]["event"] for r in rx.received] == ["fired", "resolved"]
		assert rx.received[0]["body"]["runbook"]["title"] == "Queue backlog growing"


def test_bad_usage_exits_64():
	for args, needle in [
		(("alerts", "--bench-id", "b"), "--redis needs a redis:// URL"),
		(("alerts", "--redis", "redis://127.0.0.1:1/0"), "--bench-id is required"),
		(("alerts", "--redis", "redis://127.0.0.1:1/0", "--bench-id", "b", "--fact", "x"), "NAME=NUMBER"),
		(
			("alerts", "--redis", "redis://127.0.0.1:1/0", "--bench-id", "b", "--rules", "/nonexistent"),
			"cannot read",
		),
		(("search", "x", "--limit", "0"), "--limit"),
		(("review", "--today", "someday"), "not a date"),
	]:
		result = erp_ops(*args)
		assert result.returncode == 64, (args, result.stdout, result.stderr)
		assert needle in result.stderr, (args, result.stderr)

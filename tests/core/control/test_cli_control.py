"""`erp-ops jobs …` in a fresh interpreter against a real Redis: output, effects and exit codes."""

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from tests.support.control_probe import places
from tests.support.control_seed import seed_failed
from tests.support.rq_helpers import ROOT, qname

BENCH = "bench-cli-ctl"
DEFAULT = qname(BENCH, "default")
RUN = "import sys; from erp_ops.cli import main; sys.exit(main(sys.argv[1:]))"


def jobs_cli(redis_url: str, *args: str, by: str | None = None) -> subprocess.CompletedProcess:
	env = {**os.environ, "PYTHONPATH": str(ROOT), "ERP_OPS_REDIS": redis_url, "ERP_OPS_BENCH_ID": BENCH}
	extra = ["--by", by] if by else []
	return subprocess.run(
		[sys.executable, "-c", RUN, "jobs", *args, *extra],
		capture_output=True,
		text=True,
		env=env,
		timeout=60,
	)


def test_single_actions_and_their_exit_codes(redis_conn, redis_url):
	a, b = seed_failed(redis_conn, BENCH, 2, kwargs={"api_key": "s3cret"})
	done = jobs_cli(redis_url, "requeue", a, "--reason", "fixed", "--json")
	assert done.returncode == 0, done.stderr
	assert json.loads(done.stdout)["state_after"] == "queued" and places(redis_conn, BENCH, DEFAULT, a) == [
		"queued"
	]
	again = jobs_cli(redis_url, "requeue", a, "--reason", "fixed")
	assert again.returncode == 2 and "409" in again.stderr and "queued" in again.stderr
	assert jobs_cli(redis_url, "requeue", a).returncode == 64  # no reason
	assert jobs_cli(redis_url, "state", a, "--json").stdout.count('"queued"') == 1

	shown = json.loads(jobs_cli(redis_url, "quarantine", b, "--reason", "poison", "--json").stdout)
	assert shown["payload"]["kwargs"]["kwargs"]["api_key"] == "********"
	assert jobs_cli(redis_url, "release", b, "--reason", "fixed upstream").returncode == 0
	assert places(redis_conn, BENCH, DEFAULT, b) == ["queued"]

	env = {**os.environ, "PYTHONPATH": str(ROOT)}
	env.pop("ERP_OPS_REDIS", None)
	bad = subprocess.run(
		[sys.executable, "-c", RUN, "jobs", "state", a], capture_output=True, text=True, env=env
	)
	assert bad.returncode == 64 and "--redis" in bad.stderr


def test_bulk_is_a_dry_run_until_executed_with_its_token_and_four_eyes(redis_conn, redis_url):
	ids = seed_failed(redis_conn, BENCH, 3)
	p = jobs_cli(redis_url, "bulk", "requeue", "--reason", "r", "--approval-above", "2", "--json", by="ops1")
	assert p.returncode == 0, p.stderr
	preview = json.loads(p.stdout)
	assert (preview["count"], preview["state"]) == (3, "pending approval")
	assert all(places(redis_conn, BENCH, DEFAULT, i) == ["failed"] for i in ids)
	token = preview["token"]
	assert jobs_cli(redis_url, "bulk", "--execute", token).returncode == 2  # not approved yet
	assert jobs_cli(redis_url, "bulk", "--approve", token, by="ops1").returncode == 2  # not by the requester
	assert jobs_cli(redis_url, "bulk", "--approve", token, by="ops2").returncode == 0
	done = jobs_cli(redis_url, "bulk", "--execute", token, "--json")
	assert json.loads(done.stdout)["moved"] == 3 and json.loads(done.stdout)["approved_by"] == "ops2"
	assert all(places(redis_conn, BENCH, DEFAULT, i) == ["queued"] for i in ids)


def test_purge_is_a_dry_run_unless_told_to_execute(redis_conn, redis_url):
	old = seed_failed(redis_conn, BENCH, 2, ended_at=datetime.now(timezone.utc) - timedelta(days=40))
	dry = jobs_cli(redis_url, "purge", "--older-than-days", "30")
	assert dry.returncode == 0 and "matched: 2" in dry.stdout and "dry run" in dry.stdout
	assert all(redis_conn.exists(f"rq:job:{i}") for i in old)
	real = jobs_cli(redis_url, "purge", "--older-than-days", "30", "--execute", "--json")
	assert json.loads(real.stdout)["deleted"] == 2 and not any(redis_conn.exists(f"rq:job:{i}") for i in old)

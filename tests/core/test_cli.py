"""The standalone `erp-ops` command against a real Redis and real workers: output and exit codes."""

import json
import os
import subprocess
import sys

from tests.support.rq_helpers import ROOT, WorkerProcess, enqueue, qname, wait_for

BENCH = "bench-cli"
M = "tests.support.frappe_like"


def erp_ops(*args: str) -> subprocess.CompletedProcess:
	env = {**os.environ, "PYTHONPATH": str(ROOT)}
	return subprocess.run(
		[sys.executable, "-m", "erp_ops.cli", *args], capture_output=True, text=True, env=env, timeout=60
	)


def test_healthy_bench_exits_0(redis_conn, redis_url):
	worker = WorkerProcess(redis_url, [qname(BENCH, q) for q in ("short", "default", "long")])
	try:
		wait_for(lambda: redis_conn.smembers("rq:workers"), what="the worker to register")
		result = erp_ops("status", "--redis", redis_url, "--bench-id", BENCH, "--bench-path", str(ROOT))
		assert result.returncode == 0, result.stdout + result.stderr
		assert "queue" in result.stdout and worker.name in result.stdout and "alive" in result.stdout
		assert "disk bench" in result.stdout
	finally:
		worker.stop()


def test_dead_worker_exits_2_and_json_says_why(redis_conn, redis_url, tmp_path):
	marker = tmp_path / "started"
	worker = WorkerProcess(redis_url, [qname(BENCH, "default")])
	enqueue(redis_conn, BENCH, "default", f"{M}.hang", seconds=60, marker=str(marker))
	wait_for(marker.exists, what="the job to start")
	worker.kill()
	result = erp_ops("status", "--redis", redis_url, "--bench-id", BENCH, "--json")
	assert result.returncode == 2, result.stderr
	snap = json.loads(result.stdout)
	assert any(f["code"] == "worker_dead" and f["severity"] == "critical" for f in snap["findings"])
	assert snap["started_jobs"][0]["abandoned"] is True


def test_old_queued_job_is_critical_past_the_threshold(redis_conn):
	enqueue(redis_conn, BENCH, "short", f"{M}.work")
	result = erp_ops("status", "--redis", _url(redis_conn), "--bench-id", BENCH, "--oldest-job-critical", "0")
	assert result.returncode == 2
	assert "oldest job on short" in result.stdout and "no live worker" in result.stdout


def test_site_figures_beside_the_bench_and_unreadable_keys_named(redis_conn):
	for site, n in (("a.local", 2), ("b.local", 3)):
		for _ in range(n):
			enqueue(redis_conn, BENCH, "short", f"{M}.work", site=site)
	redis_conn.set("rq:workers", "not a set")
	result = erp_ops("status", "--redis", _url(redis_conn), "--bench-id", BENCH, "--site", "b.local")
	assert "REDIS UNREACHABLE" not in result.stdout
	rows = {
		line.split()[0]: line
		for line in result.stdout.splitlines()
		if line.startswith(("a.local", "b.local"))
	}
	assert rows["a.local"].split()[1] == "2" and rows["b.local"].split()[1:4] == ["(this", "site)", "3"]
	assert "rq:workers (string) is unreadable: expected a set" in result.stdout
	snap = json.loads(
		erp_ops(
			"status", "--redis", _url(redis_conn), "--bench-id", BENCH, "--site", "b.local", "--json"
		).stdout
	)
	assert snap["site_figures"]["queued"] == 3 and sum(q["queued"] for q in snap["queues"]) == 5


def _url(conn) -> str:
	kw = conn.connection_pool.connection_kwargs
	return f"redis://{kw['host']}:{kw['port']}/{kw['db']}"


def test_bad_input_exits_64_with_a_line():
	for args, needle in [
		(["status", "--bench-id", "b", "--redis", "http://x"], "argument --redis: needs a redis:// URL"),
		(["status", "--redis", "redis://127.0.0.1:1/0"], "--bench-id is required"),
		(
			[
				"status",
				"--redis",
				"redis://127.0.0.1:1/0",
				"--bench-id",
				"b",
				"--bench-path",
				"/nonexistent/x",
			],
			"is not a folder",
		),
		(["frobnicate"], "invalid choice"),
	]:
		env = {
			k: v
			for k, v in os.environ.items()
			if not k.startswith("ERP_OPS_") or k.startswith("ERP_OPS_TEST")
		}
		result = subprocess.run(
			[sys.executable, "-m", "erp_ops.cli", *args],
			capture_output=True,
			text=True,
			env={**env, "PYTHONPATH": str(ROOT)},
			timeout=30,
		)
		assert result.returncode == 64, (args, result.stderr)
		assert needle in result.stderr


def test_unreachable_redis_is_critical_not_a_crash():
	result = erp_ops("status", "--redis", "redis://127.0.0.1:1/0", "--bench-id", "b")
	assert result.returncode == 2, result.stderr
	assert "REDIS UNREACHABLE" in result.stdout


def test_an_error_is_one_line_and_debug_shows_its_traceback(redis_conn, redis_url):
	redis_conn.set("rq:job:site1.local::broken", "not a hash")  # a job key of the wrong type
	redis_conn.hset("rq:job:site1.local::broken2", "origin", f"{BENCH}:default")
	redis_conn.set(f"rq:queue:{BENCH}:default", "not a list")
	for args in (
		("runbooks", "alerts", "--redis", "redis://127.0.0.1:1/0", "--bench-id", BENCH),
		("jobs", "state", "site1.local::broken2", "--redis", redis_url, "--bench-id", BENCH),
	):
		result = erp_ops(*args)
		assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
		assert len(result.stderr.strip().splitlines()) == 1, result.stderr
		debug = erp_ops(*args, "--debug")
		assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr, debug.stderr

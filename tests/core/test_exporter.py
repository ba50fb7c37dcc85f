"""`erp-ops exporter` as a process: /metrics over a seeded bench, clean for promtool, equal to what
RQ and the seed say, Redis left byte-identical; /health; bad usage."""

import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue

from tests.support.metrics_seed import SITE, seed_bench
from tests.support.redis_probe import dump_db
from tests.support.rq_helpers import qname

ROOT = Path(__file__).resolve().parents[2]
BENCH = "bench-exp"


def free_port() -> int:
	with socket.socket() as s:
		s.bind(("127.0.0.1", 0))
		return s.getsockname()[1]


def cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
	return subprocess.run(
		[sys.executable, "-m", "erp_ops.cli", *args],
		cwd=ROOT,
		capture_output=True,
		text=True,
		timeout=timeout,
	)


@contextmanager
def exporter(*args: str):
	"""The exporter in its own process on a free port; yields its base URL; always stopped."""
	port = free_port()
	proc = subprocess.Popen(
		[sys.executable, "-m", "erp_ops.cli", "exporter", "--listen", f"127.0.0.1:{port}", *args],
		cwd=ROOT,
		stdout=subprocess.PIPE,
		stderr=subprocess.PIPE,
	)
	base = f"http://127.0.0.1:{port}"
	try:
		deadline = time.monotonic() + 30
		while True:
			try:
				urllib.request.urlopen(base + "/", timeout=2).read()
				break
			except OSError:
				if proc.poll() is not None or time.monotonic() > deadline:
					raise AssertionError(f"exporter did not start: {proc.communicate()[1]!r}") from None
				time.sleep(0.1)
		yield base
	finally:
		proc.terminate()
		try:
			assert proc.wait(10) == 0, "SIGTERM should stop the exporter with exit 0"
		finally:
			if proc.poll() is None:
				proc.kill()


def get(url: str) -> tuple[int, str]:
	try:
		with urllib.request.urlopen(url, timeout=30) as r:
			return r.status, r.read().decode()
	except urllib.error.HTTPError as e:
		return e.code, e.read().decode()


def series(text: str) -> dict[tuple, float]:
	return {
		(s.name, tuple(sorted(s.labels.items()))): s.value
		for f in text_string_to_metric_families(text)
		for s in f.samples
	}


def one(parsed: dict, name: str, **labels) -> float:
	return parsed[(name, tuple(sorted({"bench": BENCH, **labels}.items())))]


@pytest.fixture
def seeded(redis_conn, redis_url, tmp_path):
	bench = seed_bench(redis_conn, redis_url, BENCH, tmp_path / "bench", tmp_path)
	try:
		yield bench
	finally:
		bench.stop()


def test_metrics_of_a_seeded_bench(seeded, redis_conn, redis_url):
	with exporter("--redis", redis_url, "--bench-id", BENCH, "--bench-path", str(seeded.bench_path)) as base:
		status, text = get(base + "/metrics")
		assert status == 200
		assert get(base + "/health") == (200, "ok\n")
		assert get(base + "/nope")[0] == 404
		# Read-only: with the workers stopped (a live one heartbeats), scrapes change no byte.
		seeded.stop()
		before = dump_db(redis_conn)
		assert before and get(base + "/metrics")[0] == 200
		time.sleep(5.5)  # past the exporter's 5 s cache: the next scrape reads Redis again
		assert get(base + "/metrics")[0] == 200
		assert dump_db(redis_conn) == before, "the exporter changed Redis"

	check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
	assert check.returncode == 0 and not check.stdout and not check.stderr, check.stdout + check.stderr

	p = series(text)
	# independently: RQ's own count (LLEN) and the seed's numbers
	assert one(p, "erp_ops_queue_jobs", queue="default", state="queued") == len(
		Queue(qname(BENCH, "default"), connection=redis_conn)
	)
	assert one(p, "erp_ops_queue_jobs", queue="default", state="queued") == 501
	assert one(p, "erp_ops_queue_oldest_job_age_seconds", queue="default") >= 1900
	assert one(p, "erp_ops_queue_workers", queue="default") == 0
	assert one(p, "erp_ops_queue_jobs", queue="short", state="failed") == 6
	assert one(p, "erp_ops_queue_jobs", queue="short", state="finished") == 2
	assert one(p, "erp_ops_queue_jobs", queue="reports", state="abandoned") == 1
	assert one(p, "erp_ops_queue_jobs", queue="reports", state="started") == 0
	assert one(p, "erp_ops_queue_jobs_past_timeout", queue="long") == 1
	assert one(p, "erp_ops_workers", state="dead") == 1
	assert one(p, "erp_ops_workers", state="busy") == 1
	assert (
		one(
			p,
			"erp_ops_job_failures",
			method="tests.support.frappe_like.fail",
			exception="ValueError",  # what the seed's `fail` raises
			window="5m",
		)
		== 6
	)
	assert one(p, "erp_ops_job_runs", method="tests.support.frappe_like.work", window="1h") == 2
	assert one(p, "erp_ops_evidence_backlog") == 8
	assert one(p, "erp_ops_scheduler_status", site=SITE, status="inactive") == 1  # maintenance_mode
	assert one(p, "erp_ops_scheduler_status", site="two.localhost", status="running") == 1
	assert one(p, "erp_ops_alerts_firing", rule="job-abandoned", severity="warning") == 1
	assert one(p, "erp_ops_tick_duration_seconds", site=SITE, task="evaluate_alerts") == 0.25
	assert 0 <= one(p, "erp_ops_backup_last_age_seconds", site=SITE) < 600
	disk = shutil.disk_usage(seeded.bench_path)
	assert one(p, "erp_ops_disk_size_bytes", disk="bench") == disk.total


def test_health_is_503_and_metrics_say_redis_down_when_redis_does_not_answer():
	dead = f"redis://127.0.0.1:{free_port()}/0"
	with exporter("--redis", dead, "--bench-id", BENCH) as base:
		status, body = get(base + "/health")
		assert status == 503 and "redis unreachable" in body
		status, text = get(base + "/metrics")
		assert status == 200
		assert series(text)[("erp_ops_redis_up", (("bench", BENCH),))] == 0


@pytest.mark.parametrize(
	("args", "message"),
	[
		(["--redis", "http://x", "--bench-id", "b"], "--redis needs a redis:// URL"),
		(["--redis", "redis://127.0.0.1:1/0"], "--bench-id is required"),
		(
			["--redis", "redis://127.0.0.1:1/0", "--bench-id", "b", "--listen", "nope"],
			"--listen must be HOST:PORT",
		),
		(
			["--redis", "redis://127.0.0.1:1/0", "--bench-id", "b", "--bench-path", "/nonexistent"],
			"not a bench folder",
		),
	],
)
def test_bad_usage_is_exit_64_with_one_line(args, message):
	result = cli("exporter", *args)
	assert result.returncode == 64, result
	assert message in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_an_address_in_use_is_exit_2():
	with socket.socket() as taken:
		taken.bind(("127.0.0.1", 0))
		taken.listen()
		port = taken.getsockname()[1]
		result = cli(
			"exporter", "--redis", "redis://127.0.0.1:1/0", "--bench-id", "b", "--listen", f"127.0.0.1:{port}"
		)
	assert result.returncode == 2, result
	assert "cannot listen on" in result.stderr and "Traceback" not in result.stderr


def test_ticks_are_recorded_and_read_back(redis_conn):
	from erp_ops.core.signals import ticks

	ticks.record(redis_conn, BENCH, SITE, "flush_job_evidence", 0.5, ended_at=1_700_000_000)
	with pytest.raises(RuntimeError), ticks.timed(redis_conn, BENCH, SITE, "evaluate_alerts"):
		time.sleep(0.05)
		raise RuntimeError("a failing tick is still timed")
	redis_conn.hset(ticks.TICKS.format(bench=BENCH), "garbage", "not json")
	got = {t.task: t for t in ticks.read(redis_conn, BENCH)}
	assert set(got) == {"flush_job_evidence", "evaluate_alerts"}
	assert (
		got["flush_job_evidence"].duration_s == 0.5
		and got["flush_job_evidence"].ended_at.timestamp() == 1_700_000_000
	)
	assert 0.05 <= got["evaluate_alerts"].duration_s < 5
	assert redis_conn.ttl(ticks.TICKS.format(bench=BENCH)) > 0


def test_the_reader_serves_one_read_per_cache_window(redis_conn):
	from erp_ops.core.signals.exporter import BenchReader

	now = [1000.0]
	reader = BenchReader(redis_conn, BENCH, cache_seconds=5, clock=lambda: now[0])
	first, _ = reader.reading()
	now[0] += 4.9
	second, _ = reader.reading()
	assert second.cached and second.taken_at == first.taken_at
	now[0] += 0.2
	third, _ = reader.reading()
	assert not third.cached and third.taken_at > first.taken_at

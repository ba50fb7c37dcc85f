"""Scrape time of `erp-ops exporter` beside rq-exporter, at 100,000 queued + 100,000 failed jobs,
and whether each left Redis byte-identical.

    python -m venv /tmp/rqx && /tmp/rqx/bin/pip install rq-exporter   # pins rq>=2,<3 and redis<6:
                                                                       # its own venv, not the bench's
    ERP_OPS_TEST_REDIS=redis://127.0.0.1:6379/5 python benchmarks/exporter.py --rq-exporter /tmp/rqx/bin/rq-exporter

Seeds the Redis database like benchmarks/snapshot.py (five Frappe-named queues, 20 workers), plus
the leftovers of a worker the OOM killer took whose key has since expired (still listed in
`rq:workers` and in its started registry, hand-crafted as RQ leaves them), then starts both exporters as processes on loopback against that database (ours without its in-memory
cache, so every scrape reads Redis), and in one run:
1. identity: every key's DUMP before starting each exporter and after two scrapes of it, one
   exporter after the other. Redis 7 rehashes a
   hash incrementally on lookups, so a freshly written job hash DUMPs differently after a pure read;
   the database is first settled (lookups until a further round changes no DUMP), so a difference
   left afterwards is a write;
2. time: GET /metrics alternately on each, `--runs` times; medians.
The database is flushed before and after. Last line:
erp_ops_scrape_ms=… rq_exporter_scrape_ms=… ratio=… erp_ops_redis_identical=… rq_exporter_redis_identical=…
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

from _common import ROOT, redis_url
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from snapshot import BENCH, seed

from erp_ops.core.rq_keys import RQ_MAJOR

BATCH = 5_000


def free_port() -> int:
	with socket.socket() as s:
		s.bind(("127.0.0.1", 0))
		return s.getsockname()[1]


def scrape(url: str) -> tuple[float, str]:
	t = time.perf_counter()
	with urllib.request.urlopen(url, timeout=300) as r:
		body = r.read().decode()
	return (time.perf_counter() - t) * 1000, body


def wait_up(url: str, proc: subprocess.Popen, what: str) -> None:
	deadline = time.monotonic() + 60
	while time.monotonic() < deadline:
		if proc.poll() is not None:
			sys.exit(f"{what} exited: {proc.communicate()[1]!r}")
		try:
			urllib.request.urlopen(url, timeout=60).read()
			return
		except OSError:
			time.sleep(0.2)
	sys.exit(f"{what} did not answer on {url}")


def keys(conn: Redis) -> list[bytes]:
	return sorted(conn.scan_iter(count=10_000))


def dump_all(conn: Redis) -> dict[bytes, tuple]:
	"""Every key's DUMP (type, encoding, content) and whether it expires."""
	out = {}
	names = keys(conn)
	for start in range(0, len(names), BATCH):
		chunk = names[start : start + BATCH]
		pipe = conn.pipeline(transaction=False)
		for key in chunk:
			pipe.dump(key)
			pipe.pttl(key)
		replies = pipe.execute()
		for i, key in enumerate(chunk):
			out[key] = (replies[2 * i], replies[2 * i + 1] >= 0)
	return out


def settle(conn: Redis) -> int:
	"""Lookups on every hash until one more round changes no DUMP; returns the rounds it took."""
	hashes = [k for k in keys(conn) if conn.type(k) == b"hash"]
	for rounds in range(1, 200):
		before = dump_all(conn)
		for start in range(0, len(hashes), BATCH):
			pipe = conn.pipeline(transaction=False)
			for key in hashes[start : start + BATCH]:
				for _ in range(8):
					pipe.hexists(key, "erp_ops-settle")
			pipe.execute()
		if dump_all(conn) == before:
			return rounds
	sys.exit("Redis did not settle: something else writes to this database")


def leave_a_dead_worker(conn: Redis) -> None:
	"""What a SIGKILLed worker leaves once its key's TTL ran out: its name in the worker sets and
	its job in the started registry with an expiry in the past."""
	queue = f"{BENCH}:default"
	ghost = "rq:worker:bm-oom-killed"
	member = "site1.local||oom-victim" if RQ_MAJOR < 2 else "site1.local||oom-victim:0123abcd"
	pipe = conn.pipeline(transaction=False)
	pipe.sadd("rq:workers", ghost)
	pipe.sadd(f"rq:workers:{queue}", ghost)
	pipe.zadd(f"rq:wip:{queue}", {member: time.time() - 600})
	pipe.execute()


def differences(before: dict, after: dict) -> list[bytes]:
	return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def total(text: str, family: str, label: str, value: str) -> float:
	return sum(
		s.value
		for f in text_string_to_metric_families(text)
		if f.name == family
		for s in f.samples
		if s.labels.get(label) == value
	)


def main() -> None:
	parser = argparse.ArgumentParser()
	parser.add_argument("--jobs", type=int, default=100_000, help="queued jobs, and as many failed ones")
	parser.add_argument("--runs", type=int, default=15)
	parser.add_argument(
		"--rq-exporter",
		default=os.environ.get("RQ_EXPORTER") or shutil.which("rq-exporter"),
		help="the rq-exporter executable from PyPI (its own venv: it pins rq>=2,<3, redis<6)",
	)
	args = parser.parse_args()
	if not args.rq_exporter or not os.access(args.rq_exporter, os.X_OK):
		sys.exit("rq-exporter not found: pip install rq-exporter into a venv and pass --rq-exporter PATH")
	url = redis_url()
	conn = Redis.from_url(url)
	conn.flushdb()
	procs = []
	try:
		t0 = time.perf_counter()
		seed(conn, args.jobs)
		leave_a_dead_worker(conn)
		print(f"seeded {args.jobs} queued + {args.jobs} failed jobs in {time.perf_counter() - t0:.1f} s")
		rounds = settle(conn)
		print(f"settled Redis's incremental rehashing in {rounds} round(s) of lookups")
		ours_port, theirs_port = free_port(), free_port()
		ours_cmd = [sys.executable, "-m", "erp_ops.cli", "exporter", "--redis", url, "--bench-id", BENCH]
		ours_cmd += ["--listen", f"127.0.0.1:{ours_port}", "--cache-seconds", "0"]
		theirs_cmd = [args.rq_exporter, "--redis-url", url, "--host", "127.0.0.1", "--port", str(theirs_port)]
		ours, theirs = f"http://127.0.0.1:{ours_port}/metrics", f"http://127.0.0.1:{theirs_port}/metrics"
		identical = {}
		# Each exporter is started between the two dumps: rq-exporter collects once when it starts.
		for name, cmd, target in (("erp_ops", ours_cmd, ours), ("rq_exporter", theirs_cmd, theirs)):
			before = dump_all(conn)
			procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
			wait_up(target, procs[-1], name)
			scrape(target)
			changed = differences(before, dump_all(conn))
			identical[name] = not changed
			print(
				f"{name}: {len(changed)} key(s) changed by starting it and two scrapes"
				+ (f": {changed[:3]}" if changed else "")
			)

		timings: dict[str, list[float]] = {"erp_ops": [], "rq_exporter": []}
		texts = {}
		for _ in range(args.runs):
			for name, target in (("erp_ops", ours), ("rq_exporter", theirs)):
				ms, texts[name] = scrape(target)
				timings[name].append(ms)
		ours_queued = total(texts["erp_ops"], "erp_ops_queue_jobs", "state", "queued")
		ours_failed = total(texts["erp_ops"], "erp_ops_queue_jobs", "state", "failed")
		theirs_queued = total(texts["rq_exporter"], "rq_jobs", "status", "queued")
		theirs_failed = total(texts["rq_exporter"], "rq_jobs", "status", "failed")
		print(
			f"queued/failed seen: erp_ops {ours_queued:.0f}/{ours_failed:.0f}, rq-exporter {theirs_queued:.0f}/{theirs_failed:.0f}"
		)
		assert ours_queued == args.jobs and ours_failed == args.jobs, "erp_ops miscounted"
		for name, values in timings.items():
			print(
				f"{name} scrape (ms): min {min(values):.1f} median {statistics.median(values):.1f} max {max(values):.1f}"
			)
		a, b = statistics.median(timings["erp_ops"]), statistics.median(timings["rq_exporter"])
		flags = {k: str(v).lower() for k, v in identical.items()}
		print(
			f"erp_ops_scrape_ms={a:.1f} rq_exporter_scrape_ms={b:.1f} ratio={b / a:.1f} "
			f"erp_ops_redis_identical={flags['erp_ops']} rq_exporter_redis_identical={flags['rq_exporter']}"
		)
	finally:
		for proc in procs:
			proc.terminate()
			try:
				proc.wait(10)
			except subprocess.TimeoutExpired:
				proc.kill()
		conn.flushdb()


if __name__ == "__main__":
	main()

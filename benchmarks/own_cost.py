"""erp_ops's own cost per site and minute, in a real bench: one `tick` job against the six jobs
the app scheduled every minute before (the fair baseline: the same steps as separate jobs).

    cd /path/to/frappe-bench/sites && ../env/bin/python /path/to/erp_ops/benchmarks/own_cost.py --site SITE [--rounds 10]

Run it with the bench's processes up (its worker executes the jobs; on an idle site nothing else
runs). Each round enqueues `erp_ops.tasks.tick` as one job, waits for it, then enqueues the six
per-minute steps (flush evidence, due retries, cancels, quarantine records, alerts, drills) as six
jobs, as hooks.py scheduled them before, and waits for them. Worker time is what RQ records for
each job (ended_at - started_at: Frappe's init and connect, the step, commit, teardown); the horse's
fork is the same for every job and not in it. Each tick round clears the minute's bench claim so
that the tick does the bench-wide sweep too (the worst case: the site that wins the minute).
Each round also runs one `frappe.ping` job: the floor, what any Frappe job costs this bench's
worker (init, connect, commit, teardown) whatever it does; and reads the tick's own duration as it
recorded it (`erp_ops_tick_duration_seconds{task="tick"}`), the part erp_ops's code spends.
Last line: tick_jobs=1 tick_worker_s=… tick_own_s=… frappe_job_floor_s=… baseline_jobs=6 baseline_worker_s=… ratio=…
"""

import argparse
import statistics
import sys
import time

import frappe

BASELINE = (
	"erp_ops.tasks.flush_job_evidence",
	"erp_ops.tasks.run_due_retries",
	"erp_ops.tasks.finish_stopped_cancels",
	"erp_ops.tasks.sync_quarantine_records",
	"erp_ops.tasks.evaluate_alerts",
	"erp_ops.tasks.maybe_start_restore_drill",
)


def run_jobs(methods: tuple[str, ...], timeout_s: float = 120) -> float:
	"""Enqueue the methods as jobs on `default`, wait for all; the sum of their worker seconds."""
	jobs = [frappe.enqueue(method, queue="default", enqueue_after_commit=False) for method in methods]
	frappe.db.commit()
	deadline = time.monotonic() + timeout_s
	while True:
		for job in jobs:
			job.refresh()
		statuses = {job.get_status() for job in jobs}
		if statuses <= {"finished", "failed"}:
			break
		if time.monotonic() > deadline:
			sys.exit(f"jobs did not finish in {timeout_s} s (is a worker serving 'default'?): {statuses}")
		time.sleep(0.05)
	failed = [job.id for job in jobs if job.get_status() == "failed"]
	if failed:
		sys.exit(f"jobs failed: {failed} (see the bench's worker log)")
	return sum((job.ended_at - job.started_at).total_seconds() for job in jobs)


def main() -> None:
	parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
	parser.add_argument("--site", required=True)
	parser.add_argument("--rounds", type=int, default=10, choices=range(1, 101), metavar="1..100")
	args = parser.parse_args()
	frappe.init(site=args.site)
	frappe.connect()
	from frappe.utils.background_jobs import get_redis_conn

	from erp_ops.core.signals import ticks
	from erp_ops.tasks import BENCH_MINUTE_KEY

	conn = get_redis_conn()
	bench_id = frappe.utils.get_bench_id()
	tick, own, floor, baseline = [], [], [], []
	site = frappe.local.site
	try:
		for _ in range(args.rounds):
			minute = frappe.utils.now_datetime().strftime("%Y%m%d%H%M")
			conn.delete(BENCH_MINUTE_KEY.format(bench=bench_id, minute=minute))
			tick.append(run_jobs(("erp_ops.tasks.tick",)))
			own.append(
				next(t.duration_s for t in ticks.read(conn, bench_id) if (t.site, t.task) == (site, "tick"))
			)
			floor.append(run_jobs(("frappe.ping",)))
			baseline.append(run_jobs(BASELINE))
	finally:
		frappe.destroy()
	t, b = statistics.median(tick), statistics.median(baseline)
	o, f = statistics.median(own), statistics.median(floor)
	for name, values in (
		("tick_worker_s", tick),
		("tick_own_s", own),
		("frappe_job_floor_s", floor),
		("baseline_worker_s", baseline),
	):
		print(f"{name} per round: {[round(x, 3) for x in values]}")
	print(
		f"tick_jobs=1 tick_worker_s={t:.3f} tick_own_s={o:.3f} frappe_job_floor_s={f:.3f} "
		f"baseline_jobs={len(BASELINE)} baseline_worker_s={b:.3f} ratio={b / t if t else float('inf'):.1f}"
	)


if __name__ == "__main__":
	main()

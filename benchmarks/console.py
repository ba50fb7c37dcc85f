"""The Ops Console endpoint's server time at 100,000 queued jobs (and 100,000 failed), on a real site.

    cd BENCH/sites && ERP_OPS_TEST_REDIS=redis://127.0.0.1:6379/10 \\
        ../env/bin/python PATH/TO/erp_ops/benchmarks/console.py --site erp.localhost [--jobs 100000]

Runs inside a bench (the site's database answers the console's queries) but points this process's
Frappe at the Redis database of ERP_OPS_TEST_REDIS (`frappe.conf.redis_queue`, this process only;
the bench's own queue Redis is not touched) and seeds it as benchmarks/snapshot.py does, with the
bench's id in the queue names. That database is flushed before and after.

Times `erp_ops.api.console.state()` as the page calls it, logged in as Administrator:
- served: the snapshot from its cache (Ops Settings' few seconds; what nearly every poll gets),
- cold: the snapshot read from Redis now (cache off; what the first poll after expiry pays),
median of several runs each, beside the snapshot alone. Last line: console_served_ms=… console_cold_ms=… …
"""

import argparse
import os
import statistics
import time

import frappe
from _common import redis_url  # puts this checkout first on sys.path
from snapshot import seed


def timed(fn, runs: int) -> list[float]:
	out = []
	for _ in range(runs):
		t = time.perf_counter()
		fn()
		out.append((time.perf_counter() - t) * 1000)
	return out


def main() -> None:
	parser = argparse.ArgumentParser()
	parser.add_argument("--site", default="erp.localhost")
	parser.add_argument("--jobs", type=int, default=100_000, help="queued jobs, and as many failed ones")
	parser.add_argument("--runs", type=int, default=15)
	args = parser.parse_args()
	url = redis_url()
	frappe.init(site=args.site, sites_path=os.getcwd())
	frappe.connect()
	frappe.conf.redis_queue = url  # this process only: the console reads the seeded Redis
	from frappe.utils import get_bench_id
	from frappe.utils.background_jobs import get_redis_conn

	from erp_ops.api import console
	from erp_ops.site import console as console_view
	from erp_ops.site.signals import site_snapshot

	conn = get_redis_conn()
	assert conn.connection_pool.connection_kwargs.get("db") == int(url.rsplit("/", 1)[1]), (
		"not the seeded Redis"
	)
	conn.flushdb()
	try:
		t0 = time.perf_counter()
		seed(conn, args.jobs, get_bench_id())
		print(f"seeded {args.jobs} queued + {args.jobs} failed jobs in {time.perf_counter() - t0:.1f} s")
		frappe.set_user("Administrator")
		out = console.state()  # warm-up: imports, connections, the cache filled
		queued = sum(q["queued"] for q in out["queues"])
		assert queued == args.jobs, f"console shows {queued} queued jobs, {args.jobs} seeded"
		served = timed(console.state, args.runs)
		assert console.state()["queues"], "empty console"
		cold = timed(lambda: console_view.build(site_snapshot(cache_seconds=0)), args.runs)
		snap = timed(lambda: site_snapshot(cache_seconds=0), args.runs)
		for label, values in (("served", served), ("cold", cold), ("snapshot cold", snap)):
			print(
				f"{label} (ms): min {min(values):.1f} median {statistics.median(values):.1f} max {max(values):.1f}"
			)
		print(
			f"jobs={args.jobs} console_served_ms={statistics.median(served):.1f} "
			f"console_cold_ms={statistics.median(cold):.1f} snapshot_cold_ms={statistics.median(snap):.1f} "
			f"budget_ms=300"
		)
	finally:
		conn.flushdb()
		frappe.destroy()


if __name__ == "__main__":
	main()

"""Requeue 10,000 failed jobs through the bulk protocol; count the time and the Redis round trips.

    ERP_OPS_TEST_REDIS=redis://127.0.0.1:6379/3 python benchmarks/bulk_actions.py [--jobs 10000] [--batch 500]

Seeds failed jobs with pipelines under a throwaway bench id, previews, executes, checks that every
job moved exactly once, deletes what it created, and ends with one line of name=value pairs.
The goal: requeue_s under 2 and round_trips growing with the number of batches, not of jobs.
"""

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
	parser = argparse.ArgumentParser()
	parser.add_argument("--jobs", type=int, default=10_000)
	parser.add_argument("--batch", type=int, default=500)
	args = parser.parse_args()
	url = os.environ.get("ERP_OPS_TEST_REDIS")
	if not url:
		print(
			"ERP_OPS_TEST_REDIS is not set: point it at a test Redis, e.g. redis://127.0.0.1:6379/3",
			file=sys.stderr,
		)
		return 64

	from redis import Redis

	from erp_ops.core.control import bulk, keys
	from erp_ops.core.control.models import Action, BulkFilter
	from tests.support.control_seed import seed_failed
	from tests.support.round_trips import counting_client

	bench = f"bench-bulk-{uuid.uuid4().hex[:8]}"
	conn = Redis.from_url(url)
	client, counter = counting_client(url)
	queue = f"{bench}:default"
	try:
		t = time.perf_counter()
		ids = seed_failed(conn, bench, args.jobs, chunk=2000)
		seed_s = time.perf_counter() - t

		counter.sends = 0
		t = time.perf_counter()
		preview = bulk.preview(
			client,
			bench,
			Action.REQUEUE,
			BulkFilter(),
			requested_by="bench",
			reason="benchmark",
			approval_above=None,
		)
		preview_s = time.perf_counter() - t
		preview_trips = counter.sends

		counter.sends = 0
		t = time.perf_counter()
		result = bulk.execute(client, bench, preview.token, batch=args.batch)
		requeue_s = time.perf_counter() - t
		trips = counter.sends

		queued = conn.lrange(f"rq:queue:{queue}", 0, -1)
		ok = (
			result.moved == len(ids) == preview.count
			and len(queued) == len(set(queued)) == len(ids)
			and conn.zcard(f"rq:failed:{queue}") == 0
		)
	finally:
		pipe = conn.pipeline(transaction=False)
		for job_id in locals().get("ids", []):
			pipe.delete(f"rq:job:{job_id}", f"rq:results:{job_id}")
		pipe.delete(f"rq:queue:{queue}", f"rq:failed:{queue}")
		pipe.srem("rq:queues", f"rq:queue:{queue}")
		if "preview" in locals():
			pipe.delete(keys.bulk_key(bench, preview.token))
		pipe.execute()
		client.close()
		conn.close()
	print(
		f"jobs={args.jobs} batch={args.batch} batches={result.batches} moved={result.moved} ok={int(ok)} "
		f"seed_s={seed_s:.2f} preview_s={preview_s:.3f} preview_round_trips={preview_trips} "
		f"requeue_s={requeue_s:.3f} round_trips={trips}"
	)
	return 0 if ok else 2


if __name__ == "__main__":
	sys.exit(main())

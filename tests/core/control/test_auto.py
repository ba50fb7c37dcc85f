"""Automatic quarantine of poison jobs and scheduled automatic retries, on real workers and Redis."""

import threading
import time

from redis import Redis

from erp_ops.core.control import autoretry, jobs, poison
from erp_ops.core.control.models import JobState
from erp_ops.core.evidence import stream
from erp_ops.core.evidence.records import EvidenceRecord
from tests.support.control_probe import places
from tests.support.control_seed import seed_failed
from tests.support.rq_helpers import WorkerProcess, enqueue, qname

BENCH = "bench-auto"
DEFAULT = qname(BENCH, "default")
FAIL = "tests.support.frappe_like.fail"


def test_poison_found_in_evidence_quarantines_exactly_its_failed_jobs(redis_conn, redis_url):
	same = [
		enqueue(redis_conn, BENCH, "default", FAIL, message="bad row", name="SINV-1").id for _ in range(3)
	]
	other = enqueue(redis_conn, BENCH, "default", FAIL, message="bad row", name="SINV-2").id
	worker = WorkerProcess(redis_url, [DEFAULT], burst=True)
	assert worker.wait(120) == 0, worker.output()
	records = [
		EvidenceRecord.from_fields({k.decode(): v.decode() for k, v in f.items()})
		for _id, f in redis_conn.xrange(stream.stream_key(BENCH, "site1.local"))
	]
	(verdict,) = poison.find_poison(records)
	assert (verdict.method, verdict.failures, sorted(verdict.job_ids)) == (FAIL, 3, sorted(same))
	done = poison.quarantine_poison(redis_conn, BENCH, [verdict])
	assert sorted(q.result.job_id for q in done) == sorted(same)
	assert all(places(redis_conn, BENCH, DEFAULT, i) == ["quarantined"] for i in same)
	assert places(redis_conn, BENCH, DEFAULT, other) == ["failed"]
	assert poison.quarantine_poison(redis_conn, BENCH, [verdict]) == []  # nothing left to move


def test_due_retries_run_once_each_and_skip_jobs_handled_meanwhile(redis_conn, redis_url):
	a, b, c = seed_failed(redis_conn, BENCH, 3)
	now = time.time()
	assert autoretry.schedule_retry(redis_conn, BENCH, a, 60, now=now)
	assert not autoretry.schedule_retry(redis_conn, BENCH, a, 5, now=now)  # one schedule per job
	autoretry.schedule_retry(redis_conn, BENCH, b, 30, now=now)
	autoretry.schedule_retry(redis_conn, BENCH, c, 30, now=now)
	jobs.requeue(redis_conn, BENCH, c)  # an operator was faster
	assert autoretry.run_due(redis_conn, BENCH, now=now + 10) == []
	assert places(redis_conn, BENCH, DEFAULT, b) == ["failed"]  # waiting, still visible as failed

	results: list = []
	barrier = threading.Barrier(3)

	def scheduler():
		conn = Redis.from_url(redis_url)
		barrier.wait()
		results.extend(autoretry.run_due(conn, BENCH, now=now + 61))
		conn.close()

	threads = [threading.Thread(target=scheduler) for _ in range(3)]
	for t in threads:
		t.start()
	for t in threads:
		t.join(30)
	assert sorted(r.job_id for r in results) == sorted([a, b])
	assert all(jobs.job_state(redis_conn, BENCH, i) is JobState.RETRIED for i in (a, b))
	assert redis_conn.llen(f"rq:queue:{DEFAULT}") == 3  # c requeued, a and b retried once each
	assert redis_conn.zcard(autoretry.due_key(BENCH)) == 0


def test_retries_scheduled_in_the_bench_wide_list_move_to_their_sites_list(redis_conn):
	"""What an earlier version wrote (one list for the bench), written here by hand with ZADD."""
	mine = seed_failed(redis_conn, BENCH, 2, site="site1.local")
	theirs = seed_failed(redis_conn, BENCH, 1, site="site2.local")
	prefixed = "site1.local::deduplicated-job"  # Frappe v15's job ids with job_id=…: the site is the prefix
	gone = "site1.local::hash-expired"
	old = autoretry.due_key(BENCH)
	when = {mine[0]: 1000.0, mine[1]: 2000.0, theirs[0]: 3000.0, prefixed: 4000.0}
	redis_conn.zadd(old, when)
	redis_conn.zadd(old, {gone: 5000.0})  # prefixed: adopted by its site, though its hash is gone
	assert autoretry.adopt_bench_wide(redis_conn, BENCH, "site1.local") == 4
	own = dict(redis_conn.zrange(autoretry.due_key(BENCH, "site1.local"), 0, -1, withscores=True))
	assert {k.decode(): v for k, v in own.items()} == {
		mine[0]: 1000.0,
		mine[1]: 2000.0,
		prefixed: 4000.0,
		gone: 5000.0,
	}
	assert [m.decode() for m in redis_conn.zrange(old, 0, -1)] == [theirs[0]]
	assert autoretry.adopt_bench_wide(redis_conn, BENCH, "site1.local") == 0  # run twice: nothing more
	# The site's tick now retries them when due.
	done = autoretry.run_due(redis_conn, BENCH, now=2500.0, site="site1.local")
	assert sorted(r.job_id for r in done) == sorted(mine)


def test_a_bench_wide_key_of_another_type_is_left_alone(redis_conn):
	"""Hand-written garbage where the old list was: nothing moves, nothing is deleted, no error."""
	old = autoretry.due_key(BENCH)
	redis_conn.set(old, "not a sorted set")
	assert autoretry.adopt_bench_wide(redis_conn, BENCH, "site1.local") == 0
	assert redis_conn.get(old) == b"not a sorted set"
	assert not redis_conn.exists(autoretry.due_key(BENCH, "site1.local"))

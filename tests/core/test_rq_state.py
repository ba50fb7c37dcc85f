"""Signals read from a real Redis, filled by real RQ workers, agree with RQ and change nothing."""

import hashlib
import time
import uuid
from datetime import timedelta

import pytest
from redis import BlockingConnectionPool, Redis
from rq import Queue
from rq.job import Job
from rq.registry import (
	CanceledJobRegistry,
	DeferredJobRegistry,
	FailedJobRegistry,
	FinishedJobRegistry,
	ScheduledJobRegistry,
	StartedJobRegistry,
)

from erp_ops.core import rq_keys
from erp_ops.core.signals import read, rq_state
from erp_ops.core.signals.models import WorkerStatus
from tests.support.redis_probe import CommandCounter, dump_db
from tests.support.rq_helpers import EXECUTE_JOB, WorkerProcess, enqueue, qname, wait_for

BENCH = "bench-x"
M = "tests.support.frappe_like"


def rq_counts(conn: Redis, name: str) -> dict[str, int]:
	"""What RQ itself reports (this runs RQ's cleanup, so call it after our read)."""
	q = Queue(name, connection=conn)
	return {
		"queued": q.count,
		"started": StartedJobRegistry(name, connection=conn).count,
		"failed": FailedJobRegistry(name, connection=conn).count,
		"finished": FinishedJobRegistry(name, connection=conn).count,
		"deferred": DeferredJobRegistry(name, connection=conn).count,
		"scheduled": ScheduledJobRegistry(name, connection=conn).count,
		"canceled": CanceledJobRegistry(name, connection=conn).count,
	}


def fill_every_state(conn: Redis, redis_url: str) -> None:
	# finished and failed: run real jobs through a burst worker on "default"
	for i in range(3):
		enqueue(conn, BENCH, "default", f"{M}.work", ms=1, n=i)
	for i in range(2):
		enqueue(conn, BENCH, "default", f"{M}.fail", message=f"bad {i}")
	worker = WorkerProcess(redis_url, [qname(BENCH, "default")], burst=True)
	assert worker.wait(60) == 0, worker.output()
	# queued, deferred, scheduled and canceled on "short" and "long"
	for i in range(7):
		enqueue(conn, BENCH, "short", f"{M}.work", n=i)
	parent = enqueue(conn, BENCH, "long", f"{M}.work")
	Queue(qname(BENCH, "long"), connection=conn).enqueue_call(
		EXECUTE_JOB,
		kwargs={"site": "s", "method": f"{M}.work", "event": None, "job_name": "dep", "kwargs": {}},
		depends_on=parent,
	)
	Queue(qname(BENCH, "long"), connection=conn).enqueue_in(
		timedelta(hours=1), EXECUTE_JOB, site="s", method=f"{M}.work", event=None, job_name="later", kwargs={}
	)
	victim = enqueue(conn, BENCH, "short", f"{M}.work", n="canceled")
	victim.cancel()


def test_counts_match_rq(redis_conn, redis_url):
	fill_every_state(redis_conn, redis_url)
	snap = read(redis_conn, BENCH)
	assert not snap.unreadable, snap.unreadable  # every state RQ writes reads cleanly
	ours = {q.name: q for q in snap.queues}
	assert set(ours) == {qname(BENCH, s) for s in ("short", "default", "long")}
	for name, q in ours.items():
		theirs = rq_counts(redis_conn, name)
		assert {k: getattr(q, k) for k in theirs} == theirs, name
	assert ours[qname(BENCH, "short")].queued == 7
	assert ours[qname(BENCH, "default")].failed == 2
	assert ours[qname(BENCH, "default")].finished == 3
	assert ours[qname(BENCH, "long")].deferred == 1
	assert ours[qname(BENCH, "long")].scheduled == 1
	assert ours[qname(BENCH, "short")].canceled == 1


def test_oldest_job_age_and_other_benches_ignored(redis_conn):
	first = enqueue(redis_conn, BENCH, "short", f"{M}.work")
	# Backdate the oldest job: the age must come from its enqueued_at, not the read time.
	redis_conn.hset(rq_keys.job_key(first.id), "enqueued_at", "2020-01-01T00:00:00.000000Z")
	enqueue(redis_conn, BENCH, "short", f"{M}.work")
	enqueue(redis_conn, "other-bench", "short", f"{M}.work")
	snap = read(redis_conn, BENCH)
	short = snap.queue("short")
	assert short.queued == 2
	assert short.oldest_queued_job_id == first.id
	assert short.oldest_queued_age_s > 365 * 86400
	assert all(q.name.startswith(f"{BENCH}:") for q in snap.queues)
	assert any(f.code == "oldest_job_age" and f.severity.value == "critical" for f in snap.findings)


def test_read_leaves_redis_unchanged_where_rq_would_not(redis_conn, redis_url):
	"""RQ's own counters move expired entries and drop dead workers; our read moves nothing."""
	fill_every_state(redis_conn, redis_url)
	name = qname(BENCH, "short")
	job = enqueue(redis_conn, BENCH, "short", f"{M}.work", n="abandoned")
	# An abandoned job: a started-registry entry whose expiry passed (its worker stopped heartbeating).
	member = job.id if rq_keys.RQ_MAJOR < 2 else f"{job.id}:{uuid.uuid4().hex}"
	redis_conn.zadd(rq_keys.Registry.STARTED.key(name), {member: time.time() - 30})
	# An expired failed entry, a worker of this bench whose key expired but is still listed, and
	# one listed only in rq:workers (no queue of this bench names it).
	redis_conn.zadd(rq_keys.Registry.FAILED.key(name), {"gone::job": time.time() - 30})
	redis_conn.sadd(rq_keys.WORKERS_SET, rq_keys.worker_key("ghost"), rq_keys.worker_key("stranger"))
	redis_conn.sadd(rq_keys.WORKERS_BY_QUEUE.format(queue=name), rq_keys.worker_key("ghost"))
	# Broken data the read reports: a worker key that is not a hash, a queue of the wrong type.
	redis_conn.set(rq_keys.worker_key("broken"), "x")
	redis_conn.sadd(rq_keys.WORKERS_SET, rq_keys.worker_key("broken"))
	redis_conn.sadd(rq_keys.QUEUES_SET, rq_keys.queue_key(f"{BENCH}:odd"))
	redis_conn.set(rq_keys.queue_key(f"{BENCH}:odd"), "x")

	before = dump_db(redis_conn)
	snap = read(redis_conn, BENCH)
	assert dump_db(redis_conn) == before

	short = snap.queue("short")
	assert short.expired_started == 1
	abandoned = [j for j in snap.started_jobs if j.job_id == job.id]
	assert abandoned and abandoned[0].abandoned
	assert {u.key for u in snap.unreadable} == {
		rq_keys.worker_key("broken"),
		rq_keys.queue_key(f"{BENCH}:odd"),
	}, snap.unreadable
	assert snap.queue("default").failed == 2 and snap.rq_failures.by_queue  # failures of the hour read
	(ghost,) = [w for w in snap.workers if w.name == "ghost"]
	assert ghost.status is WorkerStatus.DEAD and ghost.queues == [name]
	assert not any(w.name == "stranger" for w in snap.workers)  # not known to be this bench's
	# The control: RQ's public counters do change the same data.
	rq_counts(redis_conn, name)
	assert dump_db(redis_conn) != before


@pytest.mark.parametrize("jobs", [10, 2000])
def test_constant_round_trips(redis_conn, redis_url, jobs):
	"""The commands a read sends do not grow with the number of jobs; the work its scripts do on
	the server is bounded by the read windows, whatever the number of jobs."""
	queue = Queue(qname(BENCH, "default"), connection=redis_conn)
	for i in range(jobs):
		queue.enqueue_call(
			EXECUTE_JOB,
			kwargs={"site": "s", "method": f"{M}.work", "event": None, "job_name": "x", "kwargs": {"i": i}},
		)
	failed = FailedJobRegistry(qname(BENCH, "default"), connection=redis_conn)
	for i in range(jobs):
		redis_conn.zadd(failed.key, {f"s::f{i}": time.time() + 3600})
	read(redis_conn, BENCH)  # the script is loaded once per Redis; measure the reads after that

	# One socket for every command, pipelines included, so MONITOR can tell this client apart.
	client = Redis(connection_pool=BlockingConnectionPool.from_url(redis_url, max_connections=1))
	monitor = Redis.from_url(redis_url)
	with CommandCounter(monitor, client) as counter:
		snap = read(client, BENCH)
	assert snap.queue("default").queued == jobs
	assert snap.queue("default").failed == jobs
	# The same for 10 and 2,000 jobs: type + members of rq:queues and rq:workers, one script per
	# queue (3), 60 outcome buckets and the evidence-sites set.
	assert len(counter.commands) == 4 + 3 + 60 + 1, counter.commands
	assert sum(c.upper().startswith("EVALSHA") for c in counter.commands) == 3
	# Inside the scripts: a fixed number of commands per queue, plus one job-hash read per job the
	# walks read: the head of the queue until SCAN_MARGIN jobs past the oldest (the queue is FIFO
	# here), and the failed registry's window (these entries have no hash, so no ended_at stops it).
	hash_reads = [c for c in counter.script_commands if c.upper().startswith("HMGET")]
	assert len(hash_reads) == min(jobs, 1 + rq_state.SCAN_MARGIN) + min(jobs, rq_state.FAILED_WINDOW)
	per_queue_fixed = 9 + 9 + 3 + 1  # TYPE of each key, counts, LRANGE/ZRANGE/ZREVRANGEBYSCORE, SMEMBERS
	assert len(counter.script_commands) <= 3 * per_queue_fixed + len(hash_reads)
	client.close()
	monitor.close()


def test_a_redis_that_does_not_know_the_script_gets_it_loaded(redis_conn, monkeypatch):
	"""A restarted Redis has no scripts: the read loads its own once and answers the same."""
	enqueue(redis_conn, BENCH, "short", f"{M}.work")
	fresh = rq_state.LUA + f"\n-- {uuid.uuid4()}\n"  # a script this Redis has never seen
	monkeypatch.setattr(rq_state, "LUA", fresh)
	monkeypatch.setattr(rq_state, "LUA_SHA", hashlib.sha1(fresh.encode()).hexdigest())
	assert redis_conn.script_exists(rq_state.LUA_SHA) == [False]
	assert read(redis_conn, BENCH).queue("short").queued == 1
	assert redis_conn.script_exists(rq_state.LUA_SHA) == [True]


def test_live_and_killed_workers(redis_conn, redis_url, tmp_path):
	marker = tmp_path / "started"
	worker = WorkerProcess(redis_url, [qname(BENCH, "long")])
	try:
		job = enqueue(redis_conn, BENCH, "long", f"{M}.hang", seconds=120, marker=str(marker))
		wait_for(marker.exists, what="the job to start")
		snap = wait_for(
			lambda: (s := read(redis_conn, BENCH)) and s.started_jobs and s, what="started job visible"
		)
		(w,) = [w for w in snap.workers if w.name == worker.name]
		assert w.status is WorkerStatus.ALIVE
		assert w.pid == worker.pid and w.rss_bytes and w.rss_bytes > 0
		assert w.ttl_s and w.ttl_s > 0
		(started,) = snap.started_jobs
		assert started.job_id == job.id and not started.abandoned
		assert started.site == "site1.local" and started.method == f"{M}.hang"
		assert snap.queue("long").started == 1 and snap.queue("long").workers == 1

		worker.kill()
		snap = read(redis_conn, BENCH)
		(w,) = [w for w in snap.workers if w.name == worker.name]
		assert w.status is WorkerStatus.DEAD and "not running" in w.dead_reason
		(started,) = snap.started_jobs
		assert started.abandoned and worker.name in started.abandoned_reason
		assert snap.critical and any(f.code == "worker_dead" for f in snap.findings)
	finally:
		worker.stop()


def test_job_running_past_its_timeout(redis_conn, redis_url, tmp_path):
	marker = tmp_path / "started"
	worker = WorkerProcess(redis_url, [qname(BENCH, "short")])
	try:
		job = enqueue(redis_conn, BENCH, "short", f"{M}.hang", seconds=120, marker=str(marker), timeout=300)
		wait_for(marker.exists, what="the job to start")
		wait_for(lambda: read(redis_conn, BENCH).started_jobs, what="started job visible")
		# Make the job look older than its timeout without waiting 5 minutes.
		redis_conn.hset(rq_keys.job_key(job.id), "started_at", "2020-01-01T00:00:00.000000Z")
		snap = read(redis_conn, BENCH)
		(started,) = snap.started_jobs
		assert started.overdue and not started.abandoned
		assert snap.queue("short").running_past_timeout == 1
	finally:
		worker.stop()

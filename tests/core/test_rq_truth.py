"""The snapshot tells what RQ really holds: states built through RQ's API and real workers, each
figure compared with one computed here through RQ's API (or Redis itself), not the snapshot's code.

A worker whose key expired, at_front jobs in front of old ones, failures only RQ recorded, two
sites, abandoned jobs and the started/abandoned split.
"""

import time
from collections import Counter
from datetime import timedelta, timezone

from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, StartedJobRegistry

from erp_ops.core import rq_keys
from erp_ops.core.signals import read, rq_state, snapshot
from erp_ops.core.signals.models import Severity, WorkerStatus
from tests.support.rq_helpers import WorkerProcess, enqueue, qname, wait_for

BENCH = "bench-t"
M = "tests.support.frappe_like"


def epoch(moment) -> float:
	"""RQ 1.x keeps naive UTC datetimes, RQ 2 aware ones."""
	return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def site_of(job_id: str) -> str:
	return job_id.replace("||", "::").partition("::")[0]


def test_worker_whose_key_expired_is_listed_dead_with_the_job_it_held(redis_conn, redis_url, tmp_path):
	marker = tmp_path / "started"
	long = qname(BENCH, "long")
	worker = WorkerProcess(redis_url, [long])
	try:
		job = enqueue(redis_conn, BENCH, "long", f"{M}.hang", seconds=120, marker=str(marker))
		wait_for(marker.exists, what="the job to start")
		snap = wait_for(lambda: (s := read(redis_conn, BENCH)) and s.started_jobs and s, what="started job")
		(started,) = snap.started_jobs
		rq_job = Job.fetch(job.id, connection=redis_conn)
		# Every started job shows its worker, its last heartbeat and its running time.
		assert started.worker == rq_job.worker_name == worker.name
		assert (
			rq_job.last_heartbeat
			and abs(epoch(rq_job.last_heartbeat) - started.last_heartbeat.timestamp()) < 1
		)
		assert 0 <= started.elapsed_s < 60 and not started.abandoned
		assert snap.queue("long").running == 1 and snap.queue("long").abandoned == 0

		# SIGKILL (the OOM killer), then the worker's key expires as its TTL would make it.
		worker.kill()
		key = rq_keys.worker_key(worker.name)
		redis_conn.pexpire(key, 1)
		wait_for(lambda: not redis_conn.exists(key), what="the worker key to expire")
		assert redis_conn.sismember(rq_keys.WORKERS_SET, key)  # RQ still lists it

		snap = read(redis_conn, BENCH)
		(dead,) = [w for w in snap.workers if w.name == worker.name]
		assert dead.status is WorkerStatus.DEAD and "expired" in dead.dead_reason
		assert dead.queues == [long] and dead.jobs_held == [job.id]
		assert any(
			f.code == "worker_dead" and f.subject == worker.name and f.severity is Severity.CRITICAL
			for f in snap.findings
		)
		(started,) = snap.started_jobs
		assert started.abandoned and worker.name in started.abandoned_reason
		# running + abandoned add up to what the started registry holds (read by Redis itself)
		held = redis_conn.zcard(StartedJobRegistry(long, connection=redis_conn).key)
		q = snap.queue("long")
		assert (q.running, q.abandoned, q.started + q.expired_started) == (0, 1, held)

		# Gone from RQ's worker sets too: the started job still names it, so it still shows.
		redis_conn.srem(rq_keys.WORKERS_SET, key)
		redis_conn.srem(rq_keys.WORKERS_BY_QUEUE.format(queue=long), key)
		snap = read(redis_conn, BENCH)
		(dead,) = [w for w in snap.workers if w.name == worker.name]
		assert dead.status is WorkerStatus.DEAD and dead.known_from == ["started job"]
		assert dead.queues == [long] and snap.critical
		assert not snap.unreadable  # what RQ writes is always readable
	finally:
		worker.stop()


def test_true_oldest_job_behind_at_front_jobs(redis_conn, monkeypatch):
	name = qname(BENCH, "default")
	queue = Queue(name, connection=redis_conn)
	old = enqueue(redis_conn, BENCH, "default", f"{M}.work")
	old.enqueued_at = old.enqueued_at - timedelta(minutes=15)
	old.save()  # RQ's own API writes the earlier enqueue time
	enqueue(redis_conn, BENCH, "default", f"{M}.work")
	fronts = [enqueue(redis_conn, BENCH, "default", f"{M}.work", at_front=True) for _ in range(3)]

	snap = read(redis_conn, BENCH)
	q = snap.queue("default")
	now = time.time()
	jobs = Job.fetch_many(queue.get_job_ids(), connection=redis_conn)
	oldest = min(jobs, key=lambda j: epoch(j.enqueued_at))
	assert q.head_job_id == jobs[0].id == fronts[-1].id
	assert q.head_age_s < 60
	assert q.oldest_queued_job_id == oldest.id == old.id and q.oldest_queued_exact
	assert abs(q.oldest_queued_age_s - (now - epoch(oldest.enqueued_at))) < 5
	assert any(f.code == "oldest_job_age" and f.subject == name for f in snap.findings)
	assert not snap.unreadable

	# A run of at_front jobs longer than the window: the age is a lower bound and says so.
	monkeypatch.setattr(rq_state, "HEAD_WINDOW", 2)
	monkeypatch.setattr(rq_state, "SCAN_MARGIN", 1)
	q = read(redis_conn, BENCH).queue("default")
	assert not q.oldest_queued_exact and q.oldest_queued_job_id == fronts[-2].id
	assert q.oldest_queued_age_s <= now - epoch(oldest.enqueued_at)
	# A FIFO queue longer than the window is still exact: its oldest job is its head.
	fifo = [enqueue(redis_conn, BENCH, "short", f"{M}.work") for _ in range(5)]
	q = read(redis_conn, BENCH).queue("short")
	assert q.oldest_queued_exact and q.oldest_queued_job_id == fifo[0].id == q.head_job_id


def test_failures_only_rq_recorded_are_counted_once(redis_conn, redis_url):
	"""Three failures ran erp_ops's hooks (evidence), four ran in a worker without them."""
	name = qname(BENCH, "default")
	for i in range(3):
		enqueue(redis_conn, BENCH, "default", f"{M}.fail", site="a.local", message=f"hooked {i}")
	for site in ("a.local", "b.local"):
		enqueue(redis_conn, BENCH, "default", f"{M}.fail", site=site, hooks=False)
		enqueue(redis_conn, BENCH, "default", f"{M}.missing", site=site, hooks=False)
	enqueue(redis_conn, BENCH, "default", f"{M}.work", site="b.local")
	worker = WorkerProcess(redis_url, [name], burst=True)
	assert worker.wait(60) == 0, worker.output()

	snap = read(redis_conn, BENCH)
	# What RQ's API says: the failed jobs, when they ended, what they raised.
	failed = Job.fetch_many(
		FailedJobRegistry(name, connection=redis_conn).get_job_ids(), connection=redis_conn
	)
	assert len(failed) == 7 and all(time.time() - epoch(j.ended_at) < 3600 for j in failed)
	raised = Counter(j.latest_result().exc_string.strip().splitlines()[-1].partition(":")[0] for j in failed)
	assert raised == {"ValueError": 5, "KeyError": 2}

	rq = snap.rq_failures
	assert {c.key: c.failed_1h for c in rq.by_exception} == dict(raised)
	assert {c.key: (c.failed_1h, c.rq_only_1h) for c in rq.by_queue} == {"default": (7, 4)}
	assert {c.key: c.failed_1h for c in rq.by_site} == Counter(site_of(j.id) for j in failed)
	assert rq.scanned == 7 and not rq.bounded

	rates = {r.method: r for r in snap.failure_rates}
	fail, missing = rates[f"{M}.fail"], rates[f"{M}.missing"]
	# 3 failures seen by the evidence stream + 2 only in RQ's registry; none counted twice
	assert (fail.failed_1h, fail.rq_only_failed_1h, fail.sources) == (5, 2, ["evidence", "rq"])
	assert (fail.failed_5m, fail.total_5m) == (5, 5)
	assert (missing.failed_1h, missing.total_1h, missing.rate_1h, missing.sources) == (2, 2, 1.0, ["rq"])
	assert rates[f"{M}.work"].failed_1h == 0
	assert snap.queue("default").failed == len(failed)
	assert not snap.unreadable


def test_per_site_figures_beside_bench_totals(redis_conn, redis_url, tmp_path):
	marker = tmp_path / "started"
	worker = WorkerProcess(redis_url, [qname(BENCH, "long")])
	try:
		for _ in range(3):
			enqueue(redis_conn, BENCH, "short", f"{M}.work", site="a.local")
		for _ in range(2):
			enqueue(redis_conn, BENCH, "short", f"{M}.work", site="b.local")
		enqueue(redis_conn, BENCH, "default", f"{M}.work", site="b.local")
		running = enqueue(
			redis_conn, BENCH, "long", f"{M}.hang", site="a.local", seconds=120, marker=str(marker)
		)
		wait_for(marker.exists, what="the job to start")
		wait_for(lambda: read(redis_conn, BENCH).started_jobs, what="started job")

		snap = snapshot(redis_conn, BENCH, site="a.local", cache_seconds=0)
		# Independently: the job ids RQ holds per queue, by Frappe's prefix
		queued = Counter()
		for short in ("short", "default", "long"):
			queued.update(site_of(i) for i in Queue(qname(BENCH, short), connection=redis_conn).get_job_ids())
		started = Counter(
			site_of(i) for i in StartedJobRegistry(qname(BENCH, "long"), connection=redis_conn).get_job_ids()
		)
		sites = {s.site: s for s in snap.sites}
		assert {s: sites[s].queued for s in sites} == dict(queued) == {"a.local": 3, "b.local": 3}
		assert {s: sites[s].started for s in sites} == {"a.local": 1, "b.local": 0} and started == {
			"a.local": 1
		}
		assert all(s.exact for s in snap.sites)
		assert snap.site == "a.local" and snap.site_figures == sites["a.local"]
		assert {q.queue: q.queued for q in sites["b.local"].queues} == {"short": 2, "default": 1}
		assert sum(q.queued for q in snap.queues) == 6  # the bench totals stay beside them
		assert running.id in {j.job_id for j in snap.started_jobs}
		assert not snap.unreadable
	finally:
		worker.stop()

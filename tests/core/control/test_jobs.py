"""Single-job actions against a real Redis and real RQ workers: effects, conflicts, races."""

import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone

import pytest
from redis import Redis
from rq import Queue

from erp_ops.core import rq_keys
from erp_ops.core.control import jobs
from erp_ops.core.control.errors import JobConflict, JobNotFound
from erp_ops.core.control.models import Action, JobPayload, JobState
from erp_ops.core.evidence import stream
from erp_ops.core.evidence.capture import META_ATTEMPT_BASE, META_RETRY_OF
from erp_ops.core.evidence.records import EvidenceRecord
from tests.support.control_probe import places
from tests.support.control_seed import frappe_job_id, seed_failed
from tests.support.rq_helpers import ROOT, WorkerProcess, enqueue, qname, wait_for

BENCH = "bench-ctl"
SITE = "site1.local"
M = "tests.support.frappe_like"
DEFAULT = qname(BENCH, "default")


def run_burst(redis_url: str) -> None:
	worker = WorkerProcess(redis_url, [DEFAULT], burst=True)
	assert worker.wait(120) == 0, worker.output()


def evidence(conn: Redis) -> list[EvidenceRecord]:
	return [
		EvidenceRecord.from_fields({k.decode(): v.decode() for k, v in fields.items()})
		for _id, fields in conn.xrange(stream.stream_key(BENCH, SITE))
	]


def failed_job(conn: Redis, redis_url: str, **kwargs) -> str:
	job = enqueue(conn, BENCH, "default", f"{M}.fail", **kwargs)
	run_burst(redis_url)
	assert places(conn, BENCH, DEFAULT, job.id) == ["failed"]
	return job.id


def test_requeue_runs_the_failed_job_again_under_its_id(redis_conn, redis_url):
	job_id = failed_job(redis_conn, redis_url)
	result = jobs.requeue(redis_conn, BENCH, job_id)
	assert (result.state_before, result.state_after, result.queue) == (
		JobState.FAILED,
		JobState.QUEUED,
		DEFAULT,
	)
	assert places(redis_conn, BENCH, DEFAULT, job_id) == ["queued"]
	with pytest.raises(JobConflict) as caught:
		jobs.requeue(redis_conn, BENCH, job_id)
	assert caught.value.state == "queued" and caught.value.http_status == 409
	assert places(redis_conn, BENCH, DEFAULT, job_id) == ["queued"]  # the refused call changed nothing
	run_burst(redis_url)
	assert [(r.job_id, r.attempt) for r in evidence(redis_conn)] == [(job_id, 1), (job_id, 2)]
	assert places(redis_conn, BENCH, DEFAULT, job_id) == ["failed"]


def test_retry_enqueues_a_new_attempt_linked_to_the_old_one(redis_conn, redis_url):
	old = failed_job(redis_conn, redis_url, message="ledger locked")
	result = jobs.retry(redis_conn, BENCH, old)
	new = result.new_job_id
	site, sep = SITE, "::" if rq_keys.RQ_MAJOR < 2 else "||"
	assert new.startswith(f"{site}{sep}") and new != old and result.attempt_base == 1
	assert (
		places(redis_conn, BENCH, DEFAULT, old) == []
		and jobs.job_state(redis_conn, BENCH, old) is JobState.RETRIED
	)
	assert places(redis_conn, BENCH, DEFAULT, new) == ["queued"]
	with pytest.raises(JobConflict) as caught:
		jobs.retry(redis_conn, BENCH, old)
	assert caught.value.state == "retried"
	run_burst(redis_url)
	records = {r.job_id: r for r in evidence(redis_conn)}
	assert (records[new].retry_of, records[new].attempt, records[new].exc_message) == (
		old,
		2,
		"ledger locked",
	)
	# The retry of the retry continues the numbering.
	third = jobs.retry(redis_conn, BENCH, new)
	assert third.attempt_base == 2
	from rq.job import Job

	meta = Job.fetch(third.new_job_id, connection=redis_conn).meta
	assert (meta[META_RETRY_OF], meta[META_ATTEMPT_BASE]) == (new, 2)


def test_cancel_queued_scheduled_and_deferred_jobs_none_of_them_runs(redis_conn, redis_url):
	queue = Queue(DEFAULT, connection=redis_conn)
	parent = enqueue(redis_conn, BENCH, "default", f"{M}.work")
	queued = enqueue(redis_conn, BENCH, "default", f"{M}.work", n=1)
	scheduled = queue.enqueue_in(timedelta(hours=1), f"{M}.work", job_id=frappe_job_id(SITE))
	deferred = queue.enqueue_call(f"{M}.work", depends_on=parent, job_id=frappe_job_id(SITE))
	assert places(redis_conn, BENCH, DEFAULT, scheduled.id) == ["scheduled"]
	assert places(redis_conn, BENCH, DEFAULT, deferred.id) == ["deferred"]
	for job, before in (
		(queued, JobState.QUEUED),
		(scheduled, JobState.SCHEDULED),
		(deferred, JobState.DEFERRED),
	):
		result = jobs.cancel(redis_conn, BENCH, job.id)
		assert (result.state_before, result.state_after) == (before, JobState.CANCELED)
		assert places(redis_conn, BENCH, DEFAULT, job.id) == ["canceled"]
		with pytest.raises(JobConflict):
			jobs.cancel(redis_conn, BENCH, job.id)
	run_burst(redis_url)
	assert [r.job_id for r in evidence(redis_conn)] == [parent.id]  # the dependent did not run either
	assert places(redis_conn, BENCH, DEFAULT, deferred.id) == ["canceled"]


def test_cancel_a_started_job_stops_it_through_its_worker(redis_conn, redis_url, tmp_path):
	marker = tmp_path / "started"
	worker = WorkerProcess(redis_url, [DEFAULT])
	try:
		job = enqueue(redis_conn, BENCH, "default", f"{M}.hang", seconds=60, marker=str(marker))
		wait_for(marker.exists, timeout=30, what="the job to start")
		wait_for(lambda: places(redis_conn, BENCH, DEFAULT, job.id) == ["started"], what="started registry")
		with pytest.raises(JobConflict) as caught:
			jobs.quarantine(redis_conn, BENCH, job.id)  # a running job is its worker's
		assert caught.value.state == "started"
		result = jobs.cancel(redis_conn, BENCH, job.id, wait_s=20)
		assert (result.state_before, result.state_after) == (JobState.STARTED, JobState.CANCELED)
		assert places(redis_conn, BENCH, DEFAULT, job.id) == ["canceled"]
		assert redis_conn.hget(rq_keys.job_key(job.id), "status") == b"canceled"
		with pytest.raises(JobConflict):
			jobs.cancel(redis_conn, BENCH, job.id)
		# The worker survived the stop and keeps serving its queue.
		after = enqueue(redis_conn, BENCH, "default", f"{M}.work")
		wait_for(lambda: places(redis_conn, BENCH, DEFAULT, after.id) == ["finished"], what="the next job")
		assert worker.proc.poll() is None
	finally:
		worker.stop()


def test_a_cancel_that_outlasts_its_wait_is_finished_by_the_sweep(redis_conn, redis_url, tmp_path):
	marker = tmp_path / "started"
	worker = WorkerProcess(redis_url, [DEFAULT])
	try:
		job = enqueue(redis_conn, BENCH, "default", f"{M}.hang", seconds=60, marker=str(marker))
		wait_for(lambda: marker.exists() and places(redis_conn, BENCH, DEFAULT, job.id) == ["started"])
		result = jobs.cancel(redis_conn, BENCH, job.id, wait_s=0)
		assert (result.state_before, result.state_after) == (JobState.STARTED, JobState.STOPPING)
		wait_for(
			lambda: places(redis_conn, BENCH, DEFAULT, job.id) == ["failed"], what="the worker to stop it"
		)
		assert jobs.job_state(redis_conn, BENCH, job.id) is JobState.FAILED
		(done,) = jobs.finish_stopped(redis_conn, BENCH)
		assert (done.job_id, done.state_before, done.state_after) == (
			job.id,
			JobState.STOPPING,
			JobState.CANCELED,
		)
		assert places(redis_conn, BENCH, DEFAULT, job.id) == ["canceled"]
		assert jobs.finish_stopped(redis_conn, BENCH) == []
	finally:
		worker.stop()


def test_quarantine_keeps_the_whole_payload_and_release_puts_it_back(redis_conn, redis_url):
	job_id = failed_job(redis_conn, redis_url, message="poison", password="hunter2", doctype="Sales Invoice")
	outcome = jobs.quarantine(redis_conn, BENCH, job_id)
	p = outcome.payload
	assert (outcome.result.state_before, outcome.result.state_after) == (
		JobState.FAILED,
		JobState.QUARANTINED,
	)
	assert (p.function, p.method, p.site, p.queue) == (
		"tests.support.frappe_like.execute_job",
		f"{M}.fail",
		SITE,
		DEFAULT,
	)
	assert p.kwargs["kwargs"] == {"message": "poison", "password": "hunter2", "doctype": "Sales Invoice"}
	assert "ValueError: poison" in p.exc_info and p.status == "failed"
	assert places(redis_conn, BENCH, DEFAULT, job_id) == ["quarantined"]
	assert not redis_conn.exists(rq_keys.job_key(job_id))
	assert redis_conn.ttl(f"erp_ops:{BENCH}:quarantine:job:{job_id}") == -1  # kept until released
	assert jobs.quarantined_ids(redis_conn, BENCH) == [job_id]
	assert jobs.quarantined_payload(redis_conn, BENCH, job_id) == p
	with pytest.raises(JobConflict):
		jobs.quarantine(redis_conn, BENCH, job_id)
	with pytest.raises(JobConflict):
		jobs.requeue(redis_conn, BENCH, job_id)
	run_burst(redis_url)
	assert len(evidence(redis_conn)) == 1  # nothing ran it while quarantined

	released = jobs.release(redis_conn, BENCH, job_id)
	assert (released.state_before, released.state_after) == (JobState.QUARANTINED, JobState.QUEUED)
	assert places(redis_conn, BENCH, DEFAULT, job_id) == ["queued"]
	assert jobs.quarantined_ids(redis_conn, BENCH) == []
	with pytest.raises(JobConflict):
		jobs.release(redis_conn, BENCH, job_id)
	run_burst(redis_url)
	assert [(r.job_id, r.attempt, r.exc_message) for r in evidence(redis_conn)][-1] == (job_id, 2, "poison")


def test_an_operator_who_saw_an_older_state_gets_a_conflict(redis_conn):
	(job_id,) = seed_failed(redis_conn, BENCH, 1)
	jobs.requeue(redis_conn, BENCH, job_id)
	with pytest.raises(JobConflict):
		jobs.quarantine(redis_conn, BENCH, job_id, expected=JobState.FAILED)
	assert places(redis_conn, BENCH, DEFAULT, job_id) == ["queued"]
	with pytest.raises(JobNotFound) as caught:
		jobs.requeue(redis_conn, BENCH, "site1.local::nope")
	assert caught.value.http_status == 404
	# A job of another bench is not this bench's to touch.
	with pytest.raises(JobNotFound):
		jobs.requeue(redis_conn, "other-bench", job_id)


def test_concurrent_operators_in_threads_have_exactly_one_effect(redis_conn, redis_url):
	(job_id,) = seed_failed(redis_conn, BENCH, 1)
	# Each operator saw the job failed: an action on a state it did not see must not happen.
	actions = [jobs.requeue, jobs.retry, jobs.quarantine] * 5
	barrier = threading.Barrier(len(actions))
	outcomes: list = []

	def operate(action):
		conn = Redis.from_url(redis_url)
		barrier.wait()
		try:
			outcomes.append(("ok", action(conn, BENCH, job_id, expected=JobState.FAILED)))
		except JobConflict as exc:
			outcomes.append(("conflict", exc.state))
		finally:
			conn.close()

	threads = [threading.Thread(target=operate, args=(a,)) for a in actions]
	for t in threads:
		t.start()
	for t in threads:
		t.join(30)
	assert len(outcomes) == len(actions)
	effects = [o for kind, o in outcomes if kind == "ok"]
	assert len(effects) == 1, outcomes
	assert sum(1 for kind, _ in outcomes if kind == "conflict") == len(actions) - 1
	# Exactly one job exists in exactly one place: the old one, or its single retry.
	new_ids = [k.decode()[len("rq:job:") :] for k in redis_conn.keys("rq:job:*")]
	placed = {i: places(redis_conn, BENCH, DEFAULT, i) for i in [*new_ids, job_id]}
	assert sorted(p for v in placed.values() for p in v) in (["queued"], ["quarantined"]), placed


PROCESS_OPERATOR = """
import sys
from redis import Redis
from erp_ops.core.control import jobs
from erp_ops.core.control.errors import JobConflict
url, bench, job_id, go = sys.argv[1:5]
conn = Redis.from_url(url)
conn.blpop(go, 30)
try:
	print("ok", getattr(jobs, sys.argv[5])(conn, bench, job_id).action)
except JobConflict as exc:
	print("conflict", exc.state)
"""


def test_concurrent_operators_in_processes_have_exactly_one_effect(redis_conn, redis_url):
	(job_id,) = seed_failed(redis_conn, BENCH, 1)
	procs = []
	for i, action in enumerate(["requeue", "retry", "requeue", "retry", "requeue", "retry"]):
		procs.append(
			subprocess.Popen(
				[sys.executable, "-c", PROCESS_OPERATOR, redis_url, BENCH, job_id, f"go-{i}", action],
				cwd=ROOT,
				stdout=subprocess.PIPE,
				text=True,
			)
		)
	wait_for(lambda: redis_conn.client_list().__len__() > len(procs), what="operators connected")
	pipe = redis_conn.pipeline(transaction=True)
	for i in range(len(procs)):
		pipe.rpush(f"go-{i}", 1)
	pipe.execute()
	lines = [p.communicate(timeout=60)[0].strip() for p in procs]
	assert sum(line.startswith("ok") for line in lines) == 1, lines
	assert sum(line.startswith("conflict") for line in lines) == len(procs) - 1, lines
	assert len(redis_conn.lrange(f"rq:queue:{DEFAULT}", 0, -1)) == 1
	assert redis_conn.zcard(f"rq:failed:{DEFAULT}") == 0


def test_cancel_races_a_live_worker_each_job_runs_or_is_canceled_never_both(redis_conn, redis_url):
	worker = WorkerProcess(redis_url, [DEFAULT])
	try:
		ids = [enqueue(redis_conn, BENCH, "default", f"{M}.work", ms=2, n=i).id for i in range(40)]
		canceled, refused = set(), set()
		for job_id in reversed(ids):  # the worker takes from the head, the operator from the tail
			try:
				jobs.cancel(redis_conn, BENCH, job_id, wait_s=0)
				canceled.add(job_id)
			except JobConflict:
				refused.add(job_id)
		wait_for(
			lambda: redis_conn.llen(f"rq:queue:{DEFAULT}") == 0 and not redis_conn.zcard(f"rq:wip:{DEFAULT}"),
			what="the queue to drain",
		)
	finally:
		worker.stop()
	stopping = {i for i in canceled if jobs.job_state(redis_conn, BENCH, i) is not JobState.CANCELED}
	ran = {r.job_id for r in evidence(redis_conn)}
	assert canceled and (canceled | refused) == set(ids)
	assert not (canceled - stopping) & ran  # a canceled queued job never ran
	assert refused <= ran  # a refused cancel means the worker had it
	for job_id in ids:
		assert len(places(redis_conn, BENCH, DEFAULT, job_id)) == 1


def test_purge_deletes_only_what_ended_before_the_retention_and_dry_run_nothing(redis_conn):
	old = seed_failed(redis_conn, BENCH, 5, ended_at=datetime.now(timezone.utc) - timedelta(days=10))
	recent = seed_failed(redis_conn, BENCH, 3)
	preview = jobs.purge(redis_conn, BENCH, older_than=timedelta(days=7))
	assert (preview.dry_run, preview.matched, preview.deleted, preview.by_registry) == (
		True,
		5,
		0,
		{"failed": 5},
	)
	assert sorted(preview.sample) == sorted(old)
	assert all(redis_conn.exists(rq_keys.job_key(i)) for i in old)
	done = jobs.purge(redis_conn, BENCH, older_than=timedelta(days=7), dry_run=False, batch=2)
	assert (done.matched, done.deleted) == (5, 5)
	assert not any(redis_conn.exists(rq_keys.job_key(i), f"rq:results:{i}") for i in old)
	assert all(places(redis_conn, BENCH, DEFAULT, i) == ["failed"] for i in recent)
	assert jobs.purge(redis_conn, BENCH, older_than=timedelta(days=7), dry_run=False).deleted == 0


def test_purge_keeps_a_job_that_failed_again_after_it_was_read(redis_conn):
	(job_id,) = seed_failed(redis_conn, BENCH, 1, ended_at=datetime.now(timezone.utc) - timedelta(days=10))
	score = redis_conn.zscore(f"rq:failed:{DEFAULT}", job_id)
	redis_conn.zadd(f"rq:failed:{DEFAULT}", {job_id: score + 60})  # it ran and failed again meanwhile
	script = redis_conn.register_script(__import__("erp_ops.core.control.scripts", fromlist=["PURGE"]).PURGE)
	assert (
		script(
			keys=[f"rq:failed:{DEFAULT}", rq_keys.job_key(job_id), f"rq:results:{job_id}"],
			args=[job_id, repr(score)],
		)
		== 0
	)
	assert places(redis_conn, BENCH, DEFAULT, job_id) == ["failed"]
	assert Action.PURGE.value == "purge"


def test_release_from_the_stored_payload_when_the_redis_copy_is_gone(redis_conn, redis_url):
	job_id = failed_job(redis_conn, redis_url, message="poison", name="SINV-9")
	stored = jobs.quarantine(redis_conn, BENCH, job_id).payload.model_dump_json()  # the Quarantine record
	payload = JobPayload.model_validate_json(stored)
	with pytest.raises(JobConflict) as caught:  # the exact copy still exists: use release
		jobs.release_payload(redis_conn, BENCH, payload)
	assert caught.value.state == "quarantined"
	redis_conn.delete(f"erp_ops:{BENCH}:quarantine:job:{job_id}")  # lost with a Redis restart
	result = jobs.release_payload(redis_conn, BENCH, payload)
	assert (result.state_before, result.state_after) == (JobState.QUARANTINED, JobState.QUEUED)
	assert places(redis_conn, BENCH, DEFAULT, job_id) == ["queued"]
	with pytest.raises(JobConflict):
		jobs.release_payload(redis_conn, BENCH, payload)
	run_burst(redis_url)
	first, last = evidence(redis_conn)
	assert (last.job_id, last.attempt, last.exc_message) == (job_id, 2, "poison")
	assert last.kwargs_digest == first.kwargs_digest  # the same arguments came back

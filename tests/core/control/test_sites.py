"""Two sites' jobs in one bench's queues: with a site given, the core sees and moves only that site's.

Jobs are stored through RQ's API (Job.create, registries), as a Frappe bench's workers leave them:
ids prefixed with the site (`<site>::` on rq 1, `<site>||` on rq 2), and one job with a bare RQ id
whose site only its kwargs name. Expected sets come from the seeding, not from erp_ops' readers.
"""

import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry

from erp_ops.core.control import autoretry, bulk, jobs, poison
from erp_ops.core.control.errors import ForeignJob, ForeignToken, JobNotFound, TokenInvalid
from erp_ops.core.control.models import Action, BulkFilter, JobState, PoisonVerdict
from tests.support.control_probe import places
from tests.support.control_seed import seed_failed, seed_queued
from tests.support.redis_probe import dump_db
from tests.support.rq_helpers import EXECUTE_JOB, execute_job_kwargs, qname

BENCH = "bench-sites"
DEFAULT = qname(BENCH, "default")
A, B = "a.example.com", "b.example.com"
FAIL = "tests.support.frappe_like.fail"


def bare_failed_job(conn, site: str) -> str:
	"""A failed job with a bare RQ id (no site prefix): only its kwargs say which site it is for."""
	job = Job.create(
		EXECUTE_JOB,
		kwargs=execute_job_kwargs(site, FAIL, {}),
		connection=conn,
		id=str(uuid.uuid4()),
		origin=DEFAULT,
		failure_ttl=86400,
	)
	old = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(days=30)
	job.created_at = job.enqueued_at = job.started_at = job.ended_at = old
	job._status = JobStatus.FAILED
	pipe = conn.pipeline()
	job.save(pipeline=pipe)
	# Failed 30 days ago: RQ scored it then (ended + failure TTL); purge ages a job by its newest time.
	score = old.replace(tzinfo=timezone.utc).timestamp() + 86400
	pipe.zadd(FailedJobRegistry(DEFAULT, connection=conn).key, {job.id: score})
	pipe.execute()
	return job.id


def message(call) -> str:
	with pytest.raises(JobNotFound) as caught:
		call()
	return type(caught.value).__name__ + ": " + str(caught.value)


def test_another_sites_job_is_not_found_and_untouched_by_every_single_action(redis_conn):
	(theirs,) = seed_failed(redis_conn, BENCH, 1, site=B)
	(queued_theirs,) = seed_queued(redis_conn, BENCH, 1, site=B)
	bare_theirs = bare_failed_job(redis_conn, B)
	missing = f"{A}::{uuid.uuid4()}"
	before = dump_db(redis_conn)
	calls = {
		"requeue": lambda j: jobs.requeue(redis_conn, BENCH, j, site=A),
		"retry": lambda j: jobs.retry(redis_conn, BENCH, j, site=A),
		"cancel": lambda j: jobs.cancel(redis_conn, BENCH, j, site=A, wait_s=0),
		"quarantine": lambda j: jobs.quarantine(redis_conn, BENCH, j, site=A),
		"release": lambda j: jobs.release(redis_conn, BENCH, j, site=A),
		"finish_cancel": lambda j: jobs.finish_cancel(redis_conn, BENCH, j, site=A),
		"job_state": lambda j: jobs.job_state(redis_conn, BENCH, j, site=A),
	}
	for name, call in calls.items():
		for job_id in (theirs, queued_theirs, bare_theirs):
			with pytest.raises(ForeignJob) as caught:
				call(job_id)
			# Worded exactly like a job that does not exist: the answer confirms nothing.
			assert str(caught.value) == f"no job {job_id!r} on site {A!r}", name
			assert caught.value.http_status == 404
	assert message(lambda: jobs.requeue(redis_conn, BENCH, missing, site=A)) == (
		f"JobNotFound: no job {missing!r} on site {A!r}"
	)
	assert jobs.job_state(redis_conn, BENCH, missing, site=A) is JobState.MISSING
	assert dump_db(redis_conn) == before  # nothing moved, nothing written
	# The same calls with the job's own site act.
	assert jobs.job_state(redis_conn, BENCH, theirs, site=B) is JobState.FAILED
	assert jobs.requeue(redis_conn, BENCH, bare_theirs, site=B).state_after is JobState.QUEUED
	assert places(redis_conn, BENCH, DEFAULT, bare_theirs) == ["queued"]


def test_a_quarantined_job_of_another_site_is_neither_listed_nor_released(redis_conn):
	(ours,) = seed_failed(redis_conn, BENCH, 1, site=A)
	(theirs,) = seed_failed(redis_conn, BENCH, 1, site=B)
	held_b = jobs.quarantine(redis_conn, BENCH, theirs, site=B)
	jobs.quarantine(redis_conn, BENCH, ours, site=A)
	assert jobs.quarantined_ids(redis_conn, BENCH, site=A) == [ours]
	assert sorted(jobs.quarantined_ids(redis_conn, BENCH)) == sorted([ours, theirs])
	before = dump_db(redis_conn)
	with pytest.raises(ForeignJob):
		jobs.quarantined_payload(redis_conn, BENCH, theirs, site=A)
	with pytest.raises(ForeignJob):
		jobs.release_payload(redis_conn, BENCH, held_b.payload, site=A)
	with pytest.raises(ForeignJob):
		jobs.release(redis_conn, BENCH, theirs, site=A)
	assert dump_db(redis_conn) == before
	assert jobs.quarantined_payload(redis_conn, BENCH, theirs, site=B).job_id == theirs


def test_purge_with_a_site_deletes_only_that_sites_jobs(redis_conn):
	old = datetime.now(timezone.utc) - timedelta(days=30)
	ours = seed_failed(redis_conn, BENCH, 3, site=A, ended_at=old)
	theirs = seed_failed(redis_conn, BENCH, 2, site=B, ended_at=old)
	bare_theirs = bare_failed_job(redis_conn, B)
	dry = jobs.purge(redis_conn, BENCH, older_than=timedelta(days=7), site=A)
	assert (dry.matched, sorted(dry.sample)) == (3, sorted(ours))
	done = jobs.purge(redis_conn, BENCH, older_than=timedelta(days=7), site=A, dry_run=False)
	assert done.deleted == 3
	assert all(not redis_conn.exists(f"rq:job:{j}") for j in ours)
	assert all(places(redis_conn, BENCH, DEFAULT, j) == ["failed"] for j in [*theirs, bare_theirs])
	# The bench's own tools (no site) purge every site's jobs.
	bench_wide = jobs.purge(redis_conn, BENCH, older_than=timedelta(days=7), dry_run=False)
	assert bench_wide.deleted == 3


def test_bulk_preview_is_the_sites_own_whatever_the_filter_and_tokens_stay_on_their_site(redis_conn):
	ours = seed_failed(redis_conn, BENCH, 4, site=A)
	theirs = seed_failed(redis_conn, BENCH, 3, site=B)
	asked_for_b = bulk.preview(
		redis_conn,
		BENCH,
		Action.REQUEUE,
		BulkFilter(sites=[B]),
		requested_by="ops@a",
		reason="r",
		site=A,
	)
	assert asked_for_b.count == 0  # a site cannot widen its scope through the filter
	preview = bulk.preview(
		redis_conn, BENCH, Action.REQUEUE, BulkFilter(), requested_by="ops@a", reason="r", site=A
	)
	assert sorted(preview.sample) == sorted(ours)
	before = dump_db(redis_conn)
	for call in (
		lambda: bulk.execute(redis_conn, BENCH, preview.token, site=B),
		lambda: bulk.approve(redis_conn, BENCH, preview.token, approver="ops@b", site=B),
		lambda: bulk.status(redis_conn, BENCH, preview.token, site=B),
	):
		with pytest.raises(ForeignToken) as caught:
			call()
		assert str(caught.value).startswith(f"unknown or expired bulk token {preview.token}")
	with pytest.raises(TokenInvalid) as unknown:
		bulk.status(redis_conn, BENCH, "0" * 40, site=B)
	assert str(unknown.value).startswith(f"unknown or expired bulk token {'0' * 40}")
	assert caught.value.http_status == unknown.value.http_status == 422
	assert dump_db(redis_conn) == before
	assert bulk.plan_site(redis_conn, BENCH, preview.token) == ("requeue", A)
	result = bulk.execute(redis_conn, BENCH, preview.token, site=A)
	assert (result.moved, result.replayed) == (4, False)
	again = bulk.execute(redis_conn, BENCH, preview.token, site=A)  # the stored answer, marked as such
	assert again.replayed and again.model_copy(update={"replayed": False}) == result
	assert all(places(redis_conn, BENCH, DEFAULT, j) == ["failed"] for j in theirs)
	# A bench-wide preview (no site) is not a token any site may act on.
	wide = bulk.preview(redis_conn, BENCH, Action.REQUEUE, BulkFilter(), requested_by="bench", reason="r")
	assert sorted(wide.sample) == sorted(theirs)
	with pytest.raises(ForeignToken):
		bulk.execute(redis_conn, BENCH, wide.token, site=B)


def test_each_sites_tick_retries_and_quarantines_only_its_own_jobs(redis_conn):
	(ours,) = seed_failed(redis_conn, BENCH, 1, site=A)
	(theirs,) = seed_failed(redis_conn, BENCH, 1, site=B)
	now = time.time()
	assert autoretry.schedule_retry(redis_conn, BENCH, ours, 1, now=now, site=A)
	assert autoretry.schedule_retry(redis_conn, BENCH, theirs, 1, now=now, site=B)
	# A's due list cannot name B's job; if something put it there, A's tick drops it unretried.
	redis_conn.zadd(autoretry.due_key(BENCH, A), {theirs: now})
	done = autoretry.run_due(redis_conn, BENCH, now=now + 5, site=A)
	assert [r.job_id for r in done] == [ours]
	assert places(redis_conn, BENCH, DEFAULT, theirs) == ["failed"]
	assert redis_conn.zscore(autoretry.due_key(BENCH, B), theirs) is not None  # still B's to run
	assert [r.job_id for r in autoretry.run_due(redis_conn, BENCH, now=now + 5, site=B)] == [theirs]

	# Poison: the same method and arguments failing on both sites; A's verdict moves A's jobs only.
	same = {"name": "SINV-1"}
	ours = seed_failed(redis_conn, BENCH, 3, site=A, method=FAIL, kwargs=same)
	theirs = seed_failed(redis_conn, BENCH, 3, site=B, method=FAIL, kwargs=same)
	digests = {
		m["digest"] for m in bulk.select(redis_conn, BENCH, JobState.FAILED, BulkFilter(methods=[FAIL]))
	}
	verdicts = [
		PoisonVerdict(
			method=FAIL,
			kwargs_digest=d,
			failures=3,
			job_ids=ours,
			first_at=datetime.now(timezone.utc),
			last_at=datetime.now(timezone.utc),
		)
		for d in digests
	]
	moved = poison.quarantine_poison(redis_conn, BENCH, verdicts, site=A)
	assert sorted(q.result.job_id for q in moved) == sorted(ours)
	assert all(places(redis_conn, BENCH, DEFAULT, j) == ["failed"] for j in theirs)


def test_finish_stopped_of_one_site_leaves_another_sites_stopped_job(redis_conn):
	# Hand-crafted: two jobs a worker stopped on a cancel request (failed registry, status stopped,
	# erp_ops' cancel marker), one per site.
	stopped = {}
	for site in (A, B):
		(job_id,) = seed_failed(redis_conn, BENCH, 1, site=site)
		redis_conn.hset(f"rq:job:{job_id}", mapping={"status": "stopped", "erp_ops_cancel": "1"})
		stopped[site] = job_id
	done = jobs.finish_stopped(redis_conn, BENCH, site=A)
	assert [r.job_id for r in done] == [stopped[A]]
	assert places(redis_conn, BENCH, DEFAULT, stopped[A]) == ["canceled"]
	assert places(redis_conn, BENCH, DEFAULT, stopped[B]) == ["failed"]


def test_request_ids_are_each_sites_own(redis_conn):
	from erp_ops.core.control import idempotency
	from erp_ops.core.control.models import PurgeResult

	calls = []

	def act(site):
		calls.append(site)
		return PurgeResult(dry_run=True, matched=len(calls), deleted=0, cutoff=datetime.now(timezone.utc))

	first = idempotency.once(redis_conn, BENCH, "req-1", "fp-a", PurgeResult, lambda: act(A), site=A)
	# Another site with the same id and another fingerprint: its own request, not a 409.
	other = idempotency.once(redis_conn, BENCH, "req-1", "fp-b", PurgeResult, lambda: act(B), site=B)
	again = idempotency.once(redis_conn, BENCH, "req-1", "fp-a", PurgeResult, lambda: act(A), site=A)
	assert calls == [A, B] and again == first and other.matched == 2

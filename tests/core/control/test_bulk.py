"""Bulk actions: preview and token, four eyes, atomic batches, SIGKILL mid-run, idempotent requests."""

import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone

import pytest
from redis import Redis
from rq.job import Job

from erp_ops.core.control import bulk, idempotency, jobs, keys
from erp_ops.core.control.errors import (
	ApprovalRequired,
	RequestInFlight,
	RequestMismatch,
	SelfApproval,
	TokenInvalid,
	TokenUsed,
)
from erp_ops.core.control.models import Action, ActionResult, BulkFilter, BulkState, JobState
from erp_ops.core.evidence.capture import META_RETRY_OF
from tests.support.control_probe import places
from tests.support.control_seed import seed_failed, seed_queued
from tests.support.redis_probe import dump_db
from tests.support.round_trips import counting_client
from tests.support.rq_helpers import ROOT, qname, wait_for

BENCH = "bench-bulk"
DEFAULT = qname(BENCH, "default")
LONG = qname(BENCH, "long")
FAIL = "tests.support.frappe_like.fail"
OTHER = "erpnext.accounts.doctype.gl_entry.gl_entry.rename_gle_sle_docs"


def preview(conn, action=Action.REQUEUE, flt=None, **kw):
	kw.setdefault("requested_by", "ops1@example.com")
	kw.setdefault("reason", "ledger lock released")
	return bulk.preview(conn, BENCH, action, flt or BulkFilter(), **kw)


def test_preview_filters_and_changes_nothing_but_its_token(redis_conn):
	week_ago = datetime.now(timezone.utc) - timedelta(days=7)
	old = seed_failed(redis_conn, BENCH, 4, ended_at=week_ago)
	mine = seed_failed(redis_conn, BENCH, 6, exc="frappe.exceptions.ValidationError: no")
	other = seed_failed(redis_conn, BENCH, 3, short="long", method=OTHER, site="site2.local")
	seed_queued(redis_conn, BENCH, 2)
	before = dump_db(redis_conn)

	p = preview(redis_conn)
	assert (p.count, p.methods, p.queues) == (13, {FAIL: 10, OTHER: 3}, {"default": 10, "long": 3})
	assert set(p.sample[:4]) == set(old) and p.state is BulkState.READY and not p.approval_required
	after = dump_db(redis_conn)
	assert set(after) - set(before) == {keys.bulk_key(BENCH, p.token).encode()}
	assert all(after[k] == v for k, v in before.items())
	assert 0 < redis_conn.ttl(keys.bulk_key(BENCH, p.token)) <= bulk.TOKEN_TTL_S

	def count(**f) -> int:
		return preview(redis_conn, flt=BulkFilter(**f)).count

	assert count(methods=[OTHER]) == 3 and count(sites=["site2.local"]) == 3 and count(queues=["long"]) == 3
	assert count(exc_types=["ValidationError"]) == 6 == count(exc_types=["frappe.exceptions.ValidationError"])
	assert count(exc_types=["ValueError"]) == 7
	assert count(until=week_ago + timedelta(seconds=1)) == 4
	assert count(since=week_ago + timedelta(seconds=1), methods=[FAIL]) == len(mine)
	assert preview(redis_conn, Action.CANCEL).count == 2
	assert len(other) == 3
	with pytest.raises(Exception) as caught:
		preview(redis_conn, reason="  ")
	assert caught.value.http_status == 422


def test_execute_moves_the_snapshot_and_skips_what_changed_meanwhile(redis_conn):
	ids = seed_failed(redis_conn, BENCH, 30)
	p = preview(redis_conn)
	jobs.requeue(redis_conn, BENCH, ids[5])  # someone acted on one job in between
	late = seed_failed(redis_conn, BENCH, 2)  # failed after the preview: not confirmed, not touched
	result = bulk.execute(redis_conn, BENCH, p.token, batch=7)
	assert (result.state, result.planned, result.moved, result.skipped, result.batches) == (
		BulkState.DONE,
		30,
		29,
		1,
		5,
	)
	assert redis_conn.lrange(f"rq:queue:{DEFAULT}", 0, -1).count(ids[5].encode()) == 1
	assert all(places(redis_conn, BENCH, DEFAULT, i) == ["queued"] for i in ids)
	assert all(places(redis_conn, BENCH, DEFAULT, i) == ["failed"] for i in late)
	# Confirming again returns the first result, marked as a replay, and moves nothing.
	jobs.retry(redis_conn, BENCH, late[0])
	assert bulk.execute(redis_conn, BENCH, p.token) == result.model_copy(update={"replayed": True})
	assert bulk.status(redis_conn, BENCH, p.token) == result
	assert redis_conn.llen(f"rq:queue:{DEFAULT}") == 31


def test_four_eyes_above_the_threshold(redis_conn):
	seed_failed(redis_conn, BENCH, 8)
	assert not preview(redis_conn, approval_above=8).approval_required
	assert not preview(redis_conn, approval_above=None).approval_required
	p = preview(redis_conn, approval_above=5)
	assert (p.approval_required, p.state) == (True, BulkState.PENDING_APPROVAL)
	with pytest.raises(ApprovalRequired) as caught:
		bulk.execute(redis_conn, BENCH, p.token)
	assert caught.value.http_status == 403 and redis_conn.zcard(f"rq:failed:{DEFAULT}") == 8
	with pytest.raises(SelfApproval):
		bulk.approve(redis_conn, BENCH, p.token, approver="OPS1@example.com ")
	approved = bulk.approve(redis_conn, BENCH, p.token, approver="ops2@example.com")
	assert (approved.state, approved.approved_by) == (BulkState.READY, "ops2@example.com")
	with pytest.raises(TokenUsed):
		bulk.approve(redis_conn, BENCH, p.token, approver="ops3@example.com")
	result = bulk.execute(redis_conn, BENCH, p.token)
	assert (result.moved, result.requested_by, result.approved_by) == (
		8,
		"ops1@example.com",
		"ops2@example.com",
	)


def test_unknown_tampered_and_expired_tokens_are_refused(redis_conn):
	seed_failed(redis_conn, BENCH, 3)
	with pytest.raises(TokenInvalid):
		bulk.execute(redis_conn, BENCH, "0" * 40)
	p = preview(redis_conn)
	key = keys.bulk_key(BENCH, p.token)
	plan = redis_conn.hget(key, "plan").replace(b'"requested_by":"ops1', b'"requested_by":"evil')
	redis_conn.hset(key, "plan", plan)
	with pytest.raises(TokenInvalid):
		bulk.execute(redis_conn, BENCH, p.token)
	stale = preview(redis_conn, now=datetime.now(timezone.utc) - timedelta(hours=1))
	with pytest.raises(TokenInvalid):
		bulk.execute(redis_conn, BENCH, stale.token)
	assert redis_conn.zcard(f"rq:failed:{DEFAULT}") == 3


def test_bulk_retry_quarantine_and_cancel(redis_conn):
	ids = seed_failed(redis_conn, BENCH, 6)
	retried = bulk.execute(
		redis_conn, BENCH, preview(redis_conn, Action.RETRY, BulkFilter(), approval_above=None).token, batch=4
	)
	assert (retried.moved, len(retried.new_job_ids)) == (6, 6)
	assert all(jobs.job_state(redis_conn, BENCH, i) is JobState.RETRIED for i in ids)
	assert {Job.fetch(n, connection=redis_conn).meta[META_RETRY_OF] for n in retried.new_job_ids} == set(ids)

	poisoned = seed_failed(redis_conn, BENCH, 3, method=OTHER)
	q = bulk.execute(
		redis_conn, BENCH, preview(redis_conn, Action.QUARANTINE, BulkFilter(methods=[OTHER])).token
	)
	assert q.moved == 3 and set(jobs.quarantined_ids(redis_conn, BENCH)) == set(poisoned)
	assert "ValueError: boom" in jobs.quarantined_payload(redis_conn, BENCH, poisoned[0]).exc_info

	c = bulk.execute(redis_conn, BENCH, preview(redis_conn, Action.CANCEL).token)
	assert c.moved == 6 and redis_conn.llen(f"rq:queue:{DEFAULT}") == 0
	assert all(places(redis_conn, BENCH, DEFAULT, n) == ["canceled"] for n in retried.new_job_ids)


def test_bulk_release_puts_back_only_the_quarantined_jobs_the_filter_names(redis_conn):
	poisoned = seed_failed(redis_conn, BENCH, 5, method=OTHER)
	kept = seed_failed(redis_conn, BENCH, 2, short="long")
	for job_id in (*poisoned, *kept):
		jobs.quarantine(redis_conn, BENCH, job_id, expected=JobState.FAILED)
	p = preview(redis_conn, Action.RELEASE, BulkFilter(queues=["default"], methods=[OTHER]))
	assert (p.count, p.methods) == (5, {OTHER: 5})
	released = bulk.execute(redis_conn, BENCH, p.token, batch=2)
	assert (released.moved, released.skipped, released.batches) == (5, 0, 3)
	assert all(places(redis_conn, BENCH, DEFAULT, i) == ["queued"] for i in poisoned)
	assert set(jobs.quarantined_ids(redis_conn, BENCH)) == set(kept)
	# A job released by hand between preview and execute is skipped, not released twice.
	p = preview(redis_conn, Action.RELEASE, BulkFilter(queues=["long"]))
	jobs.release(redis_conn, BENCH, kept[0])
	again = bulk.execute(redis_conn, BENCH, p.token)
	assert (again.moved, again.skipped) == (1, 1)
	assert redis_conn.llen(f"rq:queue:{LONG}") == 2 and jobs.quarantined_ids(redis_conn, BENCH) == []


KILLED_RUN = """
import sys, time
from redis import Redis
from erp_ops.core.control import bulk
url, bench, token = sys.argv[1:4]
bulk.execute(Redis.from_url(url), bench, token, batch=50, lease_s=1, on_batch=lambda done, n: time.sleep(0.05))
"""


def test_sigkill_mid_bulk_leaves_every_job_untouched_or_moved_and_a_rerun_finishes(redis_conn, redis_url):
	ids = seed_failed(redis_conn, BENCH, 2000, chunk=500)
	p = preview(redis_conn, approval_above=None)
	key = keys.bulk_key(BENCH, p.token)
	proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, redis_url, BENCH, p.token], cwd=ROOT)
	try:
		wait_for(
			lambda: int(redis_conn.hget(key, "batches") or 0) >= 5, timeout=60, interval=0.005, what="batches"
		)
	finally:
		os.kill(proc.pid, signal.SIGKILL)
		proc.wait(10)
	queued = [m.decode() for m in redis_conn.lrange(f"rq:queue:{DEFAULT}", 0, -1)]
	failed = {m.decode() for m in redis_conn.zrange(f"rq:failed:{DEFAULT}", 0, -1)}
	assert len(queued) == len(set(queued))  # nothing moved twice
	assert set(queued).isdisjoint(failed) and set(queued) | failed == set(ids)  # nothing lost
	moved = int(redis_conn.hget(key, "moved"))
	assert moved == len(queued) == int(redis_conn.hget(key, "next")) and 0 < moved < len(ids)
	assert moved % 50 == 0  # whole batches only
	assert all(redis_conn.hget(f"rq:job:{i}", "status") == b"queued" for i in queued[:50])
	status = bulk.status(redis_conn, BENCH, p.token)
	assert (status.state, status.moved) == (BulkState.EXECUTING, moved)

	with pytest.raises(TokenUsed):  # the dead run's lease has not run out yet
		bulk.execute(redis_conn, BENCH, p.token)
	wait_for(lambda: float(redis_conn.hget(key, "lease_until")) < __import__("time").time(), timeout=5)
	result = bulk.execute(redis_conn, BENCH, p.token, batch=500)
	assert (result.state, result.moved, result.skipped) == (BulkState.DONE, 2000, 0)
	assert redis_conn.llen(f"rq:queue:{DEFAULT}") == 2000 and redis_conn.zcard(f"rq:failed:{DEFAULT}") == 0


def test_two_executions_of_one_token_move_each_job_once(redis_conn, redis_url):
	ids = seed_failed(redis_conn, BENCH, 600)
	p = preview(redis_conn, approval_above=None)
	barrier = threading.Barrier(4)
	outcomes = []

	def run():
		conn = Redis.from_url(redis_url)
		barrier.wait()
		try:
			outcomes.append(bulk.execute(conn, BENCH, p.token, batch=100))
		except TokenUsed:
			outcomes.append("busy")
		finally:
			conn.close()

	threads = [threading.Thread(target=run) for _ in range(4)]
	for t in threads:
		t.start()
	for t in threads:
		t.join(60)
	results = [o for o in outcomes if o != "busy"]
	assert len(outcomes) == 4 and results and all(r.moved == 600 and r.skipped == 0 for r in results)
	queued = redis_conn.lrange(f"rq:queue:{DEFAULT}", 0, -1)
	assert len(queued) == len(set(queued)) == len(ids)


def test_round_trips_grow_with_batches_not_jobs(redis_conn, redis_url):
	def trips(n: int, batch: int) -> int:
		redis_conn.flushdb()
		seed_failed(redis_conn, BENCH, n)
		p = preview(redis_conn, approval_above=None)
		client, counter = counting_client(redis_url)
		counter.sends = 0
		assert bulk.execute(client, BENCH, p.token, batch=batch).moved == n
		client.close()
		return counter.sends

	assert trips(100, 100) == trips(1000, 1000)
	assert trips(1000, 100) - trips(100, 100) == 9  # one more per batch


def test_same_request_id_acts_once_and_returns_the_first_result(redis_conn, redis_url):
	a, b = seed_failed(redis_conn, BENCH, 2)
	fp = idempotency.fingerprint("requeue", job_id=a)

	def act():
		return jobs.requeue(redis_conn, BENCH, a)

	first = idempotency.once(redis_conn, BENCH, "req-1", fp, ActionResult, act)
	again = idempotency.once(redis_conn, BENCH, "req-1", fp, ActionResult, act)  # would conflict if run
	assert again == first and places(redis_conn, BENCH, DEFAULT, a) == ["queued"]
	with pytest.raises(RequestMismatch):
		idempotency.once(
			redis_conn, BENCH, "req-1", idempotency.fingerprint("requeue", job_id=b), ActionResult, act
		)
	# A call that failed did nothing, so its id is free again.
	with pytest.raises(Exception):
		idempotency.once(redis_conn, BENCH, "req-2", fp, ActionResult, act)
	assert not redis_conn.exists(keys.request_key(BENCH, "req-2"))

	started, release = threading.Event(), threading.Event()

	def slow():
		started.set()
		release.wait(10)
		return jobs.requeue(redis_conn, BENCH, b)

	fp_b = idempotency.fingerprint("requeue", job_id=b)
	worker = threading.Thread(
		target=lambda: idempotency.once(Redis.from_url(redis_url), BENCH, "req-3", fp_b, ActionResult, slow)
	)
	worker.start()
	started.wait(10)
	with pytest.raises(RequestInFlight):
		idempotency.once(redis_conn, BENCH, "req-3", fp_b, ActionResult, slow)
	release.set()
	worker.join(10)
	assert idempotency.once(redis_conn, BENCH, "req-3", fp_b, ActionResult, slow).job_id == b
	assert redis_conn.lrange(f"rq:queue:{DEFAULT}", 0, -1).count(b.encode()) == 1

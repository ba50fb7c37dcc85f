# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import convert_utc_to_system_timezone, get_bench_id, now_datetime
from frappe.utils.background_jobs import get_redis_conn
from redis import Redis
from rq import get_current_job
from rq.job import Job

from erp_ops.core.evidence import stream
from erp_ops.core.evidence.capture import Outcome, evidence_name
from erp_ops.core.evidence.records import EvidenceRecord
from erp_ops.site.evidence import (
	FLUSH_LOCK_KEY,
	JobEvidenceSink,
	flush_evidence,
	insert_new,
	purge_evidence,
)

TEST_QUEUE = "short"
JOB_WAIT_S = 90


def sample_job(doctype: str, name: str, fail: bool = False) -> str:
	"""Run by a real worker in the tests below."""
	if fail:
		raise ValueError(f"sample failure for {doctype} {name}")
	return name


def _record(job_id: str, **fields) -> EvidenceRecord:
	ended = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
	values = {
		"site": frappe.local.site,
		"method": "erp_ops.tests.sample",
		"queue": f"{get_bench_id()}:default",
		"started_at": ended - timedelta(seconds=2),
		"ended_at": ended,
		"outcome": Outcome.SUCCESS,
	}
	return EvidenceRecord(job_id=job_id, **{**values, **fields})


def _delete_evidence(names: list[str]) -> None:
	frappe.db.delete("Job Evidence", {"name": ("in", names)})
	frappe.db.commit()


class TestJobEvidence(FrappeTestCase):
	def setUp(self):
		self.created: list[str] = []

	def tearDown(self):
		frappe.set_user("Administrator")
		if self.created:
			_delete_evidence(self.created)

	def test_a_document_is_named_like_its_flushed_record(self):
		job_id = f"{frappe.local.site}::{frappe.generate_hash(length=12)}"
		doc = frappe.get_doc(
			{"doctype": "Job Evidence", "job_id": job_id, "attempt": 2, "outcome": "success"}
		).insert(ignore_permissions=True)
		self.created.append(doc.name)
		self.assertEqual(doc.name, evidence_name(job_id, 2))

	def test_insert_new_counts_only_new_rows_and_stores_site_time(self):
		records = [_record(f"{frappe.local.site}::{frappe.generate_hash(length=12)}") for _ in range(3)]
		self.created += [r.name for r in records]
		time_zone = frappe.utils.get_system_timezone()
		self.assertEqual(insert_new(frappe.db, records[:2], time_zone, get_bench_id()), 2)
		self.assertEqual(insert_new(frappe.db, records + records, time_zone, get_bench_id()), 1)
		row = frappe.get_doc("Job Evidence", records[0].name)
		expected = convert_utc_to_system_timezone(records[0].ended_at).replace(tzinfo=None)
		self.assertEqual(row.ended_at, expected)
		self.assertEqual(row.queue, "default")
		self.assertEqual(frappe.db.count("Job Evidence", {"name": ("in", [r.name for r in records])}), 3)

	def test_a_reset_attempt_counter_does_not_lose_later_runs(self):
		# Redis without persistence forgets attempt counters; a scheduled job's id never changes.
		job_id = f"{frappe.local.site}::scheduled_job::erp_ops.tests.{frappe.generate_hash(length=8)}"
		first = _record(job_id)
		later = _record(job_id).model_copy(update={"started_at": first.started_at + timedelta(minutes=1)})
		self.assertEqual(first.name, later.name)
		self.created += [evidence_name(job_id, 1), evidence_name(job_id, 2)]
		tz = frappe.utils.get_system_timezone()
		self.assertEqual(insert_new(frappe.db, [first], tz, get_bench_id()), 1)
		self.assertEqual(insert_new(frappe.db, [later], tz, get_bench_id()), 1)
		self.assertEqual(
			insert_new(frappe.db, [first, later], tz, get_bench_id()), 0, "redelivery stored twice"
		)
		rows = frappe.get_all(
			"Job Evidence", {"job_id": job_id}, ["attempt", "started_at"], order_by="attempt"
		)
		self.assertEqual([r.attempt for r in rows], [1, 2])
		self.assertLess(rows[0].started_at, rows[1].started_at)

	def test_the_sink_stores_each_record_once(self):
		mine = _record(f"{frappe.local.site}::{frappe.generate_hash(length=12)}")
		unnamed = _record(frappe.generate_hash(length=12), site=None)
		self.created += [mine.name, unnamed.name]
		sink = JobEvidenceSink(bench_id=get_bench_id(), commit=False)
		self.assertEqual(sink.upsert([mine, unnamed]), 2)
		self.assertEqual(sink.upsert([mine, unnamed]), 0)

	def test_long_values_are_cut_to_their_columns(self):
		record = _record("x" * 130, exc_type="E" * 500, method="m" * 400, outcome=Outcome.FAILED)
		self.created.append(record.name)
		self.assertEqual(insert_new(frappe.db, [record], "UTC", get_bench_id()), 1)
		row = frappe.db.get_value("Job Evidence", record.name, ["exc_type", "method"], as_dict=True)
		self.assertEqual((len(row.exc_type), len(row.method)), (140, 255))

	def test_flush_skips_while_another_flush_holds_the_lock(self):
		conn = get_redis_conn()
		key = FLUSH_LOCK_KEY.format(bench=get_bench_id(), site=frappe.local.site)
		if not conn.set(key, "someone-else", nx=True, ex=30):
			self.skipTest("a real flush holds the lock right now")
		try:
			self.assertIsNone(flush_evidence(conn=conn))
			self.assertEqual(
				conn.get(key), b"someone-else", "a flush must not release a lock it does not hold"
			)
		finally:
			conn.delete(key)

	def test_purge_removes_only_old_rows(self):
		old = _record(f"{frappe.local.site}::{frappe.generate_hash(length=12)}")
		new = _record(f"{frappe.local.site}::{frappe.generate_hash(length=12)}").model_copy(
			update={"ended_at": datetime.now(timezone.utc)}
		)
		self.created += [old.name, new.name]
		insert_new(frappe.db, [old, new], frappe.utils.get_system_timezone(), get_bench_id())
		days = (now_datetime() - datetime(2026, 1, 2)).days - 1
		self.assertGreaterEqual(purge_evidence(days), 1)
		self.assertFalse(frappe.db.exists("Job Evidence", old.name))
		self.assertTrue(frappe.db.exists("Job Evidence", new.name))
		self.assertEqual(purge_evidence(0), 0, "0 days keeps evidence forever")

	def test_ops_roles_read_but_nobody_writes(self):
		for role in ("Ops Viewer", "Ops Operator", "Ops Manager", "System Manager"):
			perms = [p for p in frappe.get_meta("Job Evidence").permissions if p.role == role]
			self.assertEqual(len(perms), 1, role)
			self.assertEqual((perms[0].read, perms[0].write, perms[0].create, perms[0].delete), (1, 0, 0, 0))
		self.assertTrue(frappe.get_meta("Job Evidence").in_create)


class TestEvidenceFromARealWorker(FrappeTestCase):
	"""Jobs enqueued with frappe.enqueue, run by a real `bench worker --burst`, flushed into rows."""

	def tearDown(self):
		if getattr(self, "names", None):
			_delete_evidence(self.names)

	def test_success_and_failure_are_recorded_with_their_document(self):
		method = "erp_ops.erp_ops.doctype.job_evidence.test_job_evidence.sample_job"
		ok = frappe.enqueue(method, queue=TEST_QUEUE, doctype="User", name="Administrator")
		bad = frappe.enqueue(method, queue=TEST_QUEUE, doctype="User", name="Guest", fail=True)
		frappe.db.commit()
		self.names = [evidence_name(ok.id, 1), evidence_name(bad.id, 1)]

		run_burst_worker(TEST_QUEUE)
		wait_for_jobs([ok, bad])
		rows = wait_for_rows(self.names)

		success, failure = rows[self.names[0]], rows[self.names[1]]
		self.assertEqual(success.outcome, "success")
		self.assertEqual((success.ref_doctype, success.ref_name), ("User", "Administrator"))
		self.assertEqual(
			(success.site, success.method, success.queue), (frappe.local.site, method, TEST_QUEUE)
		)
		self.assertEqual(success.user, "Administrator")
		self.assertGreater(success.duration_ms, 0)
		self.assertLessEqual(success.started_at, success.ended_at)
		self.assertTrue(success.worker)
		self.assertEqual(failure.outcome, "failed")
		self.assertEqual(failure.exc_type, "ValueError")
		self.assertIn("sample failure for User Guest", failure.exc_message)
		self.assertEqual((failure.ref_doctype, failure.ref_name), ("User", "Guest"))

		# Flushing again stores nothing twice.
		flush_evidence()
		self.assertEqual(frappe.db.count("Job Evidence", {"name": ("in", self.names)}), 2)


def run_burst_worker(queue: str) -> None:
	"""`bench worker --burst --queue <queue>`: a real RQ worker that exits when the queue is empty."""
	sites_path = os.path.abspath(frappe.local.sites_path)
	subprocess.run(
		[sys.executable, "-m", "frappe.utils.bench_helper", "frappe", "worker", "--burst", "--queue", queue],
		cwd=sites_path,
		check=True,
		timeout=JOB_WAIT_S,
		capture_output=True,
	)


def wait_for_jobs(jobs: list[Job]) -> None:
	# The bench's own worker may have taken a job before the burst worker: wait for either.
	deadline = time.monotonic() + JOB_WAIT_S
	for job in jobs:
		while job.get_status(refresh=True) not in ("finished", "failed"):
			if time.monotonic() > deadline:
				raise AssertionError(f"job {job.id} still {job.get_status()}")
			time.sleep(0.2)


def wait_for_rows(names: list[str]) -> dict:
	"""Flush until the rows exist; the bench's scheduler may be the one that flushes them."""
	deadline = time.monotonic() + JOB_WAIT_S
	while True:
		flush_evidence()
		frappe.db.commit()  # see rows another flusher committed since this transaction began
		rows = frappe.get_all("Job Evidence", filters={"name": ("in", names)}, fields=["*"])
		if len(rows) == len(names) or time.monotonic() > deadline:
			break
		time.sleep(0.5)
	found = {row.name: row for row in rows}
	missing = sorted(set(names) - set(found))
	if missing:
		backlog = stream.backlog(get_redis_conn(), get_bench_id(), frappe.local.site)
		raise AssertionError(f"no Job Evidence for {missing} (stream backlog {backlog})")
	return found


def _job_whose_redis_goes_away() -> str:
	"""The job of the test below: its Redis becomes unreachable between the two hooks."""
	from erp_ops import job_hooks

	job_hooks.before_job(method="x.y", kwargs={})
	get_current_job().connection = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
	job_hooks.after_job(method="x.y", kwargs={})
	return "finished"


class TestJobHooks(FrappeTestCase):
	"""The hooks run inside every job: outside a worker they do nothing, and they never raise."""

	def test_outside_a_worker_the_hooks_do_nothing(self):
		from erp_ops import job_hooks

		self.assertIsNone(job_hooks.before_job(method="x.y", kwargs={}, transaction_type="job"))
		self.assertIsNone(job_hooks.after_job(method="x.y", kwargs={}, result=None))

	def test_evidence_that_cannot_be_written_never_reaches_the_job(self):
		job = Job.create(
			_job_whose_redis_goes_away,
			connection=get_redis_conn(),
			id=f"{frappe.local.site}::evidence-redis-down-{frappe.generate_hash(length=8)}",
		)
		with self.assertLogs("erp_ops.core.evidence.capture", "ERROR") as logs:
			self.assertEqual(job.perform(), "finished")  # a real rq Job, run as a work horse runs it
		self.assertEqual(len(logs.records), 1, logs.output)
		self.assertIn("could not record evidence", logs.output[0])

	def test_scheduled_jobs_are_recorded_under_their_own_method(self):
		from erp_ops.job_hooks import RUN_SCHEDULED_JOB, job_method

		self.assertEqual(
			job_method(RUN_SCHEDULED_JOB, {"job_type": "erp_ops.tasks.flush_job_evidence"}),
			"erp_ops.tasks.flush_job_evidence",
		)
		self.assertEqual(job_method("frappe.ping", {"job_type": "x"}), "frappe.ping")
		self.assertEqual(job_method(RUN_SCHEDULED_JOB, None), RUN_SCHEDULED_JOB)

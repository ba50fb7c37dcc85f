# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

import dataclasses
import uuid

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import get_bench_id
from frappe.utils.background_jobs import get_redis_conn

from erp_ops.api.test_jobs import (
	MANAGER,
	ROLES,
	enqueue_failing,
	other_sites_job,
	redis_record,
	wait_for_state,
)
from erp_ops.api.test_signals import ensure_user
from erp_ops.core.control import autoretry
from erp_ops.core.control import jobs as core_jobs
from erp_ops.core.control.models import JobState, RetryRule
from erp_ops.erp_ops.doctype.ops_settings.ops_settings import get_control_settings
from erp_ops.site import control as site_control
from erp_ops.site.evidence import flush_evidence
from erp_ops.site.testdata import cleanup_hooks

# What this module's tests create in the site goes when they are done (not the Ops Action Log).
setUpModule, tearDownModule = cleanup_hooks()

METHOD = "erp_ops.api.test_jobs.failing_job"
RETRIED = "erp_ops.site.test_control.retried_job"


def retried_job(note: str | None = None) -> None:
	"""Fails always; only the retry-policy test enqueues it, so its rule touches nothing else."""
	raise ValueError("erp_ops retry-policy test job fails on purpose")


def failed_jobs(count: int, note: str) -> list[str]:
	ids = [enqueue_failing(note) for _ in range(count)]
	for job_id in ids:
		assert wait_for_state(job_id, JobState.FAILED) is JobState.FAILED, job_id
	return ids


def flush() -> None:
	# The worker appends evidence after the job's failure lands in the registry: flush until it is in.
	for _ in range(20):
		result = flush_evidence()
		if result is not None and not result.backlog:
			return
		frappe.db.commit()


class TestSiteControl(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_user(MANAGER, ROLES[MANAGER])
		frappe.db.commit()

	def setUp(self):
		self.conn, self.bench_id = get_redis_conn(), get_bench_id()

	def test_sync_creates_a_record_for_a_job_quarantined_without_one(self):
		(job_id,) = failed_jobs(1, uuid.uuid4().hex)
		core_jobs.quarantine(self.conn, self.bench_id, job_id, expected=JobState.FAILED)  # as the CLI would
		self.assertIsNone(frappe.db.get_value("Quarantine", {"job_id": job_id}))
		site_control.sync_quarantine(self.conn)
		record = frappe.get_doc("Quarantine", {"job_id": job_id})
		self.assertEqual((record.status, record.method), ("Quarantined", METHOD))
		self.assertNotIn("hunter2", record.payload_redacted)
		site_control.sync_quarantine(self.conn)  # idempotent
		self.assertEqual(frappe.db.count("Quarantine", {"job_id": job_id}), 1)

	def test_poison_jobs_are_quarantined_and_managers_told(self):
		note = uuid.uuid4().hex  # same method + same kwargs: one digest
		ids = failed_jobs(3, note)
		flush()
		before = frappe.db.count("Notification Log", {"for_user": MANAGER})
		settings = dataclasses.replace(get_control_settings(), poison_threshold=3)
		moved = site_control.check_poison(self.conn, settings)
		frappe.db.commit()
		# The check is site-wide: failures other tests left with a repeated digest move too.
		self.assertLessEqual(set(ids), {r.result.job_id for r in moved})
		for job_id in ids:
			self.assertEqual(core_jobs.job_state(self.conn, self.bench_id, job_id), JobState.QUARANTINED)
			record = frappe.get_doc("Quarantine", {"job_id": job_id})
			self.assertIn("poison", record.reason)
			self.assertTrue(record.quarantine_log)
		# One notification per poison verdict; ours names every job it moved.
		after = frappe.get_all(
			"Notification Log",
			filters={"for_user": MANAGER, "subject": ("like", "Poison job quarantined:%")},
			fields=["email_content"],
			order_by="creation desc",
			limit=frappe.db.count("Notification Log", {"for_user": MANAGER}) - before,
		)
		self.assertTrue(any(all(i in (n.email_content or "") for i in ids) for n in after), after)

	def test_retry_policy_retries_then_quarantines(self):
		job_id = frappe.enqueue(RETRIED, queue="short", job_id=f"erp-ops-test-{uuid.uuid4().hex[:10]}").id
		self.assertEqual(wait_for_state(job_id, JobState.FAILED), JobState.FAILED)
		flush()
		rule = RetryRule(method=RETRIED, max_attempts=2, base_delay_s=0, jitter=0)
		settings = dataclasses.replace(get_control_settings(), retry_rules=(rule,), poison_threshold=99)
		self.assertGreaterEqual(site_control.decide_retries(self.conn, settings)[0], 1)
		self.assertIsNotNone(self.conn.zscore(autoretry.due_key(self.bench_id, frappe.local.site), job_id))
		self.assertEqual(site_control.decide_retries(self.conn, settings), (0, 0))  # decided once
		(retried,) = [r for r in site_control.run_due_retries(self.conn) if r.job_id == job_id]
		new_id = retried.new_job_id
		self.assertEqual(wait_for_state(new_id, JobState.FAILED), JobState.FAILED)
		flush()
		self.assertEqual(frappe.db.get_value("Job Evidence", {"job_id": new_id}, "attempt"), 2)
		_retries, quarantined = site_control.decide_retries(self.conn, settings)
		frappe.db.commit()
		self.assertGreaterEqual(quarantined, 1)
		self.assertEqual(core_jobs.job_state(self.conn, self.bench_id, new_id), JobState.QUARANTINED)
		self.assertIn("retries exhausted", frappe.db.get_value("Quarantine", {"job_id": new_id}, "reason"))


class TestSiteTicksKeepToTheirSite(FrappeTestCase):
	"""The minute's tasks of this site leave another site's jobs in the same queues alone."""

	def setUp(self):
		self.conn, self.bench_id = get_redis_conn(), get_bench_id()
		self.ids = []

	def tearDown(self):
		from erp_ops.core.control import keys as control_keys

		queue = f"{self.bench_id}:short"
		for job_id in self.ids:
			self.conn.delete(f"rq:job:{job_id}", control_keys.quarantined_job_key(self.bench_id, job_id))
			for registry in ("failed", "deferred", "canceled"):
				self.conn.zrem(f"rq:{registry}:{queue}", job_id)
			self.conn.zrem(control_keys.quarantine_key(self.bench_id), job_id)
			self.conn.zrem(autoretry.due_key(self.bench_id, frappe.local.site), job_id)

	def theirs(self, state: str = "failed") -> str:
		job_id = other_sites_job(self.conn, self.bench_id, state)
		self.ids.append(job_id)
		return job_id

	def test_due_retries_stopped_cancels_and_quarantine_sync_skip_another_sites_jobs(self):
		due, stopped, held = self.theirs(), self.theirs(), self.theirs()
		# Hand-crafted states another site's scheduler would own: a retry due (put in this site's
		# list, as a corrupted or forged entry would be), a job its worker stopped on a cancel,
		# a job quarantined from the bench CLI without a record yet.
		self.conn.zadd(autoretry.due_key(self.bench_id, frappe.local.site), {due: 0})
		self.conn.hset(f"rq:job:{stopped}", mapping={"status": "stopped", "erp_ops_cancel": "1"})
		core_jobs.quarantine(self.conn, self.bench_id, held)  # bench-wide, as `erp-ops jobs` does
		before = {job_id: redis_record(self.conn, job_id) for job_id in (stopped, held)}
		self.assertNotIn(due, [r.job_id for r in site_control.run_due_retries(self.conn)])
		self.assertEqual(core_jobs.job_state(self.conn, self.bench_id, due), JobState.FAILED)
		self.assertNotIn(stopped, [r.job_id for r in site_control.finish_stopped_cancels(self.conn)])
		site_control.sync_quarantine(self.conn)
		self.assertIsNone(frappe.db.get_value("Quarantine", {"job_id": held}))
		self.assertEqual({job_id: redis_record(self.conn, job_id) for job_id in (stopped, held)}, before)

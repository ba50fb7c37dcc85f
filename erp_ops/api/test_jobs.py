# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

import json
import subprocess
import sys
import threading
import time
import uuid

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import get_bench_id, get_bench_path, get_test_client
from frappe.utils.background_jobs import get_redis_conn

from erp_ops.api import jobs as api
from erp_ops.api.test_signals import api_token, ensure_user
from erp_ops.core.control import jobs as core_jobs
from erp_ops.core.control.models import JobState

VIEWER = "erp-ops-viewer@example.com"
OPERATOR = "erp-ops-operator@example.com"
MANAGER = "erp-ops-manager@example.com"
MANAGER_2 = "erp-ops-manager-2@example.com"
SYSTEM_MANAGER = "erp-ops-sysmgr@example.com"
NO_ROLE = "erp-ops-no-role@example.com"
ROLES = {
	VIEWER: ("Ops Viewer",),
	OPERATOR: ("Ops Operator",),
	MANAGER: ("Ops Manager",),
	MANAGER_2: ("Ops Manager",),
	SYSTEM_MANAGER: ("System Manager",),
	NO_ROLE: (),
}
MISSING = "erp.localhost::erp-ops-test-missing-job"

# Who may call what: ARCHITECTURE.md's roles table, endpoint by endpoint.
MANAGE = {MANAGER, MANAGER_2, SYSTEM_MANAGER}
OPERATE = {OPERATOR, *MANAGE}
READ = {VIEWER, *OPERATE}
CALLS = {
	"job_state": (READ, lambda: api.job_state(job_id=MISSING)),
	"failed_jobs": (READ, lambda: api.failed_jobs(limit=1)),
	"verify_log_chain": (READ, lambda: api.verify_log_chain()),
	"requeue": (OPERATE, lambda: api.requeue(job_id=MISSING, reason="matrix")),
	"retry": (OPERATE, lambda: api.retry(job_id=MISSING, reason="matrix")),
	"cancel": (OPERATE, lambda: api.cancel(job_id=MISSING, reason="matrix", wait_s=0)),
	"quarantine": (OPERATE, lambda: api.quarantine(job_id=MISSING, reason="matrix")),
	"release": (MANAGE, lambda: api.release(job_id=MISSING, reason="matrix")),
	"purge": (MANAGE, lambda: api.purge(reason="matrix", older_than_days=36500, dry_run=True)),
	"bulk_preview": (
		MANAGE,
		lambda: api.bulk_preview(action="requeue", reason="matrix", filters={"methods": ["nothing.matches"]}),
	),
	"bulk_approve": (MANAGE, lambda: api.bulk_approve(token="0" * 64, reason="matrix")),
	"bulk_execute": (MANAGE, lambda: api.bulk_execute(token="0" * 64, reason="matrix")),
	"bulk_status": (MANAGE, lambda: api.bulk_status(token="0" * 64)),
}
LOGGED = {
	"requeue",
	"retry",
	"cancel",
	"quarantine",
	"release",
	"purge",
	"bulk_preview",
	"bulk_approve",
	"bulk_execute",
}


def failing_job(password: str | None = None, attempt_note: str | None = None) -> None:
	"""A background job that always fails (its `password` must never show unredacted)."""
	raise ValueError("erp_ops test job fails on purpose")


def slow_job(seconds: float = 60) -> None:
	"""A job that runs long enough to be canceled while started."""
	time.sleep(seconds)


# `bench worker --queue short --burst`, run from the sites folder.
BURST_WORKER = [
	sys.executable,
	"-m",
	"frappe.utils.bench_helper",
	"frappe",
	"worker",
	"--queue",
	"short",
	"--burst",
]


def run_worker_burst() -> None:
	"""One `bench worker --burst`: runs what is queued now, then exits."""
	subprocess.run(
		BURST_WORKER,
		cwd=f"{get_bench_path()}/sites",
		check=True,
		capture_output=True,
		timeout=180,
	)


def wait_for_state(job_id: str, *states: JobState, timeout: float = 60) -> JobState:
	conn, bench_id = get_redis_conn(), get_bench_id()
	deadline = time.monotonic() + timeout
	ran_worker = False
	while True:
		state = core_jobs.job_state(conn, bench_id, job_id)
		if state in states or time.monotonic() > deadline:
			return state
		if state is JobState.QUEUED and not ran_worker:
			run_worker_burst()  # the bench's own worker may be faster; either one runs it
			ran_worker = True
			continue
		time.sleep(0.3)


def enqueue_failing(note: str = "") -> str:
	job = frappe.enqueue(
		"erp_ops.api.test_jobs.failing_job",
		queue="short",
		job_id=f"erp-ops-test-{uuid.uuid4().hex[:10]}",
		password="hunter2",
		attempt_note=note,
	)
	return job.id


def log_rows(**filters) -> list[dict]:
	"""The rows that record outcomes (intents, `started`, are left out: site/test_audit checks them)."""
	return frappe.get_all(
		"Ops Action Log",
		filters={"outcome": ("!=", "started"), **filters},
		fields=["name", "user", "action", "outcome", "state_before", "state_after", "targets", "approved_by"],
		order_by="seq desc",
	)


def http(method: str, path: str, token: str, data: dict | None = None):
	"""A request through Frappe's real WSGI app, in its own thread, as a script with an API key would."""
	site = frappe.local.site
	result = {}

	def run():
		# The site is found from the Host, as for any request.
		client = get_test_client(use_cookies=False)
		result["response"] = client.open(
			path,
			method=method,
			data=data,
			headers={"Authorization": f"token {token}"},
			base_url=f"http://{site}",
		)

	thread = threading.Thread(target=run)
	thread.start()
	thread.join()
	return result["response"]


class TestRoleMatrix(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		for user, roles in ROLES.items():
			ensure_user(user, roles)
		frappe.db.commit()

	def tearDown(self):
		frappe.set_user("Administrator")

	def test_each_role_is_allowed_and_denied_exactly_as_the_table_says(self):
		for name, (allowed, call) in CALLS.items():
			for user in ROLES:
				with self.subTest(endpoint=name, user=user):
					frappe.set_user(user)
					denied_before = frappe.db.count("Ops Action Log", {"user": user, "outcome": "denied"})
					try:
						call()
						raised = None
					except Exception as e:
						raised = e
					frappe.set_user("Administrator")
					if user in allowed:
						self.assertNotIsInstance(raised, frappe.PermissionError, f"{name} must allow {user}")
					else:
						self.assertIsInstance(raised, frappe.PermissionError, f"{name} must deny {user}")
						self.assertEqual(raised.http_status_code, 403)
						self.assertIn("Not permitted", str(raised))
						denied_after = frappe.db.count("Ops Action Log", {"user": user, "outcome": "denied"})
						self.assertEqual(denied_after, denied_before + (name in LOGGED), name)
					frappe.clear_messages()

	def test_over_http_a_denial_is_a_logged_403_and_actions_are_post_only(self):
		viewer = api_token(frappe.get_doc("User", VIEWER))
		operator = api_token(frappe.get_doc("User", OPERATOR))
		before = frappe.db.count("Ops Action Log", {"user": VIEWER, "outcome": "denied"})
		response = http(
			"POST", "/api/method/erp_ops.api.jobs.requeue", viewer, {"job_id": MISSING, "reason": "http"}
		)
		self.assertEqual(response.status_code, 403)
		self.assertIn("Not permitted", response.get_data(as_text=True))
		frappe.db.commit()  # end this test's snapshot: the request wrote in its own transaction
		self.assertEqual(frappe.db.count("Ops Action Log", {"user": VIEWER, "outcome": "denied"}), before + 1)
		refused = http("GET", f"/api/method/erp_ops.api.jobs.requeue?job_id={MISSING}&reason=get", operator)
		self.assertEqual(refused.status_code, 403)  # Frappe refuses a method not in methods=[...]
		missing = http(
			"POST", "/api/method/erp_ops.api.jobs.requeue", operator, {"job_id": MISSING, "reason": "http"}
		)
		self.assertEqual(missing.status_code, 404)
		state = http("GET", f"/api/method/erp_ops.api.jobs.job_state?job_id={MISSING}", viewer)
		self.assertEqual((state.status_code, state.json["message"]["state"]), (200, "missing"))

	def test_an_action_without_a_reason_is_refused_and_logged(self):
		frappe.set_user(OPERATOR)
		self.assertRaises(frappe.ValidationError, api.requeue, job_id=MISSING, reason="  ")
		frappe.set_user("Administrator")
		row = log_rows(user=OPERATOR)[0]
		self.assertEqual((row.action, row.outcome), ("requeue", "failed"))

	def test_a_missing_job_answers_404_and_is_logged(self):
		frappe.set_user(OPERATOR)
		with self.assertRaises(frappe.DoesNotExistError):
			api.requeue(job_id=MISSING, reason="not there")
		frappe.set_user("Administrator")
		self.assertEqual(log_rows(user=OPERATOR)[0].outcome, "failed")


class TestJobActionsEndToEnd(FrappeTestCase):
	"""Against the bench's Redis and a real `bench worker --burst`."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		for user, roles in ROLES.items():
			ensure_user(user, roles)
		frappe.db.commit()

	def tearDown(self):
		frappe.set_user("Administrator")

	def failed_job(self) -> str:
		job_id = enqueue_failing()
		self.assertEqual(wait_for_state(job_id, JobState.FAILED), JobState.FAILED)
		return job_id

	def test_requeue_retry_conflict_and_idempotency(self):
		job_id = self.failed_job()
		frappe.set_user(OPERATOR)
		request = uuid.uuid4().hex
		first = api.requeue(job_id=job_id, reason="e2e requeue", expected="failed", request_id=request)
		again = api.requeue(job_id=job_id, reason="e2e requeue", expected="failed", request_id=request)
		self.assertEqual(first, again)  # same request id: acted once, same answer
		self.assertEqual(first["result"]["state_after"], "queued")
		frappe.set_user("Administrator")
		rows = log_rows(targets=job_id)
		self.assertEqual([(r.action, r.outcome) for r in rows], [("requeue", "done")])
		self.assertEqual(rows[0].name, first["log"])

		self.assertEqual(wait_for_state(job_id, JobState.FAILED), JobState.FAILED)
		frappe.set_user(OPERATOR)
		retried = api.retry(job_id=job_id, reason="e2e retry", expected="failed")
		new_id = retried["result"]["new_job_id"]
		self.assertTrue(new_id and new_id != job_id)
		frappe.set_user("Administrator")
		self.assertEqual(wait_for_state(new_id, JobState.FAILED), JobState.FAILED)
		self.assertEqual(core_jobs.job_state(get_redis_conn(), get_bench_id(), job_id), JobState.RETRIED)

	def test_quarantine_then_release_by_a_manager(self):
		job_id = self.failed_job()
		frappe.set_user(OPERATOR)
		done = api.quarantine(job_id=job_id, reason="e2e quarantine", expected="failed")
		record = done["result"]["quarantine"]
		self.assertEqual(done["result"]["state_after"], "quarantined")
		self.assertEqual(core_jobs.job_state(get_redis_conn(), get_bench_id(), job_id), JobState.QUARANTINED)
		# Another operator acting on the failed job they saw gets a conflict, and nothing moves.
		with self.assertRaises(frappe.ValidationError) as raised:
			api.requeue(job_id=job_id, reason="too late", expected="failed")
		self.assertEqual(raised.exception.http_status_code, 409)
		self.assertEqual(core_jobs.job_state(get_redis_conn(), get_bench_id(), job_id), JobState.QUARANTINED)

		doc = frappe.get_doc("Quarantine", record)
		self.assertEqual(doc.quarantine_log, done["log"])
		self.assertNotIn("hunter2", doc.payload_redacted)
		self.assertIn("hunter2", doc.payload_raw)
		self.assertFalse(doc.has_permlevel_access_to("payload_raw"))  # an operator
		frappe.set_user(VIEWER)
		self.assertTrue(frappe.has_permission("Quarantine", "read", record))
		self.assertFalse(frappe.get_doc("Quarantine", record).has_permlevel_access_to("payload_raw"))
		frappe.set_user(MANAGER)
		self.assertTrue(frappe.get_doc("Quarantine", record).has_permlevel_access_to("payload_raw"))

		frappe.set_user(OPERATOR)
		with self.assertRaises(frappe.PermissionError):
			api.release(job_id=job_id, reason="operators cannot release")
		frappe.set_user(MANAGER)
		released = api.release(job_id=job_id, reason="e2e release")
		self.assertEqual(released["result"]["state_after"], "queued")
		frappe.set_user("Administrator")
		doc.reload()
		self.assertEqual(
			(doc.status, doc.release_log, doc.released_by), ("Released", released["log"], MANAGER)
		)
		self.assertEqual(wait_for_state(job_id, JobState.FAILED), JobState.FAILED)  # it ran again
		outcomes = [(r.user, r.action, r.outcome) for r in log_rows(targets=job_id)]
		self.assertEqual(
			outcomes[:4],
			[
				(MANAGER, "release", "done"),
				(OPERATOR, "release", "denied"),
				(OPERATOR, "requeue", "conflict"),
				(OPERATOR, "quarantine", "done"),
			],
		)

	def test_bulk_preview_confirm_and_four_eyes(self):
		ids = [self.failed_job() for _ in range(2)]
		settings = frappe.get_single("Ops Settings")
		settings.four_eyes, settings.four_eyes_threshold = 1, 1
		settings.save()
		frappe.db.commit()
		try:
			frappe.set_user(MANAGER)
			flt = json.dumps({"methods": ["erp_ops.api.test_jobs.failing_job"], "sites": [frappe.local.site]})
			preview = api.bulk_preview(action="requeue", reason="e2e bulk", filters=flt)["result"]
			self.assertGreaterEqual(preview["count"], 2)
			self.assertEqual(preview["state"], "pending approval")
			token = preview["token"]
			with self.assertRaises(frappe.PermissionError):
				api.bulk_execute(token=token, reason="not approved yet")
			with self.assertRaises(frappe.PermissionError):
				api.bulk_approve(token=token, reason="my own")
			frappe.set_user(MANAGER_2)
			approved = api.bulk_approve(token=token, reason="second pair of eyes")["result"]
			self.assertEqual((approved["state"], approved["approved_by"]), ("ready", MANAGER_2))
			frappe.set_user(MANAGER)
			result = api.bulk_execute(token=token, reason="e2e bulk")["result"]
			self.assertEqual(result["moved"] + result["skipped"], result["planned"])
			self.assertEqual(api.bulk_status(token=token)["state"], "done")
		finally:
			frappe.set_user("Administrator")
			settings.reload()
			settings.four_eyes_threshold = 500
			settings.save()
			frappe.db.commit()
		rows = log_rows(targets=token)
		self.assertEqual(
			[(r.user, r.outcome) for r in rows][:4],
			[(MANAGER, "done"), (MANAGER_2, "done"), (MANAGER, "denied"), (MANAGER, "denied")],
		)
		self.assertEqual(rows[0].approved_by, MANAGER_2)
		conn, bench_id = get_redis_conn(), get_bench_id()
		for job_id in ids:
			self.assertIn(
				core_jobs.job_state(conn, bench_id, job_id),
				(JobState.QUEUED, JobState.STARTED, JobState.FAILED),
			)

	def test_bulk_release_of_quarantined_jobs(self):
		ids = [self.failed_job() for _ in range(2)]
		frappe.set_user(OPERATOR)
		for job_id in ids:
			api.quarantine(job_id=job_id, reason="bulk release e2e", expected="failed")
		frappe.set_user(MANAGER)
		try:
			flt = json.dumps({"methods": ["erp_ops.api.test_jobs.failing_job"], "sites": [frappe.local.site]})
			preview = api.bulk_preview(action="release", reason="fixed upstream", filters=flt)["result"]
			self.assertGreaterEqual(preview["count"], 2)
			result = api.bulk_execute(token=preview["token"], reason="fixed upstream")["result"]
			self.assertEqual(result["moved"] + result["skipped"], result["planned"])
		finally:
			frappe.set_user("Administrator")
		conn, bench_id = get_redis_conn(), get_bench_id()
		for job_id in ids:
			self.assertNotEqual(core_jobs.job_state(conn, bench_id, job_id), JobState.QUARANTINED)
		self.assertEqual([r.outcome for r in log_rows(targets=preview["token"])][:2], ["done", "done"])

	def test_cancel_stops_a_started_job_through_its_worker(self):
		job_id = frappe.enqueue(
			"erp_ops.api.test_jobs.slow_job", queue="short", job_id=f"erp-ops-test-{uuid.uuid4().hex[:10]}"
		).id
		conn, bench_id = get_redis_conn(), get_bench_id()
		# In the background: a burst worker would block this test until the job ended.
		burst = subprocess.Popen(
			BURST_WORKER,
			cwd=f"{get_bench_path()}/sites",
			stdout=subprocess.DEVNULL,
			stderr=subprocess.DEVNULL,
		)
		try:
			deadline = time.monotonic() + 60
			while core_jobs.job_state(conn, bench_id, job_id) is not JobState.STARTED:
				self.assertLess(time.monotonic(), deadline, "the job never started")
				time.sleep(0.2)
			frappe.set_user(OPERATOR)
			done = api.cancel(job_id=job_id, reason="e2e cancel", expected="started", wait_s=10)
			frappe.set_user("Administrator")
			self.assertEqual(done["result"]["state_before"], "started")
			if done["result"]["state_after"] != "canceled":  # the worker was slow to stop it
				time.sleep(2)
				from erp_ops.site.control import finish_stopped_cancels

				finish_stopped_cancels(conn)
			self.assertEqual(core_jobs.job_state(conn, bench_id, job_id), JobState.CANCELED)
		finally:
			burst.wait(timeout=90)

	def test_failed_jobs_are_listed_redacted(self):
		job_id = self.failed_job()
		frappe.set_user(VIEWER)
		rows = {
			r["job_id"]: r for r in api.failed_jobs(method="erp_ops.api.test_jobs.failing_job", limit=500)
		}
		self.assertIn(job_id, rows)
		self.assertNotIn("hunter2", json.dumps(rows[job_id]))
		self.assertEqual(rows[job_id]["exc_type"], "ValueError")

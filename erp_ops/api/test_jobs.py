# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

import json
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import get_bench_id, get_bench_path, get_test_client
from frappe.utils.background_jobs import get_redis_conn

import erp_ops.api as erp_ops_api
from erp_ops.api import jobs as api
from erp_ops.api.test_signals import api_token, ensure_user
from erp_ops.core.control import jobs as core_jobs
from erp_ops.core.control.models import JobState
from erp_ops.site import audit
from erp_ops.site.testdata import cleanup_hooks

# What this module's tests create in the site goes when they are done (not the Ops Action Log).
setUpModule, tearDownModule = cleanup_hooks()

VIEWER = "erp-ops-viewer@example.com"
OPERATOR = "erp-ops-operator@example.com"
MANAGER = "erp-ops-manager@example.com"
MANAGER_2 = "erp-ops-manager-2@example.com"
SYSTEM_MANAGER = "erp-ops-sysmgr@example.com"
NO_ROLE = "erp-ops-no-role@example.com"
DESK_USER = "erp-ops-desk-user@example.com"  # a Desk user with no Ops role
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
	"permissions": (READ, lambda: erp_ops_api.permissions()),
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


class OpsUsersTestCase(FrappeTestCase):
	"""The matrix's users exist; every test ends as Administrator."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		for user, roles in ROLES.items():
			ensure_user(user, roles)
		frappe.db.commit()

	def tearDown(self):
		frappe.set_user("Administrator")


class TestRoleMatrix(OpsUsersTestCase):
	def test_the_shipped_permissions_equal_the_role_matrix(self):
		"""What `erp_ops.api.permissions` reports (and every endpoint enforces) per role, out of
		Ops Job Action's DocType permissions: the table the roles had when they were hard-coded."""
		expected = {
			"view": READ,
			"requeue": OPERATE,
			"retry": OPERATE,
			"cancel": OPERATE,
			"quarantine": OPERATE,
			"release": MANAGE,
			"bulk": MANAGE,
			"purge": MANAGE,
			"verify_log": READ,
			# The other capabilities' switchboards (Ops Drill/Preflight/Event/Alert/Runbook Action),
			# shipped as the role lists they replaced.
			"drills": READ,
			"drill": MANAGE,
			"retention": MANAGE,
			"retention_apply": MANAGE,
			"preflights": READ,
			"preflight": MANAGE,
			"events": READ,
			"replay": OPERATE,
			"replay_range": MANAGE,
			"alerts": READ,
			"acknowledge": OPERATE,
			"runbooks": READ,
			"review": MANAGE,
		}
		self.assertEqual(set(expected), set(erp_ops_api.PERMISSIONS))  # every action has its row here
		for user in READ:
			frappe.set_user(user)
			allowed = erp_ops_api.permissions()
			frappe.set_user("Administrator")
			self.assertEqual(
				{a: allowed[a] for a in expected}, {a: user in who for a, who in expected.items()}
			)

	def test_role_permission_manager_changes_who_may_act(self):
		"""A System Manager grants Ops Viewer `write` on Ops Job Action in Desk: viewers may requeue."""
		from frappe.core.page.permission_manager.permission_manager import (
			get_permissions,
			reset,
			update,
		)

		frappe.set_user(VIEWER)
		with self.assertRaises(frappe.PermissionError):
			api.requeue(job_id=MISSING, reason="before the change")
		frappe.clear_messages()
		frappe.set_user("Administrator")
		self.assertTrue(any(p.role == "Ops Viewer" for p in get_permissions("Ops Job Action")))
		update("Ops Job Action", "Ops Viewer", 0, "write", 1)
		frappe.db.commit()  # Role Permission Manager clears the caches after the commit
		try:
			frappe.set_user(VIEWER)
			with self.assertRaises(frappe.DoesNotExistError):  # allowed now: the job is just missing
				api.requeue(job_id=MISSING, reason="after the change")
			self.assertTrue(erp_ops_api.permissions()["requeue"])
		finally:
			frappe.set_user("Administrator")
			reset("Ops Job Action")
			frappe.db.commit()
		frappe.set_user(VIEWER)
		self.assertFalse(erp_ops_api.permissions()["requeue"])

	def test_role_permission_manager_decides_drills_preflight_alerts_runbooks_and_replay_too(self):
		"""Granting Ops Viewer `write` on a capability's switchboard lets viewers do that action, on
		the server, through the endpoint itself; resetting the DocType takes it back."""
		from frappe.core.page.permission_manager.permission_manager import reset, update

		from erp_ops.api import alerts as alerts_api
		from erp_ops.api import runbooks as runbooks_api

		calls = {
			"Ops Alert Action": (
				"acknowledge",
				lambda: alerts_api.acknowledge(name="ALERT-does-not-exist", note="viewer"),
				frappe.DoesNotExistError,  # allowed: the alert is just missing
			),
			"Ops Runbook Action": (
				"review",
				lambda: runbooks_api.mark_reviewed(name="RB-does-not-exist", notes="viewer"),
				frappe.DoesNotExistError,
			),
		}
		for doctype, (action, call, allowed_error) in calls.items():
			frappe.set_user(VIEWER)
			with self.assertRaises(frappe.PermissionError, msg=doctype):
				call()
			frappe.clear_messages()
			frappe.set_user("Administrator")
			update(doctype, "Ops Viewer", 0, "write", 1)
			frappe.db.commit()
			try:
				frappe.set_user(VIEWER)
				self.assertTrue(erp_ops_api.permissions()[action], doctype)
				with self.assertRaises(allowed_error, msg=doctype):
					call()
				frappe.clear_messages()
			finally:
				frappe.set_user("Administrator")
				reset(doctype)
				frappe.db.commit()
			frappe.set_user(VIEWER)
			self.assertFalse(erp_ops_api.permissions()[action], doctype)
			frappe.set_user("Administrator")

	def test_the_operations_workspace_and_its_page_are_for_ops_roles_only(self):
		ensure_user(DESK_USER, ("Blogger",))
		frappe.db.commit()
		from frappe.desk.desktop import get_workspace_sidebar_items

		for user, visible in ((DESK_USER, False), (VIEWER, True), (SYSTEM_MANAGER, True)):
			frappe.set_user(user)
			pages = [p.name for p in get_workspace_sidebar_items()["pages"]]
			self.assertEqual("Operations" in pages, visible, user)
			page = frappe.get_doc("Page", "failed-jobs")
			self.assertEqual(bool(page.is_permitted()), visible, user)
			chart = frappe.get_doc("Dashboard Chart", "Job Outcomes per Hour")
			self.assertEqual(bool({r.role for r in chart.roles} & set(frappe.get_roles(user))), visible)
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
						# A user without any Ops role is counted, not chained one row each (first of a window).
						logged = name in LOGGED and (user != NO_ROLE or denied_after > denied_before)
						self.assertEqual(denied_after, denied_before + logged, name)
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
		# A job that does not exist is a 404, as another site's job is (neither confirms anything).
		state = http("GET", f"/api/method/erp_ops.api.jobs.job_state?job_id={MISSING}", viewer)
		self.assertEqual(state.status_code, 404)
		# A missing or empty required parameter is a 422 before anything is attempted or logged.
		frappe.db.commit()  # see the rows the requests above committed
		rows = frappe.db.count("Ops Action Log", {"user": OPERATOR})
		for data in ({"job_id": MISSING}, {"job_id": MISSING, "reason": "  "}, {"reason": "no job"}):
			response = http("POST", "/api/method/erp_ops.api.jobs.requeue", operator, data)
			self.assertEqual(response.status_code, 422, data)
		frappe.db.commit()
		self.assertEqual(frappe.db.count("Ops Action Log", {"user": OPERATOR}), rows)

	def test_an_action_without_a_reason_is_refused_and_not_logged(self):
		rows = frappe.db.count("Ops Action Log", {"user": MANAGER})
		frappe.set_user(MANAGER)  # allowed every one of these: only the missing parameter refuses
		for call in (
			lambda: api.requeue(job_id=MISSING, reason="  "),
			lambda: api.requeue(job_id=MISSING),
			lambda: api.purge(),
			lambda: api.bulk_execute(token="0" * 40),
			lambda: api.job_state(),
		):
			with self.assertRaises(frappe.ValidationError) as raised:
				call()
			self.assertEqual(raised.exception.http_status_code, 422)
			frappe.clear_messages()
		frappe.set_user("Administrator")
		self.assertEqual(frappe.db.count("Ops Action Log", {"user": MANAGER}), rows)

	def test_a_purge_retention_out_of_range_is_a_422_naming_the_range_and_deletes_nothing(self):
		frappe.set_user(MANAGER)
		for days in (-1, float("nan"), float("inf"), 1e12):
			with self.subTest(days=days), self.assertRaises(frappe.ValidationError) as caught:
				api.purge(reason="bad retention", older_than_days=days, dry_run=False)
			self.assertEqual(caught.exception.http_status_code, 422)
			self.assertIn("older_than_days must be a number from 1 to 36500", str(caught.exception))
			frappe.clear_messages()
		frappe.set_user("Administrator")

	def test_a_missing_job_answers_404_and_is_logged(self):
		frappe.set_user(OPERATOR)
		with self.assertRaises(frappe.DoesNotExistError):
			api.requeue(job_id=MISSING, reason="not there")
		frappe.set_user("Administrator")
		self.assertEqual(log_rows(user=OPERATOR)[0].outcome, "failed")


class TestJobActionsEndToEnd(OpsUsersTestCase):
	"""Against the bench's Redis and a real `bench worker --burst`."""

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


OTHER_SITE = "erp-ops-other-site.localhost"  # a second site of the same bench, in its queues


def other_sites_job(conn, bench_id: str, state: str) -> str:
	"""A job of another site in this bench's `short` queue, stored through RQ's API as that site's
	worker would leave it (Frappe's job id `<site>::…`, Frappe's execute_job and its kwargs)."""
	from rq.job import Job, JobStatus
	from rq.registry import FailedJobRegistry

	queue = f"{bench_id}:short"
	job = Job.create(
		"frappe.utils.background_jobs.execute_job",
		kwargs={
			"site": OTHER_SITE,
			"user": "Administrator",
			"method": "erp_ops.api.test_jobs.failing_job",
			"event": None,
			"job_name": "erp_ops.api.test_jobs.failing_job",
			"is_async": True,
			"kwargs": {"password": "their-secret"},
		},
		connection=conn,
		id=f"{OTHER_SITE}::{uuid.uuid4()}",
		origin=queue,
		failure_ttl=3600,
	)
	pipe = conn.pipeline()
	if state == "failed":
		job.ended_at = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(days=400)
		job._status = JobStatus.FAILED
		job.save(pipeline=pipe)
		FailedJobRegistry(queue, connection=conn).add(job, ttl=3600, pipeline=pipe)
	else:  # deferred: nothing runs it, whatever the bench's workers do meanwhile
		job._status = JobStatus.DEFERRED
		job.save(pipeline=pipe)
		pipe.zadd(f"rq:deferred:{queue}", {job.id: time.time() + 3600})
	pipe.execute()
	return job.id


def redis_record(conn, job_id: str) -> dict:
	"""Everything Redis holds about a job: its hash and every registry/queue naming it."""
	from erp_ops.core.control import keys as control_keys

	bench_id = get_bench_id()
	found = {"hash": conn.hgetall(f"rq:job:{job_id}")}
	for key in conn.scan_iter(f"rq:*{bench_id}:short*"):
		kind = conn.type(key)
		if kind == b"zset" and conn.zscore(key, job_id) is not None:
			found[key] = conn.zscore(key, job_id)
		elif kind == b"list" and job_id.encode() in conn.lrange(key, 0, -1):
			found[key] = "listed"
	found["quarantine"] = conn.zscore(control_keys.quarantine_key(bench_id), job_id)
	found["quarantined"] = conn.hgetall(control_keys.quarantined_job_key(bench_id, job_id))
	return found


class TestSiteScope(OpsUsersTestCase):
	"""Two sites' jobs in one bench's queues: every endpoint sees and moves only this site's.

	Another site's job or token answers as one that does not exist (404, or 422 for a token),
	Redis is untouched, and the attempt is a `denied` row in this site's Ops Action Log.
	"""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		from erp_ops.core.control import bulk as core_bulk
		from erp_ops.core.control.models import Action, BulkFilter

		conn, bench_id = get_redis_conn(), get_bench_id()
		cls.failed = other_sites_job(conn, bench_id, "failed")
		cls.deferred = other_sites_job(conn, bench_id, "deferred")
		cls.held = other_sites_job(conn, bench_id, "failed")
		core_jobs.quarantine(conn, bench_id, cls.held, site=OTHER_SITE)
		cls.token = core_bulk.preview(
			conn,
			bench_id,
			Action.REQUEUE,
			BulkFilter(methods=["erp_ops.api.test_jobs.failing_job"]),
			requested_by="someone@other.site",
			reason="their bulk",
			approval_above=None,
			site=OTHER_SITE,
		).token
		cls.ids = (cls.failed, cls.deferred, cls.held)

	@classmethod
	def tearDownClass(cls):
		from erp_ops.core.control import keys as control_keys

		conn, bench_id = get_redis_conn(), get_bench_id()
		queue = f"{bench_id}:short"
		for job_id in cls.ids:
			conn.delete(f"rq:job:{job_id}", control_keys.quarantined_job_key(bench_id, job_id))
			conn.zrem(f"rq:failed:{queue}", job_id)
			conn.zrem(f"rq:deferred:{queue}", job_id)
			conn.zrem(control_keys.quarantine_key(bench_id), job_id)
		conn.delete(control_keys.bulk_key(bench_id, cls.token))
		super().tearDownClass()

	def assert_refused_as_missing(self, user: str, call, target: str, status: int = 404):
		conn = get_redis_conn()
		before = {job_id: redis_record(conn, job_id) for job_id in self.ids}
		denied = frappe.db.count("Ops Action Log", {"user": user, "outcome": "denied"})
		frappe.set_user(user)
		with self.assertRaises(frappe.ValidationError) as raised:
			call()
		frappe.set_user("Administrator")
		frappe.clear_messages()
		self.assertEqual(raised.exception.http_status_code, status)
		# Worded as for a job (or token) that does not exist: nothing about the other site.
		self.assertNotIn(OTHER_SITE + "'", str(raised.exception).replace(target, ""))
		self.assertEqual({job_id: redis_record(conn, job_id) for job_id in self.ids}, before)
		self.assertEqual(frappe.db.count("Ops Action Log", {"user": user, "outcome": "denied"}), denied + 1)
		(row,) = frappe.get_all(
			"Ops Action Log",
			filters={"user": user, "outcome": "denied"},
			fields=["targets", "error"],
			order_by="seq desc",
			limit=1,
		)
		self.assertEqual(row.targets, target)
		self.assertIn("another site's job or token", row.error)

	def test_every_single_job_endpoint_answers_404_for_another_sites_job(self):
		calls = {
			"requeue": (OPERATOR, self.failed, lambda: api.requeue(job_id=self.failed, reason="x-site")),
			"retry": (OPERATOR, self.failed, lambda: api.retry(job_id=self.failed, reason="x-site")),
			"cancel": (
				OPERATOR,
				self.deferred,
				lambda: api.cancel(job_id=self.deferred, reason="x-site", wait_s=0),
			),
			"quarantine": (
				OPERATOR,
				self.failed,
				lambda: api.quarantine(job_id=self.failed, reason="x-site"),
			),
			"release": (MANAGER, self.held, lambda: api.release(job_id=self.held, reason="x-site")),
			"job_state": (VIEWER, self.failed, lambda: api.job_state(job_id=self.failed)),
		}
		for name, (user, target, call) in calls.items():
			with self.subTest(endpoint=name):
				self.assert_refused_as_missing(user, call, target)

	def test_bulk_token_of_another_site_is_unknown_here(self):
		for name, call in {
			"bulk_approve": lambda: api.bulk_approve(token=self.token, reason="x-site"),
			"bulk_execute": lambda: api.bulk_execute(token=self.token, reason="x-site"),
			"bulk_status": lambda: api.bulk_status(token=self.token),
		}.items():
			with self.subTest(endpoint=name):
				self.assert_refused_as_missing(MANAGER_2, call, self.token, status=422)

	def test_lists_previews_and_purge_cover_this_sites_jobs_only(self):
		conn = get_redis_conn()
		before = {job_id: redis_record(conn, job_id) for job_id in self.ids}
		frappe.set_user(VIEWER)
		listed = {r["job_id"] for r in api.failed_jobs(method="erp_ops.api.test_jobs.failing_job", limit=500)}
		self.assertFalse(listed & set(self.ids))
		frappe.set_user(MANAGER)
		# The filter asks for the other site: the server keeps to this one.
		flt = json.dumps({"methods": ["erp_ops.api.test_jobs.failing_job"], "sites": [OTHER_SITE]})
		preview = api.bulk_preview(action="requeue", reason="x-site", filters=flt)["result"]
		self.assertEqual(preview["count"], 0)
		# Purge for real with a retention the other site's 400-day-old failed job is past.
		purged = api.purge(reason="x-site", older_than_days=365, registries="failed", dry_run=0)["result"]
		self.assertNotIn(self.failed, purged["sample"])
		self.assertEqual(purged["scope"], frappe.local.site)
		frappe.set_user("Administrator")
		self.assertEqual({job_id: redis_record(conn, job_id) for job_id in self.ids}, before)

	def test_the_snapshot_shows_another_sites_jobs_and_locks_only_as_counts(self):
		from erp_ops.core.signals.models import (
			FileLock,
			Finding,
			QueueStats,
			Severity,
			Snapshot,
			StartedJob,
			WorkerInfo,
		)
		from erp_ops.core.signals.snapshot import site_view

		site, queue = frappe.local.site, f"{get_bench_id()}:short"
		ours = f"{site}::{uuid.uuid4()}"
		snap = Snapshot(
			taken_at=datetime.now(timezone.utc),
			bench_id=get_bench_id(),
			queues=[QueueStats(name=queue, short_name="short", queued=3, oldest_queued_job_id=self.failed)],
			workers=[WorkerInfo(name="w1", current_job=self.failed), WorkerInfo(name="w2", current_job=ours)],
			started_jobs=[
				StartedJob(job_id=self.failed, queue=queue, site=OTHER_SITE, abandoned=True),
				StartedJob(job_id=ours, queue=queue, site=site),
			],
			locks=[
				FileLock(
					site=OTHER_SITE, name="SINV-9", path="/their/lock", kind="document", age_s=9, stale=True
				),
				FileLock(site=site, name="SINV-1", path="/our/lock", kind="document", age_s=9, stale=True),
			],
			findings=[
				Finding(code="job_abandoned", severity=Severity.CRITICAL, message="x", subject=self.failed),
				Finding(code="stale_lock", severity=Severity.WARNING, message="x", subject="/their/lock"),
				Finding(code="stale_lock", severity=Severity.WARNING, message="x", subject="/our/lock"),
				Finding(code="queue_unserved", severity=Severity.CRITICAL, message="x", subject=queue),
			],
		)
		view = site_view(snap, frappe.local.site)
		self.assertNotIn(OTHER_SITE, view.model_dump_json())
		self.assertEqual(view.queues[0].queued, 3)  # counts stay the bench's
		self.assertEqual([w.current_job for w in view.workers], [None, ours])
		self.assertEqual([j.job_id for j in view.started_jobs], [ours])
		self.assertEqual([lock.path for lock in view.locks], ["/our/lock"])
		self.assertEqual([f.subject for f in view.findings], ["/our/lock", queue])

	def test_the_same_request_id_on_two_sites_does_not_collide(self):
		from erp_ops.core.control import idempotency

		conn, bench_id = get_redis_conn(), get_bench_id()
		request = uuid.uuid4().hex
		# The other site used this request id first.
		idempotency.once(
			conn,
			bench_id,
			request,
			"their-fingerprint",
			api.ActionResponse,
			lambda: api.ActionResponse(log="theirs", result={}),
			site=OTHER_SITE,
		)
		frappe.set_user(OPERATOR)
		with self.assertRaises(frappe.DoesNotExistError):  # acted (the job is missing), not a 409
			api.requeue(job_id=MISSING, reason="own request", request_id=request)


class TestBulkRepeatAndDenialFlood(OpsUsersTestCase):
	def test_a_token_executed_twice_answers_the_stored_result_and_logs_one_done_row(self):
		job_id = enqueue_failing("bulk twice")
		self.assertEqual(wait_for_state(job_id, JobState.FAILED), JobState.FAILED)
		frappe.set_user(MANAGER)
		flt = json.dumps({"methods": ["erp_ops.api.test_jobs.failing_job"]})
		token = api.bulk_preview(action="quarantine", reason="bulk twice", filters=flt)["result"]["token"]
		first = api.bulk_execute(token=token, reason="bulk twice")
		second = api.bulk_execute(token=token, reason="bulk twice")
		frappe.set_user("Administrator")
		self.assertEqual(second["log"], first["log"])
		self.assertTrue(second["result"]["replayed"])
		self.assertEqual({**second["result"], "replayed": False}, first["result"])
		done = [r for r in log_rows(targets=token) if r.outcome == "done"]
		self.assertEqual(len(done), 2, done)  # the preview and one execution
		# The quarantined jobs get their records from the minute's sync (the bulk path's contract).
		from erp_ops.site.control import sync_quarantine

		sync_quarantine()

	def test_a_thousand_denied_calls_by_a_portal_user_add_a_handful_of_rows(self):
		"""Over HTTP to the bench's web server, logged in as a Website User (no Ops role)."""
		import requests
		from frappe.utils.password import update_password

		user = ensure_user(PORTAL_USER, ())
		user.user_type = "Website User"
		user.save(ignore_permissions=True)
		password = frappe.generate_hash(length=16)
		update_password(PORTAL_USER, password)
		frappe.db.commit()
		# Start from a clean count for this user (an earlier run in the same window would have one).
		window = audit._window()
		pipe = frappe.cache.pipeline()  # raw keys, as the counter writes them
		for w in range(window - 4, window + 1):
			pipe.delete(audit.DENIAL_COUNT.format(site=frappe.local.site, window=w, user=PORTAL_USER))
			pipe.srem(audit.DENIAL_USERS.format(site=frappe.local.site, window=w), PORTAL_USER)
		pipe.execute()
		last_seq = frappe.db.sql("select max(seq) from `tabOps Action Log`")[0][0] or 0

		def new_rows() -> list[dict]:
			return frappe.get_all(
				"Ops Action Log",
				filters={"user": PORTAL_USER, "seq": (">", last_seq)},
				fields=["reason", "targets", "error", "outcome"],
				order_by="seq asc",
			)

		base = f"http://{frappe.local.site}:{frappe.conf.webserver_port or 8000}"
		session = requests.Session()
		login = session.post(
			f"{base}/api/method/login", data={"usr": PORTAL_USER, "pwd": password}, timeout=30
		)
		self.assertEqual(login.status_code, 200, login.text[:300])
		statuses = {}
		for i in range(1000):
			path = ("requeue", "purge", "bulk_execute")[i % 3]
			data = {"job_id": MISSING, "reason": "flood", "token": "0" * 40}
			response = session.post(f"{base}/api/method/erp_ops.api.jobs.{path}", data=data, timeout=30)
			statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
		self.assertEqual(statuses, {403: 1000})
		frappe.db.commit()  # a fresh snapshot: the web server committed in its own transactions
		firsts = [r for r in new_rows() if "counted and summarised" in (r.error or "")]
		# The first denial of each 10-minute window (one, or two across a boundary); the scheduler's
		# summary of a window that closed meanwhile may be there too.
		self.assertIn(len(firsts), (1, 2))
		self.assertLessEqual(len(new_rows()), 3)

		# Once the windows have closed, each is summarised in one row carrying its count.
		audit.summarise_denials(now=time.time() + 2 * audit.DENIAL_WINDOW_S)
		rows = new_rows()
		self.assertLessEqual(len(rows), 4)  # a handful, for 1,000 calls
		self.assertTrue(all(r.outcome == "denied" for r in rows))
		summaries = [r for r in rows if "rate-limited" in (r.error or "")]
		total = sum(int(r.reason.split()[0]) for r in summaries)
		self.assertEqual(total + (len(firsts) - len(summaries)), 1000)
		per_action = {}
		for r in summaries:
			for line in r.targets.split("\n"):
				action, n = line.split(": ")
				per_action[action] = per_action.get(action, 0) + int(n)
		self.assertEqual(sorted(per_action), ["purge", "requeue"])  # bulk_execute is logged as requeue


PORTAL_USER = "erp-ops-portal-user@example.com"

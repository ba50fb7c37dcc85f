# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

"""The Ops Console's endpoint on a real site: real Redis (the bench's queue Redis, a queue of the
test's own), real Restore Drill rows, the roles of real users, and a real GET through Frappe."""

import uuid
from datetime import datetime, timedelta, timezone

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import get_bench_id
from frappe.utils.background_jobs import get_redis_conn
from rq import Queue
from rq.job import Job

from erp_ops.api import console
from erp_ops.api.test_signals import NO_ROLE_USER, VIEWER, api_token, ensure_user, http_get
from erp_ops.site import console as console_view
from erp_ops.site.signals import site_snapshot

OPERATOR = "erp-ops-console-operator@example.com"
MANAGER = "erp-ops-console-manager@example.com"
BACKLOG = 7


class TestConsoleAPI(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_user(NO_ROLE_USER, ())
		ensure_user(VIEWER, ("Ops Viewer",))
		ensure_user(OPERATOR, ("Ops Operator",))
		ensure_user(MANAGER, ("Ops Manager",))
		frappe.db.commit()

	def setUp(self):
		self.conn = get_redis_conn()
		self.tag = f"erp-ops-console-{uuid.uuid4().hex[:8]}"
		self.queue = Queue(f"{get_bench_id()}:{self.tag}", connection=self.conn)

	def tearDown(self):
		frappe.set_user("Administrator")
		self.conn.srem("rq:queues", self.queue.key)
		keys = [self.queue.key, *self.conn.scan_iter(match=f"rq:job:{self.tag}-*", count=1000)]
		self.conn.delete(*keys)

	def seed_backlog(self, age: timedelta) -> None:
		"""BACKLOG jobs queued `age` ago on the test's own queue (RQ's API; no worker serves it)."""
		then = (datetime.now(timezone.utc) - age).replace(tzinfo=None)
		pipe = self.conn.pipeline(transaction=False)
		for i in range(BACKLOG):
			job = Job.create(
				"time.sleep", args=(1,), connection=self.conn, origin=self.queue.name, id=f"{self.tag}-{i}"
			)
			job.enqueued_at = then + timedelta(seconds=i)
			job.set_status("queued", pipeline=pipe)
			job.save(pipeline=pipe)
			pipe.rpush(self.queue.key, job.id)
		pipe.sadd("rq:queues", self.queue.key)
		pipe.execute()

	def test_a_user_without_an_ops_role_is_refused(self):
		frappe.set_user(NO_ROLE_USER)
		self.assertRaises(frappe.PermissionError, console.state)
		self.assertFalse(console.has_app_permission())

	def test_permissions_follow_the_role(self):
		expected = {
			VIEWER: dict.fromkeys(console.permissions(), False),
			OPERATOR: {"job_actions": True, "acknowledge": True, "bulk": False, "run_drill": False},
			MANAGER: {"job_actions": True, "acknowledge": True, "bulk": True, "run_drill": True},
		}
		for user, want in expected.items():
			with self.subTest(user=user):
				frappe.set_user(user)
				got = console.state()["permissions"]
				self.assertEqual({k: got[k] for k in want}, want)
				self.assertTrue(console.has_app_permission())

	def test_backlog_and_failed_drill_are_shown_in_words_critical_first(self):
		self.seed_backlog(timedelta(hours=2))
		drill = frappe.get_doc(
			{
				"doctype": "Restore Drill",
				"outcome": "Failed",
				"reason": f"{self.tag}: dump unreadable",
				"site": frappe.local.site,
				"triggered_by": "Bench",
				# The newest drill (latest start): the suite's own drill tests ran minutes ago.
				"started_at": frappe.utils.now_datetime() - timedelta(seconds=20),
				"finished_at": frappe.utils.now_datetime() - timedelta(seconds=10),
			}
		).insert(ignore_permissions=True)
		self.addCleanup(frappe.delete_doc, "Restore Drill", drill.name, ignore_permissions=True, force=True)
		frappe.set_user(VIEWER)
		out = console_view.build(site_snapshot(cache_seconds=0))
		row = next(q for q in out["queues"] if q["queue"] == self.tag)
		self.assertEqual(row["queued"], BACKLOG)
		self.assertEqual(row["workers"], 0)
		self.assertGreaterEqual(row["oldest_age_s"], 2 * 3600 - 60)
		self.assertEqual(row["oldest_job_id"], f"{self.tag}-0")
		self.assertEqual(out["recovery"]["drill"]["name"], drill.name)
		self.assertEqual(out["recovery"]["drill"]["outcome"], "Failed")
		self.assertNotEqual(out["recovery"]["backups"]["severity"], "ok")
		self.assertEqual(out["verdict"], "critical")
		severities = [f["severity"] for f in out["findings"]]
		self.assertEqual(severities, sorted(severities, key=console_view.SEVERITY_ORDER.__getitem__))
		mine = [f for f in out["findings"] if f["subject"] == self.queue.name]
		self.assertTrue(mine, out["findings"])
		self.assertTrue(all(f["runbook"] for f in mine))
		self.assertIn("drill", {f["code"] for f in out["findings"]})

	def test_rendering_enqueues_nothing(self):
		def counts() -> dict[str, int]:
			return {k: self.conn.llen(k) for k in self.conn.smembers("rq:queues")}

		before = counts()
		frappe.set_user(VIEWER)
		for _ in range(3):
			console.state()
		self.assertEqual(counts(), before)

	def test_one_get_over_http_and_no_post(self):
		token = api_token(ensure_user(VIEWER, ("Ops Viewer",)))
		response = http_get("/api/method/erp_ops.api.console.state", token)
		self.assertEqual(response.status_code, 200, response.get_data(as_text=True)[:500])
		body = response.get_json()["message"]
		for key in (
			"verdict",
			"findings",
			"queues",
			"workers",
			"running",
			"schedulers",
			"alerts",
			"log",
			"recovery",
		):
			self.assertIn(key, body)
		self.assertEqual(body["schedulers"][0]["site"], frappe.local.site)

	def test_finding_age_grows_while_it_lasts(self):
		self.seed_backlog(timedelta(hours=1))
		frappe.set_user(VIEWER)
		snap = site_snapshot(cache_seconds=0)
		key = f"oldest_job_age|{self.queue.name}"
		seen_key = console_view.SEEN_KEY.format(bench=get_bench_id(), site=frappe.local.site)
		self.conn.hset(seen_key, key, datetime.now(timezone.utc).timestamp() - 90)
		first = next(f for f in console_view.build(snap)["findings"] if f["key"] == key)
		self.assertGreaterEqual(first["age_s"], 90)

# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

import json
import shutil
import subprocess
import threading

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import get_test_client

from erp_ops.api import signals
from erp_ops.core.signals import prometheus
from erp_ops.erp_ops.dashboard_chart_source.job_outcomes_per_hour import job_outcomes_per_hour

NO_ROLE_USER = "erp-ops-no-role@example.com"
VIEWER = "erp-ops-viewer@example.com"

CARD_METHODS = (
	signals.queued_jobs,
	signals.oldest_queued_job_age,
	signals.failed_jobs_last_hour,
	signals.workers_alive,
	signals.scheduler_status,
)


def ensure_user(email: str, roles: tuple[str, ...]) -> "frappe.core.doctype.user.user.User":
	if frappe.db.exists("User", email):
		user = frappe.get_doc("User", email)
	else:
		user = frappe.get_doc(
			{"doctype": "User", "email": email, "first_name": email.split("@")[0], "send_welcome_email": 0}
		).insert(ignore_permissions=True)
	user.remove_roles(*[r.role for r in user.roles if r.role not in roles])
	user.add_roles(*roles)
	return user


def api_token(user) -> str:
	"""`key:secret` for the `Authorization: token` header, committed so a request thread sees it."""
	secret = frappe.generate_hash(length=15)
	user.api_key = user.api_key or frappe.generate_hash(length=15)
	user.api_secret = secret
	user.save(ignore_permissions=True)
	frappe.db.commit()
	return f"{user.api_key}:{secret}"


def http_get(path: str, token: str | None = None):
	"""GET through Frappe's real WSGI app, in its own thread and request context, like a client."""
	site = frappe.local.site
	headers = {"Authorization": f"token {token}"} if token else {}
	result = {}

	def run():
		# The site is found from the Host, as for any request.
		result["response"] = get_test_client(use_cookies=False).get(
			path, headers=headers, base_url=f"http://{site}"
		)

	thread = threading.Thread(target=run)
	thread.start()
	thread.join()
	return result["response"]


class TestSignalsAPI(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_user(NO_ROLE_USER, ())
		ensure_user(VIEWER, ("Ops Viewer",))
		frappe.db.commit()

	def tearDown(self):
		frappe.set_user("Administrator")

	def test_every_endpoint_refuses_a_user_without_an_ops_role(self):
		frappe.set_user(NO_ROLE_USER)
		for endpoint in (signals.snapshot, signals.metrics, *CARD_METHODS, job_outcomes_per_hour.get):
			with self.subTest(endpoint=endpoint.__name__):
				self.assertRaises(frappe.PermissionError, endpoint)

	def test_snapshot_for_an_ops_viewer(self):
		frappe.set_user(VIEWER)
		snap = signals.snapshot(fresh=True)
		for key in (
			"taken_at",
			"bench_id",
			"redis_ok",
			"queues",
			"workers",
			"schedulers",
			"findings",
			"host",
		):
			self.assertIn(key, snap)
		self.assertTrue(snap["redis_ok"], snap.get("redis_error"))
		self.assertEqual([s["site"] for s in snap["schedulers"]], [frappe.local.site])
		self.assertIn("default", {q["short_name"] for q in snap["queues"]})
		# the site's own figures beside the bench totals
		self.assertEqual(snap["site"], frappe.local.site)
		self.assertEqual(snap["site_figures"]["site"], frappe.local.site)
		self.assertEqual(json.loads(json.dumps(snap)), snap, "snapshot must be plain JSON")

	def test_metrics_are_prometheus_text(self):
		frappe.set_user(VIEWER)
		response = signals.metrics()
		self.assertEqual(response.headers["Content-Type"], prometheus.CONTENT_TYPE)
		text = response.get_data(as_text=True)
		self.assertIn("# TYPE erp_ops_queue_jobs gauge", text)
		bench = frappe.utils.get_bench_id()
		self.assertIn(f'erp_ops_scheduler_up{{bench="{bench}",site="{frappe.local.site}"}}', text)
		# the site scope: the families only the site's database feeds are declared
		for family in (
			"erp_ops_drill_last_verdict",
			"erp_ops_preflight_last_score",
			"erp_ops_integration_events",
		):
			self.assertIn(f"# TYPE {family} gauge", text)
		self.assertTrue(text.endswith("\n"))
		promtool = shutil.which("promtool")
		if promtool:  # Debian's prometheus package; CI's core suite always checks the same collector
			check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
			self.assertEqual((check.returncode, check.stdout + check.stderr), (0, ""))

	def test_number_cards_return_what_the_card_widget_reads(self):
		frappe.set_user(VIEWER)
		queued = signals.queued_jobs(filters="[]")
		text = queued["value"] if isinstance(queued, dict) else queued
		own = signals.site_snapshot().site_figures.queued
		self.assertRegex(str(text).replace("\u00a0", " "), rf"^{own} here of \d+$")
		for method in (signals.failed_jobs_last_hour, signals.workers_alive):
			with self.subTest(method=method.__name__):
				card = method(filters="[]")
				self.assertIsInstance(card["value"], int)
				self.assertEqual(card["fieldtype"], "Int")
				self.assertIsInstance(card["route"], list)
		self.assertIsInstance(signals.oldest_queued_job_age(), str)
		self.assertIn(signals.scheduler_status(), ("Running", "Inactive", "Degraded", "Unknown"))

	def test_chart_source_returns_hourly_buckets(self):
		frappe.set_user(VIEWER)
		data = job_outcomes_per_hour.get(filters=json.dumps({"hours": 6}))
		self.assertEqual(len(data["labels"]), 6)
		self.assertEqual(
			[d["name"] for d in data["datasets"]], ["success", "failed", "timed out", "abandoned", "canceled"]
		)
		self.assertTrue(all(len(d["values"]) == 6 for d in data["datasets"]))


class TestSignalsOverHTTP(FrappeTestCase):
	"""The same gate seen by a real client: status codes and content types through Frappe's WSGI app."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.no_role_token = api_token(ensure_user(NO_ROLE_USER, ()))
		cls.viewer_token = api_token(ensure_user(VIEWER, ("Ops Viewer",)))
		frappe.db.commit()

	def test_metrics_403_without_role_and_200_for_an_ops_viewer(self):
		denied = http_get("/api/method/erp_ops.api.signals.metrics", self.no_role_token)
		self.assertEqual(denied.status_code, 403, denied.get_data(as_text=True)[:500])

		allowed = http_get("/api/method/erp_ops.api.signals.metrics", self.viewer_token)
		self.assertEqual(allowed.status_code, 200, allowed.get_data(as_text=True)[:500])
		self.assertTrue(allowed.headers["Content-Type"].startswith("text/plain; version=0.0.4"))
		self.assertIn("erp_ops_workers{", allowed.get_data(as_text=True))

	def test_snapshot_403_for_guest_and_json_for_an_ops_viewer(self):
		self.assertEqual(http_get("/api/method/erp_ops.api.signals.snapshot").status_code, 403)
		allowed = http_get("/api/method/erp_ops.api.signals.snapshot", self.viewer_token)
		self.assertEqual(allowed.status_code, 200, allowed.get_data(as_text=True)[:500])
		self.assertIn("queues", allowed.json["message"])

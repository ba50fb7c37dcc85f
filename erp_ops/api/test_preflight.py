# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

import json
import time

import frappe
from frappe.tests.utils import FrappeTestCase

from erp_ops.api import preflight as api
from erp_ops.api.test_jobs import http
from erp_ops.api.test_signals import api_token, ensure_user
from erp_ops.core.preflight.models import Verdict
from erp_ops.site.testdata import cleanup_hooks

# What this module's tests create in the site goes when they are done (not the Ops Action Log).
setUpModule, tearDownModule = cleanup_hooks()

VIEWER = "erp-ops-viewer@example.com"
MANAGER = "erp-ops-manager@example.com"
NO_ROLE = "erp-ops-no-role@example.com"
JOB_WAIT_S = 90


def preflight_log_rows(**filters) -> list[dict]:
	return frappe.get_all(
		"Ops Action Log",
		filters={"action": "preflight", **filters},
		fields=["name", "user", "outcome", "targets", "state_after", "reason"],
		order_by="seq desc",
	)


class TestSitePreflight(FrappeTestCase):
	def test_the_site_preflight_runs_and_is_stored_with_findings_and_a_verdict(self):
		result = api.run(target=16, now=True)
		doc = frappe.get_doc("Upgrade Preflight", result["name"])
		self.assertIn(doc.verdict, [v.value for v in Verdict])
		self.assertEqual((doc.site, doc.target, doc.jump), (frappe.local.site, 16, "15->16"))
		self.assertTrue(doc.findings, "a v15 site has something to do before v16")
		self.assertEqual(len(doc.findings), min(result["findings"], 2000))
		self.assertEqual(doc.blockers, sum(1 for f in doc.findings if f.severity == "blocker"))
		self.assertTrue(doc.summary_md.startswith("# Upgrade preflight: "))
		report = json.loads(doc.report_json)
		self.assertEqual(report["site"]["site"], frappe.local.site)
		self.assertIsNotNone(report["site"]["mariadb_version"])
		self.assertGreater(report["site"]["db_size_bytes"], 0)
		# The run is evidence like any other action: one Ops Action Log row naming the record.
		row = preflight_log_rows()[0]
		self.assertEqual((row.name, row.outcome, row.user), (result["log"], "done", "Administrator"))
		self.assertIn(doc.name, row.targets.split("\n"))
		self.assertIn(doc.verdict, row.state_after)

	def test_get_returns_the_stored_report(self):
		name = api.run(target=16, now=True)["name"]
		got = api.get(name=name)
		self.assertEqual(got["name"], name)
		self.assertEqual(got["verdict"], got["report"]["verdict"])
		self.assertEqual(got["risk_score"], got["report"]["risk"]["score"])
		self.assertRaises(frappe.DoesNotExistError, api.get, name="no-such-preflight")

	def test_an_unknown_target_is_refused_before_anything_runs(self):
		with self.assertRaises(frappe.ValidationError) as raised:
			api.run(target=99, now=True)
		self.assertEqual(raised.exception.http_status_code, 422)

	def test_the_number_card_shows_the_latest_verdict(self):
		api.run(target=16, now=True)
		card = api.latest_verdict()
		self.assertEqual(card["route"], ["List", "Upgrade Preflight"])
		self.assertIn("\u00a0risk\u00a0", card["value"])
		self.assertNotIn(" ", card["value"])
		self.assertLess(sum(c.isdigit() for c in card["value"]), 5)

	def test_run_queues_one_long_job_per_target_and_the_worker_stores_it(self):
		frappe.db.commit()
		before = frappe.db.count("Upgrade Preflight")
		first = api.run(target=16)
		second = api.run(target=16)
		job_id = f"{frappe.local.site}::erp_ops-preflight-v16"
		self.assertEqual((first["job_id"], second["job_id"]), (job_id, job_id))
		deadline = time.monotonic() + JOB_WAIT_S
		while time.monotonic() < deadline:
			frappe.db.rollback()  # a fresh snapshot: the worker commits in its own transaction
			if frappe.db.count("Upgrade Preflight") > before:
				break
			time.sleep(0.5)
		else:
			self.fail(f"the worker stored no preflight within {JOB_WAIT_S}s (is `bench worker` running?)")
		self.assertEqual(preflight_log_rows()[0].user, "Administrator")
		stored = frappe.get_all("Upgrade Preflight", pluck="report_json", order_by="creation desc", limit=1)
		# The job was started while it read the queues: it does not count as a job in the way.
		self.assertNotIn(job_id, json.loads(stored[0])["queues"]["started_job_ids"])


class TestPreflightRoles(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_user(VIEWER, ("Ops Viewer",))
		ensure_user(MANAGER, ("Ops Manager",))
		ensure_user(NO_ROLE, ())
		frappe.db.commit()
		cls.stored = api.run(target=16, now=True)["name"]

	def tearDown(self):
		frappe.set_user("Administrator")

	def test_an_ops_viewer_may_read_but_not_run(self):
		frappe.set_user(VIEWER)
		denied_before = frappe.db.count("Ops Action Log", {"user": VIEWER, "action": "preflight"})
		with self.assertRaises(frappe.PermissionError) as raised:
			api.run(target=16, now=True)
		self.assertEqual(raised.exception.http_status_code, 403)
		self.assertEqual(api.get(name=self.stored)["name"], self.stored)
		frappe.set_user("Administrator")
		self.assertEqual(
			frappe.db.count("Ops Action Log", {"user": VIEWER, "action": "preflight", "outcome": "denied"}),
			denied_before + 1,
		)

	def test_an_ops_manager_may_run(self):
		frappe.set_user(MANAGER)
		result = api.run(target=16, now=True)
		frappe.set_user("Administrator")
		self.assertEqual(preflight_log_rows(name=result["log"])[0].user, MANAGER)

	def test_over_http_a_user_without_ops_roles_gets_403_for_both(self):
		no_role = api_token(frappe.get_doc("User", NO_ROLE))
		viewer = api_token(frappe.get_doc("User", VIEWER))
		run = http("POST", "/api/method/erp_ops.api.preflight.run", no_role, {"target": 16, "now": 1})
		self.assertEqual(run.status_code, 403)
		got = http("GET", f"/api/method/erp_ops.api.preflight.get?name={self.stored}", no_role)
		self.assertEqual(got.status_code, 403)
		denied = http("POST", "/api/method/erp_ops.api.preflight.run", viewer, {"target": 16, "now": 1})
		self.assertEqual(denied.status_code, 403)
		allowed = http("GET", f"/api/method/erp_ops.api.preflight.get?name={self.stored}", viewer)
		self.assertEqual(allowed.status_code, 200)
		self.assertEqual(allowed.json["message"]["name"], self.stored)
		self.assertIn("verdict", allowed.json["message"]["report"])

# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import get_bench_id
from frappe.utils.background_jobs import get_redis_conn

from erp_ops.core.preflight import pending_patches
from erp_ops.site import preflight as preflight_facts
from erp_ops.site.testdata import cleanup_hooks

# What this module's tests create in the site goes when they are done (not the Ops Action Log).
setUpModule, tearDownModule = cleanup_hooks()


class TestPreflightFacts(FrappeTestCase):
	def test_patches_are_read_from_every_installed_app_and_checked_against_patch_log(self):
		texts = preflight_facts.patches_by_app()
		self.assertIn("frappe", texts)
		executed = preflight_facts.executed_patches()
		# A migrated site has run every patch frappe ships…
		self.assertEqual(pending_patches({"frappe": texts["frappe"]}, executed), [])
		# …and one that Patch Log does not name is pending.
		text = "[post_model_sync]\nerp_ops.patches.never_ran_in_a_test\n"
		pending = pending_patches({"erp_ops": text}, executed)
		self.assertEqual(
			[(p.app, p.patch) for p in pending], [("erp_ops", "erp_ops.patches.never_ran_in_a_test")]
		)

	def test_a_property_setter_is_a_customization_of_its_doctype(self):
		setter = frappe.get_doc(
			{
				"doctype": "Property Setter",
				"doctype_or_field": "DocField",
				"doc_type": "ToDo",
				"field_name": "description",
				"property": "bold",
				"property_type": "Check",
				"value": "1",
			}
		).insert(ignore_permissions=True)
		try:
			found = {(c.kind, c.doctype, c.name) for c in preflight_facts.customizations()}
		finally:
			setter.delete(ignore_permissions=True)
		self.assertIn(("Property Setter", "ToDo", setter.name), found)
		self.assertIn(("Customize Form", "ToDo", "ToDo"), found)

	def test_pending_jobs_count_this_sites_waiting_jobs_only(self):
		conn, bench_id = get_redis_conn(), get_bench_id()
		key = f"rq:scheduled:{bench_id}:long"
		mine = f"{frappe.local.site}::erp-ops-preflight-facts-test"
		other = "other.site::erp-ops-preflight-facts-test"
		before = preflight_facts.pending_job_count(conn, bench_id, frappe.local.site)
		# Scheduled far in the future: RQ's scheduler never moves them in the test's lifetime.
		conn.zadd(key, {mine: 4_102_444_800, other: 4_102_444_800})
		try:
			after = preflight_facts.pending_job_count(conn, bench_id, frappe.local.site)
		finally:
			conn.zrem(key, mine, other)
		self.assertEqual(after, before + 1)

	def test_site_facts_without_restore_drills(self):
		facts = preflight_facts.site_facts()
		self.assertEqual(facts.site, frappe.local.site)
		if not frappe.db.exists("DocType", "Restore Drill"):
			self.assertEqual((facts.drills_exist, facts.last_restore_drill_at), (False, None))
		self.assertTrue(facts.mariadb_version)
		self.assertGreater(facts.db_size_bytes, 0)
		self.assertIsInstance(facts.scheduler_paused, bool)


class TestSiteScripts(FrappeTestCase):
	def test_an_enabled_client_script_is_scanned_with_the_app_rules(self):
		from erp_ops.core.preflight import SiteFacts, run_preflight

		script = frappe.get_doc(
			{
				"doctype": "Client Script",
				"name": "erp_ops preflight test links",
				"dt": "ToDo",
				"view": "Form",
				"enabled": 1,
				"script": "frappe.ui.form.on('ToDo', {\n\trefresh(frm) {\n\t\twindow.open('/app/user');\n\t}\n});\n",
			}
		).insert(ignore_permissions=True)
		try:
			scripts = {s.name: s for s in preflight_facts.site_scripts() if s.kind == "Client Script"}
			self.assertIn(script.name, scripts)
			report = run_preflight(
				preflight_facts.bench_path(),
				16,
				site_facts=SiteFacts(site=frappe.local.site, scripts=[scripts[script.name]]),
			)
			where = {(f.check, f.evidence.file, f.evidence.line) for f in report.findings if f.evidence}
			self.assertIn(("v16-desk-route-app", f"Client Script: {script.name}", 3), where)
		finally:
			frappe.delete_doc("Client Script", script.name, force=True, ignore_permissions=True)

# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

import json

import frappe
from frappe.tests.utils import FrappeTestCase

from erp_ops.site import install


class TestInstall(FrappeTestCase):
	def test_roles_exist_with_desk_access(self):
		for role in install.OPS_ROLES:
			self.assertEqual(frappe.db.get_value("Role", role, "desk_access"), 1, role)

	def test_ensure_roles_is_idempotent(self):
		self.assertEqual(install.ensure_roles(), [])
		temp = "Ops Install Test Role"
		frappe.delete_doc("Role", temp, ignore_missing=True, force=True)
		roles = (*install.OPS_ROLES, temp)
		self.assertEqual(install.ensure_roles(roles), [temp])
		self.assertEqual(install.ensure_roles(roles), [])
		self.assertTrue(frappe.db.exists("Role", temp))
		frappe.delete_doc("Role", temp, force=True)

	def test_after_migrate_runs_the_same_steps(self):
		install.after_migrate()
		self.assertFalse(install.ensure_settings(), "settings were stored on install")
		self.assertEqual(frappe.db.get_single_value("Ops Settings", "evidence_retention_days"), 30)

	def test_scheduler_events_are_synced(self):
		tick = frappe.db.get_value(
			"Scheduled Job Type", "tasks.tick", ["method", "frequency", "cron_format"], as_dict=True
		)
		self.assertEqual(tick.method, "erp_ops.tasks.tick")
		self.assertEqual((tick.frequency, tick.cron_format), ("Cron", "* * * * *"))
		# One erp_ops job a minute: the steps the tick took over are no longer scheduled on their own.
		for old in ("tasks.flush_job_evidence", "tasks.evaluate_alerts", "tasks.maybe_start_restore_drill"):
			self.assertFalse(frappe.db.exists("Scheduled Job Type", old), old)
		self.assertEqual(
			frappe.db.get_value("Scheduled Job Type", "tasks.purge_job_evidence", "frequency"), "Daily Long"
		)

	def test_operations_workspace_and_its_widgets_exist(self):
		workspace = frappe.get_doc("Workspace", "Operations")
		self.assertEqual((workspace.module, workspace.public), ("ERP Ops", 1))
		blocks = json.loads(workspace.content)
		labels = {
			"number_card": {row.label for row in workspace.number_cards},
			"chart": {row.label for row in workspace.charts},
			"shortcut": {row.label for row in workspace.shortcuts},
			"custom_block": {row.label for row in workspace.custom_blocks},
		}
		for block in blocks:
			name = block["data"].get(f"{block['type']}_name")
			if block["type"] in labels:
				# The desk finds a block's widget by the child row's label.
				self.assertIn(name, labels[block["type"]], block)
		for row in workspace.number_cards:
			card = frappe.get_doc("Number Card", row.number_card_name)
			if card.type == "Custom":
				self.assertTrue(frappe.get_attr(card.method))
			else:  # a plain count (Firing Alerts) over one of the app's DocTypes
				self.assertEqual((card.type, card.function), ("Document Type", "Count"))
				self.assertTrue(frappe.db.exists("DocType", card.document_type))
		for row in workspace.custom_blocks:
			self.assertTrue(frappe.db.exists("Custom HTML Block", row.custom_block_name))
		for row in workspace.charts:
			chart = frappe.get_doc("Dashboard Chart", row.chart_name)
			self.assertTrue(frappe.db.exists("Dashboard Chart Source", chart.source))


class TestSeedOnceAndInstall(FrappeTestCase):
	def tearDown(self):
		frappe.db.rollback()  # the deletions below are never committed

	def test_a_deleted_default_is_not_recreated_by_migrate(self):
		rule = frappe.get_all("Ops Alert Rule", pluck="name", limit=1)[0]
		runbook = frappe.get_all("Runbook", pluck="name", limit=1)[0]
		frappe.db.delete("Ops Alert Rule", rule)
		frappe.db.delete("Runbook", runbook)
		install.after_migrate()
		self.assertFalse(frappe.db.exists("Ops Alert Rule", rule))
		self.assertFalse(frappe.db.exists("Runbook", runbook))
		# A later version's new default comes by a patch that seeds it by name.
		self.assertEqual(install.ensure_alert_rules([rule]), [rule])
		self.assertEqual(install.ensure_runbooks([runbook]), [runbook])

	def test_after_install_checks_every_doctype_of_the_app(self):
		shipped = install._app_doctypes()
		self.assertIn("Ops Chain Head", shipped)
		self.assertIn("Integration Source", shipped)
		self.assertEqual(install.ensure_doctypes(), [])  # all there: nothing to sync

	def test_the_module_map_is_rebuilt_from_apps_txt(self):
		frappe.cache.set_value("app_modules", {"frappe": ["core"]})  # as cached before get-app
		frappe.local.app_modules = frappe.cache.get_value("app_modules")
		install.rebuild_module_map()
		self.assertIn("erp_ops", frappe.local.app_modules.get("erp_ops", []))
		self.assertEqual(frappe.local.module_app.get("erp_ops"), "erp_ops")

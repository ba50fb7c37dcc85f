# Copyright (c) 2026, erp_ops developers and Contributors
# See license.txt

import frappe
from frappe.tests.utils import FrappeTestCase

from erp_ops.core.alerts.defaults import load_rules
from erp_ops.core.runbooks.seed import load_runbooks
from erp_ops.site.alerts import core_rule
from erp_ops.site.alerts import load_rules as site_rules
from erp_ops.site.install import ensure_alert_rules

TEST_RULE = "test-rule-validation"


class TestOpsAlertRule(FrappeTestCase):
	def tearDown(self):
		frappe.db.rollback()

	def test_the_default_rules_are_seeded_for_the_seeded_runbooks_and_edits_are_kept(self):
		shipped = {r.name: r for r in load_rules()}
		self.assertEqual(len(shipped), 15)
		on_site = {r.name: r for r in site_rules()}
		self.assertLessEqual(set(shipped), set(on_site))
		for name, rule in shipped.items():
			self.assertEqual(on_site[name].model_dump(), rule.model_dump(), name)
		self.assertLessEqual({rb.name for rb in load_runbooks()}, {r.runbook for r in on_site.values()})

		doc = frappe.get_doc("Ops Alert Rule", "queue-backlog")
		doc.threshold = 2000
		doc.save()
		self.assertEqual(ensure_alert_rules(), [])
		self.assertEqual(frappe.db.get_value("Ops Alert Rule", "queue-backlog", "threshold"), 2000)

	def test_a_rule_the_core_refuses_is_refused_on_save_with_the_reason(self):
		base = {"doctype": "Ops Alert Rule", "rule_name": TEST_RULE, "threshold": 1}
		with self.assertRaisesRegex(frappe.ValidationError, "no figure 'queud'"):
			frappe.get_doc({**base, "signal": "queues.*.queud"}).insert()
		with self.assertRaisesRegex(frappe.ValidationError, "safe side"):
			frappe.get_doc(
				{**base, "signal": "queues.*.queued", "use_clear_threshold": 1, "clear_threshold": 5}
			).insert()
		with self.assertRaisesRegex(frappe.ValidationError, "webhook"):
			frappe.get_doc({**base, "signal": "workers.dead", "webhook_urls": "ftp://example.com/x"}).insert()
		with self.assertRaisesRegex(frappe.ValidationError, "Nobody Role"):
			frappe.get_doc({**base, "signal": "workers.dead", "notify_roles": "Nobody Role"}).insert()
		doc = frappe.get_doc(
			{
				**base,
				"signal": "failure_rate.*.rate_5m",
				"comparison": ">=",
				"threshold": 0.5,
				"guard_signal": "failure_rate.*.total_5m",
				"guard_threshold": 5,
				"notify_roles": "Ops Manager",
			}
		).insert()
		rule = core_rule(doc)
		self.assertEqual((rule.guard.signal, rule.guard.threshold), ("failure_rate.*.total_5m", 5))
		self.assertEqual(rule.notify.roles, ["Ops Manager"])

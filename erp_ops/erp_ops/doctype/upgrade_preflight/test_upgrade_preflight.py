# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import get_datetime, get_system_timezone

from erp_ops.core.clock import to_site_time
from erp_ops.core.preflight.models import Severity
from erp_ops.site.preflight import create_record, latest, preflight_report
from erp_ops.site.testdata import cleanup_hooks

# What this module's tests create in the site goes when they are done (not the Ops Action Log).
setUpModule, tearDownModule = cleanup_hooks()


class TestUpgradePreflight(FrappeTestCase):
	def tearDown(self):
		frappe.db.rollback()

	def test_a_report_is_stored_in_site_time_with_the_worst_findings_first(self):
		report = preflight_report(16)
		name = create_record(report)
		doc = frappe.get_doc("Upgrade Preflight", name)
		self.assertEqual(
			get_datetime(doc.generated_at).replace(microsecond=0),
			to_site_time(report.generated_at, get_system_timezone()).replace(microsecond=0),
		)
		ranks = [Severity(f.severity).rank for f in doc.findings]
		self.assertEqual(ranks, sorted(ranks, reverse=True))
		self.assertEqual(len(doc.findings), len(report.findings))
		self.assertEqual(latest().name, name)

	def test_nobody_creates_one_from_the_desk(self):
		self.assertTrue(frappe.get_meta("Upgrade Preflight").in_create)
		self.assertFalse(frappe.has_permission("Upgrade Preflight", "create", user="Guest"))

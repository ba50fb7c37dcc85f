# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

import frappe
from frappe.tests.utils import FrappeTestCase

from erp_ops.core.signals import Thresholds
from erp_ops.erp_ops.doctype.ops_settings.ops_settings import (
	get_retention_days,
	get_snapshot_cache_seconds,
	get_thresholds,
)


class TestOpsSettings(FrappeTestCase):
	def tearDown(self):
		frappe.db.rollback()
		frappe.clear_document_cache("Ops Settings", "Ops Settings")

	def test_defaults_match_the_core(self):
		self.assertEqual(get_thresholds(), Thresholds())
		self.assertEqual(get_retention_days(), 30)
		self.assertEqual(get_snapshot_cache_seconds(), 5.0)

	def test_saved_values_reach_the_core(self):
		settings = frappe.get_single("Ops Settings")
		settings.oldest_job_warning_s = 60
		settings.oldest_job_critical_s = 120
		settings.evidence_retention_days = 7
		settings.save()
		thresholds = get_thresholds()
		self.assertEqual((thresholds.oldest_job_warning_s, thresholds.oldest_job_critical_s), (60, 120))
		self.assertEqual(get_retention_days(), 7)

	def test_inconsistent_thresholds_are_refused(self):
		settings = frappe.get_single("Ops Settings")
		settings.oldest_job_warning_s = 600
		settings.oldest_job_critical_s = 60
		self.assertRaises(frappe.ValidationError, settings.save)
		settings.reload()
		settings.failure_rate_warning = 1.5
		self.assertRaises(frappe.ValidationError, settings.save)

	def test_numbers_out_of_range_are_refused_naming_the_field_and_range(self):
		for field, value, needle in (
			(
				"purge_retention_days",
				-1,
				"Purge Jobs Older Than (days) must be a whole number from 1 to 36500",
			),
			("oldest_job_critical_s", float("nan"), "Oldest Queued Job: Critical (seconds) must be a number"),
			("snapshot_cache_seconds", float("inf"), "from 0 to 3600"),
			("event_retention_days", 10**12, "from 1 to 36500"),
		):
			with self.subTest(field=field, value=value):
				settings = frappe.get_single("Ops Settings")
				settings.set(field, value)
				with self.assertRaises(frappe.ValidationError) as caught:
					settings.save()
				self.assertIn(needle, str(caught.exception))
		settings = frappe.get_single("Ops Settings")
		settings.append(
			"retry_rules", {"method": "x.y", "max_attempts": 3, "jitter": 0.5, "factor": float("nan")}
		)
		with self.assertRaises(frappe.ValidationError) as caught:
			settings.save()
		self.assertIn("Retry rule 1: Backoff Factor must be a number from 1 to 100", str(caught.exception))

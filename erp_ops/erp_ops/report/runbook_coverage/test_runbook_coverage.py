# Copyright (c) 2026, erp_ops developers and Contributors
# See license.txt

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import add_to_date, now_datetime

from erp_ops.erp_ops.report.runbook_coverage.runbook_coverage import execute

UNCOVERED = "erp_ops.tests.coverage.nothing_answers_this"
COVERED = "erp_ops.tests.coverage.worker_died_under_it"


def failure(method: str, outcome: str, exc_type: str | None, minutes_ago: int = 5) -> None:
	ended = add_to_date(now_datetime(), minutes=-minutes_ago)
	frappe.get_doc(
		{
			"doctype": "Job Evidence",
			"job_id": f"{frappe.local.site}::{frappe.generate_hash(length=12)}",
			"attempt": 1,
			"method": method,
			"outcome": outcome,
			"exc_type": exc_type,
			"exc_message": f"{exc_type}: boom" if exc_type else None,
			"site": frappe.local.site,
			"started_at": add_to_date(ended, seconds=-2),
			"ended_at": ended,
		}
	).insert(ignore_permissions=True)


class TestRunbookCoverage(FrappeTestCase):
	def tearDown(self):
		frappe.db.rollback()

	def test_rules_without_runbook_and_failures_no_runbook_answers(self):
		failure(UNCOVERED, "failed", "KeyError")
		failure(UNCOVERED, "failed", "KeyError")
		failure(UNCOVERED, "failed", "KeyError", minutes_ago=60 * 24 * 30)  # outside the window
		failure(COVERED, "abandoned", None)  # RB-WORKER-DOWN answers (*, Abandoned)
		frappe.get_doc(
			{"doctype": "Ops Alert Rule", "rule_name": "test-coverage-no-runbook", "signal": "workers.dead"}
		).insert()

		columns, rows = execute({"days": 7})
		self.assertIn("name", [c["fieldname"] for c in columns])
		rules = {r["name"]: r for r in rows if r["kind"] == "Alert Rule"}
		self.assertEqual(rules["test-coverage-no-runbook"]["problem"], "no runbook")
		self.assertNotIn("queue-backlog", rules, "a seeded rule has its runbook")
		failures = {(r["name"], r["exception"]): r for r in rows if r["kind"] == "Failure Signature"}
		self.assertEqual(failures[(UNCOVERED, "KeyError")]["count"], 2)
		self.assertIn("boom", failures[(UNCOVERED, "KeyError")]["detail"])
		self.assertNotIn((COVERED, "Abandoned"), failures)

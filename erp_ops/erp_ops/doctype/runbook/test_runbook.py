# Copyright (c) 2026, erp_ops developers and Contributors
# See license.txt

import json

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import add_days, getdate

from erp_ops.api.runbooks import mark_reviewed
from erp_ops.api.test_alerts import ensure_outgoing_email_account
from erp_ops.api.test_jobs import log_rows
from erp_ops.api.test_signals import ensure_user
from erp_ops.core.runbooks.seed import load_runbooks
from erp_ops.site.install import ensure_runbooks
from erp_ops.tasks import mark_runbooks_for_review

OWNER = "erp-ops-runbook-owner@example.com"
OPERATOR = "erp-ops-runbook-operator@example.com"
OVERDUE = "RB-TEST-OVERDUE"


def make_runbook(name: str, **values) -> "frappe.model.document.Document":
	return frappe.get_doc(
		{
			"doctype": "Runbook",
			"runbook_name": name,
			"title": f"Test runbook {name}",
			"area": "Queues",
			"status": "Active",
			"steps": [{"action": "Look at it", "expected_result": "It is seen", "verify": "It was seen"}],
			**values,
		}
	).insert()


def last_seq() -> int:
	return frappe.db.sql("select coalesce(max(seq), 0) from `tabOps Action Log`")[0][0]


class TestRunbook(FrappeTestCase):
	def setUp(self):
		# Ops Action Log rows stay (the chain forbids deleting them): look only at this test's.
		self.seq = last_seq()

	def tearDown(self):
		frappe.set_user("Administrator")
		for name in frappe.get_all("Runbook", {"name": ("like", "RB-TEST-%")}, pluck="name"):
			frappe.delete_doc("Runbook", name, force=True)
		frappe.db.delete("ToDo", {"reference_type": "Runbook", "reference_name": ("like", "RB-TEST-%")})
		frappe.db.delete(
			"Email Queue", {"reference_doctype": "Runbook", "reference_name": ("like", "RB-TEST-%")}
		)
		# mark_reviewed commits: without a commit here the rollback would bring the test runbook back.
		frappe.db.commit()

	def test_the_seeded_runbooks_are_installed_and_not_imported_twice(self):
		seeded = [rb.name for rb in load_runbooks()]
		self.assertEqual(len(seeded), 9)
		for name in seeded:
			self.assertTrue(frappe.db.exists("Runbook", name), name)
		self.assertEqual(ensure_runbooks(), [])
		doc = frappe.get_doc("Runbook", "RB-SCHEDULER-INACTIVE")
		self.assertEqual(doc.area, "Scheduler")
		self.assertTrue(doc.steps and doc.next_review_due)

	def test_an_edit_shows_in_the_version_history(self):
		doc = frappe.get_doc("Runbook", "RB-SCHEDULER-INACTIVE")
		doc.escalation = (doc.escalation or "") + " Page the platform lead."
		doc.save(ignore_version=False)  # under tests Frappe skips versions unless asked
		versions = frappe.get_all(
			"Version",
			filters={"ref_doctype": "Runbook", "docname": doc.name},
			pluck="data",
			order_by="creation desc",
			limit=1,
		)
		self.assertTrue(versions)
		changed = {row[0] for row in json.loads(versions[0])["changed"]}
		self.assertIn("escalation", changed)

	def test_next_review_due_is_last_reviewed_plus_the_cadence(self):
		doc = make_runbook("RB-TEST-DUE", last_reviewed="2026-03-01", review_cadence_days=30)
		self.assertEqual(getdate(doc.next_review_due), getdate("2026-03-31"))

	def test_the_review_task_marks_an_overdue_runbook_and_tells_its_owner(self):
		ensure_user(OWNER, ("Ops Manager",))
		ensure_outgoing_email_account()
		make_runbook(
			OVERDUE, runbook_owner=OWNER, review_cadence_days=30, last_reviewed=add_days(getdate(), -40)
		)
		current = make_runbook("RB-TEST-CURRENT", runbook_owner=OWNER, last_reviewed=getdate())
		self.assertGreaterEqual(mark_runbooks_for_review(), 1)
		self.assertEqual(frappe.db.get_value("Runbook", OVERDUE, "status"), "Needs Review")
		self.assertEqual(frappe.db.get_value("Runbook", current.name, "status"), "Active")
		todos = frappe.get_all(
			"ToDo", filters={"reference_type": "Runbook", "reference_name": OVERDUE}, fields=["allocated_to"]
		)
		self.assertEqual([t.allocated_to for t in todos], [OWNER])
		emails = frappe.get_all(
			"Email Queue", filters={"reference_doctype": "Runbook", "reference_name": OVERDUE}, pluck="name"
		)
		self.assertEqual(len(emails), 1, "the owner is emailed through Frappe's Email Queue")
		recipients = [r.recipient for r in frappe.get_doc("Email Queue", emails[0]).recipients]
		self.assertEqual(recipients, [OWNER])
		# Told once: the next day's run leaves a Needs Review runbook alone.
		self.assertEqual(mark_runbooks_for_review(), 0)

	def test_recording_a_review_makes_it_active_again(self):
		doc = make_runbook(OVERDUE, review_cadence_days=30, last_reviewed=add_days(getdate(), -40))
		doc.db_set("status", "Needs Review")
		doc.reload()
		doc.last_reviewed = getdate()
		doc.save()
		self.assertEqual(doc.status, "Active")
		self.assertEqual(getdate(doc.next_review_due), add_days(getdate(), 30))

	def test_the_seeded_runbooks_carry_their_failure_signatures(self):
		doc = frappe.get_doc("Runbook", "RB-WORKER-DOWN")
		self.assertIn(("*", "Abandoned"), [(s.method, s.exc_type) for s in doc.signatures])

	def test_mark_reviewed_records_who_when_and_what_audited_and_versioned(self):
		ensure_user(OWNER, ("Ops Manager",))
		doc = make_runbook(OVERDUE, review_cadence_days=30, last_reviewed=add_days(getdate(), -40))
		doc.db_set("status", "Needs Review")
		frappe.set_user(OWNER)
		done = mark_reviewed(OVERDUE, "Steps still match v15; added the RQ dashboard link.")
		frappe.set_user("Administrator")

		doc.reload()
		self.assertEqual((doc.status, getdate(doc.last_reviewed)), ("Active", getdate()))
		self.assertEqual(getdate(doc.next_review_due), add_days(getdate(), 30))
		[review] = doc.reviews
		self.assertEqual(review.reviewer, OWNER)
		self.assertEqual(review.notes, "Steps still match v15; added the RQ dashboard link.")
		self.assertEqual(getdate(review.reviewed_on), getdate())
		[log] = log_rows(action="review", targets=OVERDUE, seq=(">", self.seq))
		self.assertEqual(
			(log.user, log.outcome, log.state_before, log.state_after),
			(OWNER, "done", "Needs Review", "Active"),
		)
		self.assertEqual(log.name, done["log"])
		versions = frappe.get_all(
			"Version",
			filters={"ref_doctype": "Runbook", "docname": OVERDUE},
			pluck="data",
			order_by="creation desc",
		)
		self.assertTrue(versions, "the review is in the version history")
		data = json.loads(versions[0])
		self.assertIn("status", {row[0] for row in data["changed"]})
		self.assertIn("reviews", {row[0] for row in data["added"]})

	def test_only_a_manager_records_a_review_and_a_refusal_is_logged(self):
		ensure_user(OPERATOR, ("Ops Operator",))
		make_runbook(OVERDUE)
		frappe.set_user(OPERATOR)
		with self.assertRaises(frappe.PermissionError):
			mark_reviewed(OVERDUE, "I looked at it")
		frappe.set_user("Administrator")
		self.assertEqual(frappe.get_doc("Runbook", OVERDUE).reviews, [])
		[log] = log_rows(action="review", targets=OVERDUE, seq=(">", self.seq))
		self.assertEqual((log.user, log.outcome), (OPERATOR, "denied"))

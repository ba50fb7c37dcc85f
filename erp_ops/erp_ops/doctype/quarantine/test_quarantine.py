# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

import hashlib
import json

import frappe
from frappe.tests.utils import FrappeTestCase

from erp_ops.core.control.models import JobPayload
from erp_ops.core.control.payload import payload_from_hash
from erp_ops.site.control import create_record, mark_released, open_record

PAYLOAD = JobPayload(
	job_id="erp.localhost::erp-ops-quarantine-unit",
	queue="root-frappe-bench:short",
	site="erp.localhost",
	function="frappe.utils.background_jobs.execute_job",
	method="erp_ops.tests.send_invoice",
	kwargs={"kwargs": {"api_key": "k-123", "invoice": "INV-1"}},
	exc_info="Traceback …\nfrappe.exceptions.ValidationError: Authorization: Bearer abcdefghijkl",
)


class TestQuarantine(FrappeTestCase):
	def tearDown(self):
		frappe.db.rollback()

	def test_record_keeps_the_raw_payload_and_shows_it_redacted(self):
		name = create_record(
			PAYLOAD,
			reason="unit",
			user="Administrator",
			log_name=None,
			state_before="failed",
			extra_keys=["invoice"],
		)
		doc = frappe.get_doc("Quarantine", name)
		self.assertEqual(json.loads(doc.payload_raw)["kwargs"]["kwargs"]["api_key"], "k-123")
		redacted = json.loads(doc.payload_redacted)["kwargs"]["kwargs"]
		self.assertEqual(redacted, {"api_key": "********", "invoice": "********"})
		self.assertNotIn("abcdefghijkl", doc.exc_info)
		self.assertEqual(doc.exc_type, "frappe.exceptions.ValidationError")
		self.assertEqual(open_record(PAYLOAD.job_id), name)

	def test_a_quarantined_record_cannot_be_deleted_until_released(self):
		name = create_record(
			PAYLOAD, reason="unit", user="Administrator", log_name=None, state_before="failed"
		)
		self.assertRaises(
			frappe.ValidationError, frappe.delete_doc, "Quarantine", name, ignore_permissions=True
		)
		mark_released(name, user="Administrator", log_name=None)
		self.assertIsNone(open_record(PAYLOAD.job_id))
		frappe.delete_doc("Quarantine", name, ignore_permissions=True)
		self.assertFalse(frappe.db.exists("Quarantine", name))

	def test_an_unreadable_payload_is_stored_as_its_digest_and_size(self):
		raw = b"\x80\x05not a pickle"
		payload = payload_from_hash(
			"erp.localhost::erp-ops-quarantine-unreadable",
			{b"data": raw, b"origin": b"root-frappe-bench:short", b"status": b"failed"},
		)
		name = create_record(
			payload, reason="unit", user="Administrator", log_name=None, state_before="failed"
		)
		doc = frappe.get_doc("Quarantine", name)
		self.assertEqual(
			(doc.payload_unreadable, doc.payload_sha256, doc.payload_size),
			(1, hashlib.sha256(raw).hexdigest(), len(raw)),
		)
		self.assertEqual(json.loads(doc.payload_raw)["unreadable"][0]["field"], "data")

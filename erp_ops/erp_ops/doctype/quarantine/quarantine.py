# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

import json

import frappe
from frappe import _
from frappe.model.document import Document

from erp_ops.core.control.models import JobPayload
from erp_ops.core.control.payload import exc_type_of
from erp_ops.core.control.redaction import redact

QUARANTINED = "Quarantined"
RELEASED = "Released"


class Quarantine(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		exc_info: DF.Code | None
		exc_type: DF.Data | None
		job_id: DF.Data
		method: DF.Data | None
		payload_raw: DF.Code | None
		payload_redacted: DF.Code | None
		payload_sha256: DF.Data | None
		payload_size: DF.Int
		payload_unreadable: DF.Check
		quarantine_log: DF.Link | None
		quarantined_at: DF.Datetime | None
		quarantined_by: DF.Data | None
		queue: DF.Data | None
		reason: DF.SmallText | None
		release_log: DF.Link | None
		released_at: DF.Datetime | None
		released_by: DF.Data | None
		site: DF.Data | None
		state_before: DF.Data | None
		status: DF.Literal["Quarantined", "Released"]
	# end: auto-generated types

	def on_trash(self) -> None:
		# The raw payload is the only copy left once Redis loses the job: keep it while quarantined.
		if self.status == QUARANTINED:
			frappe.throw(_("Release the job before deleting its quarantine record."))


def create_record(
	payload: JobPayload,
	*,
	reason: str,
	user: str,
	log_name: str | None,
	state_before: str | None,
	extra_keys: list[str] | tuple[str, ...] = (),
) -> str:
	"""Store a quarantined job's payload: raw (for release) and redacted (for everyone else).

	A job whose data did not decode is stored as unreadable: the digest and size of its bytes.
	"""
	raw = payload.model_dump(mode="json")
	data = next((u for u in payload.unreadable if u.field == "data"), None)
	doc = frappe.get_doc(
		{
			"doctype": "Quarantine",
			"job_id": payload.job_id,
			"status": QUARANTINED,
			"method": payload.method or payload.function,
			"queue": payload.queue,
			"site": payload.site,
			"quarantined_at": frappe.utils.now_datetime(),
			"quarantined_by": user,
			"state_before": state_before,
			"reason": reason,
			"quarantine_log": log_name,
			"exc_type": exc_type_of(payload.exc_info),
			"exc_info": redact(payload.exc_info or "", extra_keys) or None,
			"payload_redacted": json.dumps(redact(raw, extra_keys), indent=1, default=str),
			"payload_raw": json.dumps(raw, indent=1, default=str),
			"payload_unreadable": 1 if data else 0,
			"payload_sha256": data.sha256 if data else None,
			"payload_size": data.size if data else 0,
		}
	)
	doc.insert(ignore_permissions=True)
	return doc.name


def open_record(job_id: str) -> str | None:
	"""The job's quarantine record still waiting for release, if any."""
	return frappe.db.get_value("Quarantine", {"job_id": job_id, "status": QUARANTINED}, "name")


def mark_released(name: str, *, user: str, log_name: str) -> None:
	frappe.db.set_value(
		"Quarantine",
		name,
		{
			"status": RELEASED,
			"released_at": frappe.utils.now_datetime(),
			"released_by": user,
			"release_log": log_name,
		},
	)


def stored_payload(name: str) -> JobPayload:
	return JobPayload.model_validate_json(frappe.db.get_value("Quarantine", name, "payload_raw"))

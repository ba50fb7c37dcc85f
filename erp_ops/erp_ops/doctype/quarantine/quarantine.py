# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document

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

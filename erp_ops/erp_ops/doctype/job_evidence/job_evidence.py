# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

import logging

import frappe
from frappe.model.document import Document

from erp_ops.core.evidence.capture import evidence_name

log = logging.getLogger(__name__)


class JobEvidence(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		attempt: DF.Int
		duration_ms: DF.Float
		ended_at: DF.Datetime | None
		enqueued_at: DF.Datetime | None
		exc_message: DF.SmallText | None
		exc_type: DF.Data | None
		frappe_retries: DF.Int
		job_id: DF.Data
		kwargs_digest: DF.Data | None
		method: DF.Data | None
		outcome: DF.Literal["success", "failed", "timed out", "abandoned", "canceled"]
		queue: DF.Data | None
		queue_wait_ms: DF.Float
		ref_doctype: DF.Link | None
		ref_name: DF.DynamicLink | None
		retry_of: DF.Data | None
		site: DF.Data | None
		started_at: DF.Datetime | None
		user: DF.Data | None
		worker: DF.Data | None
	# end: auto-generated types

	def autoname(self) -> None:
		# The same name the flush gives the record, so a row is never stored twice.
		self.name = evidence_name(self.job_id, self.attempt or 1)


def on_doctype_update() -> None:
	"""From a document to every job that named it: one composite index for the Dynamic Link."""
	frappe.db.add_index("Job Evidence", ["ref_doctype", "ref_name"])

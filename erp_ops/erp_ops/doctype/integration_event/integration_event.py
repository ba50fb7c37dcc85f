# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

import frappe
from frappe.model.document import Document


class IntegrationEvent(Document):
	# fmt: off
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		attempts: DF.Int
		changes: DF.JSON | None
		claim_expires_at: DF.Datetime | None
		claim_token: DF.Data | None
		claimed_by: DF.Data | None
		conflict_with: DF.Link | None
		entity_key: DF.Data | None
		error: DF.LongText | None
		event_type: DF.Data | None
		handler: DF.Data | None
		idempotency_key: DF.Data | None
		occurred_at: DF.Datetime | None
		offered_key: DF.Data | None
		payload: DF.Code | None
		payload_hash: DF.Data | None
		payload_size: DF.Int
		processed_at: DF.Datetime | None
		reason: DF.SmallText | None
		received_at: DF.Datetime | None
		result: DF.JSON | None
		sequence: DF.Data | None
		source: DF.Data | None
		status: DF.Literal["Received", "Processing", "Processed", "Failed", "Superseded", "Conflict", "Rejected"]
		touched: DF.JSON | None
	# end: auto-generated types
	# fmt: on

	# Rows are written by `erp_ops.core.events.sql_store` over `frappe.db` in SQL (the protocol needs exact
	# statements); the form is read-only and Desk cannot create one (`in_create`).


def on_doctype_update() -> None:
	# The unique key is what makes each key's effect happen once: a second row for a key cannot
	# exist. Refusal records hold a NULL key, which a unique index never compares equal.
	frappe.db.add_unique("Integration Event", ["source", "idempotency_key"])
	frappe.db.add_index("Integration Event", ["received_at"])
	frappe.db.add_index("Integration Event", ["source", "event_type", "status"])
	frappe.db.add_unique("Integration Event Order", ["source", "entity_key"])

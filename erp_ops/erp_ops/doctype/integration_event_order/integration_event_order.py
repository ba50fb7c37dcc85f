# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

# import frappe
from frappe.model.document import Document


class IntegrationEventOrder(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		entity_key: DF.Data | None
		last_event: DF.Data | None
		last_occurred_at: DF.Datetime | None
		last_sequence: DF.Data | None
		source: DF.Data | None
	# end: auto-generated types

	# One row per (source, entity): the newest event applied to it, written under a row lock by
	# `erp_ops.core.events.sql_store.SqlWork`; it outlives the events (retention) so ordering never moves back.

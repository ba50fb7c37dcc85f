# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

# import frappe
from frappe.model.document import Document


class IntegrationEventReplay(Document):
	# fmt: off
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		actor: DF.Data | None
		at: DF.Datetime | None
		changed: DF.Check
		changes: DF.JSON | None
		event: DF.Link | None
		outcome: DF.Literal["apply", "supersede", "skip"]
		reason: DF.SmallText | None
		replay_id: DF.Data | None
		status_after: DF.Literal["Received", "Processing", "Processed", "Failed", "Superseded", "Conflict", "Rejected"]
	# end: auto-generated types
	# fmt: on

	# The evidence of one replay of one event, written in the transaction that replayed it.

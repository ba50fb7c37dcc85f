# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

from frappe.model.document import Document


class OpsAlertTransition(Document):
	"""A change of an Ops Alert: the event, when, from and to which status, the value then."""

	# fmt: off
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		at: DF.Datetime | None
		event: DF.Literal["pending", "fired", "renotify", "flapping", "resolved", "canceled", "acknowledged"]
		from_status: DF.Data | None
		notified: DF.Check
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		reason: DF.SmallText | None
		to_status: DF.Data | None
		transition_id: DF.SmallText | None
		value: DF.Float
	# end: auto-generated types
	# fmt: on
	pass

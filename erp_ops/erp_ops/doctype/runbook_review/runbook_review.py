# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

from frappe.model.document import Document


class RunbookReview(Document):
	"""A recorded review of a runbook: who reviewed it, when, and what they said."""

	# fmt: off
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		notes: DF.SmallText | None
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		reviewed_on: DF.Datetime
		reviewer: DF.Link
	# end: auto-generated types
	# fmt: on
	pass

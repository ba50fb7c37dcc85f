# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

from frappe.model.document import Document


class RestoreDrillCheck(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		code: DF.Data | None
		details: DF.JSON | None
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		reason: DF.SmallText | None
		status: DF.Literal["pass", "warn", "fail", "skip"]
	# end: auto-generated types

	pass

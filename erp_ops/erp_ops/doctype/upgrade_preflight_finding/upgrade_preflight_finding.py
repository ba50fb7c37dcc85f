# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

from frappe.model.document import Document


class UpgradePreflightFinding(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		app: DF.Data | None
		check_id: DF.Data | None
		evidence: DF.SmallText | None
		file: DF.SmallText | None
		fix: DF.SmallText | None
		line: DF.Int
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		phase: DF.Literal["prepare", "code", "runtime", "upgrade", "verify"]
		severity: DF.Literal["info", "warning", "high", "blocker"]
		sources: DF.SmallText | None
		title: DF.SmallText | None
	# end: auto-generated types

	pass

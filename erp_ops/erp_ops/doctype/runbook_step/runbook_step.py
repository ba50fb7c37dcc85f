# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

from frappe.model.document import Document


class RunbookStep(Document):
	"""One step of a runbook: what to do, the exact command or erp_ops action, how to check."""

	# fmt: off
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		action: DF.SmallText
		command: DF.Code | None
		erp_ops_action: DF.Literal["", "retry", "requeue", "cancel", "quarantine", "release", "purge", "run_drill"]
		expected_result: DF.SmallText
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		verify: DF.SmallText
	# end: auto-generated types
	# fmt: on
	pass

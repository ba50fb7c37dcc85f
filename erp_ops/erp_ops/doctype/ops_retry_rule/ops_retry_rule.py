# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

from frappe.model.document import Document


class OpsRetryRule(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		base_delay_s: DF.Float
		exc_type: DF.Data | None
		factor: DF.Float
		jitter: DF.Float
		max_attempts: DF.Int
		max_delay_s: DF.Float
		method: DF.Data | None
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		quarantine_after: DF.Check
	# end: auto-generated types

	pass

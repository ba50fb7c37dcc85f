# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

from erp_ops.site.switchboard import Switchboard


class OpsPreflightAction(Switchboard):
	"""No data: the DocType's permission rows decide who may do what (`erp_ops.api.PERMISSIONS`)."""

	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

	# end: auto-generated types

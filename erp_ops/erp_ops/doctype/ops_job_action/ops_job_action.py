# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document

from erp_ops.site.errors import OpsInvalidInput


class OpsJobAction(Document):
	"""No data: the DocType's permission rows decide who may see and act on jobs
	(`erp_ops.api.PERMISSIONS` maps each action to one of them)."""

	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

	# end: auto-generated types

	def validate(self) -> None:
		frappe.throw(
			_("Ops Job Action holds no data: change who may do what in Role Permission Manager."),
			OpsInvalidInput,
		)

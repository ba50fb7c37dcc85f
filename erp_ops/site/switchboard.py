"""The permission switchboards: Single DocTypes that hold no data, whose permission rows decide who
may do what (`erp_ops.api.PERMISSIONS` maps each action to one row's permission type).

One per capability (Ops Job Action, Ops Drill Action, Ops Preflight Action, Ops Event Action, Ops
Alert Action, Ops Runbook Action), so a System Manager changes who may run drills or acknowledge
alerts in Role Permission Manager, as Frappe manages every other permission; the shipped rows are
the role matrix docs/security.md lists.
"""

import frappe
from frappe import _
from frappe.model.document import Document

from erp_ops.site.errors import OpsInvalidInput


class Switchboard(Document):
	def validate(self) -> None:
		frappe.throw(
			_("{0} holds no data: change who may do what in Role Permission Manager.").format(
				_(self.doctype)
			),
			OpsInvalidInput,
		)

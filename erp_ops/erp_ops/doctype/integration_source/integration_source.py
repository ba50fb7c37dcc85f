# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document


class IntegrationSource(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from erp_ops.erp_ops.doctype.integration_source_user.integration_source_user import (
			IntegrationSourceUser,
		)

		allowed_users: DF.Table[IntegrationSourceUser]
		description: DF.SmallText | None
		enabled: DF.Check
		event_types: DF.SmallText | None
		source_name: DF.Data
	# end: auto-generated types

	# Binds an integration source to the users allowed to send for it (issue 19): the ingest
	# endpoint refuses (403, recorded) a sender that no enabled source lists. System Manager only.
	def validate(self) -> None:
		self.source_name = (self.source_name or "").strip()
		users = [row.user for row in self.allowed_users]
		duplicates = sorted({u for u in users if users.count(u) > 1})
		if duplicates:
			frappe.throw(_("Listed more than once: {0}").format(", ".join(duplicates)))
		self.event_types = "\n".join(
			dict.fromkeys(t.strip() for t in (self.event_types or "").splitlines() if t.strip())
		)

	def on_update(self) -> None:
		frappe.cache.delete_value(f"erp_ops_integration_source:{self.name}")

	def on_trash(self) -> None:
		frappe.cache.delete_value(f"erp_ops_integration_source:{self.name}")

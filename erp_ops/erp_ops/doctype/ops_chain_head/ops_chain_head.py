# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document


class OpsChainHead(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		chain: DF.Data
		chain_id: DF.Data | None
		genesis_at: DF.Datetime | None
		genesis_by: DF.Data | None
		genesis_note: DF.SmallText | None
		genesis_reason: DF.Literal["install", "reinstall", "restore", "upgrade", "repair"]
		head: DF.Data | None
		seq: DF.Int
		stamp: DF.Data | None
	# end: auto-generated types

	# One row per hash chain (the Ops Action Log, the backup manifests), written only by
	# `erp_ops.site.audit` under its row lock (db_insert / SQL, past these hooks). A table of the
	# app, so it is dropped with the log on uninstall: the head lives and dies with its chain.
	def validate(self) -> None:
		frappe.throw(_("Chain heads are kept by erp_ops and cannot be edited."), frappe.PermissionError)

	def on_trash(self) -> None:
		frappe.throw(_("Chain heads cannot be deleted."), frappe.PermissionError)

# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt


import frappe
from frappe import _
from frappe.model.document import Document


class OpsActionLog(Document):
	# fmt: off
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		acted_at: DF.Datetime | None
		action: DF.Literal["retry", "requeue", "cancel", "quarantine", "release", "purge", "preflight", "drill", "retention", "replay", "acknowledge", "review", "view", "genesis", "restore", "settings"]
		approved_by: DF.Data | None
		completes: DF.Data | None
		dry_run: DF.Check
		entry_json: DF.LongText | None
		error: DF.SmallText | None
		outcome: DF.Literal["done", "conflict", "denied", "failed", "started", "unknown"]
		previous_hash: DF.Data | None
		reason: DF.SmallText | None
		request_id: DF.Data | None
		row_hash: DF.Data | None
		seq: DF.Int
		state_after: DF.Data | None
		state_before: DF.Data | None
		targets: DF.SmallText | None
		user: DF.Data | None
	# end: auto-generated types
	# fmt: on

	# Rows are written only by `FrappeChainStore.insert` (db_insert, past these hooks); any insert,
	# save or delete through the document API is refused, for every role and ignore_permissions too.
	def validate(self) -> None:
		frappe.throw(_("The Ops Action Log cannot be written or edited."), frappe.PermissionError)

	def on_trash(self) -> None:
		frappe.throw(_("Ops Action Log rows cannot be deleted."), frappe.PermissionError)


def on_doctype_update() -> None:
	# The per-minute sweep looks for intents (outcome started) older than a few minutes.
	frappe.db.add_index("Ops Action Log", ["outcome", "acted_at"])

# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

from frappe.model.document import Document


class BackupRetentionLog(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from erp_ops.erp_ops.doctype.backup_retention_entry.backup_retention_entry import BackupRetentionEntry

		backup_folder: DF.Data | None
		dry_run: DF.Check
		entries: DF.Table[BackupRetentionEntry]
		files_deleted: DF.Int
		files_planned: DF.Int
		policy_daily: DF.Int
		policy_monthly: DF.Int
		policy_weekly: DF.Int
		ran_at: DF.Datetime | None
		sets_kept: DF.Int
		site: DF.Data | None
		user: DF.Link | None
	# end: auto-generated types

	# Written by erp_ops.site.backups for every retention plan and every applied deletion; the
	# tombstone file beside the backups is not tamper-evident, this record is the audit trail.
	pass

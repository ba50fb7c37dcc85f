# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

from frappe.model.document import Document


class RestoreDrill(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from erp_ops.erp_ops.doctype.restore_drill_check.restore_drill_check import RestoreDrillCheck
		from erp_ops.erp_ops.doctype.restore_drill_file.restore_drill_file import RestoreDrillFile

		backup_folder: DF.Data | None
		backup_stamp: DF.Data | None
		backup_taken_at: DF.Datetime | None
		checks: DF.Table[RestoreDrillCheck]
		chosen_because: DF.SmallText | None
		files: DF.Table[RestoreDrillFile]
		finished_at: DF.Datetime | None
		interrupted: DF.Check
		job_id: DF.Data | None
		manifest: DF.Data | None
		outcome: DF.Literal["Queued", "Running", "Passed", "Not Verified", "Failed"]
		reason: DF.SmallText | None
		requested_by: DF.Link | None
		result: DF.JSON | None
		rows: DF.Float
		rpo_s: DF.Float
		rto_s: DF.Float
		scratch_database: DF.Data | None
		scratch_dropped: DF.Check
		site: DF.Data | None
		sql_bytes: DF.Float
		started_at: DF.Datetime | None
		swept: DF.SmallText | None
		table_counts: DF.JSON | None
		tables: DF.Int
		triggered_by: DF.Literal["Scheduler", "Desk", "Bench", "CLI"]
		verify_s: DF.Float
	# end: auto-generated types

	# Written by erp_ops.site.drills (the DocType is in_create): the drill job fills it in.
	pass

# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

from frappe.model.document import Document


class UpgradePreflight(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from erp_ops.erp_ops.doctype.upgrade_preflight_finding.upgrade_preflight_finding import (
			UpgradePreflightFinding,
		)

		bench_path: DF.SmallText | None
		blockers: DF.Int
		findings: DF.Table[UpgradePreflightFinding]
		generated_at: DF.Datetime | None
		high: DF.Int
		jump: DF.Data | None
		report_json: DF.LongText | None
		risk_band: DF.Literal["low", "moderate", "high", "critical"]
		risk_score: DF.Int
		rule_set: DF.Data | None
		site: DF.Data | None
		summary_md: DF.MarkdownEditor | None
		target: DF.Int
		verdict: DF.Literal["proceed", "proceed_with_care", "do_not_proceed"]
		warnings: DF.Int
	# end: auto-generated types

	pass

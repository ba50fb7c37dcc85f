# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

from datetime import datetime

import frappe
from frappe.model.document import Document
from frappe.utils import get_system_timezone

from erp_ops.core.clock import to_site_time
from erp_ops.core.preflight.models import PreflightReport
from erp_ops.core.preflight.record import to_record


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


def create_record(report: PreflightReport) -> str:
	"""Store a report as an `Upgrade Preflight` with its findings; returns the document's name.

	Only code writes these (the DocType is `in_create`), so permissions were checked by the caller.
	"""
	record = to_record(report).model_dump()
	record["generated_at"] = to_site_time(
		datetime.fromisoformat(record["generated_at"]), get_system_timezone()
	)
	doc = frappe.get_doc({"doctype": "Upgrade Preflight", **record})
	doc.insert(ignore_permissions=True)
	return doc.name


def latest() -> dict | None:
	"""The newest preflight's name, verdict and score, or None when none was run."""
	rows = frappe.get_all(
		"Upgrade Preflight",
		fields=["name", "verdict", "risk_score", "risk_band", "target", "generated_at"],
		order_by="generated_at desc, creation desc",
		limit=1,
	)
	return rows[0] if rows else None

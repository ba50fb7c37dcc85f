"""Scheduler entry points (see `scheduler_events` in hooks.py): thin calls into the app."""

import frappe

from erp_ops.erp_ops.doctype.job_evidence.job_evidence import flush_evidence, purge_evidence
from erp_ops.erp_ops.doctype.ops_settings.ops_settings import get_retention_days


def flush_job_evidence() -> None:
	"""Every minute: move Job Evidence from the bench's Redis stream into the database."""
	result = flush_evidence()
	if result and (result.inserted or result.malformed):
		frappe.logger("erp_ops").info(f"Job Evidence flush: {result.model_dump_json()}")


def purge_job_evidence() -> int:
	"""Daily: delete Job Evidence older than Ops Settings' retention; return how many rows."""
	days = get_retention_days()
	removed = purge_evidence(days)
	frappe.logger("erp_ops").info(f"Job Evidence purge: removed {removed} row(s) older than {days} day(s)")
	return removed

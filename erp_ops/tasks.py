"""Scheduler entry points (see `scheduler_events` in hooks.py): thin calls into the app."""

import frappe

from erp_ops.erp_ops.doctype.job_evidence.job_evidence import flush_evidence, purge_evidence
from erp_ops.erp_ops.doctype.ops_settings.ops_settings import get_retention_days


def flush_job_evidence() -> None:
	"""Every minute: move Job Evidence from the bench's Redis stream into the database, then
	apply the poison rule and the retry policy to the failures it brought in."""
	from erp_ops.site_control import apply_failure_policy

	result = flush_evidence()
	if result and (result.inserted or result.malformed):
		frappe.logger("erp_ops").info(f"Job Evidence flush: {result.model_dump_json()}")
	applied = apply_failure_policy()
	if any(applied.values()):
		frappe.logger("erp_ops").info(f"Failure policy: {applied}")


def run_due_retries() -> None:
	"""Every minute: retry the failed jobs whose automatic retry is due."""
	from erp_ops.site_control import run_due_retries as run

	run()


def finish_stopped_cancels() -> None:
	"""Every minute: complete cancels of started jobs that their worker has now stopped."""
	from erp_ops.site_control import finish_stopped_cancels as finish

	finish()


def sync_quarantine_records() -> None:
	"""Every minute: a Quarantine record for every quarantined job that has none."""
	from erp_ops.site_control import sync_quarantine

	sync_quarantine()


def purge_job_evidence() -> int:
	"""Daily: delete Job Evidence older than Ops Settings' retention; return how many rows."""
	days = get_retention_days()
	removed = purge_evidence(days)
	frappe.logger("erp_ops").info(f"Job Evidence purge: removed {removed} row(s) older than {days} day(s)")
	return removed


def verify_action_log() -> bool:
	"""Daily: check the Ops Action Log's hash chain; an Error Log and a notification if it broke."""
	from erp_ops.erp_ops.doctype.ops_action_log.ops_action_log import report_broken_chain, verify_log

	verdict = verify_log()
	if not verdict.ok:
		report_broken_chain(verdict)
		frappe.db.commit()
	return verdict.ok


def mark_runbooks_for_review() -> int:
	"""Daily: Active runbooks past their review date turn Needs Review, with a ToDo for their owner."""
	from erp_ops.erp_ops.doctype.runbook.runbook import mark_for_review

	marked = mark_for_review()
	if marked:
		frappe.logger("erp_ops").info(f"Runbooks marked Needs Review: {', '.join(marked)}")
	return len(marked)


def evaluate_alerts() -> int:
	"""Every minute: the site's alert rules over the cached snapshot; transitions become Ops Alerts
	and notifications. Returns how many alerts are firing."""
	from erp_ops.site_alerts import evaluate_site

	result = evaluate_site()
	if result is None:
		return 0
	if result.skipped:
		frappe.logger("erp_ops").info(f"Alert rules skipped: {result.skipped}")
	return sum(1 for a in result.alerts if a.status.value == "firing")

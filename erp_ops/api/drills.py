"""Restore drills: run one now (a `long` job), the drill health and number cards, GFS retention
(plan, then apply exactly the confirmed plan) and the backup manifests' hash chain.

Starting a drill or deleting backups is for Ops Managers; reading the health is for every ops role.
"""

from datetime import datetime, timezone

import frappe
from frappe import _

from erp_ops.api import (
	Attempt,
	OpsInvalidInput,
	core_errors,
	require_permission,
	text_card,
)
from erp_ops.core.control.models import Action, ActionOutcome

DRILL_DOCTYPE = "Restore Drill"


@frappe.whitelist(methods=["POST"])
def run_drill_now(site: str | None = None) -> dict:
	"""Queue a restore drill of this site on `long`; while one is queued or running, that one is returned."""
	require_permission("drill", Attempt(Action.DRILL.value, [site or frappe.local.site], "restore drill"))
	from erp_ops.site.audit import append_entry, new_entry
	from erp_ops.site.drills import queue_drill

	if site and site != frappe.local.site:
		frappe.throw(
			_("A drill runs for the site of the request ({0}).").format(frappe.local.site), OpsInvalidInput
		)
	name, job_id = queue_drill("Desk")
	if job_id is not None:
		append_entry(
			new_entry(
				Action.DRILL,
				[frappe.local.site, name],
				_("restore drill"),
				ActionOutcome.DONE,
				state_after="Queued",
			)
		)
		frappe.db.commit()  # the job is queued in Redis: its log must outlive this request
	return {"drill": name, "job_id": job_id, "already_queued": job_id is None}


@frappe.whitelist(methods=["GET"])
def drill_status() -> dict:
	"""Whether the backups are proven: severity, message, last drill and last pass, RPO and RTO."""
	require_permission("drills")
	from erp_ops.site.backups import health
	from erp_ops.site.drills import drill_history

	history = drill_history()
	state = health()
	return {
		**state.model_dump(mode="json"),
		"last_drill": history["last"].name if history["last"] else None,
		"last_passed": history["passed"].name if history["passed"] else None,
	}


@frappe.whitelist(methods=["POST"])
def retention_plan() -> dict:
	"""The GFS retention plan (dry run; POST because it writes a Backup Retention Log): what would be kept, and each file it would delete."""
	require_permission("retention")
	from erp_ops.site.backups import log_retention, plan_summary
	from erp_ops.site.backups import retention_plan as plan_now

	with core_errors():
		plan = plan_now()
	summary = plan_summary(plan)
	summary["log"] = log_retention(plan, None) if plan.deletions else None
	return summary


@frappe.whitelist(methods=["POST"])
def apply_retention(plan_id: str) -> dict:
	"""Delete the planned backup files if the plan is still exactly the one confirmed (`plan_id`)."""
	require_permission(
		"retention_apply", Attempt(Action.RETENTION.value, [frappe.local.site], "backup retention")
	)
	from erp_ops.site.backups import apply_confirmed
	from erp_ops.site.drills import drill_settings

	if not drill_settings().retention_apply:
		frappe.throw(
			_("Retention is a dry run until an Ops Manager turns on 'Apply Retention' in Ops Settings."),
			OpsInvalidInput,
		)
	with core_errors():
		log, records = apply_confirmed(plan_id)
	frappe.db.commit()  # the files are deleted: their record must not depend on the response
	return {
		"log": log,
		"deleted": [r.name for r in records if r.deleted],
		"kept": {r.name: r.reason for r in records if not r.deleted},
	}


@frappe.whitelist(methods=["GET"])
def verify_backup_chain() -> dict:
	"""Check the manifests' hash chain and every file they list; the issues found."""
	require_permission("retention")
	from erp_ops.site.backups import chain_issues

	issues = chain_issues()
	return {"ok": not issues, "issues": [i.model_dump() for i in issues]}


# Number cards: text values (api.text_card).


@frappe.whitelist(methods=["GET", "POST"])
def last_drill_card(filters: str | dict | list | None = None) -> dict | str:
	"""Number card: the newest drill's outcome and its age."""
	require_permission("drills")
	from erp_ops.site.backups import health

	state = health()
	if state.last_drill_at is None:
		return _("No drill yet")
	# Clamped: a clock or time-zone change must not show a drill in the future.
	age = max(0.0, (datetime.now(timezone.utc) - state.last_drill_at).total_seconds())
	return _card(f"{_(state.last_outcome.replace('_', ' ').title())} · {duration(age)} ago")


@frappe.whitelist(methods=["GET", "POST"])
def rpo_card(filters: str | dict | list | None = None) -> dict | str:
	"""Number card: the age of the backup the last passing drill restored (recovery point)."""
	require_permission("drills")
	from erp_ops.site.backups import health

	value = health().rpo_s
	return _card(duration(value)) if value is not None else _("Not proven")


@frappe.whitelist(methods=["GET", "POST"])
def rto_card(filters: str | dict | list | None = None) -> dict | str:
	"""Number card: how long the last passing drill took to restore the dump (recovery time)."""
	require_permission("drills")
	from erp_ops.site.backups import health

	value = health().rto_s
	return _card(duration(value)) if value is not None else _("Not proven")


@frappe.whitelist(methods=["GET", "POST"])
def backups_proven_card(filters: str | dict | list | None = None) -> dict | str:
	"""Number card: ok / warning / critical from the drill health (critical: none passed in time)."""
	require_permission("drills")
	from erp_ops.site.backups import health

	labels = {"ok": _("Proven"), "warning": _("Last Drill Failed"), "critical": _("Unproven")}
	severity = health().severity.value
	return _card(labels.get(severity, severity))


def duration(seconds: float) -> str:
	if seconds < 120:
		return f"{seconds:.0f} s"
	if seconds < 7200:
		return f"{seconds / 60:.0f} min"
	if seconds < 172800:
		return f"{seconds / 3600:.1f} h"
	return f"{seconds / 86400:.1f} days"


def _card(text: str) -> dict | str:
	return text_card(text, ["List", DRILL_DOCTYPE])

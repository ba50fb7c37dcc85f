"""Upgrade preflight: run it for the site (in a `long` job), read a stored report, the number card.

Running is for Ops Managers (it reads the whole bench and every app's code, for seconds);
reading a stored report is for every ops role.
"""

import json

import frappe
from frappe import _
from frappe.utils import cint
from frappe.utils.background_jobs import create_job_id

from erp_ops.api import (
	Attempt,
	core_errors,
	require_permission,
	text_card,
)
from erp_ops.core.control.models import Action
from erp_ops.core.preflight.rules import load_rule_set
from erp_ops.site import preflight as site_preflight

PREFLIGHT_DOCTYPE = "Upgrade Preflight"
JOB_TIMEOUT_S = 1500


@frappe.whitelist(methods=["POST"])
def run(target: int, now: bool = False) -> dict:
	"""Queue the site's preflight for Frappe `target` on `long`; one job per site and target at a time.

	Returns the job id, the same while that preflight is queued or running (`already_queued`). With `now`,
	runs in this request and returns the stored record's name, verdict and score instead.
	"""
	require_permission("preflight", Attempt(Action.PREFLIGHT.value, [f"v{target}"], site_preflight.REASON))
	target = cint(target)
	with core_errors():
		load_rule_set(target)  # an unknown target is a 422 now, not a failed job later
	if cint(now):
		return site_preflight.execute(target)
	job_id = f"erp_ops-preflight-v{target}"
	job = frappe.enqueue(
		"erp_ops.site.preflight.execute",
		queue="long",
		timeout=JOB_TIMEOUT_S,
		job_id=job_id,
		deduplicate=True,
		target=target,
	)
	return {"job_id": create_job_id(job_id), "already_queued": job is None, "target": target}


@frappe.whitelist(methods=["GET"])
def get(name: str) -> dict:
	"""A stored preflight: its verdict, score and counts, and the full report as JSON."""
	require_permission("preflights")
	if not frappe.db.exists(PREFLIGHT_DOCTYPE, name):
		frappe.throw(_("Upgrade Preflight {0} not found").format(name), frappe.DoesNotExistError)
	doc = frappe.get_doc(PREFLIGHT_DOCTYPE, name)
	return {
		"name": doc.name,
		"verdict": doc.verdict,
		"risk_score": doc.risk_score,
		"risk_band": doc.risk_band,
		"blockers": doc.blockers,
		"high": doc.high,
		"warnings": doc.warnings,
		"target": doc.target,
		"generated_at": str(doc.generated_at),
		"report": json.loads(doc.report_json or "{}"),
	}


@frappe.whitelist(methods=["GET", "POST"])
def latest_verdict(filters: str | dict | list | None = None) -> dict | str:
	"""Number card: the newest preflight's verdict and risk score; a click opens the list."""
	require_permission("preflights")
	row = site_preflight.latest()
	if row is None:
		return _("Not run yet")
	return text_card(f"{_(frappe.unscrub(row.verdict))} · risk {row.risk_score}", ["List", PREFLIGHT_DOCTYPE])


# Jobs queued by an earlier version name this path; the job's body lives in site/preflight.
execute = site_preflight.execute

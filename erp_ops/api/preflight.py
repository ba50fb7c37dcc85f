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
	MANAGERS,
	READERS,
	Attempt,
	core_errors,
	require_roles,
	text_card,
)
from erp_ops.core.control.models import Action, ActionOutcome
from erp_ops.core.preflight import PreflightReport, run_preflight, to_text
from erp_ops.core.preflight.rules import load_rule_set
from erp_ops.erp_ops.doctype.upgrade_preflight.upgrade_preflight import create_record, latest
from erp_ops.site.audit import append_entry, new_entry
from erp_ops.site.preflight import backup_path, bench_path, site_facts

PREFLIGHT_DOCTYPE = "Upgrade Preflight"
JOB_TIMEOUT_S = 1500
REASON = "upgrade preflight"


@frappe.whitelist(methods=["POST"])
def run(target: int, now: bool = False) -> dict:
	"""Queue the site's preflight for Frappe `target` on `long`; one job per site and target at a time.

	Returns the job id, the same while that preflight is queued or running (`already_queued`). With `now`,
	runs in this request and returns the stored record's name, verdict and score instead.
	"""
	require_roles(*MANAGERS, attempt=Attempt(Action.PREFLIGHT.value, [f"v{target}"], REASON))
	target = cint(target)
	with core_errors():
		load_rule_set(target)  # an unknown target is a 422 now, not a failed job later
	if cint(now):
		return execute(target)
	job_id = f"erp_ops-preflight-v{target}"
	job = frappe.enqueue(
		"erp_ops.api.preflight.execute",
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
	require_roles(*READERS)
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
	require_roles(*READERS)
	row = latest()
	if row is None:
		return _("Not run yet")
	return text_card(f"{_(frappe.unscrub(row.verdict))} · risk {row.risk_score}", ["List", PREFLIGHT_DOCTYPE])


def execute(target: int) -> dict:
	"""Run the preflight of this site and bench, store it and log the run; the job's body.

	The run is logged in the Ops Action Log whatever its outcome, as the user who asked for it.
	"""
	target = cint(target)
	try:
		report = preflight_report(target)
		name = create_record(report)
	except Exception as e:
		frappe.db.rollback()
		_log(target, ActionOutcome.FAILED, error=f"{type(e).__name__}: {e}")
		frappe.db.commit()  # the job's failure rolls back: keep the evidence first
		raise
	state = f"{report.verdict.value}, risk {report.risk.score}/100 ({report.risk.band.value})"
	log = _log(target, ActionOutcome.DONE, targets=[f"v{target}", name], state_after=state)
	return {
		"name": name,
		"verdict": report.verdict.value,
		"risk_score": report.risk.score,
		"risk_band": report.risk.band.value,
		"findings": len(report.findings),
		"log": log,
		# for a terminal: plain text from the report itself (the stored Markdown is for Desk)
		"text": to_text(report),
	}


def preflight_report(target: int) -> PreflightReport:
	"""The core's preflight of this bench, with this site's facts and the bench's queues.

	Run from a background job, that job is started while it reads the queues: it is not in the way.
	"""
	from frappe.utils import get_bench_id
	from frappe.utils.background_jobs import get_redis_conn
	from rq import get_current_job

	job = get_current_job()
	running = (job.id,) if job else ()
	with core_errors():
		return run_preflight(
			bench_path(),
			target,
			site_facts=site_facts(running),
			redis_conn=get_redis_conn(),
			bench_id=get_bench_id(),
			ignore_job_ids=running,
			backup_path=backup_path(),
		)


def _log(target: int, outcome: ActionOutcome, **fields) -> str:
	targets = fields.pop("targets", [f"v{target}"])
	return append_entry(new_entry(Action.PREFLIGHT, targets, REASON, outcome, **fields))

# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

"""What has no runbook yet: enabled alert rules without a usable runbook, and the failure
signatures (job method + exception) of recent Job Evidence that no runbook's signatures answer.

Failures are grouped in SQL (one indexed range scan, one row per signature), then matched with the
core's `covers`, so a week of failures costs as many rows as it has distinct signatures.
"""

import frappe
from frappe import _
from frappe.utils import add_days, cint, now_datetime

from erp_ops.core.alerts.report import coverage_report
from erp_ops.core.evidence.capture import FAILED_OUTCOMES, Outcome
from erp_ops.core.runbooks.coverage import NO_EXCEPTION, covers
from erp_ops.core.runbooks.models import Runbook, RunbookStatus
from erp_ops.site.alerts import load_rules
from erp_ops.site.runbooks import RUNBOOK_DOCTYPE, as_core

DEFAULT_DAYS = 7


def execute(filters: dict | None = None) -> tuple[list[dict], list[dict]]:
	filters = frappe._dict(filters or {})
	days = max(1, cint(filters.get("days") or DEFAULT_DAYS))
	runbooks = all_runbooks()
	rows = [
		{
			"kind": _("Alert Rule"),
			"name": gap.rule,
			"exception": None,
			"detail": gap.signal,
			"runbook": gap.runbook,
			"problem": _(gap.problem),
			"count": None,
			"sites": None,
			"last_seen": None,
		}
		for gap in coverage_report(load_rules(), runbooks, []).rules
	]
	rows += failure_rows(runbooks, add_days(now_datetime(), -days))
	return columns(), rows


def columns() -> list[dict]:
	return [
		{"fieldname": "kind", "label": _("Kind"), "fieldtype": "Data", "width": 130},
		{"fieldname": "name", "label": _("Rule or Method"), "fieldtype": "Data", "width": 300},
		{"fieldname": "exception", "label": _("Exception"), "fieldtype": "Data", "width": 200},
		{"fieldname": "count", "label": _("Failures"), "fieldtype": "Int", "width": 90},
		{"fieldname": "last_seen", "label": _("Last Seen"), "fieldtype": "Datetime", "width": 160},
		{"fieldname": "sites", "label": _("Sites"), "fieldtype": "Data", "width": 140},
		{"fieldname": "problem", "label": _("Problem"), "fieldtype": "Data", "width": 180},
		{
			"fieldname": "runbook",
			"label": _("Runbook"),
			"fieldtype": "Link",
			"options": RUNBOOK_DOCTYPE,
			"width": 160,
		},
		{"fieldname": "detail", "label": _("Signal or Sample Message"), "fieldtype": "Data", "width": 300},
	]


def all_runbooks() -> list[Runbook]:
	names = frappe.get_all(RUNBOOK_DOCTYPE, pluck="name")
	out = []
	for name in names:
		data = as_core(frappe.get_doc(RUNBOOK_DOCTYPE, name))
		if data is not None:
			out.append(Runbook.model_validate(data))
	return out


def failure_rows(runbooks: list[Runbook], since) -> list[dict]:
	live = [rb for rb in runbooks if rb.status is not RunbookStatus.RETIRED]
	outcomes = sorted(o.value for o in FAILED_OUTCOMES)
	groups = frappe.db.sql(
		"""
		select method, exc_type, outcome, count(*) as count, max(ended_at) as last_seen,
			group_concat(distinct site) as sites, max(exc_message) as sample
		from `tabJob Evidence`
		where outcome in %(outcomes)s and ended_at >= %(since)s
		group by method, exc_type, outcome
		""",
		{"outcomes": outcomes, "since": since},
		as_dict=True,
	)
	merged: dict[tuple[str, str], dict] = {}
	for g in groups:
		exc = g.exc_type or NO_EXCEPTION.get(Outcome(g.outcome)) or "Unknown"
		key = (g.method or "?", exc)
		row = merged.setdefault(key, {"count": 0, "last_seen": None, "sites": set(), "sample": None})
		row["count"] += g.count
		if row["last_seen"] is None or (g.last_seen and g.last_seen > row["last_seen"]):
			row["last_seen"], row["sample"] = g.last_seen, g.sample
		row["sites"] |= set(filter(None, (g.sites or "").split(",")))
	out = []
	for (method, exc), row in sorted(merged.items(), key=lambda kv: (-kv[1]["count"], kv[0])):
		if any(covers(rb, method, exc) for rb in live):
			continue
		out.append(
			{
				"kind": _("Failure Signature"),
				"name": method,
				"exception": exc,
				"count": row["count"],
				"last_seen": row["last_seen"],
				"sites": ", ".join(sorted(row["sites"])),
				"problem": _("no runbook"),
				"runbook": None,
				"detail": (row["sample"] or "")[:300],
			}
		)
	return out

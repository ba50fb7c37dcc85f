"""Runbooks: ranked search for every ops role; recording a review for Ops Managers (audited)."""

import frappe
from frappe import _
from frappe.utils import cint, getdate, now_datetime

from erp_ops.api import Attempt, core_errors, require_permission
from erp_ops.core.control.models import Action, ActionOutcome
from erp_ops.core.runbooks.review import record_review
from erp_ops.site.audit import append_entry, new_entry
from erp_ops.site.runbooks import RUNBOOK_DOCTYPE, runbook_index

MAX_LIMIT = 50


@frappe.whitelist(methods=["GET"])
def search(query: str, limit: int = 10, area: str | None = None) -> list[dict]:
	"""The Active and Needs Review runbooks that best match `query`, best first, optionally in one `area`.

	Each hit carries name, title, score, area, status, severity and the query terms it matched.
	"""
	require_permission("runbooks")
	limit = max(1, min(cint(limit), MAX_LIMIT))
	with core_errors():
		hits = runbook_index().search(query or "", limit, areas=[area] if area else None)
	return [hit.model_dump(mode="json") for hit in hits]


@frappe.whitelist(methods=["POST"])
def mark_reviewed(name: str, notes: str | None = None) -> dict:
	"""Record a review of runbook `name`: who, when, what they said; the review clock starts again.

	A Needs Review runbook turns Active (a Draft stays Draft; a Retired one is refused, 422). The
	review is a row of the runbook's Review History, a change in its version history, and an
	Ops Action Log entry.
	"""
	require_permission("review", Attempt(Action.REVIEW.value, [name], notes))
	if not frappe.db.exists(RUNBOOK_DOCTYPE, name):
		frappe.throw(_("Runbook {0} not found").format(name), frappe.DoesNotExistError)
	doc = frappe.get_doc(RUNBOOK_DOCTYPE, name)
	notes = (notes or "").strip() or None
	before = doc.status
	with core_errors():
		outcome = record_review(doc.status, doc.review_cadence_days, getdate())
	doc.append("reviews", {"reviewer": frappe.session.user, "reviewed_on": now_datetime(), "notes": notes})
	doc.last_reviewed = outcome.last_reviewed
	doc.status = outcome.status.value
	# The permission check above is the gate; the Review History is read-only in the form.
	doc.save(ignore_permissions=True, ignore_version=False)
	log = append_entry(
		new_entry(
			Action.REVIEW,
			[name],
			notes,
			ActionOutcome.DONE,
			state_before=before,
			state_after=doc.status,
		)
	)
	return {
		"name": name,
		"status": doc.status,
		"last_reviewed": str(doc.last_reviewed),
		"next_review_due": str(doc.next_review_due),
		"log": log,
	}

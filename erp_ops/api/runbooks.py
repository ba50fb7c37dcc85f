"""Runbook search for every ops role: ranked, with prefix matching, from the index on the bench's Redis."""

import frappe
from frappe.utils import cint

from erp_ops.api import READERS, core_errors, require_roles
from erp_ops.erp_ops.doctype.runbook.runbook import runbook_index

MAX_LIMIT = 50


@frappe.whitelist(methods=["GET"])
def search(query: str, limit: int = 10, area: str | None = None) -> list[dict]:
	"""The Active and Needs Review runbooks that best match `query`, best first, optionally in one `area`.

	Each hit carries name, title, score, area, status, severity and the query terms it matched.
	"""
	require_roles(*READERS)
	limit = max(1, min(cint(limit), MAX_LIMIT))
	with core_errors():
		hits = runbook_index().search(query or "", limit, areas=[area] if area else None)
	return [hit.model_dump(mode="json") for hit in hits]

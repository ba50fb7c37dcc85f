"""Runbooks on the site: the document in the core's shape, the search index shared on the bench's
Redis (told about changes once they commit), and the review cadence's daily marking."""

from typing import Any

import frappe
from frappe.model.document import Document
from frappe.utils import getdate
from frappe.utils.background_jobs import get_redis_conn
from redis.exceptions import RedisError

from erp_ops.core.errors import ErpOpsError
from erp_ops.core.runbooks.index_cache import RunbookIndexCache
from erp_ops.core.runbooks.models import Runbook as CoreRunbook
from erp_ops.core.runbooks.models import RunbookStatus

RUNBOOK_DOCTYPE = "Runbook"
# Draft and Retired runbooks are not offered during an incident.
SEARCHABLE = (RunbookStatus.ACTIVE.value, RunbookStatus.NEEDS_REVIEW.value)

# One index cache per site in this process: the copy in memory outlives requests.
_caches: dict[str, RunbookIndexCache] = {}


def as_core(doc: Document | dict) -> dict[str, Any] | None:
	"""The document in the core `Runbook` shape; None when the core would refuse it (not searchable)."""
	get = doc.get
	data = {
		"name": get("name"),
		"title": get("title") or "",
		"area": get("area"),
		"severity": get("severity") or "Medium",
		"status": get("status") or "Draft",
		"symptoms": get("symptoms") or "",
		"impact": get("impact") or "",
		"diagnosis": get("diagnosis") or "",
		"steps": [
			{
				"action": s.get("action") or "",
				"command": s.get("command") or None,
				"erp_ops_action": s.get("erp_ops_action") or None,
				"expected_result": s.get("expected_result") or "",
				"verify": s.get("verify") or "",
			}
			for s in get("steps") or []
		],
		"escalation": get("escalation") or "",
		"rollback": get("rollback") or "",
		"tags": split_tags(get("tags")),
		"owner": get("runbook_owner") or None,
		"review_cadence_days": get("review_cadence_days") or 90,
		"last_reviewed": get("last_reviewed") or None,
		"signatures": [
			{
				"method": (g.get("method") or "*").strip(),
				"exc_type": (g.get("exc_type") or "").strip() or None,
			}
			for g in get("signatures") or []
		],
	}
	try:
		return CoreRunbook.model_validate(data).model_dump(mode="json")
	except (ValueError, ErpOpsError):
		frappe.logger("erp_ops").warning(f"Runbook {data['name']} is not indexable", exc_info=True)
		return None


def split_tags(tags: str | None) -> list[str]:
	return [t.strip() for t in (tags or "").replace("\n", ",").split(",") if t.strip()]


def load_searchable() -> list[dict[str, Any]]:
	"""Every Active or Needs Review runbook of the site, in the core shape: the index's loader."""
	names = frappe.get_all(RUNBOOK_DOCTYPE, filters={"status": ("in", SEARCHABLE)}, pluck="name")
	runbooks = (as_core(frappe.get_doc(RUNBOOK_DOCTYPE, name)) for name in names)
	return [rb for rb in runbooks if rb is not None]


def runbook_index(site: str | None = None) -> RunbookIndexCache:
	"""This process's index cache for the site, on the bench's Redis, scoped by site name."""
	site = site or frappe.local.site
	cache = _caches.get(site)
	if cache is None:
		cache = _caches[site] = RunbookIndexCache(get_redis_conn(), site, load_searchable)
	return cache


def _after_commit(site: str, upsert: dict[str, Any] | None, remove: str | None) -> None:
	def apply() -> None:
		try:
			runbook_index(site).apply(upsert=upsert, remove=remove)
		except RedisError:
			# Redis down: the generation could not move on, so drop this process's copy at least.
			frappe.logger("erp_ops").warning("runbook index not updated", exc_info=True)
			_caches.pop(site, None)

	frappe.db.after_commit.add(apply)


def mark_for_review(today: Any = None) -> list[str]:
	"""Active runbooks past their review date: set Needs Review, give each owner a ToDo and an email.

	Only Active ones turn (core `review_status`), so an owner hears about a runbook once, the day
	it falls due, not every day until someone reviews it. Returns the names marked.
	"""
	from erp_ops.core.runbooks.review import review_status

	today = getdate(today)
	rows = frappe.get_all(
		RUNBOOK_DOCTYPE,
		filters={"status": RunbookStatus.ACTIVE.value},
		fields=["name", "last_reviewed", "review_cadence_days", "creation"],
		order_by="name",
	)
	marked = []
	for row in rows:
		try:
			status = review_status(
				RunbookStatus.ACTIVE,
				row.last_reviewed,
				row.review_cadence_days,
				today,
				created=getdate(row.creation),
			)
		except ErpOpsError:
			frappe.logger("erp_ops").warning(f"Runbook {row.name}: invalid review cadence", exc_info=True)
			continue
		if status is not RunbookStatus.NEEDS_REVIEW:
			continue
		doc = frappe.get_doc(RUNBOOK_DOCTYPE, row.name)
		doc.status = RunbookStatus.NEEDS_REVIEW.value
		doc.save(ignore_permissions=True)
		if doc.runbook_owner:
			_review_todo(doc)
			_review_email(doc)
		marked.append(doc.name)
	return marked


def _review_todo(doc: Document) -> None:
	frappe.get_doc(
		{
			"doctype": "ToDo",
			"allocated_to": doc.runbook_owner,
			"reference_type": RUNBOOK_DOCTYPE,
			"reference_name": doc.name,
			"description": frappe._("Review runbook {0}: {1} (due {2})").format(
				doc.name, doc.title, doc.next_review_due
			),
			"date": getdate(),
		}
	).insert(ignore_permissions=True)


def _review_email(doc: Document) -> None:
	"""Queued through Frappe's Email Queue (the site's outgoing account sends it)."""
	email = frappe.db.get_value("User", {"name": doc.runbook_owner, "enabled": 1}, "email")
	if not email:
		return
	try:
		link = frappe.utils.get_url_to_form(RUNBOOK_DOCTYPE, doc.name)
		frappe.sendmail(
			recipients=[email],
			subject=frappe._("Runbook {0} needs review").format(doc.name),
			message=frappe._(
				"Runbook {0} ({1}) was due for review on {2}. Review it and record the review: {3}"
			).format(
				frappe.utils.escape_html(doc.name),
				frappe.utils.escape_html(doc.title),
				doc.next_review_due,
				f"<a href='{link}'>{link}</a>",
			),
			reference_doctype=RUNBOOK_DOCTYPE,
			reference_name=doc.name,
		)
	except frappe.OutgoingEmailError:
		# No outgoing email account: the ToDo still tells the owner.
		frappe.logger("erp_ops").warning(f"review email for {doc.name} not queued", exc_info=True)

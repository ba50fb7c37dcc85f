"""Whitelisted endpoints of erp_ops: check the role, call the core, map its errors.

`@frappe.whitelist()` only means "logged in". Every endpoint here starts with `require_roles(...)`
so the check is visible in the function itself and a contract test can verify it is first.
"""

from dataclasses import dataclass, field

import frappe
from frappe import _

from erp_ops.site.errors import (  # the endpoints' error classes, re-exported
	OpsBadRequest,
	OpsConflict,
	OpsError,
	OpsInvalidInput,
	OpsPayloadTooLarge,
	OpsServiceUnavailable,
	core_errors,
	frappe_exception_for,
)

OPS_VIEWER = "Ops Viewer"
OPS_OPERATOR = "Ops Operator"
OPS_MANAGER = "Ops Manager"
SYSTEM_MANAGER = "System Manager"

# Who may do what (docs: ARCHITECTURE.md, "Roles").
READERS = (OPS_VIEWER, OPS_OPERATOR, OPS_MANAGER, SYSTEM_MANAGER)
OPERATORS = (OPS_OPERATOR, OPS_MANAGER, SYSTEM_MANAGER)
MANAGERS = (OPS_MANAGER, SYSTEM_MANAGER)


@dataclass(frozen=True)
class Attempt:
	"""An action being attempted, so that a denied attempt still leaves an `Ops Action Log` row."""

	action: str
	targets: list[str] = field(default_factory=list)
	reason: str | None = None
	request_id: str | None = None
	dry_run: bool = False


def has_roles(*roles: str) -> bool:
	user = frappe.session.user
	return user == "Administrator" or bool(set(roles).intersection(frappe.get_roles(user)))


def require_roles(*roles: str, attempt: Attempt | None = None) -> None:
	"""Raise `frappe.PermissionError` (HTTP 403) unless the session user has one of `roles`.

	With `attempt`, a denial is first written to the Ops Action Log and committed: the request's
	rollback on the 403 must not take the evidence of the attempt with it.
	"""
	if has_roles(*roles):
		return
	if attempt is not None:
		log_denied(attempt, roles)
	frappe.throw(
		_("Not permitted: this needs one of the roles {0}.").format(", ".join(_(r) for r in roles)),
		frappe.PermissionError,
		title=_("Insufficient Role"),
	)


def log_denied(attempt: Attempt, roles: tuple[str, ...]) -> None:
	from erp_ops.core.control.models import ActionOutcome
	from erp_ops.site.audit import append_entry, new_entry

	entry = new_entry(
		attempt.action,
		attempt.targets,
		attempt.reason,
		ActionOutcome.DENIED,
		dry_run=attempt.dry_run,
		request_id=attempt.request_id,
		error=f"needs one of the roles {', '.join(roles)}",
	)
	append_entry(entry)
	frappe.db.commit()  # nosemgrep: the 403 that follows rolls the request back


def text_card(text: str, route: list[str] | None = None) -> dict | str:
	"""A number card value shown as text.

	v15's card opens a route only for a dict, runs a dict's value through `shorten_number` (which
	throws on text without a digit and turns text with five or more into NaN), then splits it at the
	first space (hence no-break spaces) and formats it as `fieldtype` (Code: escaped text). Text the
	shortener cannot take is returned bare: shown as it is, without a route.
	"""
	if route is None or not 0 < sum(c.isdigit() for c in text) < 5:
		return text
	return {"value": text.replace(" ", "\u00a0"), "fieldtype": "Code", "route": route}

"""Whitelisted endpoints of erp_ops: check the permission, call the core, map its errors.

`@frappe.whitelist()` only means "logged in". Every endpoint here starts with
`require_permission(...)` (or `require_roles(...)` for the few gated by role: the console, event
ingest, Alertmanager's webhook) so the check is visible in the function itself and a contract test
can verify it is first.

Actions are gated on DocType permissions (`PERMISSIONS`), so a System Manager changes who may do
what in Role Permission Manager; the shipped rows of the `Ops … Action` switchboards equal the role
matrix that was hard-coded before. A denial is logged in the Ops Action Log; denials by users without
any Ops role (portal users, scripts) are counted and summarised, not chained one row each.
"""

from dataclasses import dataclass, field
from datetime import datetime

import frappe
from frappe import _
from frappe.utils import get_datetime, get_system_timezone

from erp_ops.core.clock import from_site_time
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

# Role lists for what stays gated by role: the Ops Console and the apps screen (any Ops role),
# event ingest (Integration User, bound to its source), Alertmanager's webhook (Ops Alert Receiver).
READERS = (OPS_VIEWER, OPS_OPERATOR, OPS_MANAGER, SYSTEM_MANAGER)
OPERATORS = (OPS_OPERATOR, OPS_MANAGER, SYSTEM_MANAGER)
MANAGERS = (OPS_MANAGER, SYSTEM_MANAGER)
OPS_ROLES = READERS  # a user with none of these is "without any Ops role" (denials rate-limited)

# Every action, → (DocType, permission type). The `Ops … Action` DocTypes are Singles with no data
# (site/switchboard.py): their permission rows are the switchboard a System Manager edits in Role
# Permission Manager. Shipped rows (docs/security.md has the table): read for Ops Viewer and up;
# job actions, event replay of one event and alert acknowledgement for Ops Operator and up; the
# rest (bulk, release, purge, drills, retention, preflight runs, range replays, runbook reviews)
# for Ops Manager and System Manager.
JOB_ACTION = "Ops Job Action"
DRILL_ACTION = "Ops Drill Action"
PREFLIGHT_ACTION = "Ops Preflight Action"
EVENT_ACTION = "Ops Event Action"
ALERT_ACTION = "Ops Alert Action"
RUNBOOK_ACTION = "Ops Runbook Action"
PERMISSIONS: dict[str, tuple[str, str]] = {
	"view": (JOB_ACTION, "read"),
	"requeue": (JOB_ACTION, "write"),
	"retry": (JOB_ACTION, "write"),
	"cancel": (JOB_ACTION, "write"),
	"quarantine": (JOB_ACTION, "write"),
	"release": (JOB_ACTION, "create"),
	"bulk": (JOB_ACTION, "create"),
	"purge": (JOB_ACTION, "delete"),
	"verify_log": ("Ops Action Log", "read"),
	"drills": (DRILL_ACTION, "read"),
	"drill": (DRILL_ACTION, "write"),
	"retention": (DRILL_ACTION, "create"),
	"retention_apply": (DRILL_ACTION, "delete"),
	"preflights": (PREFLIGHT_ACTION, "read"),
	"preflight": (PREFLIGHT_ACTION, "write"),
	"events": (EVENT_ACTION, "read"),
	"replay": (EVENT_ACTION, "write"),
	"replay_range": (EVENT_ACTION, "create"),
	"alerts": (ALERT_ACTION, "read"),
	"acknowledge": (ALERT_ACTION, "write"),
	"runbooks": (RUNBOOK_ACTION, "read"),
	"review": (RUNBOOK_ACTION, "write"),
}


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


def can(action: str, user: str | None = None) -> bool:
	"""Whether the user (default: the session's) holds the DocType permission `action` needs."""
	doctype, ptype = PERMISSIONS[action]
	return bool(frappe.has_permission(doctype, ptype, user=user))


def require_permission(action: str, attempt: Attempt | None = None) -> None:
	"""Raise `frappe.PermissionError` (HTTP 403) unless the session user may do `action`.

	With `attempt`, a denial is first logged (see `log_denied`) and committed: the request's
	rollback on the 403 must not take the evidence of the attempt with it.
	"""
	if can(action):
		return
	doctype, ptype = PERMISSIONS[action]
	need = f"{ptype} permission on {doctype}"
	if attempt is not None:
		log_denied(attempt, need)
	frappe.throw(
		_("Not permitted: this needs {0} permission on {1}.").format(_(ptype), _(doctype)),
		frappe.PermissionError,
		title=_("Insufficient Permission"),
	)


def require_roles(*roles: str, attempt: Attempt | None = None) -> None:
	"""Raise `frappe.PermissionError` (HTTP 403) unless the session user has one of `roles`.

	With `attempt`, a denial is first logged (see `log_denied`) and committed: the request's
	rollback on the 403 must not take the evidence of the attempt with it.
	"""
	if has_roles(*roles):
		return
	if attempt is not None:
		log_denied(attempt, f"one of the roles {', '.join(roles)}")
	frappe.throw(
		_("Not permitted: this needs one of the roles {0}.").format(", ".join(_(r) for r in roles)),
		frappe.PermissionError,
		title=_("Insufficient Role"),
	)


def log_denied(attempt: Attempt, need: str) -> None:
	"""A chained Ops Action Log row for a denied attempt by an Ops user; for a user without any Ops
	role, only the first denial of the window is chained and the others are counted."""
	from erp_ops.core.control.models import ActionOutcome
	from erp_ops.site.audit import append_entry, count_denial, denial_window_end, new_entry

	if not has_roles(*OPS_ROLES) and not count_denial(attempt.action):
		return

	error = f"needs {need}"
	if not has_roles(*OPS_ROLES):
		until = denial_window_end()
		error += (
			f"; no Ops role: further denials of this user until {until:%H:%M} UTC are counted and "
			"summarised in one row"
		)
	entry = new_entry(
		attempt.action,
		attempt.targets,
		attempt.reason,
		ActionOutcome.DENIED,
		dry_run=attempt.dry_run,
		request_id=attempt.request_id,
		error=error,
	)
	append_entry(entry)
	frappe.db.commit()  # the 403 that follows rolls the request back: keep the evidence


@frappe.whitelist(methods=["GET"])
def permissions() -> dict[str, bool]:
	"""What the session user may do, action by action, as the server decides it (for Desk's buttons)."""
	require_permission("view")
	return {action: can(action) for action in PERMISSIONS}


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


def desk_time(value: str | datetime | None) -> datetime | None:
	"""A date-time as Desk sends it (site time, text or datetime) as aware UTC; None when empty."""
	return from_site_time(get_datetime(value), get_system_timezone()) if value else None

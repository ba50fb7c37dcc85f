"""Whitelisted endpoints of erp_ops: check the role, call the core, map its errors.

`@frappe.whitelist()` only means "logged in". Every endpoint here starts with `require_roles(...)`
so the check is visible in the function itself and a contract test can verify it is first.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import frappe
from frappe import _

from erp_ops.core import errors

OPS_VIEWER = "Ops Viewer"
OPS_OPERATOR = "Ops Operator"
OPS_MANAGER = "Ops Manager"
SYSTEM_MANAGER = "System Manager"

# Who may do what (docs: ARCHITECTURE.md, "Roles").
READERS = (OPS_VIEWER, OPS_OPERATOR, OPS_MANAGER, SYSTEM_MANAGER)
OPERATORS = (OPS_OPERATOR, OPS_MANAGER, SYSTEM_MANAGER)
MANAGERS = (OPS_MANAGER, SYSTEM_MANAGER)


def require_roles(*roles: str) -> None:
	"""Raise `frappe.PermissionError` (HTTP 403) unless the session user has one of `roles`."""
	user = frappe.session.user
	if user == "Administrator" or set(roles).intersection(frappe.get_roles(user)):
		return
	frappe.throw(
		_("Not permitted: this needs one of the roles {0}.").format(", ".join(_(r) for r in roles)),
		frappe.PermissionError,
		title=_("Insufficient Role"),
	)


class OpsInvalidInput(frappe.ValidationError):
	http_status_code = 422


class OpsConflict(frappe.ValidationError):
	http_status_code = 409


class OpsPayloadTooLarge(frappe.ValidationError):
	http_status_code = 413


class OpsServiceUnavailable(frappe.ValidationError):
	http_status_code = 503


class OpsError(frappe.ValidationError):
	http_status_code = 500


# By HTTP status rather than class, so a new core error with a known status maps without a change.
_FRAPPE_EXCEPTIONS: dict[int, type[Exception]] = {
	403: frappe.PermissionError,
	409: OpsConflict,
	413: OpsPayloadTooLarge,
	422: OpsInvalidInput,
	503: OpsServiceUnavailable,
}


def frappe_exception_for(error: errors.ErpOpsError) -> type[Exception]:
	"""The Frappe exception class that answers with the core error's HTTP status."""
	return _FRAPPE_EXCEPTIONS.get(error.http_status, OpsError)


@contextmanager
def core_errors() -> Iterator[None]:
	"""Turn a core `ErpOpsError` raised inside the block into the matching Frappe exception."""
	try:
		yield
	except errors.ErpOpsError as e:
		frappe.throw(str(e) or type(e).__name__, frappe_exception_for(e), title=_("Operation failed"))

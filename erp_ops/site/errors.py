"""Core errors as Frappe exceptions: each answers with the HTTP status the core error names.

Shared by the endpoints (api/) and the DocType controllers that call the core (a controller must
not import api/).
"""

from collections.abc import Iterator
from contextlib import contextmanager

import frappe
from frappe import _

from erp_ops.core import errors


class OpsBadRequest(frappe.ValidationError):
	http_status_code = 400


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
	400: OpsBadRequest,
	403: frappe.PermissionError,
	404: frappe.DoesNotExistError,
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

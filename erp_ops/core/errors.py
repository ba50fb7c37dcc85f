"""The one exception family of the core. The Frappe layer maps each to an HTTP status."""


class ErpOpsError(Exception):
	"""Base of every error the core raises on purpose."""

	http_status = 500


class InvalidInput(ErpOpsError):
	"""The caller passed something the core cannot work with (a bad URL, name or value)."""

	http_status = 422


class NotPermitted(ErpOpsError):
	"""The acting user lacks the role the action needs."""

	http_status = 403


class Conflict(ErpOpsError):
	"""The target changed under us, or another actor holds it; nothing was done."""

	http_status = 409


class PayloadTooLarge(ErpOpsError):
	"""The request body is over the configured limit; it was not stored."""

	http_status = 413


class ServiceUnavailable(ErpOpsError):
	"""Redis or the database did not answer; the caller may retry."""

	http_status = 503

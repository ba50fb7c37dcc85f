"""Errors of the upgrade preflight, each with the HTTP status the API maps it to."""

from erp_ops.core.errors import ErpOpsError, InvalidInput


class BenchNotFound(InvalidInput):
	"""The path is not a bench: no `apps/` folder or no `sites/apps.txt`."""


class UnknownTarget(InvalidInput):
	"""No rule set ships for the requested target version."""


class InvalidVersion(InvalidInput):
	"""A version or specifier string is not valid PEP 440."""


class RuleSetInvalid(ErpOpsError):
	"""A shipped rule file is malformed: a defect of erp_ops, not of the caller."""

	http_status = 500

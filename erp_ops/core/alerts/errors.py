"""Errors of the alerts core, each mapped by the API to the HTTP status it carries."""

from erp_ops.core.errors import Conflict, InvalidInput


class InvalidRule(InvalidInput):
	"""An alert rule names an unknown figure, comparison or aggregate, or has impossible timings."""


class AlertNotFound(InvalidInput):
	"""No pending or firing alert of that rule and subject: nothing to acknowledge."""


class EvaluationBusy(Conflict):
	"""Another process holds the evaluation lock of this bench; this round was skipped."""


class InvalidWebhook(InvalidInput):
	"""A webhook URL that is not http(s) with a host."""

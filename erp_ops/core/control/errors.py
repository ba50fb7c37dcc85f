"""Errors of control actions, each with the HTTP status the API maps it to."""

from erp_ops.core.errors import Conflict, ErpOpsError, InvalidInput, NotPermitted


class JobConflict(Conflict):
	"""The job is not where the action needs it (it changed state meanwhile); nothing was done."""

	def __init__(self, job_id: str, state: str, message: str) -> None:
		super().__init__(message)
		self.job_id = job_id
		self.state = state


class JobNotFound(ErpOpsError):
	"""No job (and no quarantined payload) has this id."""

	http_status = 404


class ForeignJob(JobNotFound):
	"""The job belongs to another site of the bench. Answered exactly like a job that does not
	exist (404, same wording), so a caller learns nothing about other sites; the type lets the
	caller record the attempt."""


class RequestInFlight(Conflict):
	"""The same request id is being acted on by another call right now."""


class RequestMismatch(Conflict):
	"""The request id was already used for a different action or target."""


class TokenInvalid(InvalidInput):
	"""The confirmation token is unknown or expired: preview again."""


class ForeignToken(TokenInvalid):
	"""The token was previewed on another site: answered exactly like an unknown token."""


class TokenUsed(Conflict):
	"""The confirmation token was already executed, or is being executed."""


class ApprovalRequired(NotPermitted):
	"""A bulk action above the four-eyes size needs a second Ops Manager's approval first."""


class SelfApproval(NotPermitted):
	"""The person who requested a bulk action cannot be the one who approves it."""

"""Why an event was refused. Each error names the record kept of the refusal, so nothing is lost silently."""

from erp_ops.core.errors import Conflict, ErpOpsError, InvalidInput, NotPermitted, PayloadTooLarge


class EventRefused(ErpOpsError):
	"""Base of the refusals; `event_name` is the stored record of the request once it is recorded."""

	def __init__(self, message: str, *, event_name: str | None = None) -> None:
		super().__init__(message)
		self.event_name = event_name


class InvalidKey(EventRefused, InvalidInput):
	"""The idempotency key or the source is empty or too long: the request has no identity."""

	http_status = 400


class EventTooLarge(EventRefused, PayloadTooLarge):
	"""The body is over the configured limit; only its size and digest were recorded."""


class InvalidPayload(EventRefused, InvalidInput):
	"""The body is not JSON, or fails the handler's declared schema; `field_errors` say where."""

	def __init__(
		self, message: str, *, field_errors: list[dict] | None = None, event_name: str | None = None
	) -> None:
		super().__init__(message, event_name=event_name)
		self.field_errors = field_errors or []


class SenderNotBound(EventRefused, NotPermitted):
	"""The sender is not one of the users bound to the source (or the source may not send this type)."""


class UnknownEventType(EventRefused, InvalidInput):
	"""No handler is registered for the event type."""


class KeyConflict(EventRefused, Conflict):
	"""The key was already used with another payload; the attempt is recorded as a Conflict."""

	def __init__(self, message: str, *, existing: str, event_name: str | None = None) -> None:
		super().__init__(message, event_name=event_name)
		self.existing = existing


class InProgress(EventRefused, Conflict):
	"""Another worker holds a live claim on the event; retry after it ends or its claim expires."""


class ClaimLost(Conflict):
	"""Our claim expired and another worker took the event over; our work was rolled back."""


class KeyExists(Conflict):
	"""The (source, key) is already stored: the store's unique constraint refused a second row."""


class TransientStoreError(ErpOpsError):
	"""A deadlock or lock wait timeout: the whole transaction may be retried."""

	http_status = 503

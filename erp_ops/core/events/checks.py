"""Check a delivery before anything is stored: identity, size, type, JSON, schema, ordering value.

Each failure raises the refusal the API answers with (400, 413 or 422); `refusal_record` turns it
into the row that is kept so nothing is refused silently. Refused requests do not take the key: the
sender may fix the request and send it again with the same key.
"""

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from erp_ops.core.clock import as_utc
from erp_ops.core.events.canonical import body_digest, canonical_json, event_name
from erp_ops.core.events.errors import (
	EventRefused,
	EventTooLarge,
	InvalidKey,
	InvalidPayload,
	UnknownEventType,
)
from erp_ops.core.events.handlers import EventHandler, HandlerRegistry
from erp_ops.core.events.models import (
	ConflictPolicy,
	EventRecord,
	EventStatus,
	IngestRequest,
	IngestSettings,
)

ERROR_MAX = 4000


@dataclass(frozen=True)
class CheckedEvent:
	"""A delivery that passed every check, with what the protocol needs from it."""

	request: IngestRequest
	handler: EventHandler
	name: str
	canonical: str
	payload_hash: str
	payload: Any
	sequence: int | None
	occurred_at: datetime | None
	entity_key: str | None


def check_request(
	handlers: HandlerRegistry, request: IngestRequest, settings: IngestSettings
) -> CheckedEvent:
	"""The checked event, or the refusal (not yet recorded) as an exception."""
	source, key = request.source, request.idempotency_key
	# NUL separates source from key in the identity digest: allowing it would let two identities meet.
	if not source or not source.strip() or len(source) > settings.max_source_length or "\0" in source:
		raise InvalidKey(f"the source must be 1 to {settings.max_source_length} characters, without NUL")
	if not key or not key.strip() or len(key) > settings.max_key_length or "\0" in key:
		raise InvalidKey(
			f"the idempotency key must be 1 to {settings.max_key_length} characters, without NUL"
		)
	body = request.body.encode() if isinstance(request.body, str) else request.body
	if len(body) > settings.max_body_bytes:
		raise EventTooLarge(
			f"the payload is {len(body)} bytes, over the limit of {settings.max_body_bytes} bytes"
		)
	handler = handlers.get(request.event_type)
	if handler is None:
		raise UnknownEventType(f"no handler is registered for the event type {request.event_type!r}")
	try:
		payload = json.loads(body)
	except (UnicodeDecodeError, json.JSONDecodeError) as e:
		raise InvalidPayload(
			f"the payload is not valid JSON: {e}", field_errors=[{"loc": "", "msg": str(e), "type": "json"}]
		) from None
	try:
		canonical = canonical_json(payload)
	except ValueError as e:  # NaN/Infinity: not JSON any receiver can read back
		raise InvalidPayload(f"the payload is not valid JSON: {e}") from None
	model = validate_payload(handler, payload)
	sequence = request.sequence
	if sequence is None and handler.sequence is not None:
		sequence = handler.sequence(model)
	occurred_at = request.occurred_at
	if occurred_at is None and handler.occurred_at is not None:
		occurred_at = handler.occurred_at(model)
	occurred_at = as_utc(occurred_at)
	entity_key = handler.entity(model) if handler.entity is not None else None
	entity_key = str(entity_key) if entity_key not in (None, "") else None
	if entity_key is not None:
		_check_ordering_value(handler, sequence, occurred_at)
	return CheckedEvent(
		request=request,
		handler=handler,
		name=event_name(source, key),
		canonical=canonical,
		payload_hash=hashlib.sha256(canonical.encode()).hexdigest(),
		payload=model,
		sequence=sequence,
		occurred_at=occurred_at,
		entity_key=entity_key[:255] if entity_key else None,
	)


def validate_payload(handler: EventHandler, payload: Any) -> Any:
	"""The payload as the handler's schema model (or as parsed JSON when it declares none)."""
	if handler.schema is None:
		return payload
	try:
		return handler.schema.model_validate(payload)
	except ValidationError as e:
		errors = field_errors(e)
		summary = "; ".join(f"{err['loc'] or '(payload)'}: {err['msg']}" for err in errors[:5])
		raise InvalidPayload(
			f"the payload does not match the schema: {summary}", field_errors=errors
		) from None


def field_errors(error: ValidationError) -> list[dict]:
	return [
		{"loc": ".".join(str(p) for p in err["loc"]), "msg": err["msg"], "type": err["type"]}
		for err in error.errors(include_url=False)
	]


def _check_ordering_value(handler: EventHandler, sequence: int | None, occurred_at: datetime | None) -> None:
	# Without an ordering value the policy could only go by arrival, which is not deterministic.
	if handler.policy == ConflictPolicy.REJECT_STALE and occurred_at is None:
		raise InvalidPayload(
			"this event type rejects stale events and needs occurred_at",
			field_errors=[{"loc": "occurred_at", "msg": "required", "type": "missing"}],
		)
	if handler.policy == ConflictPolicy.LAST_WRITER_WINS and sequence is None and occurred_at is None:
		raise InvalidPayload(
			"this event type orders events by source sequence or occurred_at; the delivery has neither",
			field_errors=[{"loc": "sequence", "msg": "required", "type": "missing"}],
		)


def refusal_record(
	request: IngestRequest,
	refusal: EventRefused,
	settings: IngestSettings,
	now: datetime,
	*,
	status: EventStatus = EventStatus.REJECTED,
	conflict_with: str | None = None,
) -> EventRecord:
	"""The row kept of a refused request: no key held, and no body when the body was the problem."""
	body = request.body.encode() if isinstance(request.body, str) else request.body
	too_large = isinstance(refusal, EventTooLarge)
	stored = None
	if not too_large:
		try:
			stored = canonical_json(json.loads(body))
		except (UnicodeDecodeError, ValueError):
			stored = body.decode(errors="replace")
	detail = str(refusal)
	if isinstance(refusal, InvalidPayload) and refusal.field_errors:
		detail = f"{detail}\n{json.dumps(refusal.field_errors, ensure_ascii=False)}"
	return EventRecord(
		name=f"EVR-{uuid.uuid4().hex}",
		source=(request.source or "")[: settings.max_source_length],
		event_type=(request.event_type or "")[:140],
		offered_key=(request.idempotency_key or "")[: settings.max_key_length] or None,
		payload=stored,
		payload_hash=body_digest(body) if too_large or stored is None else _hash_text(stored),
		payload_size=len(body),
		sequence=request.sequence,
		occurred_at=as_utc(request.occurred_at),
		status=status,
		error=detail[:ERROR_MAX],
		reason=type(refusal).__name__,
		conflict_with=conflict_with,
		received_at=now,
	)


def _hash_text(text: str) -> str:
	return body_digest(text.encode())

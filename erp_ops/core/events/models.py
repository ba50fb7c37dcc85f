"""Value objects of the event protocol. They cross the core/Frappe boundary as JSON."""

import json
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import ConfigDict, Field

from erp_ops.core.clock import as_utc, naive_utc
from erp_ops.core.models import Frozen


class EventStatus(str, Enum):
	RECEIVED = "Received"
	PROCESSING = "Processing"
	PROCESSED = "Processed"
	FAILED = "Failed"
	SUPERSEDED = "Superseded"
	CONFLICT = "Conflict"
	REJECTED = "Rejected"


# A duplicate delivery of these gets the stored answer; of the others it may (re)start processing.
FINAL_STATUSES = frozenset({EventStatus.PROCESSED, EventStatus.SUPERSEDED})
# Records of refused requests: they hold no key and there is nothing to run.
REFUSAL_STATUSES = frozenset({EventStatus.CONFLICT, EventStatus.REJECTED})


class ConflictPolicy(str, Enum):
	"""How an event type orders events about the same entity (see docs/events.md)."""

	LAST_WRITER_WINS = "last_writer_wins"
	REJECT_STALE = "reject_stale"
	FIRST_WRITER_WINS = "first_writer_wins"


class DocRef(Frozen):
	doctype: str
	name: str


class FieldChange(Frozen):
	"""One field of one document before and after a handler ran."""

	doctype: str
	name: str
	field: str
	before: Any = None
	after: Any = None


class HandlerResult(Frozen):
	"""What a handler reports: a small result for the sender, the documents it touched, its changes."""

	# Factories, not `= []`: pydantic deep-copies a mutable default on every instance (hot path).
	result: dict[str, Any] = Field(default_factory=dict)
	touched: list[DocRef] = Field(default_factory=list)
	changes: list[FieldChange] = Field(default_factory=list)


class Claim(Frozen):
	"""A worker's right to process an event until `expires_at`; `token` proves it at commit time."""

	worker: str
	token: str
	expires_at: datetime


class EventRecord(Frozen):
	"""One row of the event store: an accepted event, or the record of a refused request."""

	name: str
	source: str
	event_type: str
	idempotency_key: str | None = Field(None, description="None on refusal records: they hold no key")
	offered_key: str | None = Field(None, description="the key a refused request offered, cut to fit")
	payload: str | None = Field(None, description="canonical JSON; None when the body was too large")
	payload_hash: str | None = None
	payload_size: int = 0
	sequence: int | None = None
	occurred_at: datetime | None = None
	entity_key: str | None = None
	status: EventStatus
	attempts: int = 0
	handler: str | None = None
	claimed_by: str | None = None
	claim_token: str | None = None
	claim_expires_at: datetime | None = None
	result: dict[str, Any] | None = None
	error: str | None = None
	reason: str | None = None
	touched: list[DocRef] = Field(default_factory=list)
	changes: list[FieldChange] = Field(default_factory=list)
	conflict_with: str | None = None
	received_at: datetime
	processed_at: datetime | None = None

	def claim_live(self, now: datetime) -> bool:
		"""True while a worker may still be processing the event."""
		return (
			self.status == EventStatus.PROCESSING
			and self.claim_expires_at is not None
			and self.claim_expires_at > now
		)

	def to_row(self) -> dict[str, Any]:
		"""Flat column values: JSON text for the structured fields, naive UTC datetimes."""
		row = self.model_dump(mode="python")
		row["status"] = self.status.value
		for field in JSON_FIELDS:
			value = row[field]
			row[field] = None if value in (None, []) else json.dumps(value, default=str, sort_keys=True)
		for field in DATETIME_FIELDS:
			row[field] = naive_utc(row[field])
		return row

	@classmethod
	def from_row(cls, row: Mapping[str, Any]) -> "EventRecord":
		"""Build from column values as a database returns them (JSON text, naive UTC datetimes)."""
		data = {k: row[k] for k in cls.model_fields if k in row}
		for field in JSON_FIELDS:
			if isinstance(data.get(field), (str, bytes)):
				data[field] = json.loads(data[field])
			elif data.get(field) is None and field != "result":
				data[field] = []
		for field in DATETIME_FIELDS:
			data[field] = as_utc(data.get(field))
		return cls.model_validate(data)


JSON_FIELDS = ("result", "touched", "changes")
DATETIME_FIELDS = ("occurred_at", "claim_expires_at", "received_at", "processed_at")


class IngestRequest(Frozen):
	"""One delivery as the API receives it: the raw body is checked and hashed by the core."""

	source: str
	event_type: str
	idempotency_key: str
	body: bytes | str
	sequence: int | None = None
	occurred_at: datetime | None = None


class IngestSettings(Frozen):
	"""Limits and timings; the Frappe layer fills them from Ops Settings."""

	max_body_bytes: int = 1024 * 1024
	max_key_length: int = 255
	max_source_length: int = 140
	claim_ttl_s: float = 300.0
	# Only a shortcut for "in progress": past it a duplicate asks the database, which is always right,
	# so it can be short and a crashed request does not answer 409 for the whole claim TTL.
	inflight_lock_s: float = 30.0
	retention_days: int = 90
	done_cache_s: float = 600.0
	transient_retries: int = 3


class IngestResult(Frozen):
	"""The answer to a delivery; `duplicate` when the key was seen before with the same payload."""

	name: str
	status: EventStatus
	duplicate: bool = False
	result: dict[str, Any] | None = None
	reason: str | None = None
	error: str | None = None
	attempts: int = 0
	enqueue: bool = Field(False, description="the caller should (re)enqueue `process` for this event")

	@classmethod
	def of(cls, record: EventRecord, *, duplicate: bool = False, enqueue: bool = False) -> "IngestResult":
		return cls(**answer_fields(record), duplicate=duplicate, enqueue=enqueue)


# What an answer takes from the stored event (the Redis cache of answers keeps the same).
ANSWER_FIELDS = ("name", "status", "result", "reason", "error", "attempts")


def answer_fields(record: EventRecord) -> dict[str, Any]:
	return {field: getattr(record, field) for field in ANSWER_FIELDS}


class OrderingState(Frozen):
	"""The newest event applied to one entity of one source."""

	source: str
	entity_key: str
	last_sequence: int | None = None
	last_occurred_at: datetime | None = None
	last_event: str


class Event(Frozen):
	"""What a handler receives: the stored event with its payload validated by the handler's schema."""

	model_config = ConfigDict(arbitrary_types_allowed=True)

	name: str
	source: str
	event_type: str
	idempotency_key: str
	payload: Any
	sequence: int | None = None
	occurred_at: datetime | None = None
	entity_key: str | None = None
	received_at: datetime
	attempt: int = 1
	replay: bool = False


class Outcome(str, Enum):
	APPLY = "apply"
	SUPERSEDE = "supersede"
	SKIP = "skip"


class ReplayItem(Frozen):
	"""What replaying one event did (or, in a dry run, would do)."""

	name: str
	source: str
	event_type: str
	status_before: EventStatus
	outcome: Outcome
	status_after: EventStatus | None = None
	reason: str | None = None
	error: str | None = None
	changes: list[FieldChange] = Field(default_factory=list)
	changed: bool = False


class ReplayReport(Frozen):
	replay_id: str
	dry_run: bool
	reason: str
	actor: str
	items: list[ReplayItem] = Field(default_factory=list)

	@property
	def counts(self) -> dict[str, int]:
		counts: dict[str, int] = {}
		for item in self.items:
			counts[item.outcome.value] = counts.get(item.outcome.value, 0) + 1
		return counts


class ReplayEntry(Frozen):
	"""The evidence of one replay of one event, stored in the transaction that replayed it."""

	replay_id: str
	event: str
	reason: str
	actor: str
	outcome: Outcome
	status_after: EventStatus
	changes: list[FieldChange] = Field(default_factory=list)
	changed: bool = False
	at: datetime


class EventQuery(Frozen):
	"""A selection of stored events for replay or review; every given criterion must hold."""

	source: str | None = None
	event_type: str | None = None
	received_from: datetime | None = None
	received_to: datetime | None = None
	statuses: list[EventStatus] = Field(default_factory=list)
	names: list[str] = Field(default_factory=list)
	limit: int = 500


class PurgeResult(Frozen):
	cutoff: datetime
	deleted: int

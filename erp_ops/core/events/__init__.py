"""Idempotent integration events: exactly-once effects, deterministic conflicts, replay.

The database row, unique per (source, idempotency key), is the source of truth. A handler's effects
and the event's status change commit in one transaction, under the event row's lock and a claim that
expires, so a duplicate delivery, a dead worker or a lost Redis neither loses nor doubles an effect.
Redis only answers faster (an in-flight lock and a cache of completed keys); losing it changes
nothing but speed. See docs/events.md.
"""

# What an app needs to declare a handler, and what the Frappe layer calls.
from erp_ops.core.events.handlers import EventHandler, HandlerRegistry, load_handlers
from erp_ops.core.events.ingest import ingest, process, recoverable
from erp_ops.core.events.models import (
	ConflictPolicy,
	DocRef,
	Event,
	EventQuery,
	EventStatus,
	FieldChange,
	HandlerResult,
	IngestRequest,
	IngestResult,
	IngestSettings,
)
from erp_ops.core.events.replay import purge, replay

__all__ = [
	"ConflictPolicy",
	"DocRef",
	"Event",
	"EventHandler",
	"EventQuery",
	"EventStatus",
	"FieldChange",
	"HandlerRegistry",
	"HandlerResult",
	"IngestRequest",
	"IngestResult",
	"IngestSettings",
	"ingest",
	"load_handlers",
	"process",
	"purge",
	"recoverable",
	"replay",
]

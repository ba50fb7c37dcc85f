"""Event handlers as apps declare them, and the registry built from the `erp_ops_event_handlers` hook.

An app's hooks.py maps an event type to the dotted path of an `EventHandler` (or of a plain
function, which gets no schema and no ordering):

	erp_ops_event_handlers = {"shop:order.created": "myapp.events.order_created"}

	order_created = EventHandler(
		fn=create_order, schema=OrderCreated, policy=ConflictPolicy.FIRST_WRITER_WINS,
		entity=lambda p: p.order_id,
	)
"""

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from erp_ops.core.errors import InvalidInput
from erp_ops.core.events.models import ConflictPolicy, Event, HandlerResult

HandlerFn = Callable[[Event, Any], HandlerResult | None]


@dataclass(frozen=True)
class EventHandler:
	"""A handler and what it declares: payload schema, conflict policy and how to find the entity.

	`fn(event, tx)` writes through `tx.connection` (the store's transaction: `frappe.db` in a site)
	and returns a `HandlerResult`; it must not commit. Without `entity`, events are independent and
	no policy applies. `sequence`/`occurred_at` read the ordering value from the payload when the
	delivery does not carry it. `max_age` bounds how late an event may arrive under REJECT_STALE.
	"""

	fn: HandlerFn
	schema: type[BaseModel] | None = None
	policy: ConflictPolicy = ConflictPolicy.LAST_WRITER_WINS
	entity: Callable[[Any], str | None] | None = None
	sequence: Callable[[Any], int | None] | None = None
	occurred_at: Callable[[Any], datetime | None] | None = None
	max_age: timedelta | None = None
	path: str = ""

	def __post_init__(self) -> None:
		if self.policy == ConflictPolicy.REJECT_STALE and self.max_age is None:
			raise InvalidInput("a REJECT_STALE handler must declare max_age")

	@property
	def label(self) -> str:
		return self.path or f"{self.fn.__module__}.{self.fn.__qualname__}"


class HandlerRegistry:
	"""Event type → handler."""

	def __init__(self, handlers: Mapping[str, EventHandler]) -> None:
		self._handlers = dict(handlers)

	def get(self, event_type: str) -> EventHandler | None:
		return self._handlers.get(event_type)

	def types(self) -> list[str]:
		return sorted(self._handlers)


def load_handlers(
	hook: Mapping[str, str | Iterable[str]], resolve: Callable[[str], Any] | None = None
) -> HandlerRegistry:
	"""Build the registry from hook values (dotted paths).

	Frappe turns a key several apps define into a list in install order; the last app wins, as with
	Frappe's other override hooks.
	"""
	resolve = resolve or import_path
	handlers = {}
	for event_type, paths in hook.items():
		path = paths if isinstance(paths, str) else list(paths)[-1]
		target = resolve(path)
		if isinstance(target, EventHandler):
			handlers[event_type] = target if target.path else _with_path(target, path)
		elif callable(target):
			handlers[event_type] = EventHandler(fn=target, path=path)
		else:
			raise InvalidInput(
				f"event handler {path!r} for {event_type!r} is neither an EventHandler nor callable"
			)
	return HandlerRegistry(handlers)


def import_path(path: str) -> Any:
	module, _, attr = path.rpartition(".")
	if not module:
		raise InvalidInput(f"not a dotted path: {path!r}")
	return getattr(importlib.import_module(module), attr)


def _with_path(handler: EventHandler, path: str) -> EventHandler:
	from dataclasses import replace

	return replace(handler, path=path)

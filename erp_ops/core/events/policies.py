"""Conflict policies: whether an event about an entity applies, given the newest one applied.

Pure functions over the ordering state the store keeps per (source, entity key). The answer
depends only on the two events and the state, never on timing, so every worker reaches the same
verdict; an event that does not apply is Superseded with the reason.
"""

from datetime import datetime

from erp_ops.core.events.models import ConflictPolicy, Event, OrderingState, Outcome


def decide(
	policy: ConflictPolicy, state: OrderingState | None, event: Event, *, max_age_s: float | None = None
) -> tuple[Outcome, str | None]:
	"""APPLY, or SUPERSEDE with the reason.

	- LAST_WRITER_WINS: the highest source sequence (else occurred-at) wins; an event not newer
	  than the applied one arrived out of order and is superseded.
	- REJECT_STALE: as LAST_WRITER_WINS, and an event that arrived more than `max_age_s` after it
	  occurred is superseded as stale even when nothing newer was applied.
	- FIRST_WRITER_WINS: the first event applied to an entity keeps it; later ones are superseded.
	Replaying the event that is the entity's last applied one always applies.
	"""
	if policy == ConflictPolicy.REJECT_STALE and max_age_s is not None and event.occurred_at is not None:
		late_s = (event.received_at - event.occurred_at).total_seconds()
		if late_s > max_age_s:
			return Outcome.SUPERSEDE, (
				f"stale: arrived {late_s:.0f} s after it occurred, the limit for {event.event_type} is "
				f"{max_age_s:.0f} s"
			)
	if state is None or state.last_event == event.name:
		return Outcome.APPLY, None
	if policy == ConflictPolicy.FIRST_WRITER_WINS:
		return Outcome.SUPERSEDE, f"first writer wins: {state.last_event} already wrote {state.entity_key}"
	newer = _newer(event, state)
	if newer is None or newer:
		return Outcome.APPLY, None
	return Outcome.SUPERSEDE, (
		f"out of order: {state.last_event} ({_describe(state.last_sequence, state.last_occurred_at)}) "
		f"was already applied to {state.entity_key}; this event is "
		f"{_describe(event.sequence, event.occurred_at)}"
	)


def advanced(state: OrderingState | None, event: Event) -> OrderingState:
	"""The state after applying `event`: it moves forward only (a replay of an older event keeps it)."""
	if state is not None and _newer(event, state) is False and state.last_event != event.name:
		return state
	return OrderingState(
		source=event.source,
		entity_key=event.entity_key or "",
		last_sequence=event.sequence,
		last_occurred_at=event.occurred_at,
		last_event=event.name,
	)


def _newer(event: Event, state: OrderingState) -> bool | None:
	"""Strictly newer, not newer, or None when the two carry no comparable ordering value."""
	if event.sequence is not None and state.last_sequence is not None:
		return event.sequence > state.last_sequence
	if event.occurred_at is not None and state.last_occurred_at is not None:
		return event.occurred_at > state.last_occurred_at
	return None


def _describe(sequence: int | None, occurred_at: datetime | None) -> str:
	if sequence is not None:
		return f"sequence {sequence}"
	if occurred_at is not None:
		return f"occurred {occurred_at.isoformat()}"
	return "unordered"

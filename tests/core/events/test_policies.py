"""Out-of-order delivery under each conflict policy: never applied silently, always a reason."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from erp_ops.core.clock import naive_utc
from erp_ops.core.events.canonical import event_name
from erp_ops.core.events.ingest import ingest
from erp_ops.core.events.models import (
	ConflictPolicy,
	Event,
	EventStatus,
	IngestRequest,
	OrderingState,
	Outcome,
)
from erp_ops.core.events.policies import advanced, decide
from tests.core.events.conftest import ZONES

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


def deliver(store, handlers, event_type, key, payload, **kw):
	request = IngestRequest(
		source="shop", event_type=event_type, idempotency_key=key, body=json.dumps(payload), **kw
	)
	return ingest(store, handlers, request)


def one(store, sql, *args):
	with store.conn.cursor() as cur:
		cur.execute(sql, args)
		return cur.fetchone()


def price(store, item):
	row = one(store, "SELECT price FROM item_price WHERE item = %s", item)
	return float(row["price"]) if row else None


def test_last_writer_wins_supersedes_an_older_sequence(store, handlers):
	p = "shop:price.updated"
	assert (
		deliver(store, handlers, p, "p1", {"item": "I-1", "price": 10, "seq": 1}).status
		== EventStatus.PROCESSED
	)
	assert (
		deliver(store, handlers, p, "p3", {"item": "I-1", "price": 30, "seq": 3}).status
		== EventStatus.PROCESSED
	)
	late = deliver(store, handlers, p, "p2", {"item": "I-1", "price": 20, "seq": 2})
	assert late.status == EventStatus.SUPERSEDED
	assert late.reason.startswith(
		f"out of order: {event_name('shop', 'p3')} (sequence 3) was already applied"
	)
	assert "this event is sequence 2" in late.reason
	assert price(store, "I-1") == 30
	tie = deliver(store, handlers, p, "p3bis", {"item": "I-1", "price": 31, "seq": 3})
	assert tie.status == EventStatus.SUPERSEDED and price(store, "I-1") == 30
	# Another entity is independent.
	assert (
		deliver(store, handlers, p, "q1", {"item": "I-2", "price": 5, "seq": 1}).status
		== EventStatus.PROCESSED
	)
	state = store.ordering_state("shop", "I-1")
	assert (state.last_sequence, state.last_event) == (3, event_name("shop", "p3"))
	# The superseded event's duplicate gets the same verdict, from the store.
	again = deliver(store, handlers, p, "p2", {"item": "I-1", "price": 20, "seq": 2})
	assert again.duplicate and again.status == EventStatus.SUPERSEDED and again.reason == late.reason


def test_last_writer_wins_by_occurred_at_when_there_is_no_sequence():
	state = OrderingState(source="shop", entity_key="I-1", last_occurred_at=T0, last_event="EV-a")
	outcome, reason = decide(
		ConflictPolicy.LAST_WRITER_WINS, state, _event(occurred_at=T0 - timedelta(minutes=1))
	)
	assert outcome == Outcome.SUPERSEDE and "this event is occurred 2026-11-27T11:59:00+00:00" in reason
	newer = _event(occurred_at=T0 + timedelta(seconds=1))
	assert decide(ConflictPolicy.LAST_WRITER_WINS, state, newer) == (Outcome.APPLY, None)


def test_first_writer_wins_keeps_the_first_applied(store, handlers):
	c = "crm:customer.created"
	first = deliver(store, handlers, c, "c1", {"customer": "CUST-1", "customer_name": "Ada"})
	second = deliver(store, handlers, c, "c2", {"customer": "CUST-1", "customer_name": "Ada Lovelace"})
	assert first.status == EventStatus.PROCESSED
	assert second.status == EventStatus.SUPERSEDED
	assert second.reason == f"first writer wins: {first.name} already wrote CUST-1"
	assert one(store, "SELECT customer_name, event FROM customer WHERE customer = 'CUST-1'") == {
		"customer_name": "Ada",
		"event": first.name,
	}


@ZONES
def test_reject_stale_supersedes_late_and_older_events(store, handlers):
	s = "wms:stock.level"
	now = datetime.now(timezone.utc)
	fresh = deliver(
		store, handlers, s, "s1", {"item": "I-1", "qty": 5, "at": (now - timedelta(minutes=5)).isoformat()}
	)
	assert fresh.status == EventStatus.PROCESSED
	stale = deliver(
		store, handlers, s, "s0", {"item": "I-9", "qty": 1, "at": (now - timedelta(hours=2)).isoformat()}
	)
	assert stale.status == EventStatus.SUPERSEDED and stale.reason.startswith("stale: arrived 7")
	assert "the limit for wms:stock.level is 3600 s" in stale.reason
	assert one(store, "SELECT qty FROM stock_level WHERE item = 'I-9'") is None  # never applied
	older = deliver(
		store, handlers, s, "s2", {"item": "I-1", "qty": 9, "at": (now - timedelta(minutes=10)).isoformat()}
	)
	assert older.status == EventStatus.SUPERSEDED and older.reason.startswith("out of order")
	assert one(store, "SELECT qty FROM stock_level WHERE item = 'I-1'")["qty"] == 5


@ZONES
def test_the_tables_hold_site_time_and_the_core_gets_utc(store, handlers, time_zone):
	ahead = {"UTC": timedelta(0), "Asia/Kolkata": timedelta(hours=5, minutes=30)}[time_zone]
	at = datetime.now(timezone.utc) - timedelta(minutes=5)
	done = deliver(store, handlers, "wms:stock.level", "s1", {"item": "I-1", "qty": 5, "at": at.isoformat()})
	record = store.get(done.name)
	assert record.occurred_at == at and record.received_at.tzinfo == timezone.utc
	row = one(store, "SELECT * FROM `tabIntegration Event` WHERE name = %s", done.name)
	for field in ("received_at", "occurred_at", "processed_at"):
		assert row[field] - naive_utc(getattr(record, field)) == ahead, field
	assert (row["creation"], row["modified"]) == (row["received_at"], row["processed_at"])
	order = one(store, "SELECT * FROM `tabIntegration Event Order` WHERE entity_key = 'I-1'")
	assert order["last_occurred_at"] - naive_utc(at) == ahead
	assert store.ordering_state("shop", "I-1").last_occurred_at == at


def test_events_without_an_entity_are_independent(store, handlers):
	for key in ("x1", "x2"):
		assert deliver(store, handlers, "shop:ping", key, {"anything": key}).status == EventStatus.PROCESSED


def _event(**kw) -> Event:
	data = {
		"name": "EV-b",
		"source": "shop",
		"event_type": "shop:price.updated",
		"idempotency_key": "b",
		"payload": {},
		"entity_key": "I-1",
		"received_at": T0,
	}
	return Event(**{**data, **kw})


@pytest.mark.parametrize("policy", list(ConflictPolicy))
def test_replaying_the_last_applied_event_applies_under_every_policy(policy):
	state = OrderingState(source="shop", entity_key="I-1", last_sequence=5, last_event="EV-b")
	assert decide(policy, state, _event(sequence=5, occurred_at=T0), max_age_s=3600)[0] == Outcome.APPLY
	assert decide(policy, None, _event(sequence=1, occurred_at=T0), max_age_s=3600)[0] == Outcome.APPLY


def test_ordering_state_only_moves_forward():
	state = OrderingState(source="shop", entity_key="I-1", last_sequence=5, last_event="EV-new")
	assert advanced(state, _event(sequence=3)) == state
	assert advanced(state, _event(sequence=6)).last_event == "EV-b"
	assert advanced(None, _event(sequence=1)).last_sequence == 1

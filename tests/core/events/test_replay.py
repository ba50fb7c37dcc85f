"""Replay: the dry run changes nothing and says what would change; the replay records what did."""

import json
from datetime import datetime, timedelta

import pytest

from erp_ops.core.clock import UTC
from erp_ops.core.errors import InvalidInput
from erp_ops.core.events.canonical import event_name
from erp_ops.core.events.errors import InvalidPayload
from erp_ops.core.events.ingest import _claim, ingest
from erp_ops.core.events.models import (
	EventQuery,
	EventStatus,
	FieldChange,
	IngestRequest,
	IngestSettings,
	Outcome,
)
from erp_ops.core.events.replay import purge, replay
from tests.core.events.conftest import ZONES, effects

pytestmark = ZONES

P = "shop:price.updated"


def deliver(store, handlers, key, payload, event_type=P, **kw):
	request = IngestRequest(
		source="shop", event_type=event_type, idempotency_key=key, body=json.dumps(payload)
	)
	return ingest(store, handlers, request, **kw)


def set_price(store, item, price):
	with store.conn.cursor() as cur:
		cur.execute("UPDATE item_price SET price = %s WHERE item = %s", (price, item))


def price(store, item):
	with store.conn.cursor() as cur:
		cur.execute("SELECT price FROM item_price WHERE item = %s", (item,))
		return float(cur.fetchone()["price"])


def test_dry_run_then_replay_records_what_changed_or_that_nothing_did(store, handlers, fast, redis_conn):
	deliver(store, handlers, "p1", {"item": "I-1", "price": 10, "seq": 1}, fast=fast)
	deliver(store, handlers, "p2", {"item": "I-1", "price": 12, "seq": 2}, fast=fast)
	deliver(store, handlers, "p0", {"item": "I-1", "price": 9, "seq": 0}, fast=fast)  # superseded
	with pytest.raises(InvalidPayload):
		deliver(store, handlers, "bad", {"item": "I-1"})
	first = store.get(event_name("shop", "p2"))
	assert first.changes == [
		FieldChange(doctype="Item Price", name="I-1", field="price_list_rate", before=10.0, after=12.0)
	]
	set_price(store, "I-1", 99)  # someone edited the price by hand after the event

	query = EventQuery(source="shop", event_type=P)
	plan = replay(store, handlers, query, reason="price drift on I-1", actor="ops@example.com")
	by_name = {item.name: item for item in plan.items}
	assert plan.dry_run and len(plan.items) == 4
	assert [i.outcome for i in plan.items if i.status_before == EventStatus.REJECTED] == [Outcome.SKIP]
	p2 = by_name[event_name("shop", "p2")]
	assert (p2.outcome, p2.status_after, p2.changed) == (Outcome.APPLY, EventStatus.PROCESSED, True)
	assert p2.changes == [
		FieldChange(doctype="Item Price", name="I-1", field="price_list_rate", before=99.0, after=12.0)
	]
	p1 = by_name[event_name("shop", "p1")]
	assert (p1.outcome, p1.status_after) == (Outcome.SUPERSEDE, EventStatus.SUPERSEDED)
	assert p1.reason.startswith(f"out of order: {event_name('shop', 'p2')} (sequence 2)")
	assert by_name[event_name("shop", "p0")].outcome == Outcome.SUPERSEDE
	# The dry run changed nothing at all.
	assert price(store, "I-1") == 99
	assert store.get(event_name("shop", "p2")).attempts == 1 and store.replays(event_name("shop", "p2")) == []
	assert store.get(event_name("shop", "p1")).status == EventStatus.PROCESSED

	done = replay(
		store,
		handlers,
		EventQuery(names=[event_name("shop", "p2")]),
		reason="price drift",
		actor="ops",
		dry_run=False,
		fast=fast,
	)
	assert [(i.outcome, i.changed) for i in done.items] == [(Outcome.APPLY, True)]
	assert price(store, "I-1") == 12
	entry = store.replays(event_name("shop", "p2"))[0]
	assert (entry.replay_id, entry.reason, entry.actor, entry.outcome, entry.changed) == (
		done.replay_id,
		"price drift",
		"ops",
		Outcome.APPLY,
		True,
	)
	assert entry.changes[0].before == 99.0 and entry.changes[0].after == 12.0
	after = store.get(event_name("shop", "p2"))
	assert (after.status, after.attempts) == (EventStatus.PROCESSED, 2)
	assert after.changes == first.changes  # the first processing's changes stay on the event
	assert not redis_conn.keys("erp_ops:*:event-done:*" + event_name("shop", "p2")[3:])

	again = replay(
		store,
		handlers,
		EventQuery(names=[event_name("shop", "p2")]),
		reason="check",
		actor="ops",
		dry_run=False,
	)
	assert [(i.outcome, i.changed, i.changes) for i in again.items] == [(Outcome.APPLY, False, [])]
	assert store.replays(event_name("shop", "p2"))[1].changed is False  # "nothing changed" is recorded too


def test_replay_skips_refusals_live_claims_and_reports_failures(store, handlers, tmp_path):
	with pytest.raises(InvalidPayload):
		deliver(store, handlers, "bad", {"order_id": ""}, event_type="shop:order.created")
	queued = deliver(
		store,
		handlers,
		"busy",
		{"order_id": "SO-2", "amount": 1},
		event_type="shop:order.created",
		inline=False,
	)
	now = datetime.now(UTC)
	store.try_claim(queued.name, _claim("w", "w" * 32, now, IngestSettings()), now)
	marker = str(tmp_path / "fail")
	failing = deliver(
		store,
		handlers,
		"f",
		{"order_id": "SO-3", "amount": 1, "fail_once": marker},
		event_type="shop:order.created",
	)
	assert failing.status == EventStatus.FAILED
	report = replay(
		store, handlers, EventQuery(event_type="shop:order.created"), reason="r", actor="a", dry_run=False
	)
	outcomes = {i.status_before: (i.outcome, i.status_after, i.reason) for i in report.items}
	assert (
		outcomes[EventStatus.REJECTED][0] == Outcome.SKIP
		and "nothing to replay" in outcomes[EventStatus.REJECTED][2]
	)
	assert (
		outcomes[EventStatus.PROCESSING][0] == Outcome.SKIP
		and "in progress" in outcomes[EventStatus.PROCESSING][2]
	)
	assert outcomes[EventStatus.FAILED][:2] == (Outcome.APPLY, EventStatus.PROCESSED)  # the marker exists now
	assert effects(store) == 1
	assert report.counts == {"skip": 2, "apply": 1}


def test_replay_needs_a_reason(store, handlers):
	with pytest.raises(InvalidInput):
		replay(store, handlers, EventQuery(), reason=" ", actor="a")


def test_replay_selects_by_window_and_status(store, handlers):
	t0 = datetime.now(UTC) - timedelta(hours=3)
	for i in range(3):
		deliver(
			store,
			handlers,
			f"o{i}",
			{"order_id": f"SO-{i}", "amount": 1},
			event_type="shop:order.created",
			now=t0 + timedelta(hours=i),
		)
	window = EventQuery(
		received_from=t0 + timedelta(minutes=30), received_to=t0 + timedelta(hours=2, minutes=30)
	)
	plan = replay(store, handlers, window, reason="r", actor="a")
	assert [i.name for i in plan.items] == [event_name("shop", "o1"), event_name("shop", "o2")]
	assert (
		replay(store, handlers, EventQuery(statuses=[EventStatus.FAILED]), reason="r", actor="a").items == []
	)
	assert effects(store) == 3  # dry runs rolled back their inserts


def test_purge_keeps_the_window_and_live_claims(store, handlers):
	now = datetime.now(UTC)
	old = now - timedelta(days=91)
	deliver(
		store, handlers, "old", {"order_id": "SO-1", "amount": 1}, event_type="shop:order.created", now=old
	)
	stuck = deliver(
		store,
		handlers,
		"stuck",
		{"order_id": "SO-2", "amount": 1},
		event_type="shop:order.created",
		inline=False,
		now=old,
	)
	store.try_claim(stuck.name, _claim("w", "w" * 32, now, IngestSettings()), now)
	deliver(
		store,
		handlers,
		"new",
		{"order_id": "SO-3", "amount": 1},
		event_type="shop:order.created",
		now=now - timedelta(days=89),
	)
	kept = [event_name("shop", "old"), event_name("shop", "new")]
	replay(store, handlers, EventQuery(names=kept), reason="audit", actor="ops", dry_run=False, now=now)
	assert [len(store.replays(name)) for name in kept] == [1, 1]
	result = purge(store, now=now, batch=1)
	assert result.deleted == 1 and result.cutoff == now - timedelta(days=90)
	assert store.get(event_name("shop", "old")) is None
	# Its replay evidence goes with it; the kept event's stays.
	assert [len(store.replays(name)) for name in kept] == [0, 1]
	assert store.get(stuck.name) is not None and store.get(event_name("shop", "new")) is not None
	# Past retention the key is new again: the guarantee holds for the window only.
	again = deliver(
		store, handlers, "old", {"order_id": "SO-1", "amount": 1}, event_type="shop:order.created"
	)
	assert not again.duplicate and again.status == EventStatus.PROCESSED

"""The ingest protocol against a real MariaDB (and Redis in front): each delivery's answer and effect."""

import json
import subprocess
import threading
import time
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from erp_ops.core.clock import UTC
from erp_ops.core.events.canonical import canonical_json, event_name, payload_hash
from erp_ops.core.events.errors import ClaimLost, InProgress, KeyConflict
from erp_ops.core.events.fastpath import Begin, FastPath
from erp_ops.core.events.handlers import HandlerRegistry
from erp_ops.core.events.ingest import _claim, _run, ingest, process
from erp_ops.core.events.models import (
	EventRecord,
	EventStatus,
	IngestRequest,
	IngestResult,
	IngestSettings,
)
from tests.core.events.conftest import ZONES, effects

ORDER = "shop:order.created"


def order(key: str, body: dict | str | bytes, **kw) -> IngestRequest:
	raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
	return IngestRequest(source="shop", event_type=ORDER, idempotency_key=key, body=raw, **kw)


def test_canonical_hash_ignores_key_order_and_whitespace():
	assert canonical_json({"b": 1, "a": [1, {"d": "é", "c": None}]}) == '{"a":[1,{"c":null,"d":"é"}],"b":1}'
	assert payload_hash(json.loads('{ "a" : 1, "b": 2 }')) == payload_hash({"b": 2, "a": 1})
	assert payload_hash({"a": 1}) != payload_hash({"a": 2})


@pytest.mark.parametrize("use_redis", [True, False], ids=["redis", "database-only"])
def test_new_key_is_processed_once_and_duplicates_get_the_stored_answer(store, handlers, fast, use_redis):
	fast = fast if use_redis else None
	first = ingest(store, handlers, order("k1", {"order_id": "SO-1", "amount": 10}), fast=fast)
	assert (first.status, first.duplicate, first.result, first.attempts) == (
		EventStatus.PROCESSED,
		False,
		{"order": "SO-1"},
		1,
	)
	assert first.name == event_name("shop", "k1")
	# Same document, other key order and spacing: the same payload hash, so a duplicate.
	for body in ('{"amount": 10, "order_id": "SO-1"}', '{"order_id":"SO-1","amount":10}'):
		again = ingest(store, handlers, order("k1", body), fast=fast)
		assert (again.status, again.duplicate, again.result, again.name) == (
			EventStatus.PROCESSED,
			True,
			{"order": "SO-1"},
			first.name,
		)
	assert effects(store) == 1
	row = store.get(first.name)
	assert row.status == EventStatus.PROCESSED and row.claim_token is None and row.processed_at
	assert row.handler == "tests.support.event_handlers.order_created"
	assert row.payload == '{"amount":10,"order_id":"SO-1"}' and row.payload_hash == payload_hash(
		{"amount": 10, "order_id": "SO-1"}
	)


def test_duplicate_from_cache_after_its_row_confirms_it(store, handlers, fast, redis_conn):
	ingest(store, handlers, order("k1", {"order_id": "SO-1", "amount": 10}), fast=fast)
	assert redis_conn.keys("erp_ops:*:event-done:*")
	again = ingest(store, handlers, order("k1", {"amount": 10, "order_id": "SO-1"}), fast=fast)
	assert again.duplicate and again.status == EventStatus.PROCESSED and again.result == {"order": "SO-1"}
	assert effects(store) == 1


def _mysql_args(kwargs: dict) -> list[str]:
	args = ["-h", kwargs["host"], "-P", str(kwargs["port"]), "-u", kwargs["user"]]
	return args + ([f"-p{kwargs['password']}"] if kwargs["password"] else [])


def test_a_database_restored_from_an_older_backup_processes_a_resend_again(
	store, handlers, fast, redis_conn, mariadb_db, tmp_path
):
	"""The row is gone (a restore), the cache still says Processed: the database decides."""
	kwargs, database = mariadb_db
	ingest(store, handlers, order("k0", {"order_id": "SO-0", "amount": 1}), fast=fast)
	backup = tmp_path / "before.sql"
	with backup.open("wb") as out:  # a real dump, taken before the event arrives
		subprocess.run(
			["mariadb-dump", *_mysql_args(kwargs), "--single-transaction", database], stdout=out, check=True
		)
	first = ingest(store, handlers, order("k1", {"order_id": "SO-1", "amount": 10}), fast=fast)
	assert (first.status, first.duplicate, effects(store)) == (EventStatus.PROCESSED, False, 2)
	assert len(redis_conn.keys("erp_ops:*:event-done:*")) == 2
	with backup.open("rb") as dump:
		subprocess.run(["mariadb", *_mysql_args(kwargs), database], stdin=dump, check=True)
	assert store.get(first.name) is None and effects(store) == 1  # the restore lost the event and its effect
	again = ingest(store, handlers, order("k1", {"order_id": "SO-1", "amount": 10}), fast=fast)
	assert (again.status, again.duplicate, again.attempts) == (EventStatus.PROCESSED, False, 1)
	assert effects(store) == 2 and store.get(first.name).status == EventStatus.PROCESSED
	# The event that survived the restore is still answered from the cache, confirmed by its row.
	assert ingest(store, handlers, order("k0", {"order_id": "SO-0", "amount": 1}), fast=fast).duplicate


def test_clear_drops_every_cached_answer_of_the_namespace_only(store, handlers, fast, redis_conn):
	for n in range(3):
		ingest(store, handlers, order(f"k{n}", {"order_id": f"SO-{n}", "amount": n + 1}), fast=fast)
	other = FastPath(redis_conn, "bench-ev:site2.local")
	redis_conn.set("erp_ops:bench-ev:site2.local:event-done:x", "{}")
	assert fast.clear() == 3 and not redis_conn.keys("erp_ops:bench-ev:site1.local:event-done:*")
	assert redis_conn.exists("erp_ops:bench-ev:site2.local:event-done:x") and other.namespace


def test_a_cached_answer_is_the_answer_the_database_gives(store, fast):
	# A handler's result may hold values JSON has no type for: the cache must encode them as the
	# store does, or a duplicate would read differently from Redis than from the database.
	record = EventRecord(
		name="EV-cached",
		source="shop",
		event_type=ORDER,
		idempotency_key="k-cached",
		payload_hash="a" * 64,
		status=EventStatus.PROCESSED,
		attempts=2,
		result={"at": datetime(2026, 1, 2, 3, 4, 5), "amount": Decimal("1.50"), "lines": [1, 2]},
		reason="applied",
		received_at=datetime.now(UTC),
	)
	store.add(record)
	fast.remember("digest-cached", record, 60)
	state, (cached_hash, cached) = fast.begin("digest-cached", "token", "a" * 64, 30)
	assert (state, cached_hash) == (Begin.DONE, "a" * 64)
	assert cached == IngestResult.of(store.get("EV-cached"), duplicate=True)
	assert cached.result == {"at": "2026-01-02 03:04:05", "amount": "1.50", "lines": [1, 2]}


def test_same_key_other_payload_is_a_recorded_conflict(store, handlers, fast):
	first = ingest(store, handlers, order("k1", {"order_id": "SO-1", "amount": 10}), fast=fast)
	with pytest.raises(KeyConflict) as caught:
		ingest(store, handlers, order("k1", {"order_id": "SO-1", "amount": 99}), fast=fast)
	assert caught.value.http_status == 409 and caught.value.existing == first.name
	conflict = store.get(caught.value.event_name)
	assert (conflict.status, conflict.conflict_with, conflict.offered_key, conflict.idempotency_key) == (
		EventStatus.CONFLICT,
		first.name,
		"k1",
		None,
	)
	assert json.loads(conflict.payload)["amount"] == 99
	assert store.get(first.name).result == {"order": "SO-1"} and effects(store) == 1
	# The original keeps answering its own payload.
	assert ingest(store, handlers, order("k1", {"order_id": "SO-1", "amount": 10}), fast=fast).duplicate


def test_live_claim_answers_in_progress_from_the_database(store, handlers):
	queued = ingest(store, handlers, order("k1", {"order_id": "SO-1", "amount": 10}), inline=False)
	assert (queued.status, queued.enqueue) == (EventStatus.RECEIVED, True)
	now = datetime.now(UTC)
	assert store.try_claim(queued.name, _claim("w1", "t" * 32, now, IngestSettings()), now)
	with pytest.raises(InProgress) as caught:
		ingest(store, handlers, order("k1", {"order_id": "SO-1", "amount": 10}))
	assert caught.value.http_status == 409 and caught.value.event_name == queued.name
	assert effects(store) == 0


def test_in_flight_lock_answers_in_progress_without_the_database(store, handlers, fast):
	request = order("k1", {"order_id": "SO-1", "amount": 10})
	digest = event_name("shop", "k1").removeprefix("EV-")
	assert fast.begin(digest, "other", payload_hash({"order_id": "SO-1", "amount": 10}), 30) == (
		Begin.LOCKED,
		None,
	)
	with pytest.raises(InProgress):
		ingest(store, handlers, request, fast=fast)
	assert store.get(event_name("shop", "k1")) is None  # answered before any database write
	fast.end(digest, "other", payload_hash({"order_id": "SO-1", "amount": 10}), None, 0)
	assert ingest(store, handlers, request, fast=fast).status == EventStatus.PROCESSED


@ZONES
def test_expired_claim_is_taken_over_and_the_effect_happens_once(store, handlers):
	queued = ingest(store, handlers, order("k1", {"order_id": "SO-1", "amount": 10}), inline=False)
	past = datetime.now(UTC) - timedelta(seconds=10)
	assert store.try_claim(queued.name, _claim("dead", "d" * 32, past, IngestSettings(claim_ttl_s=1)), past)
	answer = ingest(store, handlers, order("k1", {"order_id": "SO-1", "amount": 10}))
	assert (answer.status, answer.duplicate, answer.attempts) == (EventStatus.PROCESSED, True, 2)
	assert effects(store) == 1


def test_a_worker_whose_claim_was_taken_over_rolls_back(store, other_store, handlers):
	queued = ingest(store, handlers, order("k1", {"order_id": "SO-1", "amount": 10}), inline=False)
	past = datetime.now(UTC) - timedelta(seconds=10)
	slow = store.try_claim(queued.name, _claim("slow", "s" * 32, past, IngestSettings(claim_ttl_s=1)), past)
	assert process(other_store, handlers, queued.name).status == EventStatus.PROCESSED  # takes over
	with pytest.raises(ClaimLost):
		_run(store, handlers.get(ORDER), slow, "s" * 32, IngestSettings(), datetime.now(UTC))
	assert effects(store) == 1 and store.get(queued.name).attempts == 2


def test_takeover_waits_for_a_running_handler_and_never_doubles(store, other_store, handlers, tmp_path):
	"""A claim expires while its handler still runs: the takeover blocks on the row, then sees it done."""
	queued = ingest(store, handlers, order("k1", {"order_id": "SO-1", "amount": 10}), inline=False)
	settings = IngestSettings(claim_ttl_s=0.3)
	now = datetime.now(UTC)
	token = "a" * 32
	claimed = store.try_claim(queued.name, _claim("a", token, now, settings), now)
	inside, release = threading.Event(), threading.Event()
	slow_handler = handlers.get(ORDER)

	def slow_fn(event, tx):
		result = slow_handler.fn(event, tx)
		inside.set()
		release.wait(10)
		return result

	from dataclasses import replace

	runner = threading.Thread(
		target=_run, args=(store, replace(slow_handler, fn=slow_fn), claimed, token, settings, now)
	)
	runner.start()
	assert inside.wait(10)
	time.sleep(max(0.0, (claimed.claim_expires_at - datetime.now(UTC)).total_seconds()) + 0.05)
	# The claim has expired and the handler is still inside its transaction, holding the row.
	threading.Timer(0.3, release.set).start()
	answer = process(other_store, handlers, queued.name, settings=settings)
	runner.join(10)
	assert answer.status == EventStatus.PROCESSED and answer.attempts == 1
	assert effects(store) == 1


def test_concurrent_duplicate_without_redis_waits_for_the_first_and_gets_its_answer(
	store, other_store, handlers
):
	"""Inline, a new key's row is uncommitted while its handler runs: the unique index makes a second
	delivery wait for the commit, then it reads the stored answer; the handler ran once."""
	from dataclasses import replace

	request = order("k1", {"order_id": "SO-1", "amount": 10})
	inside, release = threading.Event(), threading.Event()
	base = handlers.get(ORDER)

	def slow_fn(event, tx):
		result = base.fn(event, tx)
		inside.set()
		release.wait(10)
		return result

	slow = HandlerRegistry({ORDER: replace(base, fn=slow_fn)})
	answers = {}
	first = threading.Thread(target=lambda: answers.setdefault("first", ingest(store, slow, request)))
	first.start()
	assert inside.wait(10)
	second = threading.Thread(
		target=lambda: answers.setdefault("second", ingest(other_store, handlers, request))
	)
	second.start()
	time.sleep(0.3)
	assert second.is_alive()  # waiting on the uncommitted row, not running the handler
	release.set()
	first.join(10)
	second.join(10)
	assert (answers["first"].duplicate, answers["second"].duplicate) == (False, True)
	assert answers["second"].status == EventStatus.PROCESSED and answers["second"].result == {"order": "SO-1"}
	assert effects(store) == 1


def test_handler_failure_is_stored_and_retried_by_the_next_delivery(store, handlers, fast, tmp_path):
	marker = str(tmp_path / "fail")
	request = order("k1", {"order_id": "SO-1", "amount": 10, "fail_once": marker})
	failed = ingest(store, handlers, request, fast=fast)
	assert (failed.status, failed.error) == (EventStatus.FAILED, "RuntimeError: ledger locked")
	assert effects(store) == 0  # the failed attempt's insert was rolled back with it
	retried = ingest(store, handlers, request, fast=fast)
	assert (retried.status, retried.duplicate, retried.attempts, retried.error) == (
		EventStatus.PROCESSED,
		True,
		2,
		None,
	)
	assert effects(store) == 1


def test_deferred_processing_runs_once(store, other_store, handlers):
	request = order("k1", {"order_id": "SO-1", "amount": 10})
	queued = ingest(store, handlers, request, inline=False)
	assert ingest(store, handlers, request, inline=False).enqueue  # not processed yet: enqueue again is fine
	assert process(store, handlers, queued.name).status == EventStatus.PROCESSED
	assert process(other_store, handlers, queued.name).status == EventStatus.PROCESSED
	assert ingest(store, handlers, request, inline=False).duplicate
	assert effects(store) == 1 and store.get(queued.name).attempts == 1
	assert process(store, handlers, "EV-missing") is None


def test_redis_down_changes_nothing_but_speed(store, handlers):
	from redis import Redis

	dead = FastPath(Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2), "x")
	request = order("k1", {"order_id": "SO-1", "amount": 10})
	assert ingest(store, handlers, request, fast=dead).status == EventStatus.PROCESSED
	assert ingest(store, handlers, request, fast=dead).duplicate
	assert effects(store) == 1


@ZONES
def test_recoverable_lists_unpicked_and_abandoned_events_only(store, handlers):
	from erp_ops.core.events.ingest import recoverable

	now = datetime.now(UTC)
	old = now - timedelta(minutes=5)
	waiting = ingest(store, handlers, order("w", {"order_id": "SO-1", "amount": 1}), inline=False, now=old)
	ingest(store, handlers, order("fresh", {"order_id": "SO-2", "amount": 1}), inline=False, now=now)
	dead = ingest(store, handlers, order("d", {"order_id": "SO-3", "amount": 1}), inline=False, now=old)
	store.try_claim(dead.name, _claim("dead", "d" * 32, old, IngestSettings(claim_ttl_s=1)), old)
	live = ingest(store, handlers, order("l", {"order_id": "SO-4", "amount": 1}), inline=False, now=old)
	store.try_claim(live.name, _claim("live", "l" * 32, now, IngestSettings()), now)
	ingest(store, handlers, order("p", {"order_id": "SO-5", "amount": 1}), now=old)  # processed
	assert sorted(recoverable(store, now=now)) == sorted([waiting.name, dead.name])
	for name in recoverable(store, now=now):
		assert process(store, handlers, name).status == EventStatus.PROCESSED
	assert effects(store) == 3 and recoverable(store, now=now) == []

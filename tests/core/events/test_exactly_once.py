"""Exactly-once under real concurrency, a SIGKILL inside a handler, and Redis emptied mid-ingest.

Workers are separate processes (tests/support/event_worker.py) on their own database connections;
effects are rows the handler inserts into a table with no unique key, inside the event's
transaction, so an event processed twice would show as two rows.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from erp_ops.core.clock import UTC
from erp_ops.core.events.canonical import event_name
from erp_ops.core.events.errors import InProgress
from erp_ops.core.events.fastpath import FastPath
from erp_ops.core.events.ingest import ingest, process
from erp_ops.core.events.models import EventStatus, IngestRequest, IngestSettings
from tests.core.events.conftest import NAMESPACE, effects
from tests.support.rq_helpers import ROOT, wait_for

ORDER = "shop:order.created"


def body(i: int, **extra) -> str:
	return json.dumps({"order_id": f"SO-{i:05d}", "amount": i + 1, **extra})


def spawn(mode: str, spec: dict, tmp_path: Path, tag: str) -> tuple[subprocess.Popen, Path]:
	spec_path, out_path = tmp_path / f"{tag}.spec.json", tmp_path / f"{tag}.out.json"
	spec_path.write_text(json.dumps(spec))
	env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
	proc = subprocess.Popen(
		[sys.executable, "-m", "tests.support.event_worker", mode, str(spec_path), str(out_path)],
		cwd=ROOT,
		env=env,
		start_new_session=True,
		stdout=subprocess.PIPE,
		stderr=subprocess.STDOUT,
	)
	return proc, out_path


def run_workers(specs: list[dict], tmp_path: Path, *, during=None) -> Counter:
	procs = [spawn("deliver", spec, tmp_path, f"w{i}") for i, spec in enumerate(specs)]
	if during is not None:
		during(procs)
	tally: Counter = Counter()
	for proc, out in procs:
		output = proc.communicate(timeout=240)[0].decode(errors="replace")
		assert proc.returncode == 0, output
		tally.update(json.loads(out.read_text()))
	return tally


def spread(events: int, copies: int, workers: int, seed: int = 4) -> list[list]:
	"""Each event's copies go to distinct workers, every worker in event order: copies meet in time."""
	rng = random.Random(seed)
	lists: list[list] = [[] for _ in range(workers)]
	for i in range(events):
		for w in rng.sample(range(workers), copies):
			lists[w].append([ORDER, f"order-{i}", body(i)])
	return lists


def assert_exactly_once(store, events: int) -> None:
	with store.conn.cursor() as cur:
		cur.execute("SELECT event, COUNT(*) AS n FROM event_effect GROUP BY event HAVING n > 1")
		assert cur.fetchall() == ()
		cur.execute("SELECT COUNT(DISTINCT event) AS n FROM event_effect")
		assert cur.fetchone()["n"] == events
	assert effects(store) == events
	assert store.status_counts() == {"Processed": events}


def test_1000_events_5_deliveries_8_processes_give_1000_effects(
	store, handlers, mariadb_db, redis_url, tmp_path
):
	events, copies, workers = 1000, 5, 8
	start_at = time.time() + 2.5  # after every interpreter has imported
	specs = [
		{
			"db": mariadb_db[0],
			"redis": redis_url,
			"namespace": NAMESPACE,
			"start_at": start_at,
			"deliveries": d,
		}
		for d in spread(events, copies, workers)
	]
	tally = run_workers(specs, tmp_path)
	assert tally["new"] == events  # exactly one delivery per event created it
	assert tally["new"] + tally["duplicate"] + tally["in_progress"] == events * copies
	assert tally["status:Processed"] == tally["new"] + tally["duplicate"]
	assert_exactly_once(store, events)
	print(f"\nanswers: {dict(tally)}")
	# Every event delivered once more, from the database alone: all duplicates, no new effect.
	for i in range(0, events, 97):
		request = IngestRequest(source="shop", event_type=ORDER, idempotency_key=f"order-{i}", body=body(i))
		assert ingest(store, handlers, request).duplicate
	assert effects(store) == events


def test_redis_emptied_mid_ingest_loses_and_duplicates_nothing(
	store, mariadb_db, redis_url, redis_conn, tmp_path
):
	events, copies, workers = 400, 3, 4
	start_at = time.time() + 1.5
	specs = [
		{
			"db": mariadb_db[0],
			"redis": redis_url,
			"namespace": NAMESPACE,
			"start_at": start_at,
			"deliveries": d,
		}
		for d in spread(events, copies, workers, seed=7)
	]
	flushes = 0

	def flush_while_running(procs):
		nonlocal flushes
		time.sleep(max(0.0, start_at - time.time()))
		while any(proc.poll() is None for proc, _out in procs):
			# FLUSHDB of our own database: the shared redis-server keeps running for everyone else.
			redis_conn.flushdb()
			flushes += 1
			time.sleep(0.02)

	tally = run_workers(specs, tmp_path, during=flush_while_running)
	assert flushes > 5, "Redis was never emptied while the workers ran"
	assert tally["new"] == events
	assert tally["new"] + tally["duplicate"] + tally["in_progress"] == events * copies
	assert_exactly_once(store, events)


def test_without_redis_the_database_alone_gives_exactly_once(store, mariadb_db, tmp_path):
	events, copies, workers = 400, 3, 4
	start_at = time.time() + 1.5
	specs = [
		{"db": mariadb_db[0], "redis": None, "start_at": start_at, "deliveries": d}
		for d in spread(events, copies, workers, seed=11)
	]
	tally = run_workers(specs, tmp_path)
	assert tally["new"] == events
	assert tally["new"] + tally["duplicate"] + tally["in_progress"] == events * copies
	assert_exactly_once(store, events)


def test_background_worker_killed_inside_the_handler_is_taken_over_and_the_effect_happens_once(
	store, handlers, mariadb_db, redis_url, redis_conn, tmp_path
):
	marker = tmp_path / "in-handler"
	request = IngestRequest(
		source="shop", event_type=ORDER, idempotency_key="order-1", body=body(1, hang_once=str(marker))
	)
	name = event_name("shop", "order-1")
	fast = FastPath(redis_conn, NAMESPACE)
	settings = IngestSettings(claim_ttl_s=2)
	assert ingest(store, handlers, request, inline=False).enqueue
	spec = {"db": mariadb_db[0], "redis": redis_url, "namespace": NAMESPACE, "claim_ttl_s": 2, "name": name}
	proc, _out = spawn("process", spec, tmp_path, "victim")
	wait_for(marker.exists, timeout=30, what="the worker to be inside the handler")
	os.killpg(proc.pid, signal.SIGKILL)
	proc.wait(10)

	row = store.get(name)
	assert row.status == EventStatus.PROCESSING and row.attempts == 1
	assert effects(store) == 0  # its insert died with its transaction
	# While the dead worker's claim lives, nobody runs the event again.
	assert process(store, handlers, name, settings=settings, fast=fast).status == EventStatus.PROCESSING
	with pytest.raises(InProgress):
		ingest(store, handlers, request, settings=settings, fast=fast)
	assert effects(store) == 0

	wait_for(
		lambda: store.get(name).claim_expires_at < datetime.now(UTC), timeout=10, what="the claim to expire"
	)
	done = process(store, handlers, name, settings=settings, fast=fast)
	assert (done.status, done.attempts) == (EventStatus.PROCESSED, 2)
	assert effects(store) == 1
	assert ingest(store, handlers, request, settings=settings, fast=fast).duplicate
	assert process(store, handlers, name, settings=settings, fast=fast).status == EventStatus.PROCESSED
	assert effects(store) == 1


def test_inline_request_killed_inside_the_handler_leaves_nothing_and_the_retry_applies_once(
	store, handlers, mariadb_db, redis_url, redis_conn, tmp_path
):
	"""Inline, the row is inserted in the handler's transaction: a kill rolls both back."""
	marker = tmp_path / "in-handler"
	payload = body(1, hang_once=str(marker))
	request = IngestRequest(source="shop", event_type=ORDER, idempotency_key="order-1", body=payload)
	name = event_name("shop", "order-1")
	fast = FastPath(redis_conn, NAMESPACE)
	settings = IngestSettings(inflight_lock_s=2)
	spec = {
		"db": mariadb_db[0],
		"redis": redis_url,
		"namespace": NAMESPACE,
		"inflight_lock_s": 2,
		"deliveries": [[ORDER, "order-1", payload]],
	}
	proc, _out = spawn("deliver", spec, tmp_path, "victim")
	wait_for(marker.exists, timeout=30, what="the request to be inside the handler")
	os.killpg(proc.pid, signal.SIGKILL)
	proc.wait(10)
	assert store.get(name) is None and effects(store) == 0  # the sender got no answer and will retry
	with pytest.raises(InProgress):  # the dead request's in-flight lock lives until its expiry
		ingest(store, handlers, request, settings=settings, fast=fast)
	wait_for(lambda: not redis_conn.keys("erp_ops:*:event-inflight:*"), timeout=10, what="the lock to expire")
	done = ingest(store, handlers, request, settings=settings, fast=fast)
	assert (done.status, done.duplicate, done.attempts) == (EventStatus.PROCESSED, False, 1)
	assert ingest(store, handlers, request, settings=settings).duplicate
	assert effects(store) == 1

"""Events per second through the ingest core with the MariaDB store: new events and duplicates.

	ERP_OPS_TEST_MARIADB=mysql://root:@127.0.0.1:3306 ERP_OPS_TEST_REDIS=redis://127.0.0.1:6379/4 \\
		python benchmarks/ingest.py [--events 3000] [--connections 4]

The process pins itself to one CPU (Linux; elsewhere it says it could not): "one core" is what
the core's own work gets, the database and Redis run where the system puts them.

A new event delivered inline is one transaction (insert the row, run a real handler that inserts a
row, set Processed) and one commit, plus two Redis round trips; a duplicate is answered from the
Redis cache of completed keys once its row confirms it (one read by primary key). Two ways of sending, side by side in one run:
- serial: one connection, one event at a time. Each event waits for its round trips, so this is
  the inverse of one delivery's latency (`new_serial_per_s`, `duplicate_serial_per_s`, and
  `duplicate_db_per_s` for duplicates answered by the database alone, without Redis).
- concurrent (`new_per_s`, `duplicate_per_s`): `--connections` threads of this same pinned process,
  each with its own database connection, as a web server's request threads send them: still one
  CPU for all of the core's work; what overlaps is the waiting for the servers. This is the rate
  the goal is about (events per second on one core).
`roundtrip_us` (a bare `SELECT 1`) and `commit_per_s` (the server's bare commit rate; one commit
per new event) say how fast this machine is during the run: on a shared VM they vary several-fold
between runs, and the rates with them. `new_cpu_per_s` is the serial rate per CPU-second of this
process. The store sends what the site's store sends (its BEGIN stands for the COMMIT with which
the Frappe store opens each event's transaction). Every run checks that each event had exactly
one effect. Works in a scratch database it drops, and in its own Redis namespace it deletes.
"""

import argparse
import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
	sys.path.insert(0, str(ROOT))

import pymysql
from redis import Redis

from erp_ops.core.events.fastpath import FastPath
from erp_ops.core.events.ingest import ingest
from erp_ops.core.events.models import EventStatus, IngestRequest
from tests.conftest import mysql_kwargs
from tests.support.event_handlers import create_tables, registry
from tests.support.event_store import MariaDBEventStore


def env(name: str, example: str) -> str:
	value = os.environ.get(name)
	if not value:
		sys.exit(f"{name} is not set: point it at a test server, e.g. {name}={example}")
	return value


def pin_to_one_cpu() -> str:
	if not hasattr(os, "sched_setaffinity"):
		return "not pinned (no sched_setaffinity here)"
	cpu = min(os.sched_getaffinity(0))
	os.sched_setaffinity(0, {cpu})
	return f"pinned to CPU {cpu}"


def requests(n: int, run: str) -> list[IngestRequest]:
	return [
		IngestRequest(
			source="shop",
			event_type="shop:order.created",
			idempotency_key=f"{run}-{i}",
			body=json.dumps(
				{"order_id": f"SO-{i:06d}", "amount": i + 1, "lines": [{"item": "I-1", "qty": 2}]}
			),
		)
		for i in range(n)
	]


def send(store, handlers, batch, fast, duplicate: bool) -> None:
	for request in batch:
		answer = ingest(store, handlers, request, fast=fast)
		assert answer.duplicate is duplicate and answer.status == EventStatus.PROCESSED, answer


def rate(stores, handlers, batch, fast, *, duplicate: bool) -> tuple[float, float]:
	"""(events per wall-clock second, per CPU-second of this process): one thread per store."""
	parts = [batch[i :: len(stores)] for i in range(len(stores))]
	errors: list[BaseException] = []

	def run(store, part) -> None:
		try:
			send(store, handlers, part, fast, duplicate)
		except BaseException as e:
			errors.append(e)

	threads = [threading.Thread(target=run, args=pair) for pair in zip(stores, parts, strict=True)]
	t, cpu = time.perf_counter(), time.process_time()
	for thread in threads:
		thread.start()
	for thread in threads:
		thread.join()
	wall, used = time.perf_counter() - t, time.process_time() - cpu
	if errors:
		raise errors[0]
	return len(batch) / wall, len(batch) / used


def commit_rate(conn, n: int = 1000) -> float:
	"""Bare autocommitted single-row inserts per second: the server's commit (fsync) ceiling right now."""
	with conn.cursor() as cur:
		cur.execute("CREATE TABLE commit_probe (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20))")
		t = time.perf_counter()
		for _ in range(n):
			cur.execute("INSERT INTO commit_probe (v) VALUES ('x')")
		return n / (time.perf_counter() - t)


def roundtrip_us(conn, n: int = 2000) -> float:
	"""A bare `SELECT 1` round trip in microseconds: how fast this machine is right now."""
	with conn.cursor() as cur:
		t = time.perf_counter()
		for _ in range(n):
			cur.execute("SELECT 1")
		return (time.perf_counter() - t) / n * 1e6


def main() -> None:
	parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
	parser.add_argument("--events", type=int, default=3000)
	parser.add_argument("--connections", type=int, default=4)
	args = parser.parse_args()
	if args.events < 1 or args.connections < 1:
		sys.exit("--events and --connections must be at least 1")
	kwargs = mysql_kwargs(env("ERP_OPS_TEST_MARIADB", "mysql://root:@127.0.0.1:3306"))
	redis = Redis.from_url(env("ERP_OPS_TEST_REDIS", "redis://127.0.0.1:6379/13"))
	pinned = pin_to_one_cpu()
	db = f"erp_ops_bench_{uuid.uuid4().hex[:10]}"
	namespace = f"bench-{uuid.uuid4().hex[:8]}:site"
	admin = pymysql.connect(**kwargs, autocommit=True)
	with admin.cursor() as cur:
		cur.execute(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
	stores = [MariaDBEventStore({**kwargs, "database": db}, create=i == 0) for i in range(args.connections)]
	try:
		create_tables(stores[0].conn)
		handlers = registry()
		fast = FastPath(redis, namespace)
		one = stores[:1]
		rate(stores, handlers, requests(200, "warm"), fast, duplicate=False)  # imports, plans, buffer pool
		commit_per_s = commit_rate(stores[0].conn)
		select_us = roundtrip_us(stores[0].conn)
		serial = requests(args.events, "serial")
		new_serial, new_cpu = rate(one, handlers, serial, fast, duplicate=False)
		duplicate_serial, _ = rate(one, handlers, serial, fast, duplicate=True)
		duplicate_db, _ = rate(one, handlers, serial, None, duplicate=True)
		concurrent = requests(args.events, "concurrent")
		new_per_s, _ = rate(stores, handlers, concurrent, fast, duplicate=False)
		duplicate_per_s, _ = rate(stores, handlers, concurrent, fast, duplicate=True)
		with stores[0].conn.cursor() as cur:
			cur.execute("SELECT COUNT(*) AS n, COUNT(DISTINCT event) AS events FROM event_effect")
			counted = cur.fetchone()
		expected = 2 * args.events + 200
		assert counted["n"] == counted["events"] == expected, f"{counted} effects for {expected} events"
		print(f"{expected} events, effects exactly once: {counted['n']}; this process {pinned}")
		print(
			f"this machine now: SELECT 1 round trip {select_us:.0f} us, bare commits/s {commit_per_s:.0f} "
			"(a new event costs one commit)"
		)
		print(
			f"serial, one connection: new {new_serial:.0f}/s ({new_cpu:.0f} per CPU-second), duplicate {duplicate_serial:.0f}/s, duplicate without Redis {duplicate_db:.0f}/s"
		)
		print(
			f"concurrent, {args.connections} connections: new {new_per_s:.0f}/s, duplicate {duplicate_per_s:.0f}/s"
		)
		print(
			f"roundtrip_us={select_us:.0f} commit_per_s={commit_per_s:.0f} new_cpu_per_s={new_cpu:.0f} new_serial_per_s={new_serial:.0f} "
			f"duplicate_serial_per_s={duplicate_serial:.0f} duplicate_db_per_s={duplicate_db:.0f} "
			f"connections={args.connections} new_per_s={new_per_s:.0f} duplicate_per_s={duplicate_per_s:.0f}"
		)
	finally:
		for store in stores:
			store.close()
		with admin.cursor() as cur:
			cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
		admin.close()
		for key in redis.scan_iter(match=f"erp_ops:{namespace}:*", count=1000):
			redis.delete(key)


if __name__ == "__main__":
	main()

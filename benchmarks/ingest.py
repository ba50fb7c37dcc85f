"""Events per second through the ingest core with the MariaDB store: new events and duplicates.

	ERP_OPS_TEST_MARIADB=mysql://root:@127.0.0.1:3306 ERP_OPS_TEST_REDIS=redis://127.0.0.1:6379/4 \\
		python benchmarks/ingest.py [--events 3000]

One process, one connection: a new event delivered inline is one transaction (insert the row, run a
real handler that inserts a row, set Processed) and one commit, plus two Redis round trips. A
duplicate is answered from the Redis cache of completed keys; `duplicate_db_per_s` is the same
without Redis (the database alone). `commit_per_s` is the server's bare commit rate measured in the
same run: on a shared machine it bounds `new_per_s`; `new_cpu_per_s` is what one core of this
process could do if commits were free. Works in a scratch database it drops, and in its own Redis
namespace it deletes.
"""

import argparse
import json
import os
import sys
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


def rate(store, handlers, batch, fast, *, duplicate: bool) -> tuple[float, float]:
	"""(events per wall-clock second, events per second of this process's CPU time)."""
	t, cpu = time.perf_counter(), time.process_time()
	for request in batch:
		answer = ingest(store, handlers, request, fast=fast)
		assert answer.duplicate is duplicate and answer.status == EventStatus.PROCESSED, answer
	return len(batch) / (time.perf_counter() - t), len(batch) / (time.process_time() - cpu)


def commit_rate(conn, n: int = 1000) -> float:
	"""Bare autocommitted single-row inserts per second: the server's commit (fsync) ceiling right now."""
	with conn.cursor() as cur:
		cur.execute("CREATE TABLE commit_probe (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20))")
		t = time.perf_counter()
		for _ in range(n):
			cur.execute("INSERT INTO commit_probe (v) VALUES ('x')")
		return n / (time.perf_counter() - t)


def main() -> None:
	parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
	parser.add_argument("--events", type=int, default=3000)
	args = parser.parse_args()
	kwargs = mysql_kwargs(env("ERP_OPS_TEST_MARIADB", "mysql://root:@127.0.0.1:3306"))
	redis = Redis.from_url(env("ERP_OPS_TEST_REDIS", "redis://127.0.0.1:6379/13"))
	db = f"erp_ops_bench_{uuid.uuid4().hex[:10]}"
	namespace = f"bench-{uuid.uuid4().hex[:8]}:site"
	admin = pymysql.connect(**kwargs, autocommit=True)
	with admin.cursor() as cur:
		cur.execute(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
	store = MariaDBEventStore({**kwargs, "database": db}, create=True)
	try:
		create_tables(store.conn)
		handlers = registry()
		fast = FastPath(redis, namespace)
		rate(store, handlers, requests(200, "warm"), fast, duplicate=False)  # imports, plans, buffer pool
		batch = requests(args.events, "run")
		commit_per_s = commit_rate(store.conn)
		new_per_s, new_cpu = rate(store, handlers, batch, fast, duplicate=False)
		duplicate_per_s, duplicate_cpu = rate(store, handlers, batch, fast, duplicate=True)
		duplicate_db_per_s, _ = rate(store, handlers, batch, None, duplicate=True)
		with store.conn.cursor() as cur:
			cur.execute("SELECT COUNT(*) AS n FROM event_effect")
			effects = cur.fetchone()["n"]
		assert effects == args.events + 200, f"{effects} effects for {args.events + 200} events"
		print(f"{args.events} events, effects exactly once: {effects}")
		print(f"bare commits/s on this server now: {commit_per_s:.0f} (a new event costs one commit)")
		print(f"events per CPU-second of this process: new {new_cpu:.0f}, duplicate {duplicate_cpu:.0f}")
		print(
			f"commit_per_s={commit_per_s:.0f} new_cpu_per_s={new_cpu:.0f} duplicate_db_per_s={duplicate_db_per_s:.0f} "
			f"new_per_s={new_per_s:.0f} duplicate_per_s={duplicate_per_s:.0f}"
		)
	finally:
		store.close()
		with admin.cursor() as cur:
			cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
		admin.close()
		for key in redis.scan_iter(match=f"erp_ops:{namespace}:*", count=1000):
			redis.delete(key)


if __name__ == "__main__":
	main()

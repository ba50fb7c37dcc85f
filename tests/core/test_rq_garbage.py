"""Broken data does not blind the operator: random garbage thrown into RQ's key space next to a
good bench built through RQ's API. Whatever the garbage, the read raises nothing, Redis counts as
reachable, every good job and worker is still counted, and the keys it could not read are named.
"""

import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis import Redis
from rq import Queue, Worker

from erp_ops.core import rq_keys
from erp_ops.core.evidence import stream
from erp_ops.core.rq_keys import Registry
from erp_ops.core.signals import read
from erp_ops.core.signals.models import WorkerStatus
from tests.support.rq_helpers import enqueue, qname

BENCH = "bench-g"
M = "tests.support.frappe_like"
GOOD_QUEUES = ("short", "default", "long")
KINDS = ("string", "hash", "list", "set", "zset")

# Values RQ would never write where it writes times, counters and pickles
junk = st.one_of(
	st.binary(max_size=24),
	st.sampled_from(
		[
			b"",
			b"nan",
			b"inf",
			b"-1",
			b"1e400",
			b"2026-13-45T99:99:99Z",
			b"9" * 30,
			b"\xff\xfe",
			b"0001-01-01T00:00:00Z",
		]
	),
)
# Job and worker names without Frappe's site separators, so per-site figures stay the good ones'
name = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=12)
WORKER_FIELDS = ("queues", "state", "current_job", "hostname", "pid", "birth", "last_heartbeat")
WORKER_FIELDS += ("successful_job_count", "failed_job_count", "total_working_time")
JOB_FIELDS = (
	"enqueued_at",
	"created_at",
	"started_at",
	"ended_at",
	"timeout",
	"worker_name",
	"data",
	"last_heartbeat",
)

value_of_kind = st.tuples(
	st.sampled_from(KINDS), st.dictionaries(st.binary(min_size=1, max_size=8), junk, max_size=3)
)
job_value = st.one_of(
	value_of_kind,
	st.tuples(st.just("hash"), st.dictionaries(st.sampled_from(JOB_FIELDS), junk, min_size=1, max_size=4)),
)
worker_value = st.one_of(
	value_of_kind,
	st.tuples(st.just("hash"), st.dictionaries(st.sampled_from(WORKER_FIELDS), junk, min_size=1, max_size=6)),
)

garbage = st.lists(
	st.one_of(
		st.tuples(st.just("queue"), name, value_of_kind),
		st.tuples(st.just("queued job"), st.sampled_from(GOOD_QUEUES), name, job_value, st.booleans()),
		st.tuples(st.just("worker"), name, worker_value),
		st.tuples(
			st.just("registry entry"),
			st.sampled_from(GOOD_QUEUES),
			st.sampled_from([Registry.STARTED, Registry.FAILED, Registry.FINISHED]),
			name,
			job_value,
			st.one_of(st.floats(min_value=-3600, max_value=-60), st.floats(min_value=60, max_value=3600)),
		),
		st.tuples(
			st.just("top set"), st.sampled_from([rq_keys.QUEUES_SET, rq_keys.WORKERS_SET]), value_of_kind
		),
	),
	min_size=1,
	max_size=8,
)


def write(conn: Redis, key: str, kind: str, fields: dict) -> None:
	"""Replace `key` with a value of `kind` made of the fields (at least one member)."""
	conn.delete(key)
	items = list(fields.items()) or [(b"k", b"v")]
	if kind == "string":
		conn.set(key, items[0][1])
	elif kind == "hash":
		conn.hset(key, mapping=dict(items))
	elif kind == "list":
		conn.rpush(key, *[v for _, v in items])
	elif kind == "set":
		conn.sadd(key, *[k for k, _ in items])
	else:
		conn.zadd(key, {k: i for i, (k, _) in enumerate(items)})


def build_good_bench(conn: Redis) -> None:
	"""Through RQ's API: five queued jobs of two sites, a live worker, a worker whose key expired."""
	for _ in range(3):
		enqueue(conn, BENCH, "short", f"{M}.work", site="a.local")
	for _ in range(2):
		enqueue(conn, BENCH, "long", f"{M}.work", site="b.local")
	for worker_name in ("alive", "dead"):
		Worker(
			[Queue(qname(BENCH, "default"), connection=conn)], connection=conn, name=worker_name
		).register_birth()
	conn.delete(rq_keys.worker_key("dead"))  # its key expired: SIGKILL, no heartbeat since


def throw(conn: Redis, ops: list) -> set[str]:
	"""Write the garbage; return the keys of a wrong type the read is bound to look at."""
	wrong: set[str] = set()
	hashes: set[str] = set()  # keys the read reads as hashes (a later op may rewrite one)
	for op in ops:
		if op[0] == "queue":
			_, suffix, (kind, fields) = op
			queue = f"{BENCH}:x-{suffix}"
			write(conn, rq_keys.queue_key(queue), kind, fields)
			if conn.type(rq_keys.QUEUES_SET) in (b"set", b"none"):
				conn.sadd(rq_keys.QUEUES_SET, rq_keys.queue_key(queue))
		elif op[0] == "queued job":
			_, short, job_id, (kind, fields), front = op
			job_id = f"g-{job_id}"
			write(conn, rq_keys.job_key(job_id), kind, fields)
			(conn.lpush if front else conn.rpush)(rq_keys.queue_key(qname(BENCH, short)), job_id)
			hashes.add(rq_keys.job_key(job_id))
		elif op[0] == "worker":
			_, worker_name, (kind, fields) = op
			key = rq_keys.worker_key(f"g-{worker_name}")
			write(conn, key, kind, fields)
			conn.sadd(rq_keys.WORKERS_BY_QUEUE.format(queue=qname(BENCH, "short")), key)
			if conn.type(rq_keys.WORKERS_SET) in (b"set", b"none"):
				conn.sadd(rq_keys.WORKERS_SET, key)
			hashes.add(key)
		elif op[0] == "registry entry":
			_, short, registry, job_id, (kind, fields), offset = op
			job_id = f"g-{job_id}"
			write(conn, rq_keys.job_key(job_id), kind, fields)
			conn.zadd(registry.key(qname(BENCH, short)), {job_id: time.time() + offset})
		else:
			_, key, (kind, fields) = op
			write(conn, key, kind, fields)
	wrong |= {key for key in hashes if conn.type(key) not in (b"hash", b"none")}
	for key in (rq_keys.QUEUES_SET, rq_keys.WORKERS_SET):
		if conn.type(key) not in (b"set", b"none"):
			wrong.add(key)
	if conn.type(rq_keys.QUEUES_SET) == b"set":  # the queues still registered there are read
		for queue_key in conn.smembers(rq_keys.QUEUES_SET):
			if (
				queue_key.startswith(f"{rq_keys.QUEUE_PREFIX}{BENCH}:".encode())
				and conn.type(queue_key) != b"list"
			):
				wrong.add(queue_key.decode())
	return wrong


@pytest.fixture(scope="module")
def conn(redis_url):
	conn = Redis.from_url(redis_url)
	yield conn
	conn.flushdb()
	conn.close()


@settings(
	max_examples=int(os.environ.get("ERP_OPS_HYPOTHESIS_EXAMPLES", 40)),
	deadline=None,
	suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=garbage)
def test_garbage_never_hides_good_keys(conn, ops):
	conn.flushdb()
	build_good_bench(conn)
	wrong = throw(conn, ops)

	snap = read(conn, BENCH)  # no exception, whatever the garbage

	assert snap.redis_ok and not any(f.code == "redis_unreachable" for f in snap.findings)
	for short in GOOD_QUEUES:
		q = snap.queue(short)
		key = rq_keys.queue_key(qname(BENCH, short))
		assert q.queued == conn.llen(key), short  # the good jobs and the garbage ids RQ would count
		for registry, figure in ((Registry.FAILED, "failed"), (Registry.FINISHED, "finished")):
			present = conn.zcount(registry.key(qname(BENCH, short)), time.time(), "+inf")
			assert getattr(q, figure) == present, (short, figure)
		started = conn.zcard(Registry.STARTED.key(qname(BENCH, short)))
		assert q.running + q.abandoned == q.started + q.expired_started == started
	sites = {s.site: s.queued for s in snap.sites}
	assert sites.get("a.local") == 3 and sites.get("b.local") == 2
	workers = {w.name: w for w in snap.workers}
	assert workers["alive"].status is WorkerStatus.ALIVE
	assert workers["dead"].status is WorkerStatus.DEAD
	assert any(f.code == "worker_dead" and f.subject == "dead" for f in snap.findings)
	named = {u.key for u in snap.unreadable}
	assert wrong <= named, (wrong - named, snap.unreadable)
	assert all(u.key and u.type and u.why for u in snap.unreadable)
	for u in snap.unreadable:
		assert any(f.code == "unreadable" and f.subject == u.key for f in snap.findings)


def test_each_broken_key_of_the_issue_is_named_and_the_dead_worker_still_shows(redis_url):
	"""The four cases the issue reports, together, beside a real dead worker."""
	conn = Redis.from_url(redis_url)
	try:
		conn.flushdb()
		build_good_bench(conn)
		queued = enqueue(conn, BENCH, "default", f"{M}.work")
		conn.delete(rq_keys.job_key(queued.id))
		conn.set(rq_keys.job_key(queued.id), "a string where a job hash belongs")
		conn.set(rq_keys.worker_key("not-a-hash"), "x")
		conn.sadd(rq_keys.WORKERS_SET, rq_keys.worker_key("not-a-hash"))
		conn.sadd(
			rq_keys.WORKERS_BY_QUEUE.format(queue=qname(BENCH, "short")), rq_keys.worker_key("not-a-hash")
		)
		conn.delete(rq_keys.queue_key(qname(BENCH, "long")))
		conn.hset(rq_keys.queue_key(qname(BENCH, "long")), "wrong", "type")
		Worker(
			[Queue(qname(BENCH, "short"), connection=conn)], connection=conn, name="garbled"
		).register_birth()
		conn.hset(
			rq_keys.worker_key("garbled"),
			mapping={
				"birth": "yesterday",
				"last_heartbeat": "soon",
				"successful_job_count": "many",
				"total_working_time": "lots",
			},
		)

		# erp_ops's own keys: a garbled outcome counter, an evidence-sites key that is not a set
		counters = stream.OUTCOMES.format(bench=BENCH, minute=int(time.time() // 60))
		conn.hset(counters, mapping={"m|total": "lots", "m|failed": 1})
		conn.set(stream.STREAM_SITES.format(bench=BENCH), "x")

		snap = read(conn, BENCH)

		assert snap.redis_ok
		why = {u.key: (u.type, u.why) for u in snap.unreadable}
		assert why[counters] == ("hash", "m|total is not a count")
		assert stream.STREAM_SITES.format(bench=BENCH) in why
		assert [(r.method, r.failed_1h) for r in snap.failure_rates] == [("m", 1)]
		assert why[rq_keys.job_key(queued.id)][0] == "string"
		assert why[rq_keys.worker_key("not-a-hash")][0] == "string"
		assert why[rq_keys.queue_key(qname(BENCH, "long"))] == ("hash", "expected a list")
		assert why[rq_keys.worker_key("garbled")][0] == "hash"
		workers = {w.name: w for w in snap.workers}
		assert workers["garbled"].status is WorkerStatus.ALIVE and workers["garbled"].successful_jobs == 0
		assert workers["dead"].status is WorkerStatus.DEAD and snap.critical
		assert snap.queue("short").queued == 3 and snap.queue("default").queued == 1
		assert snap.queue("long").queued == 0
	finally:
		conn.flushdb()
		conn.close()

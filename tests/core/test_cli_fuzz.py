"""Fuzz the standalone `erp-ops`: random arguments, and RQ keys holding what RQ never writes.

Whatever comes in, a command answers with exit 0, 2 or 64 and at most a one-line error, never a
traceback; a read-only command leaves every key byte for byte as it was (DUMP of every key).
The commands run in this process (`erp_ops.cli.main`), so an escaping exception fails the example
with its traceback; `tests/core/test_cli_errors.py` checks the same through a real `erp-ops`.
"""

import contextlib
import io
import socket
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.exceptions import ResponseError

from erp_ops.cli import main
from tests.support.control_seed import seed_failed, seed_queued
from tests.support.rq_helpers import qname

BENCH = "bench-fuzz"
EXITS = {0, 2, 64}
UNEXPECTED = "--debug shows where"  # erp_ops.cli.explain's words for an error nothing anticipated
FUZZ = settings(
	max_examples=60,
	deadline=None,
	derandomize=True,  # the same examples on every run: CI stays reproducible and its time steady
	suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def run_cli(argv: list[str]) -> tuple[int, str, str]:
	out, err = io.StringIO(), io.StringIO()
	with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
		try:
			code = main(argv)
		except SystemExit as exc:  # argparse: --help, --version, usage errors
			code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
	return code, out.getvalue(), err.getvalue()


def assert_answered(argv: list[str], code: int, err: str) -> None:
	assert code in EXITS, (argv, code, err)
	assert "Traceback" not in err, (argv, err)
	if "usage:" not in err:  # argparse's usage, then its one error line
		lines = [line for line in err.splitlines() if line.strip()]
		assert len(lines) <= 1, (argv, err)  # at most one line, whatever went wrong


def dump_all(conn) -> dict:
	"""Every key: its DUMP and whether it expires; hashes and sets by content.

	A hash or set in Redis's hashtable encoding (a job hash: its description is over 64 bytes)
	may be mid-rehash, and every read moves the rehash on: DUMP lists the same fields in another
	order after a pure read. Those two types are compared by content (and encoding) instead.
	"""
	state = {}
	for key in conn.scan_iter(count=1000):
		kind = conn.type(key)
		if kind == b"hash":
			content = (conn.hgetall(key), conn.object("encoding", key))
		elif kind == b"set":
			content = (conn.smembers(key), conn.object("encoding", key))
		else:
			content = conn.dump(key)
		state[key] = (kind, content, conn.pttl(key) >= 0)
	return state


# --- Arguments ---------------------------------------------------------------------------------

NASTY = st.sampled_from(
	[
		"nan",
		"inf",
		"-inf",
		"-1",
		"0",
		"1e12",
		"1e309",
		"7",
		"0.5",
		"abc",
		"",
		" ",
		"--",
		"bogus",
		"failed",
		"2026-01-01T00:00",
		"redis://127.0.0.1:1/0",
		"redis://127.0.0.1/abc",
		"redis://127.0.0.1:abc/0",
		"redis://:6379/0",
		"redis://127.0.0.1:6379/0?db=x",
		"http://127.0.0.1",
		"mysql://root:@127.0.0.1:1",
		"/nonexistent/path",
		"\x00",
		"é" * 3,
	]
)
VALUE = st.one_of(NASTY, st.text(max_size=10), st.integers().map(str), st.floats().map(repr))

COMMANDS: dict[tuple[str, ...], dict[str, bool]] = {
	# command words → option → takes a value
	("status",): {
		"--redis": True,
		"--bench-id": True,
		"--bench-path": True,
		"--json": False,
		"--oldest-job-critical": True,
	},
	("jobs", "state", "JOB"): {"--redis": True, "--bench-id": True, "--json": False},
	("jobs", "purge"): {
		"--older-than-days": True,
		"--registry": True,
		"--queue": True,
		"--redis": True,
		"--bench-id": True,
		"--json": False,
	},
	("jobs", "requeue", "JOB"): {"--reason": True, "--expected": True, "--redis": True, "--bench-id": True},
	("jobs", "cancel", "JOB"): {"--reason": True, "--wait": True, "--expected": True, "--redis": True},
	("jobs", "bulk"): {
		"--since": True,
		"--until": True,
		"--approval-above": True,
		"--batch": True,
		"--execute": True,
		"--approve": True,
		"--redis": True,
		"--bench-id": True,
	},
	("preflight",): {
		"--bench": True,
		"--target": True,
		"--db-size-mb": True,
		"--redis": True,
		"--bench-id": True,
		"--site-facts": True,
		"--json": False,
	},
	("runbooks", "search", "Q"): {"--limit": True, "--file": True, "--json": False},
	("runbooks", "review"): {"--today": True, "--file": True},
	("runbooks", "alerts"): {"--redis": True, "--bench-id": True, "--fact": True, "--rules": True},
	("drill",): {"--backup": True, "--mariadb": True, "--tolerance": True, "--time-zone": True},
}
READ_ONLY = {("status",), ("jobs", "state", "JOB"), ("jobs", "purge"), ("preflight",), ("drill",)}
READ_ONLY |= {("runbooks", "search", "Q"), ("runbooks", "review")}


@st.composite
def command_lines(draw, redis_url: str):
	words = draw(st.sampled_from(sorted(COMMANDS)))
	argv = [draw(VALUE) if w in ("JOB", "Q") else w for w in words]
	options = COMMANDS[words]
	for name in draw(st.lists(st.sampled_from(sorted(options)), max_size=5)):
		argv.append(name)
		if options[name]:
			if name == "--redis":
				argv.append(draw(st.one_of(st.just(redis_url), VALUE)))
			elif name == "--bench-id":
				argv.append(draw(st.one_of(st.just(BENCH), VALUE)))
			else:
				argv.append(draw(VALUE))
	if draw(st.booleans()) and "--redis" not in argv and "redis" in " ".join(options):
		argv += ["--redis", redis_url, "--bench-id", BENCH]
	return words, argv


def seed(conn) -> None:
	seed_failed(conn, BENCH, 2, ended_at=datetime.now(timezone.utc) - timedelta(days=3))
	seed_queued(conn, BENCH, 2)


@given(data=st.data())
@FUZZ
def test_any_command_line_answers_0_2_or_64_without_a_traceback(redis_conn, redis_url, data):
	redis_conn.flushdb()
	seed(redis_conn)
	words, argv = data.draw(command_lines(redis_url))
	before = dump_all(redis_conn)
	code, _out, err = run_cli(argv)
	assert_answered(argv, code, err)
	if words in READ_ONLY:
		assert dump_all(redis_conn) == before, argv


# --- RQ keys -----------------------------------------------------------------------------------

GARBAGE = st.one_of(
	st.binary(max_size=16),
	st.sampled_from(
		[
			b"",
			b"abc",
			b"-1",
			b"nan",
			b"inf",
			b"1e400",
			b"99999999999999999999999",
			b"2026-13-45T99:99:99.000000Z",
			b"\xff\xfe",
			b"\x80\x04K\x01.",  # a pickle of 1, where a tuple is expected
		]
	),
)
JOB_FIELDS = [
	"status",
	"origin",
	"data",
	"meta",
	"enqueued_at",
	"started_at",
	"ended_at",
	"created_at",
	"last_heartbeat",
	"timeout",
	"failure_ttl",
	"result_ttl",
	"worker_name",
	"exc_info",
	"description",
]
WORKER_FIELDS = [
	"birth",
	"last_heartbeat",
	"state",
	"current_job",
	"queues",
	"pid",
	"hostname",
	"successful_job_count",
	"failed_job_count",
	"total_working_time",
	"current_job_working_time",
]
WRONG_TYPES = ["string", "list", "set", "zset", "hash"]


def put(conn, key: str, kind: str, value: bytes) -> None:
	conn.delete(key)
	{
		"string": lambda: conn.set(key, value),
		"list": lambda: conn.rpush(key, value),
		"set": lambda: conn.sadd(key, value),
		"zset": lambda: conn.zadd(key, {value: 1}),
		"hash": lambda: conn.hset(key, "x", value),
	}[kind]()


@st.composite
def breakages(draw):
	"""A list of (what, arguments): each makes one RQ key hold something RQ never writes."""
	return draw(
		st.lists(
			st.one_of(
				st.tuples(
					st.just("job_field"),
					st.sampled_from(JOB_FIELDS),
					GARBAGE,
				),
				st.tuples(st.just("job_type"), st.sampled_from(WRONG_TYPES[:-1]), GARBAGE),
				st.tuples(st.just("worker"), st.dictionaries(st.sampled_from(WORKER_FIELDS), GARBAGE)),
				st.tuples(st.just("worker_type"), st.sampled_from(WRONG_TYPES[:-1]), GARBAGE),
				st.tuples(
					st.just("key_type"),
					st.sampled_from(
						["rq:queues", "rq:workers", "QUEUE", "rq:failed:Q", "rq:wip:Q", "rq:finished:Q"]
					),
					st.sampled_from(WRONG_TYPES),
					GARBAGE,
				),
				st.tuples(
					st.just("member"),
					st.sampled_from(
						["rq:failed:Q", "rq:wip:Q", "rq:finished:Q", "rq:scheduled:Q", "rq:deferred:Q"]
					),
					GARBAGE,
					st.sampled_from([float("inf"), float("-inf"), 0.0, 1e18, -5.0]),
				),
				st.tuples(st.just("queued_id"), GARBAGE),
			),
			min_size=1,
			max_size=4,
		)
	)


def break_keys(conn, failed: list[str], queued: list[str], steps: list) -> None:
	for step in steps:
		try:
			_break(conn, failed, queued, step)
		except ResponseError:  # an earlier step gave the key another type: this one is moot
			continue


def _break(conn, failed: list[str], queued: list[str], step: tuple) -> None:
	queue = qname(BENCH, "default")
	kind = step[0]
	if kind == "job_field":
		conn.hset(f"rq:job:{failed[0]}", step[1], step[2])
	elif kind == "job_type":
		put(conn, f"rq:job:{queued[0]}", step[1], step[2])
	elif kind == "worker":
		name = "w-broken"
		conn.sadd("rq:workers", f"rq:worker:{name}")
		conn.sadd(f"rq:workers:{queue}", f"rq:worker:{name}")
		conn.delete(f"rq:worker:{name}")
		conn.hset(f"rq:worker:{name}", mapping={"queues": queue, "hostname": socket.gethostname(), **step[1]})
		conn.expire(f"rq:worker:{name}", 600)
	elif kind == "worker_type":
		conn.sadd("rq:workers", "rq:worker:w-odd")
		put(conn, "rq:worker:w-odd", step[1], step[2])
	elif kind == "key_type":
		key = step[1].replace("QUEUE", f"rq:queue:{queue}").replace(":Q", f":{queue}")
		put(conn, key, step[2], step[3])
	elif kind == "member":
		conn.zadd(step[1].replace(":Q", f":{queue}"), {step[2]: step[3]})
	elif kind == "queued_id":
		conn.rpush(f"rq:queue:{queue}", step[1])


@given(steps=breakages(), job=st.integers(0, 1))
@FUZZ
def test_broken_rq_keys_give_an_answer_and_reading_changes_nothing(redis_conn, redis_url, steps, job):
	redis_conn.flushdb()
	failed = seed_failed(redis_conn, BENCH, 2, ended_at=datetime.now(timezone.utc) - timedelta(days=3))
	queued = seed_queued(redis_conn, BENCH, 2)
	break_keys(redis_conn, failed, queued, steps)
	target = (failed + queued)[job * 2]
	common = ["--redis", redis_url, "--bench-id", BENCH]
	for argv in (
		["status", *common],
		["status", "--json", *common],
		["jobs", "state", target, *common],
		["jobs", "purge", "--older-than-days", "1", *common],
	):
		before = dump_all(redis_conn)
		code, _out, err = run_cli(argv)
		assert_answered(argv, code, err)
		assert UNEXPECTED not in err, (argv, steps, err)  # a broken key is read as such, not a crash
		assert dump_all(redis_conn) == before, (argv, steps)
	# Not read-only (they act or keep state), but they too answer without a traceback.
	for argv in (["runbooks", "alerts", *common], ["jobs", "requeue", target, "--reason", "fuzz", *common]):
		code, _out, err = run_cli(argv)
		assert_answered(argv, code, err)


@pytest.mark.parametrize(
	"argv",
	[
		["status", "--redis", "redis://127.0.0.1:abc/0", "--bench-id", "b"],
		["status", "--redis", "redis://127.0.0.1/abc", "--bench-id", "b"],
		["status", "--redis", "redis://127.0.0.1:6379/0?db=x", "--bench-id", "b"],
		[
			"jobs",
			"requeue",
			"J",
			"--reason",
			"r",
			"--expected",
			"bogus",
			"--redis",
			"redis://h/0",
			"--bench-id",
			"b",
		],
		[
			"jobs",
			"purge",
			"--older-than-days",
			"-1",
			"--execute",
			"--redis",
			"redis://h/0",
			"--bench-id",
			"b",
		],
		["jobs", "purge", "--older-than-days", "nan", "--redis", "redis://h/0", "--bench-id", "b"],
		["jobs", "purge", "--older-than-days", "inf", "--redis", "redis://h/0", "--bench-id", "b"],
		["jobs", "purge", "--older-than-days", "1e12", "--redis", "redis://h/0", "--bench-id", "b"],
		["status", "--oldest-job-critical", "nan", "--redis", "redis://h/0", "--bench-id", "b"],
		["preflight", "--bench", ".", "--target", "16", "--db-size-mb", "nan"],
		["drill", "--backup", ".", "--mariadb", "mysql://root:@h:3306", "--tolerance", "inf"],
		["runbooks", "search", "x", "--limit", "1e12"],
	],
)
def test_bad_values_are_usage_errors_naming_the_option(argv):
	code, out, err = run_cli(argv)
	assert code == 64 and "Traceback" not in err, (argv, out, err)
	named = [a for a in argv if a.startswith("--") and f"argument {a}:" in err]
	assert len(named) == 1 and err.splitlines()[-1].startswith("erp-ops"), err


def test_an_unreachable_redis_is_one_line_and_exit_2():
	for argv in (
		["runbooks", "alerts", "--redis", "redis://127.0.0.1:1/0", "--bench-id", "b"],
		["jobs", "state", "J", "--redis", "redis://127.0.0.1:1/0", "--bench-id", "b"],
		["status", "--redis", "redis://127.0.0.1:1/0", "--bench-id", "b"],
	):
		code, out, err = run_cli(argv)
		assert code == 2 and "Traceback" not in err, (argv, out, err)

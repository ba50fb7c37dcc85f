"""Shared fixtures: real services found through ERP_OPS_TEST_REDIS and ERP_OPS_TEST_MARIADB.

Both are set by `.ci/run`. When one is unset, tests that need it fail with a message that says
so: they never guess a server.
"""

import os
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
	sys.path.insert(0, str(ROOT))


def _require(name: str, example: str) -> str:
	value = os.environ.get(name)
	if not value:
		pytest.fail(
			f"{name} is not set: point it at a test server, e.g. {name}={example} "
			"(bash .ci/run sets it and starts the services when needed)",
			pytrace=False,
		)
	return value


@pytest.fixture(autouse=True)
def _no_worker_outlives_its_test():
	"""A failing test's RQ workers are stopped with it, not left running for minutes."""
	yield
	from tests.support.rq_helpers import WorkerProcess

	WorkerProcess.stop_all()


@pytest.fixture(scope="session")
def redis_url() -> str:
	return _require("ERP_OPS_TEST_REDIS", "redis://127.0.0.1:6379/13")


@pytest.fixture
def redis_conn(redis_url):
	"""A clean Redis database, flushed before and after the test."""
	import redis

	conn = redis.Redis.from_url(redis_url)
	conn.ping()
	conn.flushdb()
	yield conn
	conn.flushdb()
	conn.close()


@pytest.fixture(scope="session")
def mariadb_url() -> str:
	return _require("ERP_OPS_TEST_MARIADB", "mysql://root:@127.0.0.1:3306")


@pytest.fixture
def mariadb_db(mariadb_url):
	"""A uniquely named scratch database, dropped after the test; yields (connect kwargs, name)."""
	import pymysql

	kwargs = mysql_kwargs(mariadb_url)
	name = scratch_database_name()
	admin = pymysql.connect(**kwargs, autocommit=True)
	with admin.cursor() as cur:
		cur.execute("SET SESSION lock_wait_timeout = 60")  # a leaked transaction fails, not hangs, the drop
		cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
	try:
		yield {**kwargs, "database": name}, name
	finally:
		with admin.cursor() as cur:
			cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
		admin.close()


def scratch_database_name() -> str:
	"""A fresh scratch database name under this run's prefix.

	`.ci/run` sets ERP_OPS_TEST_DB_PREFIX to `erp_ops_test_<run id>_` and, after the run, drops
	only the databases with that prefix: another run's (or a colleague's) are not touched.
	"""
	import uuid

	return f"{os.environ.get('ERP_OPS_TEST_DB_PREFIX') or 'erp_ops_test_'}{uuid.uuid4().hex[:12]}"


def mysql_kwargs(url: str) -> dict:
	parsed = urlparse(url)
	if parsed.scheme not in ("mysql", "mariadb"):
		raise ValueError(f"ERP_OPS_TEST_MARIADB must be mysql://user:password@host:port, got {url!r}")
	return {
		"host": parsed.hostname or "127.0.0.1",
		"port": parsed.port or 3306,
		"user": parsed.username or "root",
		"password": parsed.password or "",
	}

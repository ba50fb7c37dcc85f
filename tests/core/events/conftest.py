"""Fixtures of the event tests: a real MariaDB store with the handlers' tables, and Redis in front."""

import pytest

from erp_ops.core.events.fastpath import FastPath
from tests.support.event_handlers import create_tables, registry
from tests.support.event_store import MariaDBEventStore

NAMESPACE = "bench-ev:site1.local"
# Run a test with the tables in UTC and in a site's zone ahead of it: conversions must round-trip.
ZONES = pytest.mark.parametrize("time_zone", ["UTC", "Asia/Kolkata"], indirect=True)


@pytest.fixture
def time_zone(request):
	"""The zone of the tables' datetimes (a site's system time zone); parametrize it indirectly."""
	return getattr(request, "param", "UTC")


@pytest.fixture
def store(mariadb_db, time_zone):
	kwargs, _name = mariadb_db
	s = MariaDBEventStore(kwargs, create=True, time_zone=time_zone)
	create_tables(s.conn)
	yield s
	s.close()


@pytest.fixture
def other_store(mariadb_db, store, time_zone):
	"""A second connection to the same database: another worker."""
	s = MariaDBEventStore(mariadb_db[0], time_zone=time_zone)
	yield s
	s.close()


@pytest.fixture
def fast(redis_conn):
	return FastPath(redis_conn, NAMESPACE)


@pytest.fixture(scope="session")
def handlers():
	return registry()


def effects(store: MariaDBEventStore, event: str | None = None) -> int:
	with store.conn.cursor() as cur:
		if event is None:
			cur.execute("SELECT COUNT(*) AS n FROM event_effect")
		else:
			cur.execute("SELECT COUNT(*) AS n FROM event_effect WHERE event = %s", (event,))
		return cur.fetchone()["n"]

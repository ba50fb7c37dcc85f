"""The event store the core's tests run against: the production SQL (`SqlEventStore`) over pymysql.

The tables are the site's, generated from the DocType JSON (`doctype_ddl`), so the statements the
tests exercise are the ones a site runs, on the schema a site has. One store object owns one
connection: use one per process or thread.
"""

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pymysql
from pymysql.cursors import DictCursor

from erp_ops.core.clock import from_site_time
from erp_ops.core.events.models import OrderingState, ReplayEntry
from erp_ops.core.events.sql_store import EVENT, ORDER, REPLAY, SqlEventStore, order_name, to_ordering
from tests.support.doctype_ddl import create_tables

DOCTYPES = ("Integration Event", "Integration Event Order", "Integration Event Replay")
TRANSIENT = {1205, 1213}  # lock wait timeout, deadlock: the transaction may be retried
DUPLICATE_KEY = 1062


class PyMySQLConnection:
	"""`SqlConnection` over one pymysql connection. It autocommits; `begin` opens a transaction."""

	def __init__(self, connect_kwargs: dict, *, time_zone: str = "UTC", user: str = "Administrator") -> None:
		self.connection = pymysql.connect(**connect_kwargs, autocommit=True, cursorclass=DictCursor)
		self.time_zone = time_zone
		self._user = user
		self._after_commit: list[Callable[[], None]] = []

	def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
		self.execute_counted(sql, args)

	def execute_counted(self, sql: str, args: Sequence[Any] = ()) -> int:
		with self.connection.cursor() as cur:
			return cur.execute(sql, tuple(args) or None)

	def rows(self, sql: str, args: Sequence[Any] = ()) -> list[Mapping[str, Any]]:
		with self.connection.cursor() as cur:
			cur.execute(sql, tuple(args) or None)
			return list(cur.fetchall())

	def begin(self) -> None:
		self.connection.begin()  # START TRANSACTION commits what was open, as frappe.db.commit() does
		self._run_after_commit()

	def commit(self) -> None:
		self.connection.commit()
		self._run_after_commit()

	def rollback(self) -> None:
		self._after_commit.clear()
		try:
			self.connection.rollback()
		except pymysql.err.Error:
			pass  # the connection is gone: the server rolled the transaction back already

	def after_commit(self, fn: Callable[[], None]) -> None:
		self._after_commit.append(fn)

	def is_duplicate(self, exc: BaseException) -> bool:
		return isinstance(exc, pymysql.err.IntegrityError) and exc.args[0] == DUPLICATE_KEY

	def is_transient(self, exc: BaseException) -> bool:
		return isinstance(exc, pymysql.err.OperationalError) and bool(exc.args) and exc.args[0] in TRANSIENT

	def user(self) -> str:
		return self._user

	def close(self) -> None:
		if self.connection.open:
			self.connection.close()

	def _run_after_commit(self) -> None:
		while self._after_commit:  # one by one, as Frappe's CallbackManager: a failing one leaves the rest
			self._after_commit.pop(0)()


class MariaDBEventStore(SqlEventStore):
	"""`SqlEventStore` on a pymysql connection; `create` makes the site's three tables."""

	def __init__(self, connect_kwargs: dict, *, create: bool = False, time_zone: str = "UTC") -> None:
		db = PyMySQLConnection(connect_kwargs, time_zone=time_zone)
		super().__init__(db)
		self.conn = db.connection  # DictCursor: what the tests read business rows through
		if create:
			for ddl in create_tables(*DOCTYPES):
				db.execute(ddl)

	def close(self) -> None:
		self.db.close()

	# -- for the tests

	def replays(self, event: str) -> list[ReplayEntry]:
		rows = self.db.rows(f"select * from `{REPLAY}` where event = %s order by `at`, creation", (event,))
		return [
			ReplayEntry(
				**{k: row[k] for k in ("replay_id", "event", "reason", "actor", "outcome", "status_after")},
				changed=bool(row["changed"]),
				changes=json.loads(row["changes"] or "[]"),
				at=from_site_time(row["at"], self.db.time_zone),
			)
			for row in rows
		]

	def ordering_state(self, source: str, entity_key: str) -> OrderingState | None:
		rows = self.db.rows(f"select * from `{ORDER}` where name = %s", (order_name(source, entity_key),))
		return to_ordering(rows[0] if rows else None, self.db.time_zone)

	def status_counts(self) -> dict[str, int]:
		rows = self.db.rows(f"select status, count(*) as n from `{EVENT}` group by status")
		return {row["status"]: row["n"] for row in rows}

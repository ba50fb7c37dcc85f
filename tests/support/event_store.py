"""The event store on a real MariaDB, through pymysql: the adapter the core's tests run against.

The tables mirror what the Frappe layer keeps in the `Integration Event` DocType (plus its ordering
and replay tables); the unique key on (source, idempotency_key) is the source of truth. One store
object owns one connection: use one per process or thread.
"""

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

import pymysql
from pymysql.cursors import DictCursor

from erp_ops.core.clock import as_utc, naive_utc
from erp_ops.core.events.errors import ClaimLost, KeyExists, TransientStoreError
from erp_ops.core.events.models import (
	Claim,
	EventQuery,
	EventRecord,
	EventStatus,
	OrderingState,
	ReplayEntry,
)
from erp_ops.core.events.store import Finish, finished, query_where

DDL = (
	"""
CREATE TABLE IF NOT EXISTS integration_event (
  name VARCHAR(140) NOT NULL PRIMARY KEY,
  source VARCHAR(140) NOT NULL,
  event_type VARCHAR(140) NOT NULL,
  idempotency_key VARCHAR(255) NULL,
  offered_key VARCHAR(255) NULL,
  payload LONGTEXT NULL,
  payload_hash CHAR(64) NULL,
  payload_size INT NOT NULL DEFAULT 0,
  sequence BIGINT NULL,
  occurred_at DATETIME(6) NULL,
  entity_key VARCHAR(255) NULL,
  status VARCHAR(20) NOT NULL,
  attempts INT NOT NULL DEFAULT 0,
  handler VARCHAR(255) NULL,
  claimed_by VARCHAR(140) NULL,
  claim_token CHAR(32) NULL,
  claim_expires_at DATETIME(6) NULL,
  result LONGTEXT NULL,
  error TEXT NULL,
  reason TEXT NULL,
  touched LONGTEXT NULL,
  changes LONGTEXT NULL,
  conflict_with VARCHAR(140) NULL,
  received_at DATETIME(6) NOT NULL,
  processed_at DATETIME(6) NULL,
  UNIQUE KEY source_key (source, idempotency_key),
  KEY received_at (received_at),
  KEY source_type_status (source, event_type, status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
""",
	"""
CREATE TABLE IF NOT EXISTS integration_event_order (
  source VARCHAR(140) NOT NULL,
  entity_key VARCHAR(255) NOT NULL,
  last_sequence BIGINT NULL,
  last_occurred_at DATETIME(6) NULL,
  last_event VARCHAR(140) NULL,
  PRIMARY KEY (source, entity_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
""",
	"""
CREATE TABLE IF NOT EXISTS integration_event_replay (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  replay_id VARCHAR(40) NOT NULL,
  event VARCHAR(140) NOT NULL,
  reason TEXT NOT NULL,
  actor VARCHAR(140) NOT NULL,
  outcome VARCHAR(20) NOT NULL,
  status_after VARCHAR(20) NOT NULL,
  changed TINYINT NOT NULL,
  changes LONGTEXT NULL,
  at DATETIME(6) NOT NULL,
  KEY event (event)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
""",
)

COLUMNS = tuple(EventRecord.model_fields)
TRANSIENT = {1205, 1213}  # lock wait timeout, deadlock: the transaction may be retried
DUPLICATE_KEY = 1062


class MariaDBEventStore:
	"""`EventStore` over pymysql. The connection autocommits; `work` opens the one explicit transaction."""

	def __init__(self, connect_kwargs: dict, *, create: bool = False) -> None:
		self.conn = pymysql.connect(**connect_kwargs, autocommit=True, cursorclass=DictCursor)
		if create:
			with self.conn.cursor() as cur:
				for ddl in DDL:
					cur.execute(ddl)

	def close(self) -> None:
		if self.conn.open:
			self.conn.close()

	# -- the port

	def insert_or_get(self, record: EventRecord) -> tuple[EventRecord, bool]:
		for _ in range(2):
			try:
				self._insert(record)
				return record, True
			except pymysql.err.IntegrityError as e:
				if e.args[0] != DUPLICATE_KEY:
					raise
			# The insert failed because the other row is committed: this read sees it.
			existing = self._one(
				"SELECT * FROM integration_event WHERE source = %s AND idempotency_key = %s",
				(record.source, record.idempotency_key),
			)
			if existing is not None:
				return existing, False
			# Purged in between (try once more), or the name is taken by another identity (fail).
		raise TransientStoreError(
			f"{record.name} is taken but no row has {record.source}/{record.idempotency_key}"
		)

	def add(self, record: EventRecord) -> EventRecord:
		self._insert(record)
		return record

	def get(self, name: str) -> EventRecord | None:
		return self._one("SELECT * FROM integration_event WHERE name = %s", (name,))

	def try_claim(self, name: str, claim: Claim, now: datetime, *, force: bool = False) -> EventRecord | None:
		statuses = [EventStatus.RECEIVED.value, EventStatus.FAILED.value]
		if force:
			statuses += [EventStatus.PROCESSED.value, EventStatus.SUPERSEDED.value]
		marks = ", ".join(["%s"] * len(statuses))
		with self._translated(), self.conn.cursor() as cur:
			n = cur.execute(
				"UPDATE integration_event SET status = 'Processing', claimed_by = %s, claim_token = %s, "
				"claim_expires_at = %s, attempts = attempts + 1 "
				"WHERE name = %s AND idempotency_key IS NOT NULL "
				f"AND (status IN ({marks}) OR (status = 'Processing' AND claim_expires_at <= %s))",
				(claim.worker, claim.token, naive_utc(claim.expires_at), name, *statuses, naive_utc(now)),
			)
		return self.get(name) if n == 1 else None

	@contextmanager
	def work(
		self, name: str, *, insert: EventRecord | None = None, dry_run: bool = False
	) -> Iterator["MariaDBWork"]:
		conn = self.conn
		try:
			conn.begin()
			if insert is not None:
				try:
					self._insert(insert)
				except pymysql.err.IntegrityError as e:
					if e.args[0] == DUPLICATE_KEY:
						raise KeyExists(f"{insert.source}/{insert.idempotency_key} is stored") from None
					raise
				record = insert
			else:
				record = self._one("SELECT * FROM integration_event WHERE name = %s FOR UPDATE", (name,))
			if record is None:
				raise ClaimLost(f"{name} no longer exists")
			tx = MariaDBWork(conn, record)
			yield tx
			if dry_run:
				conn.rollback()
				return
			conn.commit()
		except pymysql.err.OperationalError as e:
			_rollback(conn)
			if e.args and e.args[0] in TRANSIENT:
				raise TransientStoreError(str(e)) from e
			raise
		except BaseException:
			_rollback(conn)
			raise
		for fn in tx._after_commit:
			fn()

	def fail(self, name: str, token: str, *, error: str, now: datetime) -> EventRecord | None:
		with self._translated(), self.conn.cursor() as cur:
			n = cur.execute(
				"UPDATE integration_event SET status = 'Failed', error = %s, claim_token = NULL, "
				"claim_expires_at = NULL, processed_at = %s WHERE name = %s AND claim_token = %s",
				(error, naive_utc(now), name, token),
			)
		return self.get(name) if n == 1 else None

	def select(self, query: EventQuery) -> list[EventRecord]:
		where, args = query_where(query, naive_utc)
		with self.conn.cursor() as cur:
			cur.execute(
				f"SELECT * FROM integration_event WHERE {where} ORDER BY received_at, name LIMIT %s",
				(*args, query.limit),
			)
			return [EventRecord.from_row(row) for row in cur.fetchall()]

	def purge(self, cutoff: datetime, now: datetime, *, batch: int) -> int:
		with self._translated(), self.conn.cursor() as cur:
			return cur.execute(
				"DELETE FROM integration_event WHERE received_at < %s "
				"AND NOT (status = 'Processing' AND claim_expires_at > %s) ORDER BY received_at LIMIT %s",
				(naive_utc(cutoff), naive_utc(now), batch),
			)

	# -- for the tests

	def replays(self, event: str) -> list[ReplayEntry]:
		with self.conn.cursor() as cur:
			cur.execute("SELECT * FROM integration_event_replay WHERE event = %s ORDER BY id", (event,))
			return [
				ReplayEntry(
					**{
						k: row[k]
						for k in ("replay_id", "event", "reason", "actor", "outcome", "status_after")
					},
					changed=bool(row["changed"]),
					changes=json.loads(row["changes"] or "[]"),
					at=as_utc(row["at"]),
				)
				for row in cur.fetchall()
			]

	def ordering_state(self, source: str, entity_key: str) -> OrderingState | None:
		with self.conn.cursor() as cur:
			cur.execute(
				"SELECT * FROM integration_event_order WHERE source = %s AND entity_key = %s",
				(source, entity_key),
			)
			return _ordering(cur.fetchone())

	def status_counts(self) -> dict[str, int]:
		with self.conn.cursor() as cur:
			cur.execute("SELECT status, COUNT(*) AS n FROM integration_event GROUP BY status")
			return {row["status"]: row["n"] for row in cur.fetchall()}

	# -- helpers

	def _insert(self, record: EventRecord) -> None:
		row = record.to_row()
		columns = [c for c in COLUMNS if row[c] is not None]  # the table's defaults hold the rest
		with self._translated(), self.conn.cursor() as cur:
			cur.execute(
				f"INSERT INTO integration_event ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
				[row[c] for c in columns],
			)

	def _one(self, sql: str, args: tuple) -> EventRecord | None:
		with self.conn.cursor() as cur:
			cur.execute(sql, args)
			row = cur.fetchone()
		return EventRecord.from_row(row) if row else None

	@contextmanager
	def _translated(self) -> Iterator[None]:
		try:
			yield
		except pymysql.err.OperationalError as e:
			if e.args and e.args[0] in TRANSIENT:
				raise TransientStoreError(str(e)) from e
			raise


class MariaDBWork:
	"""The open transaction in which one event is processed; handlers write through `connection`."""

	def __init__(self, conn: pymysql.Connection, record: EventRecord) -> None:
		self.connection = conn
		self.record = record
		self._after_commit: list[Callable[[], None]] = []

	def ordering(self, source: str, entity_key: str) -> OrderingState | None:
		with self.connection.cursor() as cur:
			# Insert-or-lock: locks the row whether it existed or not, so two first events on one entity
			# queue behind each other instead of deadlocking on a gap lock.
			cur.execute(
				"INSERT INTO integration_event_order (source, entity_key) VALUES (%s, %s) "
				"ON DUPLICATE KEY UPDATE source = source",
				(source, entity_key),
			)
			cur.execute(
				"SELECT * FROM integration_event_order WHERE source = %s AND entity_key = %s FOR UPDATE",
				(source, entity_key),
			)
			return _ordering(cur.fetchone())

	def save_ordering(self, state: OrderingState) -> None:
		with self.connection.cursor() as cur:
			cur.execute(
				"UPDATE integration_event_order SET last_sequence = %s, last_occurred_at = %s, last_event = %s "
				"WHERE source = %s AND entity_key = %s",
				(
					state.last_sequence,
					naive_utc(state.last_occurred_at),
					state.last_event,
					state.source,
					state.entity_key,
				),
			)

	def finish(self, outcome: Finish) -> EventRecord:
		sets, after = finished(self.record, naive_utc, outcome)
		with self.connection.cursor() as cur:
			cur.execute(
				f"UPDATE integration_event SET {', '.join(f'{k} = %s' for k in sets)} WHERE name = %s",
				(*sets.values(), self.record.name),
			)
		return after

	def add_replay(self, entry: ReplayEntry) -> None:
		with self.connection.cursor() as cur:
			cur.execute(
				"INSERT INTO integration_event_replay (replay_id, event, reason, actor, outcome, status_after, "
				"changed, changes, at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
				(
					entry.replay_id,
					entry.event,
					entry.reason,
					entry.actor,
					entry.outcome.value,
					entry.status_after.value,
					int(entry.changed),
					json.dumps([c.model_dump(mode="json") for c in entry.changes]),
					naive_utc(entry.at),
				),
			)

	def after_commit(self, fn: Callable[[], None]) -> None:
		self._after_commit.append(fn)


def _ordering(row: dict | None) -> OrderingState | None:
	if not row or not row["last_event"]:
		return None
	return OrderingState(
		source=row["source"],
		entity_key=row["entity_key"],
		last_sequence=row["last_sequence"],
		last_occurred_at=as_utc(row["last_occurred_at"]),
		last_event=row["last_event"],
	)


def _rollback(conn: pymysql.Connection) -> None:
	try:
		conn.rollback()
	except pymysql.err.Error:
		pass  # the connection is gone: the server rolled the transaction back already

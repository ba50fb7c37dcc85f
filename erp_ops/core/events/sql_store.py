"""The `EventStore` port in SQL, written once: the site and the tests each give it a connection.

The statements are the site's: `tabIntegration Event` (unique on source + idempotency_key: the
source of truth), `tabIntegration Event Order` (ordering state per source and entity) and
`tabIntegration Event Replay` (replay evidence), with Frappe's standard columns. Plain SQL rather
than Frappe's document API: the protocol needs exact statements (an INSERT that fails on the unique
key, a compare-and-set UPDATE, SELECT … FOR UPDATE) in transactions it commits itself.

`erp_ops/site/event_store.py` gives it `frappe.db`; `tests/support/event_store.py` a pymysql
connection on tables generated from the DocType JSON. Datetimes are naive values in the
connection's time zone in the tables (as Frappe stores them) and aware UTC in the core.
"""

import hashlib
import json
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Protocol

from erp_ops.core.clock import from_site_time, to_site_time
from erp_ops.core.events.errors import ClaimLost, KeyExists, TransientStoreError
from erp_ops.core.events.models import (
	DATETIME_FIELDS,
	Claim,
	EventQuery,
	EventRecord,
	EventStatus,
	OrderingState,
	ReplayEntry,
)
from erp_ops.core.events.store import Finish

EVENT = "tabIntegration Event"
ORDER = "tabIntegration Event Order"
REPLAY = "tabIntegration Event Replay"


class SqlConnection(Protocol):
	"""What the store needs of a database connection (MariaDB, `%s` placeholders)."""

	@property
	def time_zone(self) -> str:
		"""The zone of the naive datetimes in the tables (Frappe: the site's system time zone)."""
		...

	@property
	def connection(self) -> Any:
		"""What handlers write through: `frappe.db` in a site, a pymysql connection in the tests."""
		...

	def execute(self, sql: str, args: Sequence[Any] = ()) -> None: ...

	def execute_counted(self, sql: str, args: Sequence[Any] = ()) -> int:
		"""Run a statement and return how many rows it changed (MariaDB's ROW_COUNT())."""
		...

	def rows(self, sql: str, args: Sequence[Any] = ()) -> list[Mapping[str, Any]]: ...

	def begin(self) -> None:
		"""End the caller's transaction (committing it) and start a fresh one with a new snapshot."""
		...

	def commit(self) -> None:
		"""Commit, then run the after-commit callbacks."""
		...

	def rollback(self) -> None:
		"""Roll back and drop the after-commit callbacks."""
		...

	def after_commit(self, fn: Callable[[], None]) -> None: ...

	def is_duplicate(self, exc: BaseException) -> bool:
		"""True when `exc` is a unique or primary key violation."""
		...

	def is_transient(self, exc: BaseException) -> bool:
		"""True for a deadlock or a lock wait timeout: the transaction may be retried."""
		...

	def user(self) -> str:
		"""Who the standard columns owner/modified_by name."""
		...


def order_name(source: str, entity_key: str) -> str:
	"""The name of the entity's `Integration Event Order` row (unique per source and entity)."""
	return "EO-" + hashlib.sha256(f"{source}\0{entity_key}".encode()).hexdigest()[:32]


def to_record(row: Mapping[str, Any], time_zone: str) -> EventRecord:
	"""The record of an `Integration Event` row read with `time_zone`."""
	data = dict(row)
	for field in DATETIME_FIELDS:
		data[field] = from_site_time(data.get(field), time_zone)
	# `sequence` is a Data column: Frappe's Int is int(11), a source sequence may need 64 bits.
	data["sequence"] = _int(data.get("sequence"))
	return EventRecord.from_row(data)


def to_ordering(row: Mapping[str, Any] | None, time_zone: str) -> OrderingState | None:
	"""The state an `Integration Event Order` row holds; None before an event was applied."""
	if not row or not row["last_event"]:
		return None
	return OrderingState(
		source=row["source"],
		entity_key=row["entity_key"],
		last_sequence=_int(row["last_sequence"]),
		last_occurred_at=from_site_time(row["last_occurred_at"], time_zone),
		last_event=row["last_event"],
	)


def _int(value: Any) -> int | None:
	return int(value) if value not in (None, "") else None


def _text(value: int | None) -> str | None:
	return str(value) if value is not None else None


class SqlEventStore:
	"""`EventStore` over a `SqlConnection`. Each method that must be durable commits."""

	def __init__(self, db: SqlConnection) -> None:
		self.db = db

	# -- the port

	def insert_or_get(self, record: EventRecord) -> tuple[EventRecord, bool]:
		for _ in range(2):
			try:
				self._insert(record)
				self.db.commit()  # the key's row is the truth other deliveries must see
				return record, True
			except Exception as e:
				if not self.db.is_duplicate(e):
					raise
				self.db.rollback()  # the read below needs a new snapshot to see the committed row
			existing = self._one(
				f"select * from `{EVENT}` where source = %s and idempotency_key = %s",
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
		self.db.commit()  # a refusal's record must outlive the error response's rollback
		return record

	def get(self, name: str) -> EventRecord | None:
		return self._one(f"select * from `{EVENT}` where name = %s", (name,))

	def try_claim(self, name: str, claim: Claim, now: datetime, *, force: bool = False) -> EventRecord | None:
		statuses = [EventStatus.RECEIVED.value, EventStatus.FAILED.value]
		if force:
			statuses += [EventStatus.PROCESSED.value, EventStatus.SUPERSEDED.value]
		marks = ", ".join(["%s"] * len(statuses))
		at = self._to_db(now)
		with self._transaction():  # committed: a claim holds only once the other workers see it
			claimed = (
				self.db.execute_counted(
					f"""update `{EVENT}` set status = 'Processing', claimed_by = %s, claim_token = %s,
					claim_expires_at = %s, attempts = attempts + 1, modified = %s
					where name = %s and idempotency_key is not null
					and (status in ({marks}) or (status = 'Processing' and claim_expires_at <= %s))""",
					(claim.worker, claim.token, self._to_db(claim.expires_at), at, name, *statuses, at),
				)
				== 1
			)
		return self.get(name) if claimed else None

	@contextmanager
	def work(
		self, name: str, *, insert: EventRecord | None = None, dry_run: bool = False
	) -> Iterator["SqlWork"]:
		# Committed: the handler's effects and the event's outcome become durable together.
		with self._transaction(commit=not dry_run):
			if insert is not None:
				try:
					self._insert(insert)
				except Exception as e:
					if self.db.is_duplicate(e):
						raise KeyExists(f"{insert.source}/{insert.idempotency_key} is stored") from None
					raise
				record = insert
			else:
				record = self._one(f"select * from `{EVENT}` where name = %s for update", (name,))
			if record is None:
				raise ClaimLost(f"{name} no longer exists")
			yield SqlWork(self, record)

	def fail(self, name: str, token: str, *, error: str, now: datetime) -> EventRecord | None:
		at = self._to_db(now)
		with self._transaction():  # committed: the failure is stored before anyone is told of it
			failed = (
				self.db.execute_counted(
					f"""update `{EVENT}` set status = 'Failed', error = %s, claim_token = null,
					claim_expires_at = null, processed_at = %s, modified = %s where name = %s and claim_token = %s""",
					(error, at, at, name, token),
				)
				== 1
			)
		return self.get(name) if failed else None

	def select(self, query: EventQuery) -> list[EventRecord]:
		where, args = query_where(query, self._to_db)
		rows = self.db.rows(
			f"select * from `{EVENT}` where {where} order by received_at, name limit %s",
			(*args, query.limit),
		)
		return [to_record(row, self.db.time_zone) for row in rows]

	def purge(self, cutoff: datetime, now: datetime, *, batch: int) -> int:
		with self._translated():
			deleted = self.db.execute_counted(
				f"""delete from `{EVENT}` where received_at < %s
				and not (status = 'Processing' and claim_expires_at > %s) order by received_at limit %s""",
				(self._to_db(cutoff), self._to_db(now), batch),
			)
			# Replay evidence goes with its event.
			self.db.execute(
				f"delete r from `{REPLAY}` r left join `{EVENT}` e on e.name = r.event where e.name is null"
			)
		self.db.commit()  # each batch alone: its locks go before the next, a stop keeps what was done
		return deleted

	# -- helpers

	def _to_db(self, value: datetime | None) -> datetime | None:
		return to_site_time(value, self.db.time_zone)

	def _standard(self, at: datetime | None) -> dict[str, Any]:
		"""Frappe's standard columns of a new row created `at` (a value as stored)."""
		user = self.db.user()
		return {"owner": user, "modified_by": user, "creation": at, "modified": at, "docstatus": 0, "idx": 0}

	def _insert(self, record: EventRecord) -> None:
		row = record.to_row()
		for field in DATETIME_FIELDS:
			row[field] = self._to_db(row[field])
		row["sequence"] = _text(row["sequence"])
		row |= self._standard(row["received_at"])
		columns = [c for c in row if row[c] is not None]  # the table's defaults hold the rest
		with self._translated():
			self.db.execute(
				f"insert into `{EVENT}` ({', '.join(f'`{c}`' for c in columns)}) "
				f"values ({', '.join(['%s'] * len(columns))})",
				[row[c] for c in columns],
			)

	def _one(self, sql: str, args: Sequence[Any]) -> EventRecord | None:
		rows = self.db.rows(sql, args)
		return to_record(rows[0], self.db.time_zone) if rows else None

	@contextmanager
	def _transaction(self, *, commit: bool = True) -> Iterator[None]:
		"""A transaction of the step's own: committed on success (rolled back when not `commit`: a dry
		run), rolled back on an exception, which leaves as `TransientStoreError` for a deadlock or a
		lock wait timeout."""
		self.db.begin()  # the caller's work is not ours to commit with it, and reads see the latest rows
		try:
			with self._translated():
				yield
			if commit:
				self.db.commit()  # durable before the step returns; then the after-commit callbacks run
			else:
				self.db.rollback()  # a dry run keeps nothing, and its after-commit callbacks never run
		except BaseException:
			self.db.rollback()
			raise

	@contextmanager
	def _translated(self) -> Iterator[None]:
		"""Deadlocks and lock wait timeouts become the core's retryable error."""
		try:
			yield
		except Exception as e:
			if self.db.is_transient(e):
				raise TransientStoreError(str(e)) from e
			raise


class SqlWork:
	"""The open transaction processing one event (`WorkTransaction`); its event row is locked."""

	def __init__(self, store: SqlEventStore, record: EventRecord) -> None:
		self._store = store
		self._db = store.db
		self._to_db = store._to_db
		self.record = record
		self.connection = store.db.connection

	def ordering(self, source: str, entity_key: str) -> OrderingState | None:
		name = order_name(source, entity_key)
		standard = self._store._standard(self._to_db(datetime.now(timezone.utc)))
		# Insert-or-lock: locks the row whether it existed or not, so two first events on one entity
		# queue behind each other instead of deadlocking on a gap lock.
		self._db.execute(
			f"""insert into `{ORDER}` (name, source, entity_key, {", ".join(standard)})
			values (%s, %s, %s, {", ".join(["%s"] * len(standard))}) on duplicate key update source = source""",
			(name, source, entity_key, *standard.values()),
		)
		rows = self._db.rows(f"select * from `{ORDER}` where name = %s for update", (name,))
		return to_ordering(rows[0] if rows else None, self._db.time_zone)

	def save_ordering(self, state: OrderingState) -> None:
		self._db.execute(
			f"""update `{ORDER}` set last_sequence = %s, last_occurred_at = %s, last_event = %s, modified = %s
			where name = %s""",
			(
				_text(state.last_sequence),
				self._to_db(state.last_occurred_at),
				state.last_event,
				self._to_db(datetime.now(timezone.utc)),
				order_name(state.source, state.entity_key),
			),
		)

	def finish(self, outcome: Finish) -> EventRecord:
		sets, after = finished(self.record, self._to_db, outcome)
		sets["modified"] = self._to_db(outcome.now)
		self._db.execute(
			f"update `{EVENT}` set {', '.join(f'`{k}` = %s' for k in sets)} where name = %s",
			(*sets.values(), self.record.name),
		)
		return after

	def add_replay(self, entry: ReplayEntry) -> None:
		at = self._to_db(entry.at)
		row = {
			"name": secrets.token_hex(8),
			"replay_id": entry.replay_id,
			"event": entry.event,
			"reason": entry.reason,
			"actor": entry.actor,
			"outcome": entry.outcome.value,
			"status_after": entry.status_after.value,
			"changed": int(entry.changed),
			"changes": json.dumps([c.model_dump(mode="json") for c in entry.changes]),
			"at": at,
			**self._store._standard(at),
		}
		self._db.execute(
			f"insert into `{REPLAY}` ({', '.join(f'`{c}`' for c in row)}) "
			f"values ({', '.join(['%s'] * len(row))})",
			list(row.values()),
		)

	def after_commit(self, fn: Callable[[], None]) -> None:
		self._db.after_commit(fn)


def query_where(query: EventQuery, to_db: Callable[[datetime], Any]) -> tuple[str, list[Any]]:
	"""The WHERE condition (MariaDB, `%s` placeholders) and its arguments selecting `query`'s events.

	Replay and the recovery sweep pick their events with it; `to_db` turns an aware datetime into
	what the table stores (naive, in the connection's time zone).
	"""
	where, args = ["1 = 1"], []
	for column, value in (("source", query.source), ("event_type", query.event_type)):
		if value is not None:
			where.append(f"{column} = %s")
			args.append(value)
	if query.received_from is not None:
		where.append("received_at >= %s")
		args.append(to_db(query.received_from))
	if query.received_to is not None:
		where.append("received_at < %s")
		args.append(to_db(query.received_to))
	for column, values in (("status", [s.value for s in query.statuses]), ("name", query.names)):
		if values:
			where.append(f"{column} in ({', '.join(['%s'] * len(values))})")
			args.extend(values)
	return " and ".join(where), args


def finished(
	record: EventRecord, to_db: Callable[[datetime], Any], outcome: Finish
) -> tuple[dict[str, Any], EventRecord]:
	"""What `WorkTransaction.finish` writes: the columns to set (values as stored, JSON as text) and
	the record as it reads afterwards."""
	sets: dict[str, Any] = {
		"status": outcome.status.value,
		"processed_at": to_db(outcome.now),
		"handler": outcome.handler,
		"result": json.dumps(outcome.result, default=str, sort_keys=True)
		if outcome.result is not None
		else None,
		"reason": outcome.reason,
		"error": None,
		"claim_token": None,
		"claim_expires_at": None,
	}
	update: dict[str, Any] = {
		"status": outcome.status,
		"processed_at": outcome.now,
		"handler": outcome.handler,
		"result": outcome.result,
		"reason": outcome.reason,
		"error": None,
		"claim_token": None,
		"claim_expires_at": None,
	}
	for field, value in (("touched", outcome.touched), ("changes", outcome.changes)):
		if value is not None:
			sets[field] = json.dumps([v.model_dump(mode="json") for v in value]) if value else None
			update[field] = value
	return sets, record.model_copy(update=update)

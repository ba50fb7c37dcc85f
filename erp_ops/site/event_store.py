"""The core's `EventStore` port on the site's database, through `frappe.db`.

Rows live in `tabIntegration Event` (unique on source + idempotency_key: the source of truth),
`tabIntegration Event Order` (ordering state per source and entity) and `tabIntegration Event
Replay` (replay evidence). Plain SQL rather than the document API: the protocol needs exact
statements (INSERT that fails on the unique key, compare-and-set UPDATE, SELECT … FOR UPDATE) in
transactions it commits itself. Datetimes are naive system-time values in the tables, as Frappe
stores them, and aware UTC in the core.
"""

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

import frappe
from frappe.utils import get_system_timezone

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
from erp_ops.core.events.store import Finish, finished, query_where

EVENT = "tabIntegration Event"
ORDER = "tabIntegration Event Order"
REPLAY = "tabIntegration Event Replay"
COLUMNS = tuple(EventRecord.model_fields)


def to_db(value: datetime | None) -> datetime | None:
	return to_site_time(value, get_system_timezone())


def from_db(value: datetime | None) -> datetime | None:
	return from_site_time(value, get_system_timezone())


def to_record(row: dict) -> EventRecord:
	data = dict(row)
	for field in DATETIME_FIELDS:
		data[field] = from_db(data.get(field))
	# `sequence` is a Data column: Frappe's Int is int(11), a source sequence may need 64 bits.
	data["sequence"] = int(data["sequence"]) if data.get("sequence") not in (None, "") else None
	return EventRecord.from_row(data)


def _user() -> str:
	return frappe.session.user if getattr(frappe.local, "session", None) else "Administrator"


@contextmanager
def translated() -> Iterator[None]:
	"""Deadlocks and lock wait timeouts become the core's retryable error."""
	try:
		yield
	except (frappe.QueryDeadlockError, frappe.QueryTimeoutError) as e:
		raise TransientStoreError(str(e)) from e


def _affected() -> int:
	"""Rows the previous statement changed (MariaDB's ROW_COUNT(), read right after it)."""
	return frappe.db.sql("select row_count()")[0][0]


def order_name(source: str, entity_key: str) -> str:
	return "EO-" + hashlib.sha256(f"{source}\0{entity_key}".encode()).hexdigest()[:32]


class FrappeEventStore:
	"""`EventStore` on `frappe.db`. Each method that must be durable commits the site's transaction."""

	# -- the port

	def insert_or_get(self, record: EventRecord) -> tuple[EventRecord, bool]:
		for _ in range(2):
			try:
				self._insert(record)
				frappe.db.commit()  # the protocol's commit point (core/events/store.py says which and why)
				return record, True
			except Exception as e:
				if not frappe.db.is_duplicate_entry(e):
					raise
				frappe.db.rollback()
			# The insert failed on a committed row: this read, in a new transaction, sees it.
			existing = self._one(
				f"select * from `{EVENT}` where source = %s and idempotency_key = %s",
				(record.source, record.idempotency_key),
			)
			if existing is not None:
				return existing, False
		raise TransientStoreError(
			f"{record.name} is taken but no row has {record.source}/{record.idempotency_key}"
		)

	def add(self, record: EventRecord) -> EventRecord:
		self._insert(record)
		frappe.db.commit()  # a refusal's record must outlive the error response's rollback
		return record

	def get(self, name: str) -> EventRecord | None:
		return self._one(f"select * from `{EVENT}` where name = %s", (name,))

	def try_claim(self, name: str, claim: Claim, now: datetime, *, force: bool = False) -> EventRecord | None:
		statuses = [EventStatus.RECEIVED.value, EventStatus.FAILED.value]
		if force:
			statuses += [EventStatus.PROCESSED.value, EventStatus.SUPERSEDED.value]
		marks = ", ".join(["%s"] * len(statuses))
		frappe.db.commit()  # a fresh snapshot, and nothing of the caller's in our commit
		with translated():
			frappe.db.sql(
				f"""update `{EVENT}` set status = 'Processing', claimed_by = %s, claim_token = %s,
				claim_expires_at = %s, attempts = attempts + 1, modified = %s
				where name = %s and idempotency_key is not null
				and (status in ({marks}) or (status = 'Processing' and claim_expires_at <= %s))""",
				(claim.worker, claim.token, to_db(claim.expires_at), to_db(now), name, *statuses, to_db(now)),
			)
			claimed = _affected() == 1
		frappe.db.commit()  # the protocol's commit point (core/events/store.py says which and why)
		return self.get(name) if claimed else None

	@contextmanager
	def work(
		self, name: str, *, insert: EventRecord | None = None, dry_run: bool = False
	) -> Iterator["FrappeWork"]:
		frappe.db.commit()  # the event's transaction holds only the event's work
		try:
			with translated():
				if insert is not None:
					try:
						self._insert(insert)
					except Exception as e:
						if frappe.db.is_duplicate_entry(e):
							raise KeyExists(f"{insert.source}/{insert.idempotency_key} is stored") from None
						raise
					record = insert
				else:
					record = self._one(f"select * from `{EVENT}` where name = %s for update", (name,))
				if record is None:
					raise ClaimLost(f"{name} no longer exists")
				tx = FrappeWork(record)
				yield tx
			if dry_run:
				frappe.db.rollback()  # also drops the after-commit callbacks the handler registered
				return
			frappe.db.commit()  # runs the after-commit callbacks
		except BaseException:
			frappe.db.rollback()
			raise

	def fail(self, name: str, token: str, *, error: str, now: datetime) -> EventRecord | None:
		frappe.db.commit()  # the protocol's commit point (core/events/store.py says which and why)
		with translated():
			frappe.db.sql(
				f"""update `{EVENT}` set status = 'Failed', error = %s, claim_token = null,
				claim_expires_at = null, processed_at = %s, modified = %s where name = %s and claim_token = %s""",
				(error, to_db(now), to_db(now), name, token),
			)
			failed = _affected() == 1
		frappe.db.commit()  # the protocol's commit point (core/events/store.py says which and why)
		return self.get(name) if failed else None

	def select(self, query: EventQuery) -> list[EventRecord]:
		where, args = query_where(query, to_db)
		rows = frappe.db.sql(
			f"select * from `{EVENT}` where {where} order by received_at, name limit %s",
			(*args, query.limit),
			as_dict=True,
		)
		return [to_record(row) for row in rows]

	def purge(self, cutoff: datetime, now: datetime, *, batch: int) -> int:
		with translated():
			frappe.db.sql(
				f"""delete from `{EVENT}` where received_at < %s
				and not (status = 'Processing' and claim_expires_at > %s) order by received_at limit %s""",
				(to_db(cutoff), to_db(now), batch),
			)
			deleted = _affected()
			# Replay evidence goes with its event.
			frappe.db.sql(
				f"""delete r from `{REPLAY}` r left join `{EVENT}` e on e.name = r.event
				where e.name is null"""
			)
		frappe.db.commit()  # the protocol's commit point (core/events/store.py says which and why)
		return deleted

	# -- helpers

	def _insert(self, record: EventRecord) -> None:
		row = record.to_row()
		for field in DATETIME_FIELDS:
			row[field] = to_db(row[field])
		row["sequence"] = str(row["sequence"]) if row["sequence"] is not None else None
		at, user = to_db(record.received_at), _user()
		row |= {"owner": user, "modified_by": user, "creation": at, "modified": at, "docstatus": 0, "idx": 0}
		columns = [c for c in row if row[c] is not None]  # the table's defaults hold the rest
		frappe.db.sql(
			f"insert into `{EVENT}` ({', '.join(f'`{c}`' for c in columns)}) "
			f"values ({', '.join(['%s'] * len(columns))})",
			[row[c] for c in columns],
		)

	def _one(self, sql: str, args: tuple) -> EventRecord | None:
		rows = frappe.db.sql(sql, args, as_dict=True)
		return to_record(rows[0]) if rows else None


class FrappeWork:
	"""The open transaction processing one event; handlers write through `frappe.db` (`connection`)."""

	def __init__(self, record: EventRecord) -> None:
		self.record = record
		self.connection = frappe.db

	def ordering(self, source: str, entity_key: str) -> OrderingState | None:
		now, user = to_db(datetime.now(timezone.utc)), _user()
		# Insert-or-lock: locks the row whether it existed or not, so two first events on one entity
		# queue behind each other instead of deadlocking on a gap lock.
		frappe.db.sql(
			f"""insert into `{ORDER}` (name, source, entity_key, owner, modified_by, creation, modified,
			docstatus, idx) values (%s, %s, %s, %s, %s, %s, %s, 0, 0) on duplicate key update source = source""",
			(order_name(source, entity_key), source, entity_key, user, user, now, now),
		)
		rows = frappe.db.sql(
			f"select * from `{ORDER}` where name = %s for update",
			(order_name(source, entity_key),),
			as_dict=True,
		)
		row = rows[0] if rows else None
		if not row or not row.last_event:
			return None
		return OrderingState(
			source=row.source,
			entity_key=row.entity_key,
			last_sequence=int(row.last_sequence) if row.last_sequence not in (None, "") else None,
			last_occurred_at=from_db(row.last_occurred_at),
			last_event=row.last_event,
		)

	def save_ordering(self, state: OrderingState) -> None:
		frappe.db.sql(
			f"""update `{ORDER}` set last_sequence = %s, last_occurred_at = %s, last_event = %s, modified = %s
			where name = %s""",
			(
				str(state.last_sequence) if state.last_sequence is not None else None,
				to_db(state.last_occurred_at),
				state.last_event,
				to_db(datetime.now(timezone.utc)),
				order_name(state.source, state.entity_key),
			),
		)

	def finish(self, outcome: Finish) -> EventRecord:
		sets, after = finished(self.record, to_db, outcome)
		sets["modified"] = to_db(outcome.now)
		frappe.db.sql(
			f"update `{EVENT}` set {', '.join(f'`{k}` = %s' for k in sets)} where name = %s",
			(*sets.values(), self.record.name),
		)
		return after

	def add_replay(self, entry: ReplayEntry) -> None:
		at, user = to_db(entry.at), _user()
		frappe.db.sql(
			f"""insert into `{REPLAY}` (name, replay_id, event, reason, actor, outcome, status_after, changed,
			changes, `at`, owner, modified_by, creation, modified, docstatus, idx)
			values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, 0)""",
			(
				frappe.generate_hash(length=16),
				entry.replay_id,
				entry.event,
				entry.reason,
				entry.actor,
				entry.outcome.value,
				entry.status_after.value,
				int(entry.changed),
				json.dumps([c.model_dump(mode="json") for c in entry.changes]),
				at,
				user,
				user,
				at,
				at,
			),
		)

	def after_commit(self, fn: Callable[[], None]) -> None:
		frappe.db.after_commit.add(fn)

"""The storage port of the event protocol. The database is the source of truth.

Adapters: `tests/support/event_store.py` (pymysql over the tables in its DDL) and, in a site, the
Frappe layer over the `Integration Event` DocType with `frappe.db`. Each method says what it must
guarantee; the protocol in `ingest.py` relies on nothing else.
"""

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from erp_ops.core.events.models import (
	Claim,
	DocRef,
	EventQuery,
	EventRecord,
	EventStatus,
	FieldChange,
	OrderingState,
	ReplayEntry,
)


@dataclass(frozen=True)
class Finish:
	"""How processing an event ended: what `WorkTransaction.finish` stores.

	`touched`/`changes` left None keep what the row holds (a replay keeps the first processing's).
	"""

	status: EventStatus
	now: datetime
	handler: str | None
	result: dict[str, Any] | None = None
	touched: list[DocRef] | None = None
	changes: list[FieldChange] | None = None
	reason: str | None = None


class WorkTransaction(Protocol):
	"""The open transaction that processes one event; its row is locked (SELECT … FOR UPDATE)."""

	record: EventRecord
	connection: Any  # what handlers write through: a pymysql connection here, `frappe.db` in a site

	def ordering(self, source: str, entity_key: str) -> OrderingState | None:
		"""The entity's ordering state, locked until the transaction ends so events on one entity serialize."""
		...

	def save_ordering(self, state: OrderingState) -> None: ...

	def finish(self, outcome: "Finish") -> EventRecord:
		"""Store `outcome` and clear the claim, inside this transaction (see `finished`).

		Returns the row as it will be once committed.
		"""
		...

	def add_replay(self, entry: ReplayEntry) -> None:
		"""Store the evidence of a replay, inside this transaction."""
		...

	def after_commit(self, fn: Callable[[], None]) -> None:
		"""Run `fn` once the transaction has committed (never after a rollback or a dry run)."""
		...


class EventStore(Protocol):
	def insert_or_get(self, record: EventRecord) -> tuple[EventRecord, bool]:
		"""Insert and commit; when (source, idempotency_key) exists, return the stored row and False.

		The database's unique constraint decides, so concurrent inserts of one key agree on one row.
		"""
		...

	def add(self, record: EventRecord) -> EventRecord:
		"""Insert and commit a record of a refused request (it holds no key)."""
		...

	def get(self, name: str) -> EventRecord | None: ...

	def try_claim(self, name: str, claim: Claim, now: datetime, *, force: bool = False) -> EventRecord | None:
		"""Compare-and-set, committed: status Processing with `claim`, attempts + 1.

		Only from Received, Failed, or Processing whose claim expired before `now`; with `force`
		(replay) also from Processed and Superseded. Returns the claimed row, or None. It waits for
		a work transaction holding the row and then sees its outcome, so it never claims an event
		that just finished.
		"""
		...

	def work(
		self, name: str, *, insert: EventRecord | None = None, dry_run: bool = False
	) -> AbstractContextManager[WorkTransaction]:
		"""Begin, lock the event row (with `insert`: insert that row instead) and yield the transaction.

		An `insert` whose (source, key) exists raises KeyExists once the other row is committed (the
		unique index makes a concurrent insert wait for it).

		On normal exit commit (roll back when `dry_run`) and then run the after-commit callbacks; on
		an exception roll back and re-raise, as `TransientStoreError` for a deadlock or lock timeout.
		"""
		...

	def fail(self, name: str, token: str, *, error: str, now: datetime) -> EventRecord | None:
		"""Status Failed with `error`, claim cleared, committed: only while `token` holds the claim."""
		...

	def select(self, query: EventQuery) -> list[EventRecord]:
		"""Events matching every criterion given, oldest received first, at most `query.limit`."""
		...

	def purge(self, cutoff: datetime, now: datetime, *, batch: int) -> int:
		"""Delete up to `batch` events received before `cutoff`, except those with a live claim."""
		...


def query_where(query: EventQuery, to_db: Callable[[datetime], Any]) -> tuple[str, list[Any]]:
	"""The WHERE condition (MariaDB, `%s` placeholders) and its arguments selecting `query`'s events.

	Both adapters share it so that replay and the recovery sweep pick the same events everywhere;
	`to_db` turns an aware datetime into what the adapter stores (naive UTC, or the site's time).
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

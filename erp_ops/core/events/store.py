"""The storage port of the event protocol. The database is the source of truth.

One implementation, in SQL: `sql_store.SqlEventStore`, over `frappe.db` in a site
(`erp_ops/site/event_store.py`) and over pymysql in the tests (`tests/support/event_store.py`).
Each method says what it must guarantee; the protocol in `ingest.py` relies on nothing else.
"""

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
		"""Store `outcome` and clear the claim, inside this transaction (`sql_store.finished`).

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

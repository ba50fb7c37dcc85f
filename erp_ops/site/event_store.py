"""The core's `EventStore` port on the site's database: `core/events/sql_store.py` over `frappe.db`.

The statements live in the core; this gives them the site's connection. Frappe keeps a transaction
open at all times: `begin` commits it (Frappe's commit starts the next one), and Frappe itself runs
`frappe.db.after_commit` callbacks on commit and drops them on rollback.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import frappe
from frappe.utils import get_system_timezone

from erp_ops.core.events.sql_store import SqlEventStore


class FrappeConnection:
	"""`SqlConnection` over `frappe.db`, in the site's own transaction."""

	@property
	def time_zone(self) -> str:
		return get_system_timezone()

	@property
	def connection(self) -> Any:
		return frappe.db

	def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
		frappe.db.sql(sql, tuple(args))

	def execute_counted(self, sql: str, args: Sequence[Any] = ()) -> int:
		frappe.db.sql(sql, tuple(args))
		return frappe.db.sql("select row_count()")[0][0]  # read right after the statement

	def rows(self, sql: str, args: Sequence[Any] = ()) -> list[Mapping[str, Any]]:
		return frappe.db.sql(sql, tuple(args), as_dict=True)

	# The store's commit points, each with its reason, are in core/events/sql_store.py.
	def begin(self) -> None:
		frappe.db.commit()  # the store's begin: Frappe then starts the next transaction itself

	def commit(self) -> None:
		frappe.db.commit()  # the store's commit; Frappe runs frappe.db.after_commit after it

	def rollback(self) -> None:
		frappe.db.rollback()  # also drops frappe.db.after_commit

	def after_commit(self, fn: Callable[[], None]) -> None:
		frappe.db.after_commit.add(fn)

	def is_duplicate(self, exc: BaseException) -> bool:
		# MariaDB's 1062 as frappe.db.sql raised it (pymysql's IntegrityError, not wrapped).
		return bool(exc.args) and bool(frappe.db.is_duplicate_entry(exc))

	def is_transient(self, exc: BaseException) -> bool:
		# frappe.db.sql raises these for MariaDB's deadlock (1213) and lock wait timeout (1205).
		return isinstance(exc, frappe.QueryDeadlockError | frappe.QueryTimeoutError)

	def user(self) -> str:
		return frappe.session.user if getattr(frappe.local, "session", None) else "Administrator"


class FrappeEventStore(SqlEventStore):
	"""The site's event store: each durable step commits the site's transaction."""

	def __init__(self) -> None:
		super().__init__(FrappeConnection())

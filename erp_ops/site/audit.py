"""The Ops Action Log on the site: the hash chain's store over frappe.db, appending an entry,
verifying the chain, and telling managers when it is broken. Every capability logs through here."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

import frappe
from frappe import _
from frappe.utils import get_system_timezone

from erp_ops.core.control import chain
from erp_ops.core.control.models import Action, ActionLogEntry, ActionOutcome, ChainVerdict
from erp_ops.site.evidence import to_site_time

# The chain's tail lives in one row of tabSingles (doctype, field) = HEAD; every writer locks it
# with SELECT … FOR UPDATE first, so concurrent writers link one after another (chain.ChainStore).
HEAD = ("Ops Action Log", "chain_head")
VERIFY_PAGE = 5000
# Columns shown in Desk next to the hashed entry JSON: verification also checks they agree with it.
MIRRORED = ("user", "action", "reason", "outcome", "request_id", "approved_by", "state_before", "state_after")


class FrappeChainStore:
	"""`chain.ChainStore` on the site's database: rows in tabOps Action Log, the tail in tabSingles.

	The head's row lock is held until the caller's transaction commits, so commit soon after.
	"""

	@contextmanager
	def locked_tail(self) -> Iterator[str]:
		yield _lock_head()

	def insert(self, row: dict) -> None:
		entry = ActionLogEntry.model_validate(row)
		# A locking read: a plain one would see this transaction's REPEATABLE READ snapshot, which
		# may predate the last writer's commit when the request read the table before the lock.
		seq = (frappe.db.sql("select max(seq) from `tabOps Action Log` for update")[0][0] or 0) + 1
		at = to_site_time(entry.at, get_system_timezone())
		doc = frappe.new_doc("Ops Action Log")
		doc.update(
			{
				"name": entry.name,
				"seq": seq,
				"acted_at": at,
				"user": entry.user,
				"action": entry.action.value,
				"targets": "\n".join(entry.targets),
				"reason": entry.reason,
				"dry_run": int(entry.dry_run),
				"state_before": entry.state_before,
				"state_after": entry.state_after,
				"outcome": entry.outcome.value,
				"error": entry.error,
				"request_id": entry.request_id,
				"approved_by": entry.approved_by,
				"entry_json": json.dumps(_hashed(row), sort_keys=True),
				"previous_hash": row[chain.PREVIOUS_FIELD],
				"row_hash": row[chain.HASH_FIELD],
				"owner": entry.user,
				"modified_by": entry.user,
				"creation": at,
				"modified": at,
			}
		)
		doc.db_insert()
		frappe.db.sql(
			"update tabSingles set value = %s where doctype = %s and field = %s",
			(row[chain.HASH_FIELD], *HEAD),
		)


def new_entry(
	action: Action | str,
	targets: list[str],
	reason: str | None,
	outcome: ActionOutcome,
	*,
	user: str | None = None,
	dry_run: bool = False,
	state_before: str | None = None,
	state_after: str | None = None,
	error: str | None = None,
	request_id: str | None = None,
	approved_by: str | None = None,
) -> ActionLogEntry:
	return ActionLogEntry(
		name=frappe.generate_hash(length=12),
		at=datetime.now(timezone.utc),
		user=user or frappe.session.user,
		action=Action(action),
		targets=[str(t) for t in targets],
		reason=(reason or "").strip(),
		dry_run=dry_run,
		state_before=state_before,
		state_after=state_after,
		outcome=outcome,
		error=(error or None) and error[:2000],
		request_id=request_id or None,
		approved_by=approved_by,
	)


def append_entry(entry: ActionLogEntry) -> str:
	"""Link `entry` to the chain and insert it in the current transaction; returns its name."""
	return chain.append(FrappeChainStore(), entry)["name"]


def verify_log() -> ChainVerdict:
	"""Walk the whole log in sequence order; the first row that does not fit breaks the chain.

	Besides each row's hash and link, checks that the Desk columns say what the hashed entry
	says (an SQL edit of `reason` alone would otherwise go unseen) and that the head names the
	last row (a deleted tail row).
	"""
	# The head is read first: rows committed during the walk come after it, and the walk must
	# pass the row it names, or rows were removed from the end.
	head = _head()
	head_seen = False
	previous, checked, last_seq = chain.GENESIS, 0, 0
	while True:
		rows = frappe.db.sql(
			f"""select name, seq, entry_json, previous_hash, row_hash, {", ".join(f"`{c}`" for c in MIRRORED)}
			from `tabOps Action Log` where seq > %s order by seq limit %s""",
			(last_seq, VERIFY_PAGE),
			as_dict=True,
		)
		if not rows:
			break
		linked = []
		for index, row in enumerate(rows):
			try:
				body = json.loads(row.entry_json or "")
			except ValueError:
				body = {"name": row.name, "unreadable": row.entry_json}
			mismatch = _column_mismatch(row, body)
			if mismatch:
				return _broken(
					checked + index, row.name, f"its {mismatch} column differs from its hashed entry"
				)
			linked.append({**body, chain.PREVIOUS_FIELD: row.previous_hash, chain.HASH_FIELD: row.row_hash})
		verdict = chain.verify_chain(linked, previous)
		if not verdict.ok:
			return _broken(checked + verdict.first_broken, verdict.first_broken_name, verdict.reason)
		checked += len(rows)
		head_seen = head_seen or any(row.row_hash == head for row in rows)
		previous, last_seq = rows[-1].row_hash, rows[-1].seq
	if head and not head_seen:
		return _broken(checked, None, "the chain's head names no row (rows were removed from its end)")
	return ChainVerdict(ok=True, checked=checked)


def report_broken_chain(verdict: ChainVerdict) -> None:
	"""Leave an Error Log and tell the Ops Managers: someone changed the log outside erp_ops."""
	message = _("Ops Action Log chain broken at row {0} ({1}): {2}").format(
		verdict.first_broken, verdict.first_broken_name or "-", verdict.reason
	)
	frappe.log_error(title=_("Ops Action Log tampered with"), message=message)
	from erp_ops.site.notifications import notify_managers

	notify_managers(_("Ops Action Log chain is broken"), message, "Ops Action Log", verdict.first_broken_name)


def ensure_chain_head() -> None:
	"""Create the head row once (install and migrate); an existing head is left as it is."""
	if _head() is None:
		tail = frappe.db.sql("select row_hash from `tabOps Action Log` order by seq desc limit 1")
		frappe.db.sql(
			"insert into tabSingles (doctype, field, value) values (%s, %s, %s)",
			(*HEAD, tail[0][0] if tail else chain.GENESIS),
		)


def _head() -> str | None:
	found = frappe.db.sql("select value from tabSingles where doctype = %s and field = %s", HEAD)
	return found[0][0] if found else None


def _lock_head() -> str:
	found = frappe.db.sql("select value from tabSingles where doctype = %s and field = %s for update", HEAD)
	if not found:
		ensure_chain_head()
		found = frappe.db.sql(
			"select value from tabSingles where doctype = %s and field = %s for update", HEAD
		)
	return found[0][0] or chain.GENESIS


def _hashed(row: dict) -> dict:
	return {k: v for k, v in row.items() if k not in (chain.PREVIOUS_FIELD, chain.HASH_FIELD)}


def _column_mismatch(row: dict, body: dict) -> str | None:
	for column in MIRRORED:
		if (row.get(column) or None) != (body.get(column) or None):
			return column
	return None


def _broken(index: int, name: str | None, reason: str | None) -> ChainVerdict:
	return ChainVerdict(ok=False, checked=index, first_broken=index, first_broken_name=name, reason=reason)

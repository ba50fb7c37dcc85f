"""The action log's hash chain: each row carries the hash of the one before it.

hash(row) = sha256(previous hash + "\\n" + canonical JSON of the row without its own hash
fields). Editing, deleting or reordering a row breaks every hash from there on, and
`verify_chain` names the first row that does not fit.
"""

import hashlib
import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from erp_ops.core.control.models import ActionLogEntry, ChainVerdict

GENESIS = ""
HASH_FIELD = "row_hash"
PREVIOUS_FIELD = "previous_hash"


def canonical_row(row: Mapping[str, Any]) -> str:
	"""Stable JSON: sorted keys, no spaces, datetimes in ISO form, the hash fields left out."""
	body = {k: v for k, v in row.items() if k not in (HASH_FIELD, PREVIOUS_FIELD)}
	return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)


def row_hash(row: Mapping[str, Any], previous_hash: str) -> str:
	return hashlib.sha256(f"{previous_hash}\n{canonical_row(row)}".encode()).hexdigest()


def chain(rows: Sequence[Mapping[str, Any]], previous_hash: str = GENESIS) -> list[dict]:
	"""The rows with their `previous_hash` and `row_hash` filled in, in order."""
	out = []
	for row in rows:
		h = row_hash(row, previous_hash)
		out.append({**row, PREVIOUS_FIELD: previous_hash, HASH_FIELD: h})
		previous_hash = h
	return out


def verify_chain(
	rows: Sequence[Mapping[str, Any]], previous_hash: str = GENESIS, name_field: str = "name"
) -> ChainVerdict:
	"""Check rows in log order; the first whose link or hash does not fit breaks the chain."""
	for index, row in enumerate(rows):
		reason = None
		if row.get(PREVIOUS_FIELD) != previous_hash:
			reason = "its previous hash is not the hash of the row before it (a row was removed or reordered)"
		elif row.get(HASH_FIELD) != row_hash(row, previous_hash):
			reason = "its content does not match its hash (the row was edited)"
		if reason:
			name = row.get(name_field)
			return ChainVerdict(
				ok=False,
				checked=index,
				first_broken=index,
				first_broken_name=str(name) if name is not None else None,
				reason=reason,
			)
		previous_hash = row[HASH_FIELD]
	return ChainVerdict(ok=True, checked=len(rows))


class ChainStore(Protocol):
	"""Where the log lives (the Frappe layer: the `Ops Action Log` table).

	`locked_tail` must hold the chain's tail exclusively until the block ends (a row lock on a
	one-row head table, `SELECT … FOR UPDATE`), or two writers would both link to the same row and
	fork the chain; `insert` runs inside that block, in the same transaction.
	"""

	def locked_tail(self) -> AbstractContextManager[str]: ...

	def insert(self, row: dict) -> None: ...


def append(store: ChainStore, entry: ActionLogEntry) -> dict:
	"""Link `entry` to the tail and store it; returns the row as stored."""
	row = entry.model_dump(mode="json")
	with store.locked_tail() as previous_hash:
		linked = {**row, PREVIOUS_FIELD: previous_hash, HASH_FIELD: row_hash(row, previous_hash)}
		store.insert(linked)
	return linked


def _plain(value: Any) -> Any:
	if isinstance(value, (datetime, date)):
		return value.isoformat()
	if isinstance(value, Decimal):
		return str(value)
	return str(value)

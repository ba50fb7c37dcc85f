"""The action log's hash chain: each row carries the hash of the one before it.

hash(row) = sha256(previous hash + "\\n" + canonical JSON of the row without its own hash
fields). Editing, deleting or reordering a row breaks every hash from there on, and
`verify_chain` names the first row that does not fit.

What the chain alone cannot show is its end: a dropped last row, or every row rewritten with its
hash recomputed, leaves a chain that verifies. So each new head is also written outside the log
(an anchor: an append-only file, every backup manifest, optionally a webhook) and the
verification compares the log against the newest anchor (`check_anchor`).
"""

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from pydantic import ValidationError

from erp_ops.core.control.models import ActionLogEntry, AnchorKind, ChainAnchor, ChainVerdict

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


# Anchors ---------------------------------------------------------------------------------------

# What is read of an anchor file: its end (heads are appended in commit order, give or take the
# few writers committing at the same moment), not a file that grows by one line per action.
ANCHOR_TAIL_BYTES = 64 * 1024


def append_anchor(path: str, anchor: ChainAnchor) -> None:
	"""Append one JSON line to the anchor file (O_APPEND: concurrent writers never interleave a line)."""
	line = anchor.model_dump_json().encode() + b"\n"
	os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
	fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
	try:
		os.write(fd, line)
	finally:
		os.close(fd)


def read_anchors(path: str, tail_bytes: int = ANCHOR_TAIL_BYTES) -> list[ChainAnchor]:
	"""The anchors at the end of the file, oldest first; a missing file has none.

	A line that is not an anchor (cut short by a crash, or edited) is skipped: the newest anchor
	decides, and a forger who can rewrite this file defeats it anyway.
	"""
	try:
		with open(path, "rb") as f:
			f.seek(0, os.SEEK_END)
			size = f.tell()
			f.seek(max(0, size - tail_bytes))
			data = f.read()
	except FileNotFoundError:
		return []
	lines = data.split(b"\n")
	if size > tail_bytes:
		lines = lines[1:]  # the first line read is cut
	anchors = []
	for line in lines:
		if not line.strip():
			continue
		try:
			anchors.append(ChainAnchor.model_validate_json(line))
		except (ValidationError, ValueError):
			continue
	return anchors


def newest_anchor(anchors: Iterable[ChainAnchor]) -> ChainAnchor | None:
	"""The anchor the log must agree with now.

	The latest genesis or restore (by time) starts what counts; after it, the head with the
	highest position (writers committing together may append their heads out of order).
	"""
	anchors = list(anchors)
	starts = [a for a in anchors if a.kind is not AnchorKind.HEAD]
	start = max(starts, key=lambda a: a.at) if starts else None
	if start is not None:
		anchors = [start] + [a for a in anchors if a.kind is AnchorKind.HEAD and a.at >= start.at]
	return max(anchors, key=lambda a: (a.seq, a.at), default=None)


def check_anchor(
	anchor: ChainAnchor, chain_id: str, last_seq: int, hash_at: Callable[[int], str | None]
) -> str | None:
	"""Why the log disagrees with `anchor`, or None when it agrees.

	`chain_id` is the log's first row hash ("" when empty), `last_seq` its last row's position and
	`hash_at(seq)` the hash of the row at a position (None if there is no such row).
	"""
	if anchor.seq == 0 and anchor.chain == GENESIS:  # anchored while the log was empty
		return None
	if anchor.chain != chain_id:
		return (
			f"the log's first row is not the first row of the anchored chain ({anchor.kind.value} of "
			f"{anchor.at.isoformat()}): the chain was replaced or recomputed from its start"
		)
	if last_seq < anchor.seq:
		return (
			f"the log ends at row {last_seq} but row {anchor.seq} was anchored at {anchor.at.isoformat()} "
			"(rows were removed from its end)"
		)
	if hash_at(anchor.seq) != anchor.head:
		return (
			f"row {anchor.seq} is not the row anchored at {anchor.at.isoformat()} "
			"(the chain was rewritten with its hashes recomputed)"
		)
	return None


def _plain(value: Any) -> Any:
	if isinstance(value, (datetime, date)):
		return value.isoformat()
	if isinstance(value, Decimal):
		return str(value)
	return str(value)

"""The chain's tail: anchors written outside the log catch a dropped last row and a chain rewritten
with its hashes recomputed, which the chain alone cannot (tested on MariaDB like the Frappe store)."""

import json
from datetime import datetime, timedelta, timezone

from erp_ops.core.control import chain
from erp_ops.core.control.models import Action, ActionLogEntry, ActionOutcome, AnchorKind, ChainAnchor

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)


def entry(i: int, reason: str = "lock released") -> ActionLogEntry:
	return ActionLogEntry(
		name=f"LOG-{i}",
		at=NOW + timedelta(seconds=i),
		user="ops@example.com",
		action=Action.REQUEUE,
		targets=[f"site1.local::job-{i}"],
		reason=reason,
		outcome=ActionOutcome.DONE,
	)


def rewrite(store, rows: list[dict]) -> None:
	"""What a forger with database access does: store rows with every hash recomputed."""
	with store.conn.cursor() as cur:
		for row in chain.chain([{k: v for k, v in r.items() if "hash" not in k} for r in rows]):
			body = {k: v for k, v in row.items() if "hash" not in k}
			cur.execute(
				"UPDATE ops_action_log SET body = %s, previous_hash = %s, row_hash = %s WHERE name = %s",
				(json.dumps(body), row["previous_hash"], row["row_hash"], row["name"]),
			)
			cur.execute("UPDATE ops_action_log_head SET row_hash = %s WHERE id = 1", (row["row_hash"],))


def test_anchors_catch_a_dropped_last_row_in_mariadb(mariadb_db, tmp_path):
	from tests.support.action_log_mariadb import MariaDBChainStore

	kwargs, _name = mariadb_db
	store = MariaDBChainStore(kwargs, anchor_path=str(tmp_path / "anchors.jsonl"))
	for i in range(1, 8):
		chain.append(store, entry(i))
	assert chain.verify_chain(store.rows()).ok and store.check_newest_anchor() is None
	assert len(chain.read_anchors(store.anchor_path)) == 7  # one per committed head
	with store.conn.cursor() as cur:  # the last row goes, and the head is set back to the row before
		cur.execute("DELETE FROM ops_action_log ORDER BY seq DESC LIMIT 1")
		cur.execute("SELECT row_hash FROM ops_action_log ORDER BY seq DESC LIMIT 1")
		cur.execute("UPDATE ops_action_log_head SET row_hash = %s WHERE id = 1", cur.fetchone())
	assert chain.verify_chain(store.rows()).ok, "the chain alone cannot see it"
	reason = store.check_newest_anchor()
	assert reason is not None and "ends at row 6 but row 7 was anchored" in reason
	store.close()


def test_anchors_catch_a_chain_rewritten_with_recomputed_hashes_in_mariadb(mariadb_db, tmp_path):
	from tests.support.action_log_mariadb import MariaDBChainStore

	kwargs, _name = mariadb_db
	store = MariaDBChainStore(kwargs, anchor_path=str(tmp_path / "anchors.jsonl"))
	for i in range(1, 6):
		chain.append(store, entry(i))
	rows = store.rows()
	rows[2] = {**rows[2], "reason": "nothing happened"}  # a middle row, every hash after it redone
	rewrite(store, rows)
	assert chain.verify_chain(store.rows()).ok, "the chain alone cannot see it"
	reason = store.check_newest_anchor()
	assert reason is not None and "row 5 is not the row anchored" in reason

	rows = store.rows()
	rows[0] = {**rows[0], "user": "someone@example.com"}  # from the first row on: another chain
	rewrite(store, rows)
	assert chain.verify_chain(store.rows()).ok
	reason = store.check_newest_anchor()
	assert reason is not None and "replaced or recomputed from its start" in reason
	store.close()


def test_an_uncommitted_append_writes_no_anchor(mariadb_db, tmp_path):
	from tests.support.action_log_mariadb import MariaDBChainStore

	kwargs, _name = mariadb_db
	store = MariaDBChainStore(kwargs, anchor_path=str(tmp_path / "anchors.jsonl"))
	chain.append(store, entry(1))

	class Boom(Exception):
		pass

	try:
		with store.locked_tail() as tail:
			store.insert(chain.chain([entry(2).model_dump(mode="json")], tail)[0])
			raise Boom
	except Boom:
		pass
	assert [a.seq for a in chain.read_anchors(store.anchor_path)] == [1]
	assert store.check_newest_anchor() is None
	store.close()


def anchor(seq: int, minutes: int, kind: AnchorKind = AnchorKind.HEAD, chain_id: str = "c1") -> ChainAnchor:
	return ChainAnchor(
		chain=chain_id, seq=seq, head=f"h{seq}", at=NOW + timedelta(minutes=minutes), kind=kind
	)


def test_newest_anchor_is_the_highest_head_since_the_last_genesis_or_restore():
	assert chain.newest_anchor([]) is None
	heads = [anchor(1, 0, AnchorKind.GENESIS), anchor(3, 2), anchor(2, 2)]  # two writers, out of order
	assert chain.newest_anchor(heads).seq == 3
	restored = [*heads, anchor(9, 3), anchor(2, 5, AnchorKind.RESTORE)]  # the log went back to row 2
	assert (chain.newest_anchor(restored).seq, chain.newest_anchor(restored).kind) == (2, AnchorKind.RESTORE)
	assert chain.newest_anchor([*restored, anchor(3, 6)]).seq == 3
	reinstalled = [*restored, anchor(1, 7, AnchorKind.GENESIS, "c2")]
	assert chain.newest_anchor(reinstalled).chain == "c2"


def test_check_anchor_reasons():
	hashes = {1: "h1", 2: "h2", 3: "h3"}
	assert chain.check_anchor(anchor(3, 0), "c1", 3, hashes.get) is None
	assert chain.check_anchor(anchor(2, 0), "c1", 3, hashes.get) is None  # the log went on since
	assert "removed from its end" in chain.check_anchor(anchor(4, 0), "c1", 3, hashes.get)
	assert "recomputed" in chain.check_anchor(anchor(2, 0), "c1", 3, {**hashes, 2: "x"}.get)
	assert "from its start" in chain.check_anchor(anchor(2, 0), "c9", 3, hashes.get)


def test_read_anchors_reads_the_end_and_skips_what_is_not_an_anchor(tmp_path):
	path = str(tmp_path / "a.jsonl")
	assert chain.read_anchors(path) == []
	for seq in range(1, 200):
		chain.append_anchor(path, anchor(seq, seq))
	with open(path, "a") as f:
		f.write('{"chain": "c1", "seq": 2\n')  # cut short by a crash
	found = chain.read_anchors(path, tail_bytes=2000)
	assert found[-1].seq == 199 and 0 < len(found) < 199 and found == sorted(found, key=lambda a: a.seq)
	assert chain.read_anchors(path)[0].seq == 1  # a small file is read whole

"""The action log on a real MariaDB, as the `Ops Action Log` DocType keeps it: rows plus a
one-row head whose lock serialises writers (what `chain.ChainStore` asks of the Frappe layer), and,
with `anchor_path`, each new head appended to an anchor file once its transaction committed."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

import pymysql

from erp_ops.core.control import chain
from erp_ops.core.control.models import ChainAnchor

DDL = (
	"""CREATE TABLE IF NOT EXISTS ops_action_log (
  seq BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(140) UNIQUE, body LONGTEXT,
  previous_hash CHAR(64), row_hash CHAR(64)) ENGINE=InnoDB""",
	"""CREATE TABLE IF NOT EXISTS ops_action_log_head (
  id TINYINT PRIMARY KEY, row_hash CHAR(64) NOT NULL) ENGINE=InnoDB""",
	"INSERT IGNORE INTO ops_action_log_head (id, row_hash) VALUES (1, '')",
)


class MariaDBChainStore:
	def __init__(self, connect_kwargs: dict, anchor_path: str | None = None):
		self.anchor_path = anchor_path
		self._pending: ChainAnchor | None = None
		self.conn = pymysql.connect(**connect_kwargs, autocommit=True)
		with self.conn.cursor() as cur:
			for statement in DDL:
				cur.execute(statement)

	@contextmanager
	def locked_tail(self) -> Iterator[str]:
		self.conn.begin()
		try:
			with self.conn.cursor() as cur:
				cur.execute("SELECT row_hash FROM ops_action_log_head WHERE id = 1 FOR UPDATE")
				(tail,) = cur.fetchone()
			yield tail
			self.conn.commit()
		except BaseException:
			self.conn.rollback()
			self._pending = None
			raise
		if self._pending is not None and self.anchor_path:
			chain.append_anchor(self.anchor_path, self._pending)
		self._pending = None

	def insert(self, row: dict) -> None:
		body = {k: v for k, v in row.items() if k not in ("previous_hash", "row_hash")}
		with self.conn.cursor() as cur:
			cur.execute(
				"INSERT INTO ops_action_log (name, body, previous_hash, row_hash) VALUES (%s, %s, %s, %s)",
				(row["name"], json.dumps(body), row["previous_hash"], row["row_hash"]),
			)
			seq = cur.lastrowid
			cur.execute("UPDATE ops_action_log_head SET row_hash = %s WHERE id = 1", (row["row_hash"],))
			cur.execute("SELECT row_hash FROM ops_action_log ORDER BY seq LIMIT 1")
			(first,) = cur.fetchone()
		self._pending = ChainAnchor(chain=first, seq=seq, head=row["row_hash"], at=datetime.now(timezone.utc))

	def positions(self) -> dict[int, str]:
		"""seq → row hash: where each row stands, for `chain.check_anchor`."""
		with self.conn.cursor() as cur:
			cur.execute("SELECT seq, row_hash FROM ops_action_log ORDER BY seq")
			return dict(cur.fetchall())

	def check_newest_anchor(self) -> str | None:
		"""What `verify-log` adds to the chain's own check: the log against the newest anchor."""
		positions = self.positions()
		anchor = chain.newest_anchor(chain.read_anchors(self.anchor_path))
		chain_id = positions[min(positions)] if positions else chain.GENESIS
		return chain.check_anchor(anchor, chain_id, max(positions, default=0), positions.get)

	def rows(self) -> list[dict]:
		with self.conn.cursor() as cur:
			cur.execute("SELECT body, previous_hash, row_hash FROM ops_action_log ORDER BY seq")
			return [
				{**json.loads(body), "previous_hash": prev, "row_hash": h} for body, prev, h in cur.fetchall()
			]

	def close(self) -> None:
		self.conn.close()

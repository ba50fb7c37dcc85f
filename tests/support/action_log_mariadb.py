"""The action log on a real MariaDB, as the `Ops Action Log` DocType will keep it: rows plus a
one-row head whose lock serialises writers (what `chain.ChainStore` asks of the Frappe layer)."""

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pymysql

DDL = (
	"""CREATE TABLE IF NOT EXISTS ops_action_log (
  seq BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(140) UNIQUE, body LONGTEXT,
  previous_hash CHAR(64), row_hash CHAR(64)) ENGINE=InnoDB""",
	"""CREATE TABLE IF NOT EXISTS ops_action_log_head (
  id TINYINT PRIMARY KEY, row_hash CHAR(64) NOT NULL) ENGINE=InnoDB""",
	"INSERT IGNORE INTO ops_action_log_head (id, row_hash) VALUES (1, '')",
)


class MariaDBChainStore:
	def __init__(self, connect_kwargs: dict):
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
			raise

	def insert(self, row: dict) -> None:
		body = {k: v for k, v in row.items() if k not in ("previous_hash", "row_hash")}
		with self.conn.cursor() as cur:
			cur.execute(
				"INSERT INTO ops_action_log (name, body, previous_hash, row_hash) VALUES (%s, %s, %s, %s)",
				(row["name"], json.dumps(body), row["previous_hash"], row["row_hash"]),
			)
			cur.execute("UPDATE ops_action_log_head SET row_hash = %s WHERE id = 1", (row["row_hash"],))

	def rows(self) -> list[dict]:
		with self.conn.cursor() as cur:
			cur.execute("SELECT body, previous_hash, row_hash FROM ops_action_log ORDER BY seq")
			return [
				{**json.loads(body), "previous_hash": prev, "row_hash": h} for body, prev, h in cur.fetchall()
			]

	def close(self) -> None:
		self.conn.close()

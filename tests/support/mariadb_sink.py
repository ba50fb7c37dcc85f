"""An evidence sink on a real MariaDB table, keyed by record name like the `Job Evidence` DocType.

Which records are new is the core's decision (`records_to_insert`), as in the site's sink: only the
two SELECTs and the INSERT are this table's own."""

import sys
import time
from datetime import datetime, timezone

import pymysql

from erp_ops.core.evidence.records import EvidenceRecord, records_to_insert

COLUMNS = (
	"job_id",
	"attempt",
	"site",
	"method",
	"queue",
	"outcome",
	"exc_type",
	"exc_message",
	"duration_ms",
	"queue_wait_ms",
	"kwargs_digest",
	"retry_of",
	"frappe_retries",
	"ref_doctype",
	"ref_name",
	"started_at",
)

DDL = """
CREATE TABLE IF NOT EXISTS job_evidence (
  name VARCHAR(140) PRIMARY KEY,
  job_id VARCHAR(140), attempt INT, site VARCHAR(140), method VARCHAR(255), queue VARCHAR(140),
  outcome VARCHAR(20), exc_type VARCHAR(140), exc_message TEXT, duration_ms DOUBLE, queue_wait_ms DOUBLE,
  kwargs_digest VARCHAR(64), retry_of VARCHAR(140), frappe_retries INT, ref_doctype VARCHAR(140), ref_name VARCHAR(140),
  started_at DATETIME(6)
)
"""


class MariaDBSink:
	def __init__(self, connect_kwargs: dict, *, pause_after_insert: float = 0, marker: str | None = None):
		# autocommit: an open read transaction would hold a metadata lock and block DROP DATABASE.
		self.conn = pymysql.connect(**connect_kwargs, autocommit=True)
		self.pause_after_insert = pause_after_insert
		self.marker = marker
		with self.conn.cursor() as cur:
			cur.execute(DDL)

	def upsert(self, records: list[EvidenceRecord]) -> int:
		new = records_to_insert(records, self._stored_starts, self._prior_runs, _naive_utc)
		rows = [(r.name, *(_value(getattr(r, c)) for c in COLUMNS)) for r in new]
		placeholders = ", ".join(["%s"] * (len(COLUMNS) + 1))
		inserted = 0
		with self.conn.cursor() as cur:
			if rows:
				inserted = cur.executemany(
					f"INSERT IGNORE INTO job_evidence (name, {', '.join(COLUMNS)}) VALUES ({placeholders})",
					rows,
				)
		if self.marker:
			open(self.marker, "w").close()
		time.sleep(self.pause_after_insert)  # the window in which the tests kill the flusher
		return inserted or 0

	def _stored_starts(self, names: tuple[str, ...]) -> dict:
		with self.conn.cursor() as cur:
			cur.execute("SELECT name, started_at FROM job_evidence WHERE name IN %s", (names,))
			return dict(cur.fetchall())

	def _prior_runs(self, job_ids: tuple[str, ...]) -> list:
		with self.conn.cursor() as cur:
			cur.execute("SELECT job_id, attempt, started_at FROM job_evidence WHERE job_id IN %s", (job_ids,))
			return list(cur.fetchall())

	def rows(self) -> list[dict]:
		with self.conn.cursor(pymysql.cursors.DictCursor) as cur:
			cur.execute("SELECT * FROM job_evidence ORDER BY name")
			return list(cur.fetchall())


def _value(v):
	if isinstance(v, datetime):
		return _naive_utc(v)
	return v.value if hasattr(v, "value") else v


def _naive_utc(value: datetime | None) -> datetime | None:
	"""How this table stores a time: naive UTC (the site's sink stores naive site time)."""
	return value.astimezone(timezone.utc).replace(tzinfo=None) if value else None


if __name__ == "__main__":
	# python -m tests.support.mariadb_sink REDIS_URL BENCH SITE HOST PORT USER PASSWORD DB MARKER
	from redis import Redis

	from erp_ops.core.evidence.records import flush

	url, bench, site, host, port, user, password, db, marker = sys.argv[1:10]
	sink = MariaDBSink(
		{"host": host, "port": int(port), "user": user, "password": password, "database": db},
		pause_after_insert=600,
		marker=marker,
	)
	flush(Redis.from_url(url), bench, site, sink, batch=1000)

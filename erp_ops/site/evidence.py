"""Job Evidence on the site: the flush from the Redis stream into `tabJob Evidence` (the sink the
core's `evidence.records.flush` writes through), the time conversion, and retention."""

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

import frappe
from frappe.utils import get_bench_id, get_system_timezone, now_datetime
from frappe.utils.background_jobs import get_redis_conn
from redis import Redis

from erp_ops.core import redis_lock
from erp_ops.core.clock import to_site_time
from erp_ops.core.evidence import records as evidence_records
from erp_ops.core.evidence.records import EvidenceRecord
from erp_ops.core.rq_keys import queue_short_name
from erp_ops.core.signals.rq_state import read_rq_state

log = logging.getLogger(__name__)

# Column widths of `tabJob Evidence`: longer values are cut rather than failing the whole batch
# under MariaDB's strict mode.
COLUMN_LENGTHS = {
	"name": 140,
	"job_id": 255,
	"method": 255,
	"worker": 255,
	"retry_of": 255,
	"exc_message": 65535,
}
DEFAULT_LENGTH = 140
COLUMNS = (
	"job_id",
	"attempt",
	"site",
	"method",
	"queue",
	"user",
	"enqueued_at",
	"started_at",
	"ended_at",
	"queue_wait_ms",
	"duration_ms",
	"outcome",
	"exc_type",
	"exc_message",
	"worker",
	"kwargs_digest",
	"retry_of",
	"frappe_retries",
	"ref_doctype",
	"ref_name",
)
_DATETIMES = frozenset({"enqueued_at", "started_at", "ended_at"})
_TEXT = frozenset(
	{
		"job_id",
		"site",
		"method",
		"queue",
		"user",
		"exc_type",
		"exc_message",
		"worker",
		"kwargs_digest",
		"retry_of",
		"ref_doctype",
		"ref_name",
	}
)

FLUSH_LOCK_KEY = "erp_ops:{bench}:evidence-flush-lock:{site}"
FLUSH_LOCK_TTL_S = 300


class JobEvidenceSink:
	"""The core's `EvidenceSink` over this site's `tabJob Evidence`.

	Each site has its own evidence stream, so every record here belongs to the current site.
	"""

	def __init__(self, *, bench_id: str, commit: bool = True) -> None:
		self.bench_id = bench_id
		self.commit = commit

	def upsert(self, records: list[EvidenceRecord]) -> int:
		inserted = insert_new(frappe.db, records, get_system_timezone(), self.bench_id)
		if self.commit:
			# The core acknowledges the stream entries as soon as this returns: the rows
			# must be durable by then, whatever the calling job does afterwards.
			frappe.db.commit()
		return inserted


def insert_new(db, records: Iterable[EvidenceRecord], time_zone: str, bench_id: str) -> int:
	"""Insert the records this table does not have yet (the core decides which, renumbering a
	later execution whose attempt Redis forgot); return how many were new."""

	def stored_starts(names: tuple[str, ...]) -> dict:
		sql = "select name, started_at from `tabJob Evidence` where name in %(names)s"
		return dict(db.sql(sql, {"names": names}))

	def prior_runs(job_ids: tuple[str, ...]) -> list:
		sql = "select job_id, attempt, started_at from `tabJob Evidence` where job_id in %(ids)s"
		return db.sql(sql, {"ids": job_ids})

	new = evidence_records.records_to_insert(
		records, stored_starts, prior_runs, lambda value: to_site_time(value, time_zone)
	)
	if not new:
		return 0
	now = to_site_time(datetime.now(timezone.utc), time_zone)
	columns = ["name", "creation", "modified", "owner", "modified_by", "docstatus", "idx", *COLUMNS]
	rows = [
		(
			_cut("name", r.name),
			now,
			now,
			"Administrator",
			"Administrator",
			0,
			0,
			*row_values(r, time_zone, bench_id),
		)
		for r in new
	]
	# Ignoring duplicates keeps a concurrent writer (which the flush lock should prevent) from
	# failing the batch; the count stays exact under the lock.
	db.bulk_insert("Job Evidence", columns, rows, ignore_duplicates=True)
	return len(new)


def row_values(record: EvidenceRecord, time_zone: str, bench_id: str) -> tuple:
	"""The record as `COLUMNS` values: site-time naive datetimes, short queue names, cut text."""
	values = []
	for column in COLUMNS:
		value = getattr(record, column)
		if column in _DATETIMES:
			value = to_site_time(value, time_zone)
		elif column == "outcome":
			value = value.value
		elif column == "queue" and value:
			value = queue_short_name(value, bench_id)
		if column in _TEXT and value is not None:
			value = _cut(column, str(value))
		values.append(value)
	return tuple(values)


# erp_ops's own scheduled work: counted by the worker, stored as rows only when Ops Settings says so.
OWN_METHODS = ("erp_ops.tasks.",)


def flush_evidence(
	*, conn: Redis | None = None, commit: bool = True, sweep_bench: bool = True
) -> evidence_records.FlushResult | None:
	"""Record abandoned jobs (with `sweep_bench`: the tick does it once per bench and minute), then
	flush this site's evidence stream; None if a flush is running.

	A Redis lock (SET NX EX, released only by its holder) keeps one flush per site.
	"""
	conn = conn or get_redis_conn()
	bench_id = get_bench_id()
	site = frappe.local.site
	key = FLUSH_LOCK_KEY.format(bench=bench_id, site=site)
	with redis_lock.held(conn, key, timeout_s=FLUSH_LOCK_TTL_S) as acquired:
		if not acquired:
			return None
		if sweep_bench:
			# The sweep covers the whole bench; a marker in the core records each death once, in
			# the stream of the site the job belonged to.
			started_jobs = read_rq_state(conn, bench_id).started_jobs
			evidence_records.record_abandoned(conn, bench_id, started_jobs)
		sink = JobEvidenceSink(bench_id=bench_id, commit=commit)
		keep_own = frappe.db.get_single_value("Ops Settings", "keep_own_job_evidence")
		return evidence_records.flush(
			conn, bench_id, site, sink, skip_methods=() if keep_own else OWN_METHODS
		)


def purge_evidence(days: int, *, batch: int = 5000) -> int:
	"""Delete Job Evidence that ended more than `days` ago, in batches; return how many."""
	if days <= 0:
		return 0
	cutoff = now_datetime() - timedelta(days=days)
	removed = 0
	while True:
		names = frappe.get_all(
			"Job Evidence",
			filters={"ended_at": ("<", cutoff)},
			pluck="name",
			limit=batch,
			order_by="ended_at asc",
		)
		# Rows without an end time (should not exist) age by creation instead.
		names += frappe.get_all(
			"Job Evidence",
			filters={"ended_at": ("is", "not set"), "creation": ("<", cutoff)},
			pluck="name",
			limit=batch,
		)
		if not names:
			return removed
		frappe.db.delete("Job Evidence", {"name": ("in", names)})
		frappe.db.commit()  # short transactions: a large purge must not hold locks for long
		removed += len(names)


def _cut(column: str, value: str) -> str:
	return value[: COLUMN_LENGTHS.get(column, DEFAULT_LENGTH)]

"""Job Evidence on the site: the flush from the Redis stream into `tabJob Evidence` (the sink the
core's `evidence.records.flush` writes through), the time conversion, and retention."""

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

import frappe
from frappe.utils import convert_utc_to_timezone, get_bench_id, get_system_timezone, now_datetime
from frappe.utils.background_jobs import get_redis_conn
from redis import Redis

from erp_ops.core import redis_lock
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
	"""Insert the records this table does not have yet; return how many were new.

	A record is the same as a stored row when it has the row's name (job id + attempt) and the
	row's start time. Same name but another start time means Redis lost its attempt counters (a
	restarted redis_queue keeps nothing): the record is a later execution, stored under the next
	free attempt instead of being discarded as a duplicate.
	"""
	unique: dict[str, EvidenceRecord] = {}
	for record in records:
		unique.setdefault(_cut("name", record.name), record)
	if not unique:
		return 0
	stored = dict(
		db.sql(
			"select name, started_at from `tabJob Evidence` where name in %(names)s",
			{"names": tuple(unique)},
		)
	)
	new: list[tuple[str, EvidenceRecord]] = []
	collided: list[EvidenceRecord] = []
	for name, record in unique.items():
		if name not in stored:
			new.append((name, record))
		elif stored[name] != to_site_time(record.started_at, time_zone):
			collided.append(record)
	new += renumber_collisions(db, collided, time_zone)
	if not new:
		return 0
	now = to_site_time(datetime.now(timezone.utc), time_zone)
	columns = ("name", "creation", "modified", "owner", "modified_by", "docstatus", "idx", *COLUMNS)
	rows = [
		(name, now, now, "Administrator", "Administrator", 0, 0, *row_values(record, time_zone, bench_id))
		for name, record in new
	]
	placeholders = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(rows))
	column_sql = ", ".join(f"`{c}`" for c in columns)
	flat = [value for row in rows for value in row]
	# Ignoring duplicates keeps a concurrent writer (which the flush lock should prevent) from
	# failing the batch; the count above stays exact under the lock.
	if db.db_type == "postgres":
		db.sql(
			f"insert into `tabJob Evidence` ({column_sql}) values {placeholders} on conflict (name) do nothing",
			flat,
		)
	else:
		db.sql(f"insert ignore into `tabJob Evidence` ({column_sql}) values {placeholders}", flat)
	return len(new)


def renumber_collisions(
	db, records: list[EvidenceRecord], time_zone: str
) -> list[tuple[str, EvidenceRecord]]:
	"""Give each record that is not yet stored (by job id and start time) the next free attempt."""
	if not records:
		return []
	job_ids = tuple({_cut("job_id", r.job_id) for r in records})
	last_attempt: dict[str, int] = {}
	starts: set[tuple[str, datetime | None]] = set()
	for job_id, attempt, started_at in db.sql(
		"select job_id, attempt, started_at from `tabJob Evidence` where job_id in %(ids)s", {"ids": job_ids}
	):
		last_attempt[job_id] = max(last_attempt.get(job_id, 0), attempt or 0)
		starts.add((job_id, started_at))
	renamed = []
	for record in records:
		job_id = _cut("job_id", record.job_id)
		if (job_id, to_site_time(record.started_at, time_zone)) in starts:
			continue  # stored before under its new attempt: a redelivery
		attempt = last_attempt.get(job_id, 0) + 1
		last_attempt[job_id] = attempt
		record = record.model_copy(update={"attempt": attempt})
		renamed.append((_cut("name", record.name), record))
	return renamed


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


def to_site_time(value: datetime | None, time_zone: str) -> datetime | None:
	"""An aware UTC datetime as the naive site-time datetime Frappe stores."""
	if value is None:
		return None
	return convert_utc_to_timezone(value, time_zone).replace(tzinfo=None)


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
		return evidence_records.flush(conn, bench_id, site, sink, skip_methods=() if keep_own else OWN_METHODS)


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

"""The evidence stream and the per-minute outcome counters beside it.

Key layout (bench-scoped, like Frappe's `<bench_id>:<queue>` queue names):
  erp_ops:<bench>:evidence:<site>       capped stream of one site's records waiting to be flushed
  erp_ops:<bench>:evidence-sites        the sites that have a stream (for the backlog figure)
  erp_ops:<bench>:attempt:<job id>      executions seen of one job id (numbers the attempts)
  erp_ops:<bench>:outcomes:<minute>     hash `<method>|total` / `<method>|failed`, kept 2 h
"""

import time
from datetime import datetime, timezone

from redis import Redis

from erp_ops.core.evidence.models import FAILED_OUTCOMES, EvidenceRecord
from erp_ops.core.rq_keys import as_text
from erp_ops.core.signals.models import FailureRate

STREAM = "erp_ops:{bench}:evidence:{site}"
STREAM_SITES = "erp_ops:{bench}:evidence-sites"
NO_SITE = "-"  # jobs enqueued outside Frappe name no site
ATTEMPT = "erp_ops:{bench}:attempt:{job_id}"
OUTCOMES = "erp_ops:{bench}:outcomes:{minute}"
ABANDONED_SEEN = "erp_ops:{bench}:abandoned:{job_id}"

STREAM_MAXLEN = 200_000  # about a day of a busy bench if the flush task stops
ATTEMPT_TTL_S = 30 * 86400
OUTCOMES_TTL_S = 2 * 3600

# One round trip on the worker's hot path: number the attempt, append the record, count the outcome.
_APPEND_LUA = """
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
local attempt = n + tonumber(ARGV[3])
local fields = {'attempt', tostring(attempt)}
for i = 8, #ARGV do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(fields))
redis.call('HINCRBY', KEYS[3], ARGV[5] .. '|total', 1)
if ARGV[6] == '1' then redis.call('HINCRBY', KEYS[3], ARGV[5] .. '|failed', 1) end
redis.call('EXPIRE', KEYS[3], ARGV[4])
redis.call('SADD', KEYS[4], ARGV[7])
return {id, attempt}
"""


def stream_key(bench_id: str, site: str | None) -> str:
	"""Each site has its own stream, so each site's flush task stores only its own evidence."""
	return STREAM.format(bench=bench_id, site=site or NO_SITE)


def append(
	conn: Redis,
	bench_id: str,
	record: EvidenceRecord,
	*,
	attempt_base: int = 0,
	maxlen: int = STREAM_MAXLEN,
	now: float | None = None,
) -> tuple[str, int]:
	"""Append one record; returns (stream entry id, attempt number given to it).

	The attempt is `attempt_base` plus the number of executions of this job id seen so far, so a
	job requeued under the same id gets a new attempt and never overwrites its earlier evidence.
	"""
	minute = int((time.time() if now is None else now) // 60)
	fields = record.to_fields()
	argv: list[str | int] = [
		ATTEMPT_TTL_S,
		maxlen,
		attempt_base,
		OUTCOMES_TTL_S,
		record.method or "?",
		"1" if record.outcome in FAILED_OUTCOMES else "0",
		record.site or NO_SITE,
	]
	for key, value in fields.items():
		argv += [key, value]
	script = conn.register_script(_APPEND_LUA)
	entry_id, attempt = script(
		keys=[
			ATTEMPT.format(bench=bench_id, job_id=record.job_id),
			stream_key(bench_id, record.site),
			OUTCOMES.format(bench=bench_id, minute=minute),
			STREAM_SITES.format(bench=bench_id),
		],
		args=argv,
	)
	return as_text(entry_id), int(attempt)


def backlog(conn: Redis, bench_id: str, site: str | None) -> int:
	return int(conn.xlen(stream_key(bench_id, site)))


def backlog_by_site(conn: Redis, bench_id: str) -> dict[str, int]:
	"""Entries waiting per site: two round trips whatever the number of records."""
	sites = sorted(as_text(s) for s in conn.smembers(STREAM_SITES.format(bench=bench_id)))
	if not sites:
		return {}
	pipe = conn.pipeline(transaction=False)
	for site in sites:
		pipe.xlen(stream_key(bench_id, site))
	return dict(zip(sites, map(int, pipe.execute()), strict=True))


def queue_failure_rate_reads(pipe, bench_id: str, now: float) -> int:
	"""Add the reads for failure rates to a caller's pipeline; returns how many were added."""
	minute = int(now // 60)
	for m in range(minute - 59, minute + 1):
		pipe.hgetall(OUTCOMES.format(bench=bench_id, minute=m))
	return 60


def failure_rates(buckets: list[dict]) -> list[FailureRate]:
	"""Fold the 60 minute buckets (oldest first) read by `queue_failure_rate_reads`."""
	totals: dict[str, list[int]] = {}  # method → [total_5m, failed_5m, total_1h, failed_1h]
	for index, bucket in enumerate(buckets):
		recent = index >= len(buckets) - 5
		for raw_field, raw_count in bucket.items():
			method, _, kind = as_text(raw_field).rpartition("|")
			count = int(raw_count)
			row = totals.setdefault(method, [0, 0, 0, 0])
			offset = 0 if kind == "total" else 1
			row[2 + offset] += count
			if recent:
				row[offset] += count
	return sorted(
		(
			FailureRate(
				method=method,
				total_5m=t5,
				failed_5m=f5,
				rate_5m=round(f5 / t5, 4) if t5 else 0.0,
				total_1h=t60,
				failed_1h=f60,
				rate_1h=round(f60 / t60, 4) if t60 else 0.0,
			)
			for method, (t5, f5, t60, f60) in totals.items()
		),
		key=lambda r: (-r.failed_1h, r.method),
	)


def utc_from_timestamp(ts: float) -> datetime:
	return datetime.fromtimestamp(ts, tz=timezone.utc)

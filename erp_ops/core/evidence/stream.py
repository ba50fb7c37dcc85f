"""The evidence stream read for signals: backlog and failure rates from the outcome counters.

The keys and the append itself live in `capture.py`, which a work horse imports on every job.
"""

from redis import Redis

from erp_ops.core.evidence.capture import (
	FAILED_BY,
	OUTCOMES,
	STREAM_SITES,
	stream_key,
)
from erp_ops.core.rq_keys import as_text
from erp_ops.core.signals.models import FailureRate


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
	"""Fold the 60 minute buckets (oldest first) read by `queue_failure_rate_reads`.

	Fields (capture.py's key layout): `<method>|total`, `<method>|failed` and, since failures are
	split by exception, `<method>|failed|<exception>`. Method names are dotted paths, so the first
	`|failed|` ends the method; an exception name keeps whatever follows. Counters written before the
	split have no `|failed|` fields: their failures stay out of `failed_by_exception_*`. The counts
	must be integers (the snapshot reports and drops the others first).
	"""
	totals: dict[str, list[int]] = {}  # method → [total_5m, failed_5m, total_1h, failed_1h]
	split: dict[str, tuple[dict[str, int], dict[str, int]]] = {}  # method → (5m, 1h) by exception
	for index, bucket in enumerate(buckets):
		recent = index >= len(buckets) - 5
		for raw_field, raw_count in bucket.items():
			field = as_text(raw_field)
			count = int(raw_count)
			method, by_exception, exception = field.partition(FAILED_BY)
			if by_exception:
				totals.setdefault(method, [0, 0, 0, 0])
				five, hour = split.setdefault(method, ({}, {}))
				exception = exception or "?"
				hour[exception] = hour.get(exception, 0) + count
				if recent:
					five[exception] = five.get(exception, 0) + count
				continue
			method, _, kind = field.rpartition("|")
			if kind not in ("total", "failed"):
				continue  # no field erp_ops writes
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
				failed_by_exception_5m=split.get(method, ({}, {}))[0],
				failed_by_exception_1h=split.get(method, ({}, {}))[1],
			)
			for method, (t5, f5, t60, f60) in totals.items()
		),
		key=lambda r: (-r.failed_1h, r.method),
	)

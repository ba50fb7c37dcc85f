"""Poison jobs: the same method with the same arguments failing again and again.

Two forms of one rule (N failures of one method + kwargs digest within a window):
- `find_poison` over evidence records, pure, for the flush task and for tests;
- `record_failure`, one Lua call on the failure path, cheap enough for the worker.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from redis import Redis

from erp_ops.core.control import bulk, jobs, keys
from erp_ops.core.control.errors import JobConflict, JobNotFound
from erp_ops.core.control.models import BulkFilter, JobState, PoisonVerdict, QuarantineResult
from erp_ops.core.evidence.capture import FAILED_OUTCOMES
from erp_ops.core.evidence.records import EvidenceRecord

THRESHOLD = 3
WINDOW = timedelta(hours=1)

# Add this failure, forget the ones older than the window, count the rest. The member is the job
# id and attempt, so a redelivered record does not count twice.
_RECORD = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (tonumber(ARGV[1]) - tonumber(ARGV[2])))
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])))
return redis.call('ZCARD', KEYS[1])
"""


def find_poison(
	records: Iterable[EvidenceRecord],
	*,
	threshold: int = THRESHOLD,
	window: timedelta = WINDOW,
	now: datetime | None = None,
) -> list[PoisonVerdict]:
	"""Method + kwargs digest pairs with at least `threshold` failures in the window ending `now`."""
	now = now or datetime.now(timezone.utc)
	since = now - window
	groups: dict[tuple[str, str], list[EvidenceRecord]] = {}
	for r in records:
		if r.outcome not in FAILED_OUTCOMES or not r.method or not r.kwargs_digest:
			continue
		at = r.ended_at or r.started_at
		if at is None or not (since <= at <= now):
			continue
		groups.setdefault((r.method, r.kwargs_digest), []).append(r)
	verdicts = []
	for (method, digest), failures in sorted(groups.items()):
		unique = {(f.job_id, f.attempt): f for f in failures}
		if len(unique) < threshold:
			continue
		times = sorted(f.ended_at or f.started_at for f in unique.values())
		verdicts.append(
			PoisonVerdict(
				method=method,
				kwargs_digest=digest,
				failures=len(unique),
				job_ids=sorted({f.job_id for f in unique.values()}),
				first_at=times[0],
				last_at=times[-1],
			)
		)
	return verdicts


def record_failure(
	conn: Redis,
	bench_id: str,
	method: str,
	kwargs_digest: str,
	failure_id: str,
	*,
	window: timedelta = WINDOW,
	now: float,
) -> int:
	"""Count this failure (`failure_id`: job id and attempt); returns failures within the window."""
	script = conn.register_script(_RECORD)
	count = script(
		keys=[keys.poison_key(bench_id, method, kwargs_digest)],
		args=[repr(now), window.total_seconds(), failure_id],
	)
	return int(count)


def is_poison(failures: int, threshold: int = THRESHOLD) -> bool:
	return failures >= threshold


def quarantine_poison(
	conn: Redis, bench_id: str, verdicts: Iterable[PoisonVerdict], *, site: str | None = None
) -> list[QuarantineResult]:
	"""Quarantine the failed jobs of each poison verdict (same method and kwargs digest).

	Jobs still running or already requeued are left alone: only what sits in a failed registry
	moves, each atomically; a job another actor moved first is skipped. With `site`, only that
	site's jobs: a verdict from one site's evidence says nothing about another site's job with the
	same method and arguments.
	"""
	done = []
	for verdict in verdicts:
		flt = BulkFilter(methods=[verdict.method], kwargs_digests=[verdict.kwargs_digest])
		for match in bulk.select(conn, bench_id, JobState.FAILED, flt, site=site):
			try:
				done.append(
					jobs.quarantine(conn, bench_id, match["job_id"], expected=JobState.FAILED, site=site)
				)
			except (JobConflict, JobNotFound):
				continue
	return done

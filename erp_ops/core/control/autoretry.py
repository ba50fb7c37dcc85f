"""Automatic retries on a schedule erp_ops keeps itself.

Frappe's workers run without RQ's scheduler, so a delayed RQ job would never start. Instead the
failed job stays in its failed registry and its id goes into `erp_ops:<bench>:retry-due` (zset,
score = when); a scheduler task calls `run_due` every minute, which claims each due id with one
ZREM (only one caller wins it) and retries it. A process dying between the claim and the retry
leaves the job failed and visible, never lost.
"""

import time
from collections.abc import Callable

from redis import Redis

from erp_ops.core.control import jobs
from erp_ops.core.control.errors import JobConflict, JobNotFound
from erp_ops.core.control.models import ActionResult, JobState
from erp_ops.core.rq_keys import as_text

RETRY_DUE = "erp_ops:{bench}:retry-due"


def due_key(bench_id: str) -> str:
	return RETRY_DUE.format(bench=bench_id)


def schedule_retry(
	conn: Redis, bench_id: str, job_id: str, delay_s: float, *, now: float | None = None
) -> bool:
	"""Retry the failed job after `delay_s`; False when a retry of it is already scheduled."""
	now = time.time() if now is None else now
	return bool(conn.zadd(due_key(bench_id), {job_id: now + delay_s}, nx=True))


def run_due(
	conn: Redis,
	bench_id: str,
	*,
	now: float | None = None,
	limit: int = 500,
	before: Callable[[str], None] | None = None,
) -> list[ActionResult]:
	"""Retry the jobs whose time has come; jobs no longer failed (requeued, quarantined) are dropped.

	`before(job_id)` runs once a due id is claimed and before its retry (the site writes its intent).
	"""
	now = time.time() if now is None else now
	done = []
	for raw in conn.zrangebyscore(due_key(bench_id), "-inf", now, start=0, num=limit):
		job_id = as_text(raw)
		if not conn.zrem(due_key(bench_id), job_id):
			continue  # another scheduler claimed it
		if before is not None:
			before(job_id)
		try:
			done.append(jobs.retry(conn, bench_id, job_id, expected=JobState.FAILED))
		except (JobConflict, JobNotFound):
			continue
	return done

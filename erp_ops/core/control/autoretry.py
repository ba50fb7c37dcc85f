"""Automatic retries on a schedule erp_ops keeps itself.

Frappe's workers run without RQ's scheduler, so a delayed RQ job would never start. Instead the
failed job stays in its failed registry and its id goes into `erp_ops:<bench>:retry-due:<site>`
(zset, score = when; `erp_ops:<bench>:retry-due` for jobs of no site, reached only by the bench's
own tools); each site's scheduler task calls `run_due` for its site every minute, which claims
each due id with one ZREM (only one caller wins it) and retries it if it is still that site's
failed job. A process dying between the claim and the retry leaves the job failed and visible,
never lost.
"""

import time
from collections.abc import Callable

from redis import Redis

from erp_ops.core.control import jobs
from erp_ops.core.control.errors import JobConflict, JobNotFound
from erp_ops.core.control.models import ActionResult, JobState
from erp_ops.core.rq_keys import as_text

RETRY_DUE = "erp_ops:{bench}:retry-due"
RETRY_DUE_SITE = "erp_ops:{bench}:retry-due:{site}"


def due_key(bench_id: str, site: str | None = None) -> str:
	"""One due list per site, so a site's tick never reads (or starves behind) another site's."""
	if site is None:
		return RETRY_DUE.format(bench=bench_id)
	return RETRY_DUE_SITE.format(bench=bench_id, site=site)


def schedule_retry(
	conn: Redis,
	bench_id: str,
	job_id: str,
	delay_s: float,
	*,
	now: float | None = None,
	site: str | None = None,
) -> bool:
	"""Retry the failed job after `delay_s`; False when a retry of it is already scheduled."""
	now = time.time() if now is None else now
	return bool(conn.zadd(due_key(bench_id, site), {job_id: now + delay_s}, nx=True))


def run_due(
	conn: Redis,
	bench_id: str,
	*,
	now: float | None = None,
	limit: int = 500,
	site: str | None = None,
	before: Callable[[str], None] | None = None,
) -> list[ActionResult]:
	"""Retry the jobs whose time has come; jobs no longer failed (requeued, quarantined) are dropped,
	and so is a job that is not `site`'s (it cannot have been scheduled by that site).

	`before(job_id)` runs once a due id is claimed and before its retry (the site writes its intent).
	"""
	now = time.time() if now is None else now
	key = due_key(bench_id, site)
	done = []
	for raw in conn.zrangebyscore(key, "-inf", now, start=0, num=limit):
		job_id = as_text(raw)
		if not conn.zrem(key, job_id):
			continue  # another scheduler claimed it
		if before is not None:
			before(job_id)
		try:
			done.append(jobs.retry(conn, bench_id, job_id, expected=JobState.FAILED, site=site))
		except (JobConflict, JobNotFound):
			continue
	return done

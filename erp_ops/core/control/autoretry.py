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


# Move one entry if it is still in the old list: a retry that ran meanwhile is not scheduled again.
_MOVE_LUA = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return 0 end
redis.call('ZADD', KEYS[2], 'NX', score, ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
"""


def adopt_bench_wide(conn: Redis, bench_id: str, site: str, *, batch: int = 500) -> int:
	"""Move `site`'s entries of the bench-wide due list (written before the lists were per site)
	into the site's own, keeping each one's time; returns how many moved. Other sites' entries and
	jobs of no site stay where they are (each site adopts its own; the bench's tools reach the rest).
	A job whose id names no site and whose hash is gone names no owner, and stays too. A key that
	is not a sorted set is nothing an earlier version wrote: it is left alone and 0 returned."""
	old, new = due_key(bench_id), due_key(bench_id, site)
	if as_text(conn.type(old)) != "zset":
		return 0
	move = conn.register_script(_MOVE_LUA)
	moved = 0
	cursor = 0
	while True:
		cursor, entries = conn.zscan(old, cursor, count=batch)
		ids = [as_text(member) for member, _score in entries]
		for job_id, owner in jobs.sites_of(conn, ids).items():
			if owner == site:
				moved += int(move(keys=[old, new], args=[job_id]))
		if not cursor:
			return moved

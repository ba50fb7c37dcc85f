"""Jobs in flight at switch time, read through the signals reader (no RQ cleanup, no writes)."""

from collections.abc import Collection

from redis import Redis
from redis.exceptions import RedisError

from erp_ops.core.preflight.models import QueueFacts
from erp_ops.core.signals.rq_state import read_rq_state

# expired_started: entries of dead workers still sit in the started registry that rq 2 would read
IN_FLIGHT = ("queued", "intermediate", "deferred", "scheduled", "started", "expired_started")


def gather_queue_facts(conn: Redis, bench_id: str, ignore_job_ids: Collection[str] = ()) -> QueueFacts:
	"""Per queue, the jobs that are queued, deferred, scheduled or started; empty queues are left out.

	`ignore_job_ids`: running jobs not to count, such as the background job running this preflight.
	"""
	try:
		state = read_rq_state(conn, bench_id)
	except RedisError as exc:
		return QueueFacts(bench_id=bench_id, error=f"{type(exc).__name__}: {exc}")
	ignored = [j for j in state.started_jobs if j.job_id in ignore_job_ids]
	queues: dict[str, dict[str, int]] = {}
	for q in state.queues:
		counts = {name: int(getattr(q, name)) for name in IN_FLIGHT}
		for job in ignored:
			if job.queue == q.name:
				name = "expired_started" if job.abandoned and counts["expired_started"] else "started"
				counts[name] = max(0, counts[name] - 1)
		counts = {name: n for name, n in counts.items() if n}
		if counts:
			queues[q.short_name] = counts
	return QueueFacts(
		bench_id=bench_id,
		queues=queues,
		started_job_ids=[j.job_id for j in state.started_jobs if j.job_id not in ignore_job_ids],
	)

"""Jobs in flight at switch time, read through the signals reader (no RQ cleanup, no writes)."""

from redis import Redis
from redis.exceptions import RedisError

from erp_ops.core.preflight.models import QueueFacts
from erp_ops.core.signals.rq_state import read_rq_state

# expired_started: entries of dead workers still sit in the started registry that rq 2 would read
IN_FLIGHT = ("queued", "intermediate", "deferred", "scheduled", "started", "expired_started")


def gather_queue_facts(conn: Redis, bench_id: str) -> QueueFacts:
	"""Per queue, the jobs that are queued, deferred, scheduled or started; empty queues are left out."""
	try:
		state = read_rq_state(conn, bench_id)
	except RedisError as exc:
		return QueueFacts(bench_id=bench_id, error=f"{type(exc).__name__}: {exc}")
	queues: dict[str, dict[str, int]] = {}
	for q in state.queues:
		counts = {name: int(getattr(q, name)) for name in IN_FLIGHT if getattr(q, name)}
		if counts:
			queues[q.short_name] = counts
	return QueueFacts(
		bench_id=bench_id, queues=queues, started_job_ids=[j.job_id for j in state.started_jobs]
	)

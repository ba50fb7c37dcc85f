"""Seed many failed or queued Frappe-shaped jobs fast (pipelines), as RQ itself would store them."""

import uuid
from datetime import datetime, timedelta, timezone

from redis import Redis
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.results import Result

from tests.support.rq_helpers import EXECUTE_JOB, _rq_major, execute_job_kwargs, qname


def frappe_job_id(site: str) -> str:
	return f"{site}{'::' if _rq_major() < 2 else '||'}{uuid.uuid4()}"


def seed_failed(
	conn: Redis,
	bench_id: str,
	n: int,
	*,
	short: str = "default",
	method: str = "tests.support.frappe_like.fail",
	site: str = "site1.local",
	exc: str = "ValueError: boom",
	ended_at: datetime | None = None,
	kwargs: dict | None = None,
	chunk: int = 1000,
) -> list[str]:
	"""`n` jobs in the failed registry with a failure result, like a worker leaves them."""
	queue = qname(bench_id, short)
	ended_aware = ended_at or datetime.now(timezone.utc)
	ended = ended_aware.replace(tzinfo=None)
	# Still in the registry for a week from now: a failure TTL that long, counted from `ended`.
	ttl = max(0, int((datetime.now(timezone.utc) - ended_aware).total_seconds())) + 7 * 86400
	registry = FailedJobRegistry(queue, connection=conn)
	ids = []
	for start in range(0, n, chunk):
		pipe = conn.pipeline(transaction=False)
		for i in range(start, min(n, start + chunk)):
			job = _job(conn, queue, method, site, {"n": i, **(kwargs or {})})
			job.ended_at = ended
			job.failure_ttl = ttl
			job.started_at = ended - timedelta(seconds=1)
			job.enqueued_at = ended - timedelta(seconds=2)
			job.created_at = ended - timedelta(seconds=3)
			job._status = JobStatus.FAILED
			job.save(pipeline=pipe)
			# As the worker that failed it at `ended` scored it: that moment plus the failure TTL.
			pipe.zadd(registry.key, {job.id: ended_aware.timestamp() + ttl})
			Result.create_failure(
				job, 7 * 86400, exc_string=f"Traceback (most recent call last):\n{exc}\n", pipeline=pipe
			)
			ids.append(job.id)
		pipe.execute()
	return ids


def seed_queued(
	conn: Redis, bench_id: str, n: int, *, short: str = "default", site: str = "site1.local"
) -> list[str]:
	queue = qname(bench_id, short)
	pipe = conn.pipeline(transaction=False)
	ids = []
	for i in range(n):
		job = _job(conn, queue, "tests.support.frappe_like.work", site, {"n": i})
		job.enqueued_at = datetime.now(timezone.utc).replace(tzinfo=None)
		job._status = JobStatus.QUEUED
		job.save(pipeline=pipe)
		pipe.rpush(f"rq:queue:{queue}", job.id)
		ids.append(job.id)
	pipe.sadd("rq:queues", f"rq:queue:{queue}")
	pipe.execute()
	return ids


def _job(conn: Redis, queue: str, method: str, site: str, kwargs: dict) -> Job:
	job = Job.create(
		EXECUTE_JOB,
		kwargs=execute_job_kwargs(site, method, kwargs),
		connection=conn,
		id=frappe_job_id(site),
		origin=queue,
		timeout=300,
		result_ttl=600,
		failure_ttl=7 * 86400,
	)
	job.redis_server_version = (7, 0, 0)
	return job

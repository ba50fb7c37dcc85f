"""Where is a job? Counted from the raw keys, independently of erp_ops' Lua, for the assertions."""

from redis import Redis

from erp_ops.core.control import keys
from erp_ops.core.rq_keys import INTERMEDIATE, Registry, as_text, started_member_job_id


def places(conn: Redis, bench_id: str, queue: str, job_id: str) -> list[str]:
	"""Every queue or registry holding the job (a healthy job has exactly one)."""
	found = []
	found += ["queued"] * conn.lrange(f"rq:queue:{queue}", 0, -1).count(job_id.encode())
	found += ["intermediate"] * conn.lrange(INTERMEDIATE.format(queue=queue), 0, -1).count(job_id.encode())
	started = [started_member_job_id(as_text(m)) for m in conn.zrange(Registry.STARTED.key(queue), 0, -1)]
	found += ["started"] * started.count(job_id)
	for name, reg in (
		("failed", Registry.FAILED),
		("finished", Registry.FINISHED),
		("deferred", Registry.DEFERRED),
		("scheduled", Registry.SCHEDULED),
		("canceled", Registry.CANCELED),
	):
		if conn.zscore(reg.key(queue), job_id) is not None:
			found.append(name)
	if conn.zscore(keys.quarantine_key(bench_id), job_id) is not None:
		found.append("quarantined")
	return found

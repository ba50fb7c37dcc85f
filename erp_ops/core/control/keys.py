"""erp_ops' own control keys, bench-scoped like Frappe's `<bench_id>:<queue>` queue names.

erp_ops:<bench>:quarantine                zset job id → quarantined-at (unix seconds)
erp_ops:<bench>:quarantine:job:<job id>   the job's RQ hash, renamed out of RQ's reach, no TTL
erp_ops:<bench>:control:request:<id>      hash: fingerprint, state (running|done), result; TTL
erp_ops:<bench>:control:request:<site>|<id>  the same for a site's request ids (the API's)
erp_ops:<bench>:control:bulk:<token>      hash: plan JSON, state, approval, progress, result; TTL
erp_ops:<bench>:poison:<method>|<digest>  zset of recent failures of one method + kwargs digest
"""

QUARANTINE = "erp_ops:{bench}:quarantine"
QUARANTINED_JOB = "erp_ops:{bench}:quarantine:job:{job_id}"
REQUEST = "erp_ops:{bench}:control:request:{request_id}"
BULK = "erp_ops:{bench}:control:bulk:{token}"
POISON = "erp_ops:{bench}:poison:{method}|{digest}"


def quarantine_key(bench_id: str) -> str:
	return QUARANTINE.format(bench=bench_id)


def quarantined_job_key(bench_id: str, job_id: str) -> str:
	return QUARANTINED_JOB.format(bench=bench_id, job_id=job_id)


def request_key(bench_id: str, request_id: str, site: str | None = None) -> str:
	"""A request id's key; with `site`, in that site's own namespace."""
	return REQUEST.format(bench=bench_id, request_id=f"{site}|{request_id}" if site else request_id)


def bulk_key(bench_id: str, token: str) -> str:
	return BULK.format(bench=bench_id, token=token)


def poison_key(bench_id: str, method: str, digest: str) -> str:
	return POISON.format(bench=bench_id, method=method, digest=digest)

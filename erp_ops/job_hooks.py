"""Frappe's `before_job`/`after_job` hooks, feeding the core's Job Evidence capture.

Frappe v15's `execute_job` calls `before_job` hooks before the job's method and `after_job` hooks
in its `finally:` block, so an exception on its way out of the job is still `sys.exc_info()` there.
These adapters run in the worker's work horse on every job: they touch only memory and, at the
end, one Redis round trip, and they never raise into the job.
"""

import logging
import sys
from typing import Any

import frappe
from rq import get_current_job
from rq.job import Job

from erp_ops.core.evidence.capture import JobCapture

log = logging.getLogger(__name__)

# One per process: a work horse runs one job (and Frappe's nested retries of it) at a time.
capture = JobCapture()
_bench_id: str | None = None

# Every scheduled job runs through this one method; the method it runs is its `job_type` argument.
RUN_SCHEDULED_JOB = "frappe.core.doctype.scheduled_job_type.scheduled_job_type.run_scheduled_job"


def before_job(
	method: str | None = None, kwargs: dict | None = None, transaction_type: str | None = None
) -> None:
	try:
		job = _current_job()
		if job is None or not _enabled():
			return
		_remember_bench_id()
		capture.begin(
			job, site=_local("site"), method=job_method(method, kwargs), kwargs=kwargs, user=_session_user()
		)
	except Exception:
		log.exception("erp_ops: before_job failed; the job runs without evidence")


def after_job(method: str | None = None, kwargs: dict | None = None, result: Any = None) -> None:
	try:
		error = sys.exc_info()[1]
		job = _current_job()
		if job is None or _bench_id is None:
			return
		capture.end(job, job.connection, _bench_id, error=error)
	except Exception:
		log.exception("erp_ops: after_job failed; no evidence for this job")


def _enabled() -> bool:
	# Site config `erp_ops_job_evidence: 0` switches capture off (a kill switch, and the
	# "without" side of benchmarks/evidence_overhead.py --frappe-bench); after_job then finds no
	# open job and records nothing.
	conf = _local("conf") or {}
	return bool(int(conf.get("erp_ops_job_evidence", 1) or 0))


def job_method(method: str | None, kwargs: dict | None) -> str | None:
	"""The method a job runs, seen through Frappe's scheduler wrapper."""
	if method == RUN_SCHEDULED_JOB and isinstance(kwargs, dict) and isinstance(kwargs.get("job_type"), str):
		return kwargs["job_type"]
	return method


def _current_job() -> Job | None:
	# Outside an RQ work horse (e.g. `frappe.enqueue(now=True)`) there is no job to record.
	return get_current_job()


def _remember_bench_id() -> None:
	# Read while the site is initialised: after a retried job Frappe has already torn down
	# frappe.local by the time the outer `after_job` runs.
	global _bench_id
	if _bench_id is None:
		_bench_id = frappe.utils.get_bench_id()


def _local(name: str) -> Any:
	return getattr(frappe.local, name, None)


def _session_user() -> str | None:
	session = _local("session")
	return getattr(session, "user", None) if session else None

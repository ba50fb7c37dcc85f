"""The benchmark's stand-in for erp_ops/job_hooks.py: the same core calls, without Frappe."""

from rq import get_current_job

from erp_ops.core.evidence.capture import JobCapture

capture = JobCapture()


def before_job(*, site, method, kwargs, user) -> None:
	capture.begin(get_current_job(), site=site, method=method, kwargs=kwargs, user=user)


def after_job(*, error) -> None:
	job = get_current_job()
	capture.end(job, job.connection, job.origin.rpartition(":")[0], error=error)

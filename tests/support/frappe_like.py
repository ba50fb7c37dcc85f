"""Jobs with Frappe v15's call shape, run by real RQ workers in the tests.

`execute_job` mirrors frappe.utils.background_jobs.execute_job: the same signature, the
`before_job` hook before the call, the `after_job` hook in a `finally:` (where the error is read
from sys.exc_info(), as the Frappe-layer hook does), and the nested retry on a retryable error.
"""

import builtins
import os
import sys
import time

from rq import get_current_job

from erp_ops.core.evidence.capture import JobCapture

CAPTURE = JobCapture()


class RetryBackgroundJobError(Exception):
	"""Stands in for frappe.RetryBackgroundJobError: execute_job runs the method again."""


def bench_id_of(job) -> str:
	return job.origin.rpartition(":")[0]


def execute_job(site, method, event, job_name, kwargs, user=None, is_async=True, retry=0):
	job = get_current_job()
	CAPTURE.begin(job, site=site, method=method, kwargs=kwargs, user=user)
	try:
		return resolve(method)(**kwargs)
	except RetryBackgroundJobError:
		if retry < 5:
			return execute_job(
				site, method, event, job_name, kwargs, user=user, is_async=is_async, retry=retry + 1
			)
		raise
	finally:
		CAPTURE.end(job, job.connection, bench_id_of(job), error=sys.exc_info()[1])


def execute_job_without_hooks(site, method, event, job_name, kwargs, user=None, is_async=True, retry=0):
	"""execute_job in a worker that does not run erp_ops's hooks (not restarted since install)."""
	return resolve(method)(**kwargs)


def resolve(method: str):
	module, _, name = method.rpartition(".")
	__import__(module)
	return getattr(sys.modules[module], name)


# Methods the tests enqueue through execute_job.


def work(ms: float = 0, **_ignored):
	time.sleep(ms / 1000)
	return "ok"


def fail(message: str = "boom", **_ignored):
	raise ValueError(message)


def missing(key: str = "customer", **_ignored):
	return {}[key]


class LedgerLocked(Exception):
	"""An app's own exception: RQ's traceback names it with its module."""


def raise_named(exception: str | None = None, seconds: float = 0, **_ignored):
	"""Sleeps `seconds`, then raises the exception named `exception` (built-in or of this module),
	or returns."""
	time.sleep(seconds)
	if exception:
		raise (getattr(builtins, exception, None) or globals()[exception])(f"raised on purpose: {exception}")
	return "ok"


def flaky_once(marker: str, **_ignored):
	"""Fails with a retryable error the first time it sees `marker`, then succeeds."""
	if not os.path.exists(marker):
		open(marker, "w").close()
		raise RetryBackgroundJobError("deadlock, try again")
	return "ok"


def hang(seconds: float = 600, marker: str | None = None, **_ignored):
	if marker:
		open(marker, "w").close()
	time.sleep(seconds)

"""Jobs for evidence_overhead.py: Frappe's execute_job shape with and without the evidence hooks.

Frappe v15 imports hook modules inside each forked work horse (`frappe.call` → `get_attr`), so the
evidence variant imports its hook module the same way, per job; the plain variant imports nothing.
"""

import importlib
import sys
import time


def work(ms: float) -> None:
	time.sleep(ms / 1000)


def execute_job_plain(site, method, event, job_name, kwargs, user=None, is_async=True, retry=0):
	try:
		return work(**kwargs)
	finally:
		pass


def execute_job_with_evidence(site, method, event, job_name, kwargs, user=None, is_async=True, retry=0):
	hooks = importlib.import_module("_evidence_hooks")
	hooks.before_job(site=site, method=method, kwargs=kwargs, user=user)
	try:
		return work(**kwargs)
	finally:
		hooks.after_job(error=sys.exc_info()[1])

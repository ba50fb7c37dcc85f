"""The Ops Console's one endpoint: everything the page shows, in one GET (built by site/console).

It reads only: nothing is enqueued, nothing is written to the database; the only write is the small
Redis hash that remembers since when each finding has been seen.
"""

import frappe

from erp_ops.api import READERS, has_roles, require_roles
from erp_ops.api import permissions as api_permissions
from erp_ops.site import console


@frappe.whitelist(methods=["GET"])
def state() -> dict:
	"""The console: verdict, queues, workers, schedulers, alerts, log, recovery, what you may do."""
	require_roles(*READERS)
	return {**console.build(), "permissions": permissions()}


def permissions() -> dict:
	"""What the caller may do here; the page shows a button only for what is true.

	The server's own answer (`erp_ops.api.permissions`: the `Ops Job Action` DocType permissions a
	System Manager edits, and the role gates of drills, preflight, reviews and acknowledgements);
	the endpoints check again on every call.
	"""
	allowed = api_permissions()
	return {
		"job_actions": allowed["retry"] or allowed["requeue"] or allowed["quarantine"],
		"bulk": allowed["bulk"],  # the bulk flow (preview → token → four eyes → execute)
		"acknowledge": allowed["acknowledge"],
		"run_drill": allowed["drill"],
		"run_preflight": allowed["preflight"],
		"mark_reviewed": allowed["review"],
	}


def has_app_permission() -> bool:
	"""The apps screen's gate (hooks.add_to_apps_screen): the console's readers."""
	return has_roles(*READERS)

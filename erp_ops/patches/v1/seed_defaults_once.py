"""Seed the default runbooks and alert rules on a site that never had them (issue 19).

Earlier versions seeded them on every migrate, by name, which brought back what an admin had
deleted; now they are seeded at install only. A site upgraded from a version that had neither
gets them once, here; a site that has any of them was seeded and is left as it is.
"""

import frappe


def execute() -> None:
	from erp_ops.site import install

	if not frappe.db.count("Runbook"):
		install.ensure_runbooks()
	if not frappe.db.count("Ops Alert Rule"):
		install.ensure_alert_rules()

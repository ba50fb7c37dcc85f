"""Install steps, run around `bench install-app` and after every `bench migrate`.

Each step is a small `ensure_*` function that changes only what is missing, so running them
again (every migrate does) is harmless. Defaults a user may delete (runbooks, alert rules) are
seeded once, at install; a default added in a later version comes with a patch of its own
(`seed_runbooks([...])`, `seed_alert_rules([...])` in patches.txt), so what a user deleted is
never re-created by a migrate.
"""

import frappe

APP = "erp_ops"
# Integration User: senders of integration events (erp_ops.api.events.ingest), nothing else.
OPS_ROLES = ("Ops Viewer", "Ops Operator", "Ops Manager", "Integration User", "Ops Alert Receiver")


def before_install() -> None:
	"""Rebuild Frappe's app-module map before the install syncs the DocTypes.

	`bench get-app` on a running bench: the map cached in Redis (filled by the scheduler or a
	worker before the app existed) does not list erp_ops, so `install-app` would sync none of its
	DocTypes. The cached map is dropped and rebuilt from apps.txt here.
	"""
	rebuild_module_map()


def after_install() -> None:
	ensure_doctypes()
	ensure_roles()
	ensure_settings()
	ensure_chain_head()
	ensure_runbooks()
	ensure_alert_rules()


def after_migrate() -> None:
	ensure_roles()
	ensure_settings()
	ensure_setting_defaults()
	ensure_chain_head()


def rebuild_module_map() -> None:
	frappe.cache.delete_value(["app_modules", "installed_app_modules"])
	frappe.local.app_modules = None
	frappe.setup_module_map()


def ensure_doctypes() -> list[str]:
	"""Sync the app's DocTypes when the install's own sync did not create them (a stale module map
	that the before_install hook could not fix, e.g. another app's hook cached it again); the
	DocTypes that were missing.
	"""
	from frappe.model.sync import sync_for

	expected = _app_doctypes()
	missing = [name for name in expected if not frappe.db.exists("DocType", name)]
	if missing:
		rebuild_module_map()
		sync_for(APP, force=True, reset_permissions=True)
		frappe.clear_cache()
		still = [name for name in expected if not frappe.db.exists("DocType", name)]
		if still:
			frappe.throw(f"erp_ops: these DocTypes could not be created: {', '.join(still)}")
	return missing


def _app_doctypes() -> list[str]:
	"""The DocTypes shipped in erp_ops/erp_ops/doctype (from the JSON files, not the module map)."""
	import json
	import os

	root = os.path.join(frappe.get_app_path(APP), "erp_ops", "doctype")
	names = []
	for folder in sorted(os.listdir(root)):
		path = os.path.join(root, folder, f"{folder}.json")
		if os.path.isfile(path):
			with open(path) as f:
				names.append(json.load(f)["name"])
	return names


def ensure_roles(roles: tuple[str, ...] = OPS_ROLES) -> list[str]:
	"""Create the roles (the ops roles) that do not exist yet; return the names created.

	A role an administrator has since edited is left as it is.
	"""
	created = []
	for role in roles:
		if frappe.db.exists("Role", role):
			continue
		frappe.get_doc({"doctype": "Role", "role_name": role, "desk_access": 1}).insert(
			ignore_permissions=True
		)
		created.append(role)
	return created


def ensure_settings() -> bool:
	"""Store Ops Settings' defaults once, so the form and `get_single_value` agree; True if saved."""
	if frappe.db.get_singles_dict("Ops Settings"):
		return False
	frappe.get_single("Ops Settings").save(ignore_permissions=True)
	return True


def ensure_setting_defaults() -> list[str]:
	"""Give Ops Settings fields added since it was first saved their defaults; return their names."""
	stored = frappe.db.get_singles_dict("Ops Settings")
	if not stored:
		return []
	added = []
	for df in frappe.get_meta("Ops Settings").fields:
		if df.default is not None and df.fieldname not in stored and not df.is_virtual:
			frappe.db.set_single_value("Ops Settings", df.fieldname, df.default)
			added.append(df.fieldname)
	if added:
		frappe.clear_document_cache("Ops Settings", "Ops Settings")
	return added


def ensure_chain_head() -> str | None:
	"""The Ops Action Log's head, the row its writers lock to keep one hash chain; a new, empty log
	gets its genesis row (install, or reinstall when an earlier chain's anchors are found)."""
	from erp_ops.site.audit import ensure_chain_head as ensure

	return ensure()


def ensure_runbooks(names: list[str] | None = None) -> list[str]:
	"""Import the runbooks shipped with the app (or only `names`) that the site does not have;
	return the names created. Called at install and by a patch per runbook added later, never on
	migrate: a seeded runbook the operators deleted stays deleted.
	"""
	from erp_ops.core.runbooks.seed import load_runbooks

	created = []
	for rb in load_runbooks():
		if (names is not None and rb.name not in names) or frappe.db.exists("Runbook", rb.name):
			continue
		frappe.get_doc(
			{
				"doctype": "Runbook",
				"runbook_name": rb.name,
				"title": rb.title,
				"area": rb.area.value,
				"severity": rb.severity.value,
				"status": rb.status.value,
				"symptoms": rb.symptoms,
				"impact": rb.impact,
				"diagnosis": rb.diagnosis,
				"steps": [step.model_dump() for step in rb.steps],
				"escalation": rb.escalation,
				"rollback": rb.rollback,
				"tags": ", ".join(rb.tags),
				"runbook_owner": rb.owner,
				"review_cadence_days": rb.review_cadence_days,
				"last_reviewed": rb.last_reviewed,
				"signatures": [sig.model_dump() for sig in rb.signatures],
			}
		).insert(ignore_permissions=True)
		created.append(rb.name)
	return created


def ensure_alert_rules(names: list[str] | None = None) -> list[str]:
	"""Insert the default alert rules (one or more per seeded runbook; or only `names`) the site does
	not have. At install and by a patch per rule added later, never on migrate: a rule an admin
	deleted does not come back. Returns the names created.
	"""
	from erp_ops.core.alerts.defaults import load_rules

	created = []
	for rule in load_rules():
		if (names is not None and rule.name not in names) or frappe.db.exists("Ops Alert Rule", rule.name):
			continue
		frappe.get_doc(
			{
				"doctype": "Ops Alert Rule",
				"rule_name": rule.name,
				"enabled": int(rule.enabled),
				"severity": rule.severity.value,
				"runbook": rule.runbook
				if rule.runbook and frappe.db.exists("Runbook", rule.runbook)
				else None,
				"signal": rule.signal,
				"comparison": rule.comparison.value,
				"threshold": rule.threshold,
				"aggregate": rule.aggregate.value if rule.aggregate else None,
				"for_s": int(rule.for_s),
				"use_clear_threshold": int(rule.clear_threshold is not None),
				"clear_threshold": rule.clear_threshold or 0,
				"guard_signal": rule.guard.signal if rule.guard else None,
				"guard_comparison": rule.guard.comparison.value if rule.guard else ">=",
				"guard_threshold": rule.guard.threshold if rule.guard else 0,
				"resolve_after_s": int(rule.resolve_after_s),
				"renotify_s": int(rule.renotify_s),
				"flap_window_s": int(rule.flap_window_s),
				"flap_limit": rule.flap_limit,
				"notify_roles": "\n".join(rule.notify.roles),
				"notify_users": "\n".join(rule.notify.users),
				"notify_emails": "\n".join(rule.notify.emails),
				"webhook_urls": "\n".join(rule.notify.webhooks),
				"description": rule.description,
			}
		).insert(ignore_permissions=True)
		created.append(rule.name)
	return created

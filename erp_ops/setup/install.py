"""Install steps, run after `bench install-app` and after every `bench migrate`.

Each step is a small `ensure_*` function that changes only what is missing, so running them
again (every migrate does) is harmless.
"""

import frappe

OPS_ROLES = ("Ops Viewer", "Ops Operator", "Ops Manager")


def after_install() -> None:
	ensure_roles()
	ensure_settings()


def after_migrate() -> None:
	ensure_roles()
	ensure_settings()


def ensure_roles() -> list[str]:
	"""Create the ops roles that do not exist yet; return the names created.

	A role an administrator has since edited is left as it is.
	"""
	created = []
	for role in OPS_ROLES:
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

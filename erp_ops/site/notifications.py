"""Desk notifications: the enabled users named or holding a role, and a Notification Log for each.

Used to tell the site's Ops Managers about something that needs a person (poison jobs, a broken
log, unproven backups) and by the alert rules for their own recipients.
"""

import frappe
from frappe.utils.user import get_users_with_role

OPS_MANAGER = "Ops Manager"


def enabled_users(
	roles: list[str] | tuple[str, ...] = (), users: list[str] | tuple[str, ...] = ()
) -> list[str]:
	"""Enabled users named, plus the enabled users holding one of the roles (Frappe's own lookup,
	which leaves Administrator out: nobody reads its bell), by name."""
	names = {user for role in roles for user in get_users_with_role(role)}
	if users:
		names |= set(frappe.get_all("User", filters={"name": ("in", list(users)), "enabled": 1}, pluck="name"))
	return sorted(names)


def log_notifications(
	users: list[str],
	subject: str,
	message: str,
	doctype: str | None = None,
	name: str | None = None,
	*,
	from_user: str | None = None,
) -> int:
	"""One Notification Log (the Desk bell) per user; returns how many were written."""
	for user in users:
		frappe.get_doc(
			{
				"doctype": "Notification Log",
				"for_user": user,
				"type": "Alert",
				"subject": subject,
				"email_content": message,
				"document_type": doctype,
				"document_name": name,
				"from_user": from_user,
			}
		).insert(ignore_permissions=True)
	return len(users)


def ops_managers() -> list[str]:
	"""Enabled users holding Ops Manager (Administrator excluded)."""
	return get_users_with_role(OPS_MANAGER)


def notify_managers(subject: str, message: str, doctype: str | None = None, name: str | None = None) -> int:
	"""One Notification Log per Ops Manager; returns how many were written."""
	return log_notifications(ops_managers(), subject, message, doctype, name, from_user="Administrator")

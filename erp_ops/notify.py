"""Tell the site's Ops Managers about something that needs a person (poison jobs, a broken log)."""

import frappe

OPS_MANAGER = "Ops Manager"


def ops_managers() -> list[str]:
	"""Enabled users holding Ops Manager (Administrator excluded: nobody reads its bell)."""
	users = frappe.get_all(
		"Has Role", filters={"role": OPS_MANAGER, "parenttype": "User"}, pluck="parent", distinct=True
	)
	return [
		u
		for u in frappe.get_all("User", filters={"name": ("in", users or [""]), "enabled": 1}, pluck="name")
		if u != "Administrator"
	]


def notify_managers(subject: str, message: str, doctype: str | None = None, name: str | None = None) -> int:
	"""One Notification Log (the Desk bell) per Ops Manager; returns how many were written."""
	users = ops_managers()
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
				"from_user": "Administrator",
			}
		).insert(ignore_permissions=True)
	return len(users)

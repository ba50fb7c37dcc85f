"""Move both chain heads into `Ops Chain Head` (issue 19): the action log's from its raw tabSingles
row under the non-Single `Ops Action Log` (which survived an uninstall and broke the next install's
chain), the backup manifests' from the two Ops Settings fields that are gone now.
"""

import frappe


def execute() -> None:
	from erp_ops.site import audit

	audit.ensure_chain_head(reason="upgrade")  # adopts the log's last row; drops the raw row
	stored = dict(
		frappe.db.sql(
			"""select field, value from tabSingles where doctype = 'Ops Settings'
			and field in ('manifest_chain_head', 'manifest_chain_stamp')"""
		)
	)
	if stored.get("manifest_chain_head") and audit.manifest_head()[0] is None:
		audit.set_manifest_head(stored["manifest_chain_head"], stored.get("manifest_chain_stamp") or "")
	frappe.db.sql(
		"""delete from tabSingles where doctype = 'Ops Settings'
		and field in ('manifest_chain_head', 'manifest_chain_stamp')"""
	)

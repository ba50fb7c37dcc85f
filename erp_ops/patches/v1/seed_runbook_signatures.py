"""Give the seeded runbooks installed before `Runbook Signature` existed their failure signatures.

Once: a runbook that already has signatures (someone added them) is left as it is.
"""

import frappe


def execute() -> None:
	from erp_ops.core.runbooks.seed import load_runbooks

	for rb in load_runbooks():
		if not rb.signatures or not frappe.db.exists("Runbook", rb.name):
			continue
		doc = frappe.get_doc("Runbook", rb.name)
		if doc.get("signatures"):
			continue
		for sig in rb.signatures:
			doc.append("signatures", sig.model_dump())
		doc.save(ignore_permissions=True)

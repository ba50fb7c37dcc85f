// Copyright (c) 2026, erp_ops developers and contributors
// For license information, please see license.txt

// Mark a runbook reviewed (Ops Manager): the endpoint records the review, moves the next review
// date and writes the Ops Action Log row.
frappe.ui.form.on("Runbook", {
	async refresh(frm) {
		if (frm.is_new() || !(await erp_ops.allowed()).review) return;
		frm.add_custom_button(__("Mark Reviewed"), () =>
			frappe.prompt(
				[{ fieldname: "notes", fieldtype: "Small Text", label: __("Review Notes") }],
				({ notes }) =>
					frappe
						.call({
							method: "erp_ops.api.runbooks.mark_reviewed",
							type: "POST",
							args: { name: frm.doc.name, notes },
							freeze: true,
						})
						.then(() => frm.reload_doc()),
				__("Mark Runbook Reviewed"),
				__("Mark Reviewed")
			)
		);
	},
});

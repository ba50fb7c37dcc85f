// Copyright (c) 2026, erp_ops developers and contributors
// For license information, please see license.txt

// Acknowledge a pending or firing alert (Ops Operator and up; a reason is required). The
// endpoint checks the role again and writes the Ops Action Log row.
frappe.ui.form.on("Ops Alert", {
	async refresh(frm) {
		const open = ["Pending", "Firing"].includes(frm.doc.status);
		if (frm.doc.runbook) {
			frm.add_custom_button(__("Open Runbook"), () => frappe.set_route("Form", "Runbook", frm.doc.runbook));
		}
		if (!open || frm.doc.acknowledged_by) return;
		if (!(await erp_ops.allowed()).acknowledge) return;
		frm.add_custom_button(__("Acknowledge"), () =>
			frappe.prompt(
				[{ fieldname: "note", fieldtype: "Small Text", label: __("Reason"), reqd: 1 }],
				({ note }) =>
					frappe
						.call({
							method: "erp_ops.api.alerts.acknowledge",
							type: "POST",
							args: { name: frm.doc.name, note },
							freeze: true,
						})
						.then(() => frm.reload_doc()),
				__("Acknowledge Alert"),
				__("Acknowledge")
			)
		).addClass("btn-primary");
	},
});

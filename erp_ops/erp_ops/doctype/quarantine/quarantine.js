// Copyright (c) 2026, erp_ops developers and contributors
// For license information, please see license.txt

frappe.ui.form.on("Quarantine", {
	async refresh(frm) {
		// Release needs the server's "release" permission; the server checks again.
		if (frm.doc.status !== "Quarantined" || !(await erp_ops.allowed()).release) return;
		frm.add_custom_button(__("Release"), () => {
			const request_id = frappe.utils.get_random(24);
			frappe.prompt(
				[{ fieldname: "reason", fieldtype: "Small Text", label: __("Reason"), reqd: 1 }],
				({ reason }) =>
					frappe.confirm(
						__("Enqueue job {0} again?", [frappe.utils.escape_html(frm.doc.job_id)]),
						() =>
							frappe
								.call({
									method: "erp_ops.api.jobs.release",
									type: "POST",
									args: { job_id: frm.doc.job_id, reason, request_id },
									freeze: true,
								})
								.then(() => frm.reload_doc())
					),
				__("Release Job"),
				__("Release")
			);
		});
	},
});

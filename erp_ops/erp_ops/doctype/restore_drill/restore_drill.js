// Copyright (c) 2026, erp_ops developers and contributors
// For license information, please see license.txt

frappe.provide("erp_ops.drills");

erp_ops.drills.outcome_colors = {
	Queued: "gray",
	Running: "blue",
	Passed: "green",
	"Not Verified": "orange",
	Failed: "red",
};
erp_ops.drills.status_colors = { pass: "green", warn: "orange", fail: "red", skip: "gray" };

erp_ops.drills.duration = (seconds) => {
	if (seconds === null || seconds === undefined) return "-";
	if (seconds < 120) return __("{0} s", [seconds.toFixed(1)]);
	if (seconds < 7200) return __("{0} min", [(seconds / 60).toFixed(1)]);
	if (seconds < 172800) return __("{0} h", [(seconds / 3600).toFixed(1)]);
	return __("{0} days", [(seconds / 86400).toFixed(1)]);
};

frappe.ui.form.on("Restore Drill", {
	async refresh(frm) {
		// Check statuses as coloured pills in the checks table: frappe.format honours df.formatter,
		// and the grid's docfields are per document (hence here, once docname is known).
		const grid = frm.get_field("checks").grid;
		grid.get_docfield("status").formatter = (value) => {
			const pill = erp_ops.drills.status_colors[value] || "gray";
			return `<span class="indicator-pill ${pill}">${frappe.utils.escape_html(__(value || ""))}</span>`;
		};
		grid.refresh();
		const color = erp_ops.drills.outcome_colors[frm.doc.outcome] || "gray";
		frm.page.set_indicator(__(frm.doc.outcome), color);
		if (frm.doc.reason) {
			frm.set_intro(
				__("{0}: {1} · RPO {2} · RTO {3}", [
					__(frm.doc.outcome),
					frappe.utils.escape_html(frm.doc.reason),
					erp_ops.drills.duration(frm.doc.rpo_s),
					erp_ops.drills.duration(frm.doc.rto_s),
				]),
				color
			);
		}
		// Starting a drill needs the server's "drill" permission (the server checks again).
		if (!(await erp_ops.allowed()).drill) return;
		frm.add_custom_button(__("Run Drill Now"), () =>
			frappe
				.call({ method: "erp_ops.api.drills.run_drill_now", type: "POST" })
				.then(({ message }) => frappe.set_route("Form", "Restore Drill", message.drill))
		);
	},
});

// Copyright (c) 2026, erp_ops developers and contributors
// For license information, please see license.txt

frappe.listview_settings["Restore Drill"] = {
	add_fields: ["outcome", "reason"],
	get_indicator(doc) {
		const colors = {
			Queued: "gray",
			Running: "blue",
			Passed: "green",
			"Not Verified": "orange",
			Failed: "red",
		};
		return [__(doc.outcome), colors[doc.outcome] || "gray", `outcome,=,${doc.outcome}`];
	},
	async onload(listview) {
		if (!(await erp_ops.allowed()).drill) return;
		listview.page.add_inner_button(__("Run Drill Now"), () =>
			frappe
				.call({ method: "erp_ops.api.drills.run_drill_now", type: "POST" })
				.then(({ message }) => frappe.set_route("Form", "Restore Drill", message.drill))
		);
	},
};

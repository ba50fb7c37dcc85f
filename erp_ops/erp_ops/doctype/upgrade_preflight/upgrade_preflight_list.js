// Copyright (c) 2026, erp_ops developers and contributors
// For license information, please see license.txt

{% include "erp_ops/public/js/ops_actions.js" %}

frappe.listview_settings["Upgrade Preflight"] = {
	add_fields: ["verdict", "risk_score"],
	get_indicator(doc) {
		const colors = { proceed: "green", proceed_with_care: "orange", do_not_proceed: "red" };
		return [__(frappe.unscrub(doc.verdict)), colors[doc.verdict] || "gray", `verdict,=,${doc.verdict}`];
	},
	async onload(listview) {
		// Running a preflight is for Ops Managers (the server checks again): queued on `long`.
		if (!(await erp_ops.allowed()).preflight) return;
		listview.page.add_inner_button(__("Run Preflight"), () =>
			erp_ops.jobs.run_preflight(() => listview.refresh())
		);
	},
};

// Copyright (c) 2026, erp_ops developers and contributors
// For license information, please see license.txt

frappe.listview_settings["Upgrade Preflight"] = {
	add_fields: ["verdict", "risk_score"],
	get_indicator(doc) {
		const colors = { proceed: "green", proceed_with_care: "orange", do_not_proceed: "red" };
		return [__(frappe.unscrub(doc.verdict)), colors[doc.verdict] || "gray", `verdict,=,${doc.verdict}`];
	},
};

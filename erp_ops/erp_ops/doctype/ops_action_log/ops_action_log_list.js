// Copyright (c) 2026, erp_ops developers and contributors
// For license information, please see license.txt

const ACTION_LOG_OUTCOME_COLORS = { done: "green", conflict: "orange", denied: "red", failed: "red" };

frappe.listview_settings["Ops Action Log"] = {
	add_fields: ["outcome"],
	get_indicator(doc) {
		return [
			__(doc.outcome),
			ACTION_LOG_OUTCOME_COLORS[doc.outcome] || "gray",
			`outcome,=,${doc.outcome}`,
		];
	},
};

// Copyright (c) 2026, erp_ops developers and contributors
// For license information, please see license.txt

const OUTCOME_COLORS = {
	success: "green",
	failed: "red",
	"timed out": "orange",
	abandoned: "red",
	canceled: "gray",
};

frappe.listview_settings["Job Evidence"] = {
	add_fields: ["outcome"],
	get_indicator(doc) {
		return [__(doc.outcome), OUTCOME_COLORS[doc.outcome] || "gray", `outcome,=,${doc.outcome}`];
	},
};

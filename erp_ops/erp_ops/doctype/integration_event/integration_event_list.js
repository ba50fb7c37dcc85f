// Copyright (c) 2026, erp_ops developers and contributors
// For license information, please see license.txt

const EVENT_STATUS_COLORS = {
	Received: "blue",
	Processing: "orange",
	Processed: "green",
	Failed: "red",
	Superseded: "gray",
	Conflict: "red",
	Rejected: "gray",
};

frappe.listview_settings["Integration Event"] = {
	add_fields: ["status"],
	get_indicator(doc) {
		return [__(doc.status), EVENT_STATUS_COLORS[doc.status] || "gray", `status,=,${doc.status}`];
	},
};

// Copyright (c) 2026, erp_ops developers and contributors
// For license information, please see license.txt

frappe.query_reports["Runbook Coverage"] = {
	filters: [
		{
			fieldname: "days",
			label: __("Failures of the Last (Days)"),
			fieldtype: "Int",
			default: 7,
		},
	],
};

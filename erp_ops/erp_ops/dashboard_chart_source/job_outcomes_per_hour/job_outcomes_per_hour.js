// Copyright (c) 2026, erp_ops developers and contributors
// For license information, please see license.txt

frappe.provide("frappe.dashboards.chart_sources");

// Hourly buckets: the standard Count chart's smallest time interval is a day.
frappe.dashboards.chart_sources["Job Outcomes per Hour"] = {
	method: "erp_ops.erp_ops.dashboard_chart_source.job_outcomes_per_hour.job_outcomes_per_hour.get",
	filters: [
		{
			fieldname: "hours",
			label: __("Hours"),
			fieldtype: "Int",
			default: 24,
		},
	],
};

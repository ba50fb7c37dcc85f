// Copyright (c) 2026, erp_ops developers and contributors
// For license information, please see license.txt

frappe.listview_settings["Quarantine"] = {
	add_fields: ["status", "job_id"],
	get_indicator(doc) {
		const color = doc.status === "Quarantined" ? "orange" : "green";
		return [__(doc.status), color, `status,=,${doc.status}`];
	},
	async onload(listview) {
		if (!(await erp_ops.allowed()).release) return;
		listview.page.add_action_item(__("Release"), () => {
			const jobs = listview
				.get_checked_items()
				.filter((d) => d.status === "Quarantined")
				.map((d) => d.job_id);
			if (!jobs.length) {
				frappe.msgprint(__("Select quarantined jobs to release."));
				return;
			}
			release_from_list(jobs, () => listview.refresh());
		});
	},
};

function release_from_list(job_ids, done) {
	frappe.prompt(
		[{ fieldname: "reason", fieldtype: "Small Text", label: __("Reason"), reqd: 1 }],
		({ reason }) => {
			frappe.confirm(
				__("Enqueue {0} quarantined job(s) again?", [job_ids.length]),
				async () => {
					let released = 0;
					for (const job_id of job_ids) {
						try {
							await frappe.call({
								method: "erp_ops.api.jobs.release",
								type: "POST",
								args: { job_id, reason, request_id: frappe.utils.get_random(24) },
								freeze: true,
							});
							released += 1;
						} catch (e) {
							// The server answered with its reason (409, 404); keep going with the rest.
						}
					}
					frappe.show_alert({
						message: __("Released {0} of {1}", [released, job_ids.length]),
						indicator: released === job_ids.length ? "green" : "orange",
					});
					done();
				}
			);
		},
		__("Release"),
		__("Release")
	);
}

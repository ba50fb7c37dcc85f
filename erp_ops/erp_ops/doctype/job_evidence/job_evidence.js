// Copyright (c) 2026, erp_ops developers and contributors
// For license information, please see license.txt

// Buttons follow what the server allows this user (per action) and what the job's current state
// allows. The server checks again; this only keeps unusable buttons away.
const JOB_ACTIONS_BY_STATE = {
	failed: ["retry", "requeue", "quarantine"],
	queued: ["cancel", "quarantine"],
	deferred: ["cancel", "quarantine"],
	scheduled: ["cancel", "quarantine"],
	started: ["cancel"],
	canceled: ["quarantine"],
	finished: ["quarantine"],
};

frappe.ui.form.on("Job Evidence", {
	refresh(frm) {
		if (frm.is_new() || !frm.doc.job_id) return;
		// A job that is no longer in Redis (or is another site's) is a 404: shown as "missing",
		// without frappe.call's "Not found" dialog on every refresh.
		const url = `/api/method/erp_ops.api.jobs.job_state?job_id=${encodeURIComponent(
			frm.doc.job_id
		)}`;
		fetch(url, { headers: { Accept: "application/json" } })
			.then((r) => {
				if (r.ok) return r.json().then((d) => d.message.state);
				return r.status === 404 ? "missing" : null;
			})
			.then((state) => Promise.all([state, erp_ops.allowed()]))
			.then(([state, allowed]) => {
				if (!state) return;
				frm.dashboard.set_headline(__("In Redis this job is now: {0}", [__(state)]));
				for (const action of (JOB_ACTIONS_BY_STATE[state] || []).filter((a) => allowed[a])) {
					frm.add_custom_button(
						__(frappe.utils.to_title_case(action)),
						() => erp_ops_job_action(frm, action, state),
						__("Job")
					);
				}
			});
	},
});

function erp_ops_job_action(frm, action, state) {
	const label = __(frappe.utils.to_title_case(action));
	// One id per prompt: a double-submitted confirmation acts once.
	const request_id = frappe.utils.get_random(24);
	frappe.prompt(
		[{ fieldname: "reason", fieldtype: "Small Text", label: __("Reason"), reqd: 1 }],
		({ reason }) => {
			frappe.confirm(
				__("{0} job {1} (now {2})?", [
					label,
					frappe.utils.escape_html(frm.doc.job_id),
					__(state),
				]),
				() =>
					frappe
						.call({
							method: `erp_ops.api.jobs.${action}`,
							type: "POST",
							args: { job_id: frm.doc.job_id, reason, expected: state, request_id },
							freeze: true,
						})
						.then(({ message }) => {
							const result = message.result;
							frappe.show_alert({
								message: __("{0}: {1} → {2}", [
									label,
									__(result.state_before),
									__(result.state_after),
								]),
								indicator: "green",
							});
							frm.reload_doc();
						})
			);
		},
		__("{0} Job", [label]),
		label
	);
}

// Copyright (c) 2026, erp_ops developers and contributors
// For license information, please see license.txt

// Actions shared by the Failed Jobs page, the Ops Console and the Upgrade Preflight list, pulled
// into their scripts by an include directive (no build step): one job (retry, requeue, cancel, quarantine; a reason,
// a confirmation, the state the operator saw as `expected`) and the bulk flow for Ops Managers:
// preview → token → a second manager approves above the four-eyes size → execute.
// The server checks the role on every call; the pages only leave out what the role may not do.
frappe.provide("erp_ops.jobs");

erp_ops.jobs.ask_reason = (title, then) => {
	frappe.prompt(
		[{ fieldname: "reason", fieldtype: "Small Text", label: __("Reason"), reqd: 1 }],
		({ reason }) => then(reason),
		title,
		__("Continue")
	);
};

erp_ops.jobs.act = (action, job_id, expected, done) => {
	const label = __(frappe.utils.to_title_case(action));
	const request_id = frappe.utils.get_random(24);
	erp_ops.jobs.ask_reason(__("{0} Job", [label]), (reason) =>
		frappe.confirm(__("{0} job {1}?", [label, frappe.utils.escape_html(job_id)]), () =>
			frappe
				.call({
					method: `erp_ops.api.jobs.${action}`,
					type: "POST",
					args: { job_id, reason, expected: expected || undefined, request_id },
					freeze: true,
				})
				.then(({ message }) => {
					frappe.show_alert({
						message: __("{0}: {1}", [label, __(message.result.state_after)]),
						indicator: "green",
					});
					done && done();
				})
		)
	);
};

erp_ops.jobs.bulk_preview = (action, filters, done) => {
	erp_ops.jobs.ask_reason(__("Bulk {0}: Preview", [__(action)]), (reason) =>
		frappe
			.call({
				method: "erp_ops.api.jobs.bulk_preview",
				type: "POST",
				args: { action, reason, filters: JSON.stringify(filters) },
				freeze: true,
			})
			.then(({ message }) => erp_ops.jobs.show_plan(message.result, reason, done))
	);
};

erp_ops.jobs.bulk_token = (done) => {
	const dialog = new frappe.ui.Dialog({
		title: __("Bulk Token"),
		fields: [
			{ fieldname: "token", fieldtype: "Data", label: __("Token"), reqd: 1 },
			{ fieldname: "reason", fieldtype: "Small Text", label: __("Reason"), reqd: 1 },
		],
		primary_action_label: __("Approve"),
		primary_action: ({ token, reason }) => {
			dialog.hide();
			frappe
				.call({
					method: "erp_ops.api.jobs.bulk_approve",
					type: "POST",
					args: { token, reason },
					freeze: true,
				})
				.then(({ message }) => erp_ops.jobs.show_plan(message.result, reason, done));
		},
		secondary_action_label: __("Execute"),
		secondary_action: () => {
			const { token, reason } = dialog.get_values() || {};
			if (!token || !reason) return;
			dialog.hide();
			erp_ops.jobs.execute(token, reason, done);
		},
	});
	dialog.show();
};

erp_ops.jobs.show_plan = (plan, reason, done) => {
	const esc = frappe.utils.escape_html;
	const list = (o) =>
		Object.entries(o || {})
			.map(([k, v]) => `<li>${esc(k)}: ${v}</li>`)
			.join("");
	const html = `<p>${__("{0} job(s) would be {1}.", [plan.count, __(plan.action)])}</p>
		<p><b>${__("Methods")}</b></p><ul>${list(plan.methods)}</ul>
		<p><b>${__("Queues")}</b></p><ul>${list(plan.queues)}</ul>
		<p><b>${__("Sample")}</b>: <small>${(plan.sample || []).map(esc).join(", ")}</small></p>
		<p>${__("Token")}: <code>${esc(plan.token)}</code> (${__(plan.state)}${
		plan.approved_by ? ", " + __("approved by {0}", [esc(plan.approved_by)]) : ""
	})</p>
		${
			plan.state === "pending approval"
				? `<p class="text-warning">${__(
						"Above the four-eyes size: another Ops Manager must approve this token (Bulk → Approve or Execute a Token) before it can run."
				  )}</p>`
				: ""
		}`;
	const dialog = new frappe.ui.Dialog({
		title: __("Bulk {0}", [__(plan.action)]),
		fields: [{ fieldtype: "HTML", options: html }],
	});
	if (plan.state === "ready" && plan.count) {
		dialog.set_primary_action(__("Execute"), () => {
			dialog.hide();
			erp_ops.jobs.execute(plan.token, reason, done);
		});
	}
	dialog.show();
};

erp_ops.jobs.execute = (token, reason, done) => {
	frappe.confirm(
		__("Act on every job of token {0} now?", [frappe.utils.escape_html(token.slice(0, 12))]),
		() =>
			frappe
				.call({
					method: "erp_ops.api.jobs.bulk_execute",
					type: "POST",
					args: { token, reason },
					freeze: true,
				})
				.then(({ message }) => {
					const r = message.result;
					frappe.msgprint(
						__("{0}: moved {1}, skipped {2} of {3} in {4} batch(es).", [
							__(r.action),
							r.moved,
							r.skipped,
							r.planned,
							r.batches,
						])
					);
					done && done();
				})
	);
};

// Adds the Bulk menu (managers only) to a page; `filters()` gives the bulk filter to preview.
erp_ops.jobs.add_bulk_menu = (page, filters, done) => {
	for (const action of ["requeue", "retry", "quarantine"]) {
		page.add_inner_button(
			__(frappe.utils.to_title_case(action)),
			() => erp_ops.jobs.bulk_preview(action, filters(), done),
			__("Bulk")
		);
	}
	page.add_inner_button(__("Approve or Execute a Token"), () => erp_ops.jobs.bulk_token(done), __("Bulk"));
};

// Run an upgrade preflight (Ops Manager): ask for the target major version, queue it on `long`.
erp_ops.jobs.run_preflight = (done) => {
	frappe.prompt(
		[{ fieldname: "target", fieldtype: "Int", label: __("Target Frappe Version"), reqd: 1, default: 16 }],
		({ target }) =>
			frappe
				.call({ method: "erp_ops.api.preflight.run", type: "POST", args: { target }, freeze: true })
				.then(({ message }) => {
					frappe.show_alert({ message: __("Preflight for v{0} queued", [message.target]), indicator: "blue" });
					done && done();
				}),
		__("Run Upgrade Preflight"),
		__("Run")
	);
};

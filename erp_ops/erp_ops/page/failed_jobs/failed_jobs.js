// Copyright (c) 2026, erp_ops developers and contributors
// For license information, please see license.txt

// Live list of this site's failed jobs with single-job actions (Ops Operator) and the bulk flow
// (Ops Manager): preview → confirm with the token → a second manager approves above the
// four-eyes size → execute. Buttons the server does not allow this user are not shown (the
// server reports its DocType permissions, erp_ops.api.permissions); the server checks anyway.
const FJ_REFRESH_MS = 15000;

frappe.pages["failed-jobs"].on_page_load = function (wrapper) {
	const page = frappe.ui.make_app_page({
		parent: wrapper,
		title: __("Failed Jobs"),
		single_column: true,
	});
	wrapper.failed_jobs = new FailedJobs(page);
};

frappe.pages["failed-jobs"].on_page_show = function (wrapper) {
	wrapper.failed_jobs && wrapper.failed_jobs.refresh();
};

class FailedJobs {
	constructor(page) {
		this.page = page;
		this.allowed = {};
		const refresh = () => this.refresh();
		this.method = page.add_field({
			fieldname: "method",
			label: __("Method"),
			fieldtype: "Data",
			change: refresh,
		});
		this.queue = page.add_field({
			fieldname: "queue",
			label: __("Queue"),
			fieldtype: "Select",
			options: ["", "short", "default", "long"],
			change: refresh,
		});
		this.exc_type = page.add_field({
			fieldname: "exc_type",
			label: __("Exception"),
			fieldtype: "Data",
			change: refresh,
		});
		page.set_secondary_action(__("Refresh"), refresh);
		erp_ops.allowed().then((allowed) => {
			this.allowed = allowed;
			this.add_bulk_buttons();
			this.refresh();
		});
		this.$body = $('<div class="frappe-card p-3"></div>').appendTo(page.main);
		this.$body.on("click", "[data-action]", (e) => {
			const $b = $(e.currentTarget);
			this.act($b.attr("data-action"), $b.attr("data-job"));
		});
		setInterval(() => {
			if (frappe.get_route_str() === "failed-jobs" && !document.hidden) this.refresh();
		}, FJ_REFRESH_MS);
	}

	add_bulk_buttons() {
		const page = this.page;
		if (this.allowed.bulk) {
			for (const action of ["requeue", "retry", "quarantine"]) {
				page.add_inner_button(
					__(frappe.utils.to_title_case(action)),
					() => this.bulk_preview(action),
					__("Bulk")
				);
			}
			page.add_inner_button(
				__("Approve or Execute a Token"),
				() => this.bulk_token(),
				__("Bulk")
			);
		}
	}

	filters() {
		return {
			method: this.method.get_value() || undefined,
			queue: this.queue.get_value() || undefined,
			exc_type: this.exc_type.get_value() || undefined,
		};
	}

	refresh() {
		frappe
			.call({
				method: "erp_ops.api.jobs.failed_jobs",
				type: "GET",
				args: { ...this.filters(), limit: 200 },
			})
			.then(({ message }) => this.render(message || []));
	}

	render(rows) {
		const esc = frappe.utils.escape_html;
		if (!rows.length) {
			this.$body.html(`<p class="text-muted">${__("No failed jobs match.")}</p>`);
			return;
		}
		const buttons = (job) =>
			["retry", "requeue", "quarantine"]
				.filter((a) => this.allowed[a])
				.map(
					(a) =>
						`<button class="btn btn-xs btn-default" data-action="${a}" data-job="${esc(
							job
						)}">${__(frappe.utils.to_title_case(a))}</button>`
				)
				.join(" ");
		const body = rows
			.map(
				(r) => `<tr>
					<td><code>${esc(r.job_id)}</code></td>
					<td>${esc(r.method || "")}</td>
					<td>${esc(r.queue || "")}</td>
					<td>${esc(r.exc_type || "")}</td>
					<td>${
						r.ended_at
							? frappe.datetime.comment_when(
									frappe.datetime.convert_to_user_tz(
										r.ended_at.replace("T", " ").slice(0, 19),
										true
									)
							  )
							: ""
					}</td>
					<td><small><code>${esc(JSON.stringify(r.kwargs || {})).slice(0, 300)}</code></small></td>
					<td class="text-nowrap">${buttons(r.job_id)}</td>
				</tr>`
			)
			.join("");
		this.$body.html(`<p class="text-muted">${__(
			"{0} failed job(s), oldest first; arguments are redacted.",
			[rows.length]
		)}</p>
			<div class="table-responsive"><table class="table table-sm">
			<thead><tr><th>${__("Job")}</th><th>${__("Method")}</th><th>${__("Queue")}</th><th>${__(
			"Exception"
		)}</th>
			<th>${__("Failed")}</th><th>${__(
			"Arguments"
		)}</th><th></th></tr></thead><tbody>${body}</tbody></table></div>`);
	}

	ask_reason(title, then) {
		frappe.prompt(
			[{ fieldname: "reason", fieldtype: "Small Text", label: __("Reason"), reqd: 1 }],
			({ reason }) => then(reason),
			title,
			__("Continue")
		);
	}

	act(action, job_id) {
		const label = __(frappe.utils.to_title_case(action));
		const request_id = frappe.utils.get_random(24);
		this.ask_reason(__("{0} Job", [label]), (reason) =>
			frappe.confirm(__("{0} job {1}?", [label, frappe.utils.escape_html(job_id)]), () =>
				frappe
					.call({
						method: `erp_ops.api.jobs.${action}`,
						type: "POST",
						args: { job_id, reason, expected: "failed", request_id },
						freeze: true,
					})
					.then(({ message }) => {
						frappe.show_alert({
							message: __("{0}: {1}", [label, __(message.result.state_after)]),
							indicator: "green",
						});
						this.refresh();
					})
			)
		);
	}

	bulk_preview(action) {
		const f = this.filters();
		const filters = {
			methods: f.method ? [f.method] : [],
			queues: f.queue ? [f.queue] : [],
			exc_types: f.exc_type ? [f.exc_type] : [],
		};
		this.ask_reason(__("Bulk {0}: Preview", [__(action)]), (reason) =>
			frappe
				.call({
					method: "erp_ops.api.jobs.bulk_preview",
					type: "POST",
					args: { action, reason, filters: JSON.stringify(filters) },
					freeze: true,
				})
				.then(({ message }) => this.show_plan(message.result, reason))
		);
	}

	bulk_token() {
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
					.then(({ message }) => this.show_plan(message.result, reason));
			},
			secondary_action_label: __("Execute"),
			secondary_action: () => {
				const { token, reason } = dialog.get_values() || {};
				if (!token || !reason) return;
				dialog.hide();
				this.execute(token, reason);
			},
		});
		dialog.show();
	}

	show_plan(plan, reason) {
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
				this.execute(plan.token, reason);
			});
		}
		dialog.show();
	}

	execute(token, reason) {
		frappe.confirm(
			__("Act on every job of token {0} now?", [
				frappe.utils.escape_html(token.slice(0, 12)),
			]),
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
						this.refresh();
					})
		);
	}
}

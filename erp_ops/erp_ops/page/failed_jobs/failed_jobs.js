// Copyright (c) 2026, erp_ops developers and contributors
// For license information, please see license.txt

// Live list of this site's failed jobs with single-job actions (Ops Operator) and the bulk flow
// (Ops Manager): preview → confirm with the token → a second manager approves above the
// four-eyes size → execute. Buttons the server does not allow this user are not shown (the
// server reports its DocType permissions, erp_ops.api.permissions); the server checks anyway.
// The table fits a 1280 px screen: long values are cut with the full value on hover, and the
// actions column is always in view.
{% include "erp_ops/public/js/ops_actions.js" %}

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
	// The Ops Console opens this page with a queue (frappe.route_options).
	if (wrapper.failed_jobs && frappe.route_options) {
		const { queue, method, exc_type } = frappe.route_options;
		frappe.route_options = null;
		wrapper.failed_jobs.set_filters({ queue, method, exc_type });
	}
	wrapper.failed_jobs && wrapper.failed_jobs.refresh();
};

class FailedJobs {
	constructor(page) {
		this.page = page;
		this.can_operate = false;
		this.can_manage = false;
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
			this.can_operate = !!(allowed.retry || allowed.requeue || allowed.quarantine);
			this.can_manage = !!allowed.bulk;
			if (this.can_manage) {
				erp_ops.jobs.add_bulk_menu(page, () => this.bulk_filters(), refresh);
			}
			this.refresh();
		});
		this.$body = $('<div class="frappe-card p-3 erp-ops-failed-jobs"></div>').appendTo(page.main);
		this.$body.on("click", "[data-action]", (e) => {
			const $b = $(e.currentTarget);
			erp_ops.jobs.act($b.attr("data-action"), $b.attr("data-job"), "failed", refresh);
		});
		setInterval(() => {
			if (frappe.get_route_str() === "failed-jobs" && !document.hidden) this.refresh();
		}, FJ_REFRESH_MS);
		this.refresh();
	}

	set_filters({ queue, method, exc_type }) {
		this.queue.set_value(queue || "");
		this.method.set_value(method || "");
		this.exc_type.set_value(exc_type || "");
	}

	filters() {
		return {
			method: this.method.get_value() || undefined,
			queue: this.queue.get_value() || undefined,
			exc_type: this.exc_type.get_value() || undefined,
		};
	}

	bulk_filters() {
		const f = this.filters();
		return {
			methods: f.method ? [f.method] : [],
			queues: f.queue ? [f.queue] : [],
			exc_types: f.exc_type ? [f.exc_type] : [],
			sites: [frappe.boot.sitename],
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
		// A cell cut to its column's width, the whole value in its title (shown on hover).
		const cut = (value, code) => {
			const text = value == null ? "" : String(value);
			const inner = code ? `<code>${esc(text)}</code>` : esc(text);
			return `<div class="fj-cut" title="${esc(text)}">${inner}</div>`;
		};
		const buttons = (job) =>
			this.can_operate
				? ["retry", "requeue", "quarantine"]
						.map(
							(a) =>
								`<button class="btn btn-xs btn-default" data-action="${a}" data-job="${esc(
									job
								)}">${__(frappe.utils.to_title_case(a))}</button>`
						)
						.join(" ")
				: "";
		const body = rows
			.map(
				(r) => `<tr>
					<td>${cut(r.job_id, true)}</td>
					<td>${cut(r.method)}</td>
					<td>${cut((r.queue || "").split(":").pop())}</td>
					<td>${cut(r.exc_type)}</td>
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
					<td>${cut(JSON.stringify(r.kwargs || {}), true)}</td>
					${this.can_operate ? `<td class="fj-actions">${buttons(r.job_id)}</td>` : ""}
				</tr>`
			)
			.join("");
		this.$body.html(`<p class="text-muted">${__(
			"{0} failed job(s), oldest first; arguments are redacted. Hover a cut value to read it whole.",
			[rows.length]
		)}</p>
			<table class="table table-sm fj-table">
			<colgroup><col style="width:16%"><col style="width:22%"><col style="width:8%"><col style="width:13%">
			<col style="width:9%"><col>${this.can_operate ? '<col style="width:250px">' : ""}</colgroup>
			<thead><tr><th>${__("Job")}</th><th>${__("Method")}</th><th>${__("Queue")}</th><th>${__(
			"Exception"
		)}</th>
			<th>${__("Failed")}</th><th>${__("Arguments")}</th>${
			this.can_operate ? `<th class="fj-actions">${__("Actions")}</th>` : ""
		}</tr></thead><tbody>${body}</tbody></table>`);
	}
}

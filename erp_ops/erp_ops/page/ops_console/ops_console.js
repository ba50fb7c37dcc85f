// Copyright (c) 2026, erp_ops developers and contributors
// For license information, please see license.txt

// The Ops Console: one live page with the state of operations and the actions on it.
// ONE request per refresh (erp_ops.api.console.state, built from the cached snapshot and a few
// indexed queries; it never enqueues anything), every few seconds while the tab is visible.
// Buttons follow `permissions` from that answer; every action's endpoint checks the role again.
{% include "erp_ops/public/js/ops_actions.js" %}

frappe.provide("erp_ops.console");

erp_ops.console.REFRESH_MS = 5000;
erp_ops.console.SEVERITY = { critical: "red", warning: "orange", info: "blue", ok: "green" };
erp_ops.console.DRILL = { Passed: "green", Failed: "red", Running: "blue", Queued: "gray" };
erp_ops.console.PREFLIGHT = { proceed: "green", proceed_with_care: "orange", do_not_proceed: "red" };

erp_ops.console.duration = (s) => {
	if (s === null || s === undefined) return "–";
	if (s < 120) return __("{0} s", [Math.round(s)]);
	if (s < 7200) return __("{0} min", [Math.round(s / 60)]);
	if (s < 172800) return __("{0} h", [(s / 3600).toFixed(1)]);
	return __("{0} days", [(s / 86400).toFixed(1)]);
};

erp_ops.console.bytes = (b) => (b === null || b === undefined ? "–" : __("{0} MB", [Math.round(b / 1048576)]));

frappe.pages["ops-console"].on_page_load = function (wrapper) {
	const page = frappe.ui.make_app_page({ parent: wrapper, title: __("Ops Console"), single_column: true });
	wrapper.ops_console = new erp_ops.console.Console(page);
};

frappe.pages["ops-console"].on_page_show = function (wrapper) {
	wrapper.ops_console && wrapper.ops_console.refresh();
};

erp_ops.console.Console = class {
	constructor(page) {
		this.page = page;
		this.data = null;
		this.busy = false;
		page.set_secondary_action(__("Refresh"), () => this.refresh());
		this.$body = $('<div class="erp-ops-console"></div>').appendTo(page.main);
		this.$body.on("click", "[data-act]", (e) => this.on_click($(e.currentTarget)));
		setInterval(() => this.tick(), erp_ops.console.REFRESH_MS);
		document.addEventListener("visibilitychange", () => this.tick());
		this.refresh();
	}

	visible() {
		return frappe.get_route_str() === "ops-console" && !document.hidden;
	}

	tick() {
		if (this.visible()) this.refresh();
	}

	refresh() {
		if (this.busy) return; // one request at a time
		this.busy = true;
		frappe
			.call({ method: "erp_ops.api.console.state", type: "GET" })
			.then(({ message }) => {
				this.data = message;
				this.render();
			})
			.always(() => (this.busy = false));
	}

	// Rendering ---------------------------------------------------------------------------------

	render() {
		const d = this.data;
		this.set_menu(d.permissions);
		this.page.set_indicator(
			{ ok: __("OK"), warning: __("Warning"), critical: __("Critical") }[d.verdict],
			erp_ops.console.SEVERITY[d.verdict]
		);
		this.$body.html(`
			${this.verdict_html(d)}
			<div class="oc-grid">
				${this.section("queues", __("Queues"), this.queues_html(d))}
				${this.section("workers", __("Workers"), this.workers_html(d))}
				${this.section("alerts", __("Firing Alerts"), this.alerts_html(d), true)}
				${this.section("running", __("Started Jobs"), this.running_html(d), true)}
				${this.section("failures", __("Failures in the Last Hour"), this.failures_html(d), true)}
				${this.section("schedulers", __("Scheduler"), this.schedulers_html(d))}
				${this.section("recovery", __("Recovery and Upgrades"), this.recovery_html(d))}
				${this.section("log", __("Recent Ops Action Log"), this.log_html(d), true)}
			</div>
			<p class="text-muted small oc-foot">${__("Snapshot {0} old · site {1} · refreshes every {2} s while visible", [
				erp_ops.console.duration(d.snapshot_age_s),
				this.esc(d.site),
				erp_ops.console.REFRESH_MS / 1000,
			])}</p>`);
	}

	set_menu(perms) {
		if (this.menu_done) return;
		this.menu_done = true;
		if (perms.bulk) {
			erp_ops.jobs.add_bulk_menu(
				this.page,
				() => ({ methods: [], queues: [], exc_types: [], sites: [frappe.boot.sitename] }),
				() => this.refresh()
			);
		}
		if (perms.run_drill) {
			this.page.add_inner_button(__("Run Drill Now"), () => this.run_drill(), __("Run"));
		}
		if (perms.run_preflight) {
			this.page.add_inner_button(__("Run Preflight"), () => this.run_preflight(), __("Run"));
		}
	}

	esc(v) {
		return frappe.utils.escape_html(v === null || v === undefined ? "" : String(v));
	}

	num(v) {
		return v === null || v === undefined ? "–" : this.esc(Math.round(v * 100) / 100);
	}

	cut(v, code) {
		const t = this.esc(v);
		return `<span class="oc-cut" title="${t}">${code ? `<code>${t}</code>` : t}</span>`;
	}

	pill(label, color) {
		return `<span class="indicator-pill ${color} oc-pill">${this.esc(label)}</span>`;
	}

	link(label, route_args, title) {
		// A Desk route as data, opened with frappe.set_route (no hard-coded /app/ URL).
		return `<a href="#" data-act="route" data-route='${this.esc(JSON.stringify(route_args))}' title="${this.esc(
			title || label
		)}">${this.esc(label)}</a>`;
	}

	runbook(name) {
		return name
			? `<a href="${frappe.utils.get_form_link("Runbook", name)}" class="oc-runbook">${__("Runbook")} ${this.esc(name)}</a>`
			: "";
	}

	button(act, label, attrs) {
		const a = Object.entries(attrs || {})
			.map(([k, v]) => `data-${k}="${this.esc(v)}"`)
			.join(" ");
		return `<button class="btn btn-xs btn-default" data-act="${act}" ${a}>${this.esc(label)}</button>`;
	}

	actions(html) {
		return `<span class="oc-actions">${html}</span>`;
	}

	section(key, title, html, wide) {
		return `<div class="frappe-card oc-card${wide ? " oc-wide" : ""}" data-section="${key}"><h5 class="oc-title">${title}</h5>${html}</div>`;
	}

	table(heads, rows, empty) {
		if (!rows.length) return `<p class="text-muted small">${empty}</p>`;
		return `<div class="oc-table-wrap"><table class="table table-sm oc-table"><thead><tr>${heads
			.map((h) => `<th>${h}</th>`)
			.join("")}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("")}</tbody></table></div>`;
	}

	verdict_html(d) {
		const label = { ok: __("OK"), warning: __("Warning"), critical: __("Critical") }[d.verdict];
		const items = d.findings
			.map(
				(f) => `<li class="oc-finding" data-severity="${f.severity}">
					${this.pill(__(frappe.utils.to_title_case(f.severity)), erp_ops.console.SEVERITY[f.severity] || "gray")}
					<span class="oc-message">${this.esc(f.message)}</span>
					<span class="text-muted small">${__("for {0}", [erp_ops.console.duration(f.age_s)])} · ${
					f.site ? this.esc(f.site) : __("bench")
				}</span> ${this.runbook(f.runbook)}</li>`
			)
			.join("");
		return `<div class="frappe-card oc-verdict oc-${d.verdict}" data-section="verdict">
			<div class="oc-verdict-line">${this.pill(label, erp_ops.console.SEVERITY[d.verdict])}
			<b>${
				d.findings.length
					? __("{0} finding(s), most severe first", [d.findings.length])
					: __("Nothing needs attention.")
			}</b></div>
			<ul class="oc-findings">${items}</ul></div>`;
	}

	queues_html(d) {
		const dur = erp_ops.console.duration;
		return this.table(
			[__("Queue"), __("Site"), __("Queued"), __("Oldest Waiting"), __("Started"), __("Abandoned"), __("Failed 1 h"), __("Workers")],
			d.queues.map((q) => [
				this.link(q.queue, ["List", "Job Evidence", { queue: q.rq_name }], __("Job Evidence of {0}", [q.queue])),
				q.site ? this.esc(q.site) : `<span class="text-muted">${__("all")}</span>`,
				q.queued,
				q.oldest_age_s === null ? "–" : `<span title="${this.esc(q.oldest_job_id)}">${dur(q.oldest_age_s)}</span>`,
				q.started,
				q.abandoned ? `<b class="text-danger">${q.abandoned}</b>` : 0,
				q.failed_1h
					? this.link(String(q.failed_1h), ["failed-jobs", { queue: q.queue }], __("Failed jobs of {0}", [q.queue]))
					: 0,
				q.workers ? q.workers : `<b class="text-danger">0</b>`,
			]),
			__("No queues.")
		);
	}

	workers_html(d) {
		const dur = erp_ops.console.duration;
		return this.table(
			[__("Worker"), __("State"), __("Current Job"), __("Heartbeat"), __("RSS / CPU")],
			d.workers.map((w) => [
				`${this.cut(w.name)}<div class="text-muted small">${this.esc((w.queues || []).join(", "))}</div>`,
				w.status === "dead"
					? `${this.pill(__("Dead"), "red")}<div class="small text-danger oc-held">${this.esc(w.dead_reason || "")}${
							w.held.length
								? "<br>" + __("held {0}", [w.held.map((j) => this.esc(j.method || j.job_id)).join(", ")])
								: ""
					  }</div>`
					: this.pill(__(w.state || "?"), w.state === "busy" ? "blue" : "green"),
				w.current_job
					? `${this.cut(w.current_method || w.current_job)}<div class="text-muted small">${
							w.running_s === null ? "" : __("running {0}", [dur(w.running_s)])
					  }</div>`
					: "–",
				dur(w.heartbeat_age_s),
				`${erp_ops.console.bytes(w.rss_bytes)} / ${w.cpu_percent === null ? "–" : w.cpu_percent + " %"}`,
			]),
			__("No workers registered.")
		);
	}

	running_html(d) {
		const ops = d.permissions.job_actions;
		return this.table(
			[__("Job"), __("Queue"), __("Worker"), __("Running"), __("State"), ...(ops ? [""] : [])],
			d.running.map((j) => [
				`${this.cut(j.method || j.job_id)}<div class="text-muted small">${this.cut(j.job_id, true)}</div>`,
				this.esc(j.queue),
				this.cut(j.worker || ""),
				erp_ops.console.duration(j.elapsed_s),
				j.abandoned
					? this.pill(__("Abandoned"), "red") + `<div class="small text-muted">${this.esc(j.abandoned_reason || "")}</div>`
					: j.overdue
					? this.pill(__("Past Timeout"), "orange")
					: this.pill(__("Running"), "blue"),
				...(ops ? [this.actions(this.button("job", __("Cancel"), { action: "cancel", job: j.job_id, expected: "started" }))] : []),
			]),
			__("No job is running.")
		);
	}

	failures_html(d) {
		const ops = d.permissions.job_actions;
		return this.table(
			[__("Job"), __("Outcome"), __("Exception"), __("Ended"), ...(ops ? [""] : [])],
			d.failures.map((f) => [
				`${this.link(f.method || f.job_id, ["Form", "Job Evidence", f.name], f.job_id)}<div class="text-muted small">${this.esc(f.queue)}</div>`,
				this.pill(__(f.outcome), "red"),
				this.cut(f.exc_type || ""),
				f.ended_at ? frappe.datetime.comment_when(f.ended_at) : "",
				...(ops
					? [
							this.actions(
								["retry", "requeue", "quarantine"]
									.map((a) => this.button("job", __(frappe.utils.to_title_case(a)), { action: a, job: f.job_id, expected: "failed" }))
									.join(" ")
							),
					  ]
					: []),
			]),
			__("No failures in the last hour.")
		);
	}

	alerts_html(d) {
		const can = d.permissions.acknowledge;
		return this.table(
			[__("Alert"), __("Status"), __("Value"), __("Since"), __("Runbook"), ...(can ? [""] : [])],
			d.alerts.map((a) => [
				`${this.link(a.rule, ["Form", "Ops Alert", a.name], a.name)}<div class="text-muted small">${this.esc(a.subject || "")}</div>`,
				this.pill(__(a.status), erp_ops.console.SEVERITY[a.severity] || "orange") +
					(a.acknowledged_by ? `<div class="small text-muted">${__("acknowledged by {0}", [this.esc(a.acknowledged_by)])}</div>` : ""),
				`${this.num(a.value)} ${this.esc(a.comparison || "")} ${this.num(a.threshold)}`,
				a.fired_at || a.pending_since ? frappe.datetime.comment_when(a.fired_at || a.pending_since) : "",
				this.runbook(a.runbook),
				...(can ? [a.acknowledged_by ? "" : this.actions(this.button("ack", __("Acknowledge"), { name: a.name }))] : []),
			]),
			__("No alert is firing.")
		);
	}

	schedulers_html(d) {
		return this.table(
			[__("Site"), __("Scheduler"), __("Why")],
			d.schedulers.map((s) => [
				this.esc(s.site),
				this.pill(__(frappe.utils.to_title_case(s.status)), s.status === "running" ? "green" : erp_ops.console.SEVERITY[s.severity] || "orange"),
				this.esc(s.reason || (s.status === "running" ? __("running") : "")),
			]),
			__("No scheduler facts.")
		);
	}

	recovery_html(d) {
		const r = d.recovery;
		const dur = erp_ops.console.duration;
		const drill = r.drill.name
			? `${this.pill(__(r.drill.outcome), erp_ops.console.DRILL[r.drill.outcome] || "gray")} ${this.link(
					r.drill.name,
					["Form", "Restore Drill", r.drill.name]
			  )} <span class="text-muted small">${__("{0} ago", [dur(r.drill.age_s)])}${
					r.drill.reason ? " · " + this.esc(r.drill.reason) : ""
			  }</span>`
			: `<span class="text-muted">${__("No drill yet")}</span>`;
		const proven = { ok: __("Proven"), warning: __("Last Drill Failed"), critical: __("Unproven") }[r.backups.severity];
		const pf = r.preflight
			? `${this.pill(__(frappe.utils.to_title_case(r.preflight.verdict.replace(/_/g, " "))), erp_ops.console.PREFLIGHT[r.preflight.verdict] || "gray")} ${this.link(
					r.preflight.name,
					["Form", "Upgrade Preflight", r.preflight.name]
			  )} <span class="text-muted small">${__("risk {0}", [r.preflight.risk_score])}</span>`
			: `<span class="text-muted">${__("Not run yet")}</span>`;
		return `<table class="table table-sm oc-table oc-kv"><tbody>
			<tr><th>${__("Last Drill")}</th><td data-field="drill">${drill}</td></tr>
			<tr><th>${__("RPO / RTO")}</th><td>${dur(r.rpo_s)} / ${dur(r.rto_s)}</td></tr>
			<tr><th>${__("Backups")}</th><td data-field="backups">${this.pill(proven, erp_ops.console.SEVERITY[r.backups.severity])} <span class="small text-muted">${this.esc(r.backups.message)}</span></td></tr>
			<tr><th>${__("Last Preflight")}</th><td data-field="preflight">${pf}</td></tr>
		</tbody></table>`;
	}

	log_html(d) {
		return this.table(
			[__("When"), __("User"), __("Action"), __("Outcome"), __("Targets")],
			d.log.map((l) => [
				l.acted_at ? frappe.datetime.comment_when(l.acted_at) : "",
				this.cut(l.user),
				this.link(l.action + (l.dry_run ? " " + __("(dry run)") : ""), ["Form", "Ops Action Log", l.name]),
				this.pill(__(l.outcome), { Done: "green", Denied: "red", Failed: "red" }[l.outcome] || "gray"),
				this.cut(l.reason ? `${l.targets} — ${l.reason}` : l.targets),
			]),
			__("No actions logged yet.")
		);
	}

	// Actions -----------------------------------------------------------------------------------

	on_click($el) {
		const act = $el.attr("data-act");
		if (act === "route") {
			const args = JSON.parse($el.attr("data-route"));
			const last = args[args.length - 1];
			if (last && typeof last === "object") {
				frappe.route_options = args.pop();
			}
			frappe.set_route(...args);
		} else if (act === "job") {
			erp_ops.jobs.act($el.attr("data-action"), $el.attr("data-job"), $el.attr("data-expected"), () => this.refresh());
		} else if (act === "ack") {
			this.acknowledge($el.attr("data-name"));
		}
		return false;
	}

	acknowledge(name) {
		frappe.prompt(
			[{ fieldname: "note", fieldtype: "Small Text", label: __("Reason"), reqd: 1 }],
			({ note }) =>
				frappe
					.call({ method: "erp_ops.api.alerts.acknowledge", type: "POST", args: { name, note }, freeze: true })
					.then(() => {
						frappe.show_alert({ message: __("Acknowledged {0}", [name]), indicator: "green" });
						this.refresh();
					}),
			__("Acknowledge {0}", [name]),
			__("Acknowledge")
		);
	}

	run_drill() {
		frappe.confirm(__("Start a restore drill of this site now?"), () =>
			frappe.call({ method: "erp_ops.api.drills.run_drill_now", type: "POST", freeze: true }).then(({ message }) => {
				frappe.show_alert({ message: __("Drill {0} queued", [message.drill]), indicator: "blue" });
				this.refresh();
			})
		);
	}

	run_preflight() {
		erp_ops.jobs.run_preflight(() => this.refresh());
	}
};

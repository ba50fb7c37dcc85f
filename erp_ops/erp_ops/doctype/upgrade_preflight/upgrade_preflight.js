// Copyright (c) 2026, erp_ops developers and contributors
// For license information, please see license.txt

// A namespace, not top-level consts: Desk may evaluate a form script more than once.
frappe.provide("erp_ops.preflight");

erp_ops.preflight.verdicts = {
	proceed: [__("Proceed"), "green"],
	proceed_with_care: [__("Proceed With Care"), "orange"],
	do_not_proceed: [__("Do Not Proceed"), "red"],
};

erp_ops.preflight.render_markdown = (value) => {
	// A converter of our own with tables on; the desk's shared one stays as it is.
	if (!erp_ops.preflight.converter) {
		frappe.markdown("");
		erp_ops.preflight.converter = new frappe.md2html.constructor({
			tables: true,
			literalMidWordUnderscores: true,
		});
	}
	return frappe.dom.remove_script_and_style(erp_ops.preflight.converter.makeHtml(value || ""));
};

frappe.ui.form.on("Upgrade Preflight", {
	async refresh(frm) {
		// A read-only Markdown Editor writes its value as text (MarkdownEditor.set_disp_area, on
		// every field refresh): show this one rendered, fix list, findings table and plans.
		const summary = frm.get_field("summary_md");
		if (summary && !summary.erp_ops_rendered) {
			summary.erp_ops_rendered = true;
			summary.set_disp_area = function (value) {
				$(this.disp_area)
					.removeClass("for-description")
					.css("white-space", "normal")
					.html(erp_ops.preflight.render_markdown(value));
			};
			summary.refresh();
		}
		const [label, color] = erp_ops.preflight.verdicts[frm.doc.verdict] || [frm.doc.verdict, "gray"];
		frm.page.set_indicator(label, color);
		frm.set_intro(
			__("{0}: risk {1}/100 ({2}), {3} blocker(s), {4} high, {5} warning(s)", [
				label,
				frm.doc.risk_score,
				frm.doc.risk_band,
				frm.doc.blockers,
				frm.doc.high,
				frm.doc.warnings,
			]),
			color
		);
		// Running a preflight needs the server's "preflight" permission; the server checks again.
		if (!(await erp_ops.allowed()).preflight) return;
		frm.add_custom_button(__("Run Again"), () =>
			frappe
				.call({
					method: "erp_ops.api.preflight.run",
					type: "POST",
					args: { target: frm.doc.target },
				})
				.then(({ message }) =>
					frappe.show_alert({
						message: __("Preflight queued as {0}", [message.job_id]),
						indicator: "blue",
					})
				)
		);
	},
});

// Copyright (c) 2026, erp_ops developers and contributors
// For license information, please see license.txt

const PREFLIGHT_VERDICTS = {
	proceed: [__("Proceed"), "green"],
	proceed_with_care: [__("Proceed With Care"), "orange"],
	do_not_proceed: [__("Do Not Proceed"), "red"],
};

frappe.ui.form.on("Upgrade Preflight", {
	refresh(frm) {
		const [label, color] = PREFLIGHT_VERDICTS[frm.doc.verdict] || [frm.doc.verdict, "gray"];
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
		// Running a preflight is for Ops Managers (roles table); the server checks again.
		if (!frappe.user.has_role(["Ops Manager", "System Manager"])) return;
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

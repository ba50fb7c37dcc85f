// Copyright (c) 2026, erp_ops developers and contributors
// For license information, please see license.txt

// Replay one event (Ops Operator and up): a dry run first, its report shown, then the real
// replay only on confirmation. Both are logged in the Ops Action Log by the endpoint.
frappe.ui.form.on("Integration Event", {
	async refresh(frm) {
		if (frm.is_new() || !(await erp_ops.allowed()).replay) return;
		frm.add_custom_button(__("Replay"), () =>
			frappe.prompt(
				[{ fieldname: "reason", fieldtype: "Small Text", label: __("Reason"), reqd: 1 }],
				({ reason }) => replay(frm, reason),
				__("Replay Event: Dry Run First"),
				__("Dry Run")
			)
		);
	},
});

function replay(frm, reason) {
	const call = (dry_run) =>
		frappe.call({
			method: "erp_ops.api.events.replay",
			type: "POST",
			args: { filters: JSON.stringify({ name: frm.doc.name }), reason, dry_run },
			freeze: true,
		});
	call(1).then(({ message }) => {
		const esc = frappe.utils.escape_html;
		const items = (message.items || [])
			.map((i) => `<li>${esc(i.name)}: ${esc(i.outcome)} (${esc(i.status_before)} → ${esc(i.status_after || i.status_before)})${i.error ? " — " + esc(i.error) : ""}</li>`)
			.join("");
		frappe.confirm(
			`<p>${__("Dry run: {0} event(s) would change.", [message.changed])}</p><ul>${items}</ul><p>${__(
				"Replay for real?"
			)}</p>`,
			() =>
				call(0).then(({ message: done }) => {
					frappe.show_alert({ message: __("Replayed: {0} changed", [done.changed]), indicator: "green" });
					frm.reload_doc();
				})
		);
	});
}

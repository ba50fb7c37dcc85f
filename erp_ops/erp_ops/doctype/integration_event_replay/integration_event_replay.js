// Copyright (c) 2026, erp_ops developers and contributors
// For license information, please see license.txt

// frappe.ui.form.on("Integration Event Replay", {
// 	refresh(frm) {

// 	},
// });

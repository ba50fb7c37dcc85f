// Copyright (c) 2026, erp_ops developers and contributors
// For license information, please see license.txt

// Loaded on every Desk page (hooks.py: app_include_js). No build step: plain JS served as is.
frappe.provide("erp_ops");

// What the server lets this user do, action by action (erp_ops.api.permissions: DocType
// permissions a System Manager edits in Role Permission Manager), asked once per page load.
// Buttons follow it; the server checks every call again.
erp_ops.allowed = function () {
	erp_ops._allowed =
		erp_ops._allowed ||
		frappe
			.call({ method: "erp_ops.api.permissions", type: "GET" })
			.then(({ message }) => message || {});
	return erp_ops._allowed;
};

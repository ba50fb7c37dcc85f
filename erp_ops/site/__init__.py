"""The Frappe adapters of each capability: facts from the site, stores over frappe.db, tick work."""

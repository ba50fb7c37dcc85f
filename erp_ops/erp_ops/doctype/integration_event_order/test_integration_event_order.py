# Copyright (c) 2026, erp_ops developers and Contributors
# See license.txt

# import frappe
from frappe.tests.utils import FrappeTestCase


class TestIntegrationEventOrder(FrappeTestCase):
	pass

# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

import frappe
from frappe.tests.utils import FrappeTestCase

from erp_ops.api import core_errors, require_roles
from erp_ops.core import errors


class TestErrorMapping(FrappeTestCase):
	def tearDown(self):
		frappe.set_user("Administrator")

	def test_core_errors_keep_their_http_status(self):
		for core_error, status in (
			(errors.NotPermitted, 403),
			(errors.Conflict, 409),
			(errors.PayloadTooLarge, 413),
			(errors.InvalidInput, 422),
			(errors.ServiceUnavailable, 503),
			(errors.ErpOpsError, 500),
		):
			with self.subTest(core_error=core_error.__name__):
				with self.assertRaises(Exception) as raised:
					with core_errors():
						raise core_error("nope")
				self.assertEqual(raised.exception.http_status_code, status)
				self.assertIn("nope", str(raised.exception))

	def test_permission_errors_are_frappes_own(self):
		with self.assertRaises(frappe.PermissionError):
			with core_errors():
				raise errors.NotPermitted("no")

	def test_other_exceptions_pass_through(self):
		with self.assertRaises(KeyError):
			with core_errors():
				raise KeyError("x")

	def test_require_roles(self):
		require_roles("Ops Manager")  # Administrator has every role
		frappe.set_user("Guest")
		with self.assertRaises(frappe.PermissionError):
			require_roles("Ops Viewer", "System Manager")

# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt
"""Where a restore drill restores and with which account (issue 19.2): a System Manager setting,
the site's own database server by default, root credentials never sent anywhere else."""

import socket
import threading

import frappe
from frappe.tests.utils import FrappeTestCase

from erp_ops.api.test_jobs import MANAGER, ROLES, SYSTEM_MANAGER
from erp_ops.api.test_signals import ensure_user
from erp_ops.site import drills

FIELDS = ("drill_db_host", "drill_db_port", "drill_db_user")


def stored(values: dict) -> dict:
	"""The drill fields as compared: unset is unset, whether stored as NULL, '' or 0."""
	return {f: str(values.get(f)) if values.get(f) not in (None, "", 0, "0") else "" for f in FIELDS}


class Listener:
	"""A TCP server on a loopback address that is not the site's database server; it records every
	connection made to it (what a drill sending root credentials there would have to do first)."""

	def __init__(self, host: str = "127.0.0.2"):
		self.sock = socket.socket()
		self.sock.bind((host, 0))
		self.sock.listen(8)
		self.sock.settimeout(0.2)
		self.host, self.port = self.sock.getsockname()
		self.accepted = 0
		self.stop = threading.Event()
		self.thread = threading.Thread(target=self.run, daemon=True)
		self.thread.start()

	def run(self):
		while not self.stop.is_set():
			try:
				conn, _ = self.sock.accept()
			except OSError:
				continue
			self.accepted += 1
			conn.close()

	def close(self):
		self.stop.set()
		self.thread.join(5)
		self.sock.close()


class TestDrillDatabaseSettings(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		for user in (MANAGER, SYSTEM_MANAGER):
			ensure_user(user, ROLES[user])
		frappe.db.commit()
		cls.saved = frappe.db.get_singles_dict("Ops Settings")

	def setUp(self):
		self.conf = dict(frappe.local.conf)

	def tearDown(self):
		frappe.set_user("Administrator")
		frappe.local.conf.clear()
		frappe.local.conf.update(self.conf)
		frappe.db.rollback()
		# A drill run commits: put the fields back as they were, whatever was committed meanwhile.
		frappe.db.set_single_value("Ops Settings", {f: self.saved.get(f) for f in FIELDS})
		frappe.db.commit()
		frappe.clear_document_cache("Ops Settings", "Ops Settings")

	def set_fields(self, **values):
		frappe.db.set_single_value("Ops Settings", values)
		frappe.clear_document_cache("Ops Settings", "Ops Settings")

	def test_an_ops_manager_cannot_change_the_drill_host_or_account(self):
		before = stored(self.saved)
		frappe.set_user(MANAGER)
		doc = frappe.get_doc("Ops Settings")
		doc.drill_db_host, doc.drill_db_user = "db.example.com", "exfil"
		doc.save()  # as the form would: Frappe puts back the fields above the manager's permlevel
		self.assertEqual(stored(frappe.db.get_singles_dict("Ops Settings")), before)
		doc = frappe.get_doc("Ops Settings")
		doc.drill_db_host = "db.example.com"
		denied_before = frappe.db.count("Ops Action Log", {"action": "settings", "outcome": "denied"})
		# Code that skips the permission checks is refused too, and the attempt is logged.
		self.assertRaises(frappe.PermissionError, doc.save, ignore_permissions=True)
		self.assertEqual(
			frappe.db.count("Ops Action Log", {"action": "settings", "outcome": "denied"}), denied_before + 1
		)
		frappe.set_user("Administrator")
		self.assertEqual(stored(frappe.db.get_singles_dict("Ops Settings")), before)
		meta = frappe.get_meta("Ops Settings")
		self.assertEqual({meta.get_field(f).permlevel for f in (*FIELDS, "drill_db_password")}, {1})

	def test_a_system_manager_changes_them_and_the_change_is_logged(self):
		frappe.set_user(SYSTEM_MANAGER)
		doc = frappe.get_doc("Ops Settings")
		doc.drill_db_user = "drill_account"
		doc.save()
		frappe.set_user("Administrator")
		self.assertEqual(frappe.db.get_single_value("Ops Settings", "drill_db_user"), "drill_account")
		row = frappe.get_all(
			"Ops Action Log",
			filters={"action": "settings", "outcome": "done"},
			fields=["user", "state_after", "targets"],
			order_by="seq desc",
			limit=1,
		)[0]
		self.assertEqual(row.user, SYSTEM_MANAGER)
		self.assertTrue(row.state_after.startswith("drill_account@"))
		self.assertIn("drill_db_user", row.targets)

	def test_the_host_defaults_to_the_sites_own_server_with_root(self):
		self.set_fields(drill_db_host=None, drill_db_port=None, drill_db_user=None)
		frappe.local.conf.update({"root_login": "root", "root_password": "rootpw"})
		target = drills.drill_target()
		self.assertEqual(target.host, frappe.conf.get("db_host") or "127.0.0.1")
		self.assertEqual((target.user, target.password), ("root", "rootpw"))

	def test_another_host_needs_the_allow_list_and_never_gets_root(self):
		listener = Listener()
		try:
			self.set_fields(drill_db_host=listener.host, drill_db_port=listener.port, drill_db_user=None)
			frappe.local.conf.update({"root_login": "root", "root_password": "rootpw"})
			frappe.local.conf.pop(drills.ALLOWED_HOSTS_CONF, None)
			with self.assertRaises(drills.DrillTargetRefused) as refused:
				drills.drill_target()
			self.assertIn(drills.ALLOWED_HOSTS_CONF, str(refused.exception))
			frappe.local.conf[drills.ALLOWED_HOSTS_CONF] = [listener.host]
			with self.assertRaises(drills.DrillTargetRefused) as refused:
				drills.drill_target()  # allowed host, but no account of its own: root stays home
			self.assertIn("never sent", str(refused.exception))
			# A whole drill run: it fails with the reason, having connected nowhere.
			drill = drills.new_drill("Bench")
			with self.assertRaises(drills.DrillTargetRefused):  # stored on the drill, raised for RQ
				drills.run_restore_drill(drill=drill, triggered_by="Bench")
			outcome = frappe.db.get_value("Restore Drill", drill, ["outcome", "reason"], as_dict=True)
			self.assertEqual(outcome.outcome, "Failed")
			self.assertIn("never sent", outcome.reason)
			self.assertEqual(listener.accepted, 0, "root credentials were sent to a foreign server")
			self.set_fields(drill_db_user="drill_account")
			target = drills.drill_target()
			self.assertEqual(
				(target.host, target.port, target.user), (listener.host, listener.port, "drill_account")
			)
		finally:
			listener.close()

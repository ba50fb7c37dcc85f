# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

import threading

import frappe
from frappe.tests.utils import FrappeTestCase

from erp_ops.api.test_signals import ensure_user
from erp_ops.core.control.models import Action, ActionOutcome
from erp_ops.site.audit import (
	append_entry,
	new_entry,
	verify_log,
)
from erp_ops.tasks import verify_action_log

SYSTEM_MANAGER_USER = "erp-ops-sysmgr@example.com"


def write_row(reason: str = "test row", **fields) -> str:
	name = append_entry(new_entry(Action.REQUEUE, ["site::job-1"], reason, ActionOutcome.DONE, **fields))
	frappe.db.commit()
	return name


class TestOpsActionLog(FrappeTestCase):
	def tearDown(self):
		frappe.set_user("Administrator")

	def test_rows_link_into_one_chain_that_verifies(self):
		first, second = write_row("first"), write_row("second")
		rows = {
			r.name: r
			for r in frappe.get_all(
				"Ops Action Log",
				filters={"name": ("in", [first, second])},
				fields=["name", "seq", "previous_hash", "row_hash"],
			)
		}
		self.assertEqual(rows[second].seq, rows[first].seq + 1)
		self.assertEqual(rows[second].previous_hash, rows[first].row_hash)
		self.assertTrue(verify_log().ok)

	def test_concurrent_writers_keep_one_chain(self):
		site = frappe.local.site
		errors = []

		def writer(n: int) -> None:
			frappe.init(site=site)
			frappe.connect()
			try:
				for i in range(5):
					write_row(f"writer {n} row {i}")
			except Exception as e:
				errors.append(e)
			finally:
				frappe.destroy()

		threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
		for t in threads:
			t.start()
		for t in threads:
			t.join()
		self.assertEqual(errors, [])
		verdict = verify_log()
		self.assertTrue(verdict.ok, verdict)

	def test_a_writer_whose_snapshot_is_older_than_the_tail_still_links_to_it(self):
		# The request read the log (its REPEATABLE READ snapshot starts) before another writer committed.
		frappe.db.sql("select max(seq) from `tabOps Action Log`")
		site = frappe.local.site

		def other_writer() -> None:
			frappe.init(site=site)
			frappe.connect()
			try:
				write_row("committed meanwhile")
			finally:
				frappe.destroy()

		thread = threading.Thread(target=other_writer)
		thread.start()
		thread.join()
		name = write_row("written from the old snapshot")
		self.assertTrue(verify_log().ok)
		last = frappe.get_all("Ops Action Log", fields=["name"], order_by="seq desc", limit=1)[0]
		self.assertEqual(last.name, name)

	def test_nobody_can_edit_or_delete_a_row_system_manager_included(self):
		name = write_row("immutable")
		ensure_user(SYSTEM_MANAGER_USER, ("System Manager",))
		for user in (SYSTEM_MANAGER_USER, "Administrator"):
			frappe.set_user(user)
			doc = frappe.get_doc("Ops Action Log", name)
			doc.reason = "rewritten"
			self.assertRaises(frappe.PermissionError, doc.save, ignore_permissions=True)
			self.assertRaises(
				frappe.PermissionError, frappe.delete_doc, "Ops Action Log", name, ignore_permissions=True
			)
			self.assertRaises(
				frappe.PermissionError,
				frappe.get_doc({"doctype": "Ops Action Log", "reason": "forged"}).insert,
				ignore_permissions=True,
			)
		frappe.set_user(SYSTEM_MANAGER_USER)
		for ptype in ("write", "create", "delete"):
			self.assertFalse(frappe.has_permission("Ops Action Log", ptype), ptype)
		self.assertTrue(frappe.has_permission("Ops Action Log", "read"))
		frappe.set_user("Administrator")
		self.assertEqual(frappe.db.get_value("Ops Action Log", name, "reason"), "immutable")

	def test_the_chain_check_catches_a_row_edited_by_sql(self):
		name = write_row("original reason")
		write_row("after it")
		self.assertTrue(verify_log().ok)
		try:
			frappe.db.sql("update `tabOps Action Log` set reason = 'edited' where name = %s", name)
			verdict = verify_log()
			self.assertFalse(verdict.ok)
			self.assertEqual(verdict.first_broken_name, name)
			entry = frappe.db.get_value("Ops Action Log", name, "entry_json")
			# Column and entry edited together: the hash no longer fits.
			frappe.db.sql(
				"update `tabOps Action Log` set entry_json = %s where name = %s",
				(entry.replace("original reason", "edited"), name),
			)
			verdict = verify_log()
			self.assertFalse(verdict.ok)
			self.assertEqual(verdict.first_broken_name, name)
			self.assertIn("edited", verdict.reason)
			# The daily check leaves an Error Log when the chain is broken.
			before = frappe.db.count("Error Log", {"method": ("like", "%Ops Action Log tampered%")})
			self.assertFalse(verify_action_log())
			after = frappe.db.count("Error Log", {"method": ("like", "%Ops Action Log tampered%")})
			self.assertEqual(after, before + 1)
		finally:
			frappe.db.sql(
				"update `tabOps Action Log` set reason = 'original reason', entry_json = %s where name = %s",
				(entry, name),
			)
			frappe.db.commit()
		self.assertTrue(verify_log().ok)
		self.assertTrue(verify_action_log())

	def test_the_chain_check_catches_a_deleted_row(self):
		write_row("kept")
		name = write_row("deleted by sql")
		row = frappe.db.sql("select * from `tabOps Action Log` where name = %s", name, as_dict=True)[0]
		try:
			frappe.db.sql("delete from `tabOps Action Log` where name = %s", name)
			verdict = verify_log()
			self.assertFalse(verdict.ok)
			self.assertIn("removed", verdict.reason)
		finally:
			columns = ", ".join(f"`{k}`" for k in row)
			frappe.db.sql(
				f"insert into `tabOps Action Log` ({columns}) values ({', '.join(['%s'] * len(row))})",
				tuple(row.values()),
			)
			frappe.db.commit()
		self.assertTrue(verify_log().ok)

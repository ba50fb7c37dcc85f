import frappe
from frappe.tests.utils import FrappeTestCase

from erp_ops.api import runbooks as api
from erp_ops.api.test_jobs import http
from erp_ops.api.test_signals import api_token, ensure_user
from erp_ops.site.runbooks import runbook_index

VIEWER = "erp-ops-runbook-viewer@example.com"
NO_ROLE = "erp-ops-runbook-norole@example.com"


class TestRunbookSearch(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_user(VIEWER, ("Ops Viewer",))
		ensure_user(NO_ROLE, ())
		frappe.db.commit()
		runbook_index().invalidate()  # build from this site's runbooks, not another test's copy

	def tearDown(self):
		frappe.set_user("Administrator")

	def test_the_expected_seeded_runbook_comes_first(self):
		frappe.set_user(VIEWER)
		self.assertEqual(api.search("scheduler inactive")[0]["name"], "RB-SCHEDULER-INACTIVE")
		self.assertEqual(api.search("quaran")[0]["name"], "RB-POISON-JOB")
		hits = api.search("worker", limit=3, area="Workers")
		self.assertTrue(hits and all(h["area"] == "Workers" for h in hits))
		self.assertLessEqual(len(api.search("job", limit=2)), 2)

	def test_a_saved_runbook_is_found_after_the_commit(self):
		cache = runbook_index()
		cache.index()
		generation = cache._generation
		doc = frappe.get_doc("Runbook", "RB-DISK-HEADROOM")
		doc.rollback = (doc.rollback or "") + " zygomorphic"
		doc.save()
		self.assertEqual(api.search("zygomorphic"), [])  # not committed: not told yet
		frappe.db.commit()
		self.assertEqual(api.search("zygomorphic")[0]["name"], "RB-DISK-HEADROOM")
		self.assertGreater(cache._generation, generation)
		doc.reload()
		doc.rollback = doc.rollback.replace(" zygomorphic", "")
		doc.save()
		frappe.db.commit()
		self.assertEqual(api.search("zygomorphic"), [])

	def test_a_user_without_ops_roles_gets_403(self):
		frappe.set_user(NO_ROLE)
		with self.assertRaises(frappe.PermissionError) as raised:
			api.search("scheduler")
		self.assertEqual(raised.exception.http_status_code, 403)
		frappe.set_user("Administrator")
		no_role = api_token(frappe.get_doc("User", NO_ROLE))
		viewer = api_token(frappe.get_doc("User", VIEWER))
		path = "/api/method/erp_ops.api.runbooks.search?query=scheduler%20inactive"
		self.assertEqual(http("GET", path, no_role).status_code, 403)
		allowed = http("GET", path, viewer)
		self.assertEqual(allowed.status_code, 200)
		self.assertEqual(allowed.json["message"][0]["name"], "RB-SCHEDULER-INACTIVE")

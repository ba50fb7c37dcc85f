"""Alert facts beyond the snapshot: drill age and failure, integration conflicts, and a default
rule firing on them through the real evaluation (real Redis state, real Ops Alert)."""

from datetime import datetime, timedelta, timezone

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import get_system_timezone, now_datetime
from frappe.utils.background_jobs import get_redis_conn

from erp_ops.core.alerts import store
from erp_ops.core.clock import from_site_time
from erp_ops.site.alert_facts import site_alert_facts
from erp_ops.site.alerts import ALERT_DOCTYPE, collect_facts, core_rule, evaluate_site, state_scope
from erp_ops.site.testdata import cleanup_hooks

# What this module's tests create in the site goes when they are done (not the Ops Action Log).
setUpModule, tearDownModule = cleanup_hooks()

RULE = "restore-drill-failed"


def clear_state() -> None:
	conn, scope = get_redis_conn(), state_scope()
	conn.delete(*(k.format(bench=scope) for k in (store.ALERTS, store.OUTBOX, store.LOCK)))


class TestAlertFacts(FrappeTestCase):
	def setUp(self):
		frappe.set_user("Administrator")
		clear_state()
		self.drills: list[str] = []
		self.drills_enabled = frappe.db.get_single_value("Ops Settings", "drills_enabled")
		frappe.db.set_single_value("Ops Settings", "drills_enabled", 1)
		self.alerts_before = set(frappe.get_all(ALERT_DOCTYPE, filters={"rule": RULE}, pluck="name"))

	def tearDown(self):
		# The evaluation's drain commits: remove what the test made explicitly.
		frappe.db.rollback()
		for name in self.drills:
			frappe.delete_doc("Restore Drill", name, force=True, ignore_permissions=True)
		frappe.db.delete("Integration Event", {"source": "facts-test"})
		frappe.db.set_single_value("Ops Settings", "drills_enabled", self.drills_enabled)
		alerts = set(frappe.get_all(ALERT_DOCTYPE, filters={"rule": RULE}, pluck="name")) - self.alerts_before
		for name in alerts:
			frappe.db.delete("Notification Log", {"document_type": ALERT_DOCTYPE, "document_name": name})
			frappe.db.delete("Email Queue", {"reference_doctype": ALERT_DOCTYPE, "reference_name": name})
			frappe.delete_doc(ALERT_DOCTYPE, name, force=True, ignore_permissions=True)
		frappe.db.commit()
		clear_state()

	def add_drill(self, outcome: str, started_at: datetime) -> str:
		doc = frappe.get_doc(
			{
				"doctype": "Restore Drill",
				"site": frappe.local.site,
				"outcome": outcome,
				"reason": "test drill",
				"triggered_by": "Bench",
				"started_at": started_at,
				"finished_at": started_at,
			}
		).insert(ignore_permissions=True)
		self.drills.append(doc.name)
		return doc.name

	def test_a_failed_newest_drill_and_the_age_of_the_last_pass_are_facts(self):
		site = frappe.local.site
		self.add_drill("Failed", now_datetime())
		passed = frappe.db.get_value(
			"Restore Drill", {"outcome": "Passed"}, "started_at", order_by="started_at desc"
		) or frappe.db.get_value("Restore Drill", {}, "started_at", order_by="started_at asc")
		facts = site_alert_facts()
		self.assertEqual(facts[f"drill.{site}.failed"], 1.0)
		expected = (
			datetime.now(timezone.utc) - from_site_time(passed, get_system_timezone())
		).total_seconds() / 3600
		self.assertAlmostEqual(facts[f"drill.{site}.age_hours"], expected, delta=0.05)
		self.add_drill("Passed", now_datetime() + timedelta(seconds=1))
		facts = site_alert_facts()
		self.assertEqual(facts[f"drill.{site}.failed"], 0.0)
		self.assertLess(facts[f"drill.{site}.age_hours"], 0.01)
		# Drills not scheduled: no age to page about, a failure still counts.
		frappe.db.set_single_value("Ops Settings", "drills_enabled", 0)
		self.assertNotIn(f"drill.{site}.age_hours", site_alert_facts())

	def test_conflicts_of_the_last_five_minutes_are_counted(self):
		key = f"integrations.{frappe.local.site}.conflicts_5m"
		before = site_alert_facts()[key]
		for i, age in enumerate((timedelta(0), timedelta(minutes=10))):
			frappe.db.sql(
				"""insert into `tabIntegration Event` (name, source, event_type, offered_key, status,
				received_at, creation, modified, owner, modified_by)
				values (%s, 'facts-test', 'facts:test', %s, 'Conflict', %s, now(), now(), 'Administrator', 'Administrator')""",
				(f"EV-facts-test-{i}", f"k{i}", now_datetime() - age),
			)
		self.assertEqual(site_alert_facts()[key], before + 1, "only the one inside five minutes")

	def test_the_default_failed_drill_rule_fires_on_the_hook_facts_and_names_its_runbook(self):
		self.add_drill("Failed", now_datetime())
		self.assertEqual(collect_facts()[f"drill.{frappe.local.site}.failed"], 1.0, "the hook is wired")
		rule = core_rule(frappe.get_doc("Ops Alert Rule", RULE))
		result = evaluate_site(rules=[rule], now=datetime.now(timezone.utc))
		[alert] = [a for a in result.alerts if a.rule == RULE]
		self.assertEqual(alert.status.value, "firing")
		doc = frappe.get_doc(ALERT_DOCTYPE, {"rule": RULE, "status": "Firing"})
		self.assertTrue(doc.runbook)

"""The migrate marker: a migrate whose process stopped before after_migrate is a failed migrate."""

import json
import os
import subprocess
from datetime import datetime, timedelta, timezone

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import get_bench_path

from erp_ops.site import migrate as migrate_marker
from erp_ops.site.alert_facts import site_alert_facts


class TestMigrateMarker(FrappeTestCase):
	def setUp(self):
		self.path = frappe.get_site_path(migrate_marker.MARKER)
		self.saved = open(self.path).read() if os.path.exists(self.path) else None
		self.addCleanup(self.restore)
		self.fact = f"migrate.{frappe.local.site}.failed"

	def restore(self) -> None:
		if self.saved is None:
			if os.path.exists(self.path):
				os.remove(self.path)
		else:
			with open(self.path, "w") as f:
				f.write(self.saved)

	def write(self, **marker) -> None:
		with open(self.path, "w") as f:
			json.dump(marker, f)

	def test_a_migrate_process_that_died_after_before_migrate_is_a_failed_migrate(self):
		# A real process runs the before_migrate hook and ends without reaching after_migrate.
		subprocess.run(
			["bench", "--site", frappe.local.site, "execute", "erp_ops.site.migrate.before_migrate"],
			cwd=get_bench_path(),
			check=True,
			capture_output=True,
			timeout=120,
		)
		marker = migrate_marker.read_marker()
		self.assertIsNone(marker["finished_at"])
		self.assertNotEqual(marker["pid"], os.getpid())
		self.assertEqual(site_alert_facts()[self.fact], 1.0)
		migrate_marker.after_migrate()  # the next migrate that gets through
		self.assertEqual(site_alert_facts()[self.fact], 0.0)

	def test_a_migrate_still_running_is_not_failed(self):
		migrate_marker.before_migrate()  # this process: alive
		self.assertEqual(site_alert_facts()[self.fact], 0.0)

	def test_a_migrate_on_another_host_is_judged_by_its_age(self):
		started = datetime.now(timezone.utc) - timedelta(hours=1)
		self.write(started_at=started.isoformat(), host="migrator-container", pid=1, finished_at=None)
		self.assertEqual(site_alert_facts()[self.fact], 0.0, "an hour in: may still be running")
		later = started + migrate_marker.STALE_AFTER + timedelta(minutes=1)
		self.assertEqual(site_alert_facts(later)[self.fact], 1.0)

	def test_no_marker_no_fact_and_a_broken_marker_is_no_fact_either(self):
		if os.path.exists(self.path):
			os.remove(self.path)
		self.assertNotIn(self.fact, site_alert_facts())
		for broken in ("{half", "[1, 2]", '{"started_at": "yesterday"}', '{"started_at": "2026-01-01"}'):
			with open(self.path, "w") as f:
				f.write(broken)
			facts = site_alert_facts()
			self.assertNotIn(self.fact, facts, broken)
			self.assertIn(f"integrations.{frappe.local.site}.conflicts_5m", facts, "the other facts stay")

# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

import json
import os
import subprocess
import sys

import frappe
from frappe.tests.utils import FrappeTestCase

from erp_ops.site.testdata import cleanup_hooks

# What this module's tests create in the site goes when they are done (not the Ops Action Log).
setUpModule, tearDownModule = cleanup_hooks()


def bench(*args: str) -> subprocess.CompletedProcess:
	"""`bench --site <this site> <args>`, through the same entry point the bench CLI uses."""
	return subprocess.run(
		[sys.executable, "-m", "frappe.utils.bench_helper", "frappe", "--site", frappe.local.site, *args],
		cwd=os.path.abspath(frappe.local.sites_path),
		capture_output=True,
		text=True,
		timeout=120,
	)


class TestOpsCommands(FrappeTestCase):
	def test_status_json_is_the_snapshot(self):
		result = bench("ops", "status", "--json")
		self.assertIn(result.returncode, (0, 2), result.stderr)
		snap = json.loads(result.stdout)
		self.assertEqual([s["site"] for s in snap["schedulers"]], [frappe.local.site])
		self.assertEqual(result.returncode == 2, any(f["severity"] == "critical" for f in snap["findings"]))

	def test_status_text(self):
		result = bench("ops", "status")
		self.assertIn(result.returncode, (0, 2), result.stderr)
		# The table `erp-ops status` prints (cli/render.status_text), with this site's scheduler.
		self.assertRegex(result.stdout, r"(?m)^queue +queued +running +abandoned +failed")
		self.assertIn(f"scheduler {frappe.local.site}:", result.stdout)

	def test_flush_evidence_prints_its_result(self):
		result = bench("ops", "flush-evidence")
		if result.returncode == 1 and "holds this site's lock" in result.stdout:
			self.skipTest("the scheduler's flush was running")
		self.assertEqual(result.returncode, 0, result.stderr)
		self.assertEqual(
			set(json.loads(result.stdout)),
			{"read", "inserted", "duplicates", "malformed", "skipped", "backlog"},
		)


class TestWorkerPreload(FrappeTestCase):
	def test_bench_cli_preloads_the_job_hooks(self):
		# `bench worker` forks a horse per job after loading every app's commands module: the
		# hooks must already be imported then, or each job pays their import.
		script = (
			"import sys\n"
			"from frappe.utils import bench_helper\n"
			"bench_helper.get_app_groups()\n"
			"print('erp_ops.job_hooks' in sys.modules)\n"
		)
		result = subprocess.run(
			[sys.executable, "-c", script],
			cwd=os.path.abspath(frappe.local.sites_path),
			capture_output=True,
			text=True,
			timeout=120,
		)
		self.assertEqual(result.stdout.strip().splitlines()[-1], "True", result.stderr)


class TestOpsJobCommands(FrappeTestCase):
	def test_verify_log_reports_an_intact_chain(self):
		result = bench("ops", "verify-log")
		self.assertEqual(result.returncode, 0, result.stderr)
		self.assertIn("chain intact", result.stdout)

	def test_job_actions_are_logged_and_refusals_exit_2(self):
		job_id = f"{frappe.local.site}::erp-ops-command-test-missing"
		state = bench("ops", "jobs", "state", job_id)  # as the API answers: 404, like another site's
		self.assertEqual(state.returncode, 2, state.stderr)
		self.assertIn("refused (404)", state.stderr)
		result = bench("ops", "jobs", "requeue", job_id, "--reason", "command test")
		self.assertEqual(result.returncode, 2)
		self.assertIn("refused (404)", result.stderr)
		row = frappe.get_all(
			"Ops Action Log",
			filters={"targets": job_id},
			fields=["user", "action", "outcome", "reason"],
			order_by="seq desc",
			limit=1,
		)[0]
		self.assertEqual(
			(row.user, row.action, row.outcome, row.reason),
			("Administrator", "requeue", "failed", "command test"),
		)

	def test_purge_is_a_dry_run_by_default(self):
		text = bench("ops", "jobs", "purge", "--reason", "command test", "--older-than-days", "36500")
		self.assertEqual(text.returncode, 0, text.stderr)
		# The same text as `erp-ops jobs purge` (cli/render.action_text), with this site's scope.
		self.assertIn("dry run: nothing deleted; add --execute to delete", text.stdout)
		self.assertIn(f"scope: this site's jobs ({frappe.local.site})", text.stdout)
		self.assertRegex(text.stdout, r"logged as Ops Action Log \S+")
		result = bench(
			"ops", "jobs", "purge", "--reason", "command test", "--older-than-days", "36500", "--json"
		)
		self.assertEqual(result.returncode, 0, result.stderr)
		self.assertTrue(json.loads(result.stdout)["result"]["dry_run"])
		self.assertEqual(json.loads(result.stdout)["result"]["scope"], frappe.local.site)
		wide = bench(
			"ops",
			"jobs",
			"purge",
			"--reason",
			"command test",
			"--older-than-days",
			"36500",
			"--all-sites",
			"--json",
		)
		self.assertEqual(wide.returncode, 0, wide.stderr)
		self.assertEqual(json.loads(wide.stdout)["result"]["scope"], "bench")
		frappe.db.commit()  # a fresh snapshot: the command committed its row in its own process
		row = frappe.get_all(
			"Ops Action Log",
			filters={"action": "purge", "user": "Administrator"},
			fields=["targets", "state_after"],
			order_by="seq desc",
			limit=1,
		)[0]
		self.assertIn("bench-wide", row.targets)


class TestOpsPreflightCommand(FrappeTestCase):
	def test_preflight_json_is_stored_and_the_exit_code_follows_the_verdict(self):
		result = bench("ops", "preflight", "--target", "16", "--json")
		self.assertIn(result.returncode, (0, 2), result.stderr)
		report = json.loads(result.stdout)
		self.assertEqual(report["target"], 16)
		self.assertEqual(report["site"]["site"], frappe.local.site)
		self.assertEqual(result.returncode == 2, report["verdict"] == "do_not_proceed")
		frappe.db.rollback()  # the command committed in its own connection
		stored = frappe.get_all(
			"Upgrade Preflight", fields=["verdict", "risk_score"], order_by="creation desc", limit=1
		)[0]
		self.assertEqual((stored.verdict, stored.risk_score), (report["verdict"], report["risk"]["score"]))

	def test_preflight_text_names_the_record(self):
		result = bench("ops", "preflight", "--target", "16")
		self.assertIn(result.returncode, (0, 2), result.stderr)
		self.assertTrue(result.stdout.startswith("Upgrade preflight: "))
		# plain text for a terminal: no Markdown, no HTML entities (the stored summary is escaped)
		self.assertNotIn("&gt;", result.stdout)
		self.assertNotIn("&amp;", result.stdout)
		self.assertIn("(from v15)", result.stdout)
		self.assertIn("Stored as Upgrade Preflight ", result.stdout)

	def test_preflight_of_an_unknown_target_is_refused(self):
		result = bench("ops", "preflight", "--target", "99")
		self.assertEqual(result.returncode, 2)
		self.assertIn("refused (422)", result.stderr)

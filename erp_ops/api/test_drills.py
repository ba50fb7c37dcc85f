# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

"""Restore drills against this site's own fresh backup, the bench's MariaDB and Redis, and a real
RQ worker on a queue of the test's own (the bench's shared worker may run other code)."""

import glob
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from datetime import timedelta

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import get_bench_id, get_bench_path
from frappe.utils.background_jobs import get_redis_conn

from erp_ops import tasks
from erp_ops.api import drills as api
from erp_ops.api.test_signals import ensure_user
from erp_ops.core.drills import drill_lock
from erp_ops.core.drills.client import MariaDBClient
from erp_ops.site import drills as drill_site
from erp_ops.site.backups import health, take_backup
from erp_ops.site.testdata import cleanup_hooks

# What this module's tests create in the site goes when they are done (not the Ops Action Log).
setUpModule, tearDownModule = cleanup_hooks()

VIEWER = "erp-ops-viewer@example.com"
MANAGER = "erp-ops-manager@example.com"
TEST_QUEUE = "erp_ops_drills_test"
# Tables the drill never writes: the site's copy must be byte-for-byte the same afterwards.
WATCHED = ("tabUser", "tabDocType", "tabDocField", "tabPatch Log", "tabInstalled Application", "tabRole")


def site_checksums() -> dict[str, int]:
	rows = frappe.db.sql("CHECKSUM TABLE " + ", ".join(f"`{t}`" for t in WATCHED) + " EXTENDED")
	return {row[0].split(".", 1)[1]: row[1] for row in rows}


def site_table_count() -> int:
	return frappe.db.sql(
		"select count(*) from information_schema.tables where table_schema = %s", frappe.conf.db_name
	)[0][0]


def server_databases() -> set[str]:
	return set(MariaDBClient(drill_site.drill_target()).databases())


def run_private_worker(timeout: float = 600) -> None:
	"""A real rq SimpleWorker in burst mode on the test's queue, in its own process (cwd sites/)."""
	code = (
		"import sys\n"
		"from redis import Redis\n"
		"from rq import Queue, SimpleWorker\n"
		"conn = Redis.from_url(sys.argv[1])\n"
		"SimpleWorker([Queue(sys.argv[2], connection=conn)], connection=conn).work(burst=True)\n"
	)
	subprocess.run(
		[sys.executable, "-c", code, frappe.conf.redis_queue, f"{get_bench_id()}:{TEST_QUEUE}"],
		cwd=os.path.join(get_bench_path(), "sites"),
		check=True,
		capture_output=True,
		timeout=timeout,
	)


class DrillTestCase(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		target = drill_site.drill_target()
		if target.user == "root" and not target.password and not frappe.conf.get("root_login"):
			raise AssertionError(
				"drills need a MariaDB account that may CREATE DATABASE: set root_login/root_password "
				"in common_site_config (bench set-config -g) or the drill DB fields of Ops Settings"
			)
		frappe.db.set_single_value(
			"Ops Settings", {"drill_time_limit": 900, "drill_require_files": 1, "drill_tolerance_pct": 2}
		)
		frappe.clear_document_cache("Ops Settings", "Ops Settings")
		frappe.db.commit()


_backup: dict = {}


def fresh_backup() -> dict:
	"""One `bench backup --with-files` + manifest per test run, shared by the classes."""
	if not _backup:
		_backup.update(take_backup(with_files=True))
		frappe.db.commit()
	return _backup


class TestRestoreDrill(DrillTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.backup = fresh_backup()

	def test_a_drill_of_the_fresh_backup_passes_and_leaves_the_site_database_unchanged(self):
		before, tables_before = site_checksums(), site_table_count()
		name = drill_site.run_restore_drill(backup_folder=self.backup["folder"], triggered_by="Bench")
		doc = frappe.get_doc("Restore Drill", name)
		failed = [(c.code, c.reason) for c in doc.checks if c.status == "fail"]
		self.assertEqual((doc.outcome, failed), ("Passed", []), doc.reason)
		self.assertEqual(doc.backup_stamp, self.backup["stamp"])
		codes = {c.code: c.status for c in doc.checks}
		# The verdict comes from what the scratch database held, checked against the manifest.
		for code in ("checksums", "files_archives", "restore", "doctype_tables", "key_tables", "row_counts"):
			self.assertEqual(codes.get(code), "pass", code)
		self.assertEqual(
			{f.kind for f in doc.files}, {"database", "public_files", "private_files", "site_config"}
		)
		self.assertTrue(all(len(f.sha256) == 64 for f in doc.files))
		self.assertGreater(doc.tables, 50)
		self.assertGreater(doc.rto_s, 0)
		self.assertGreaterEqual(doc.rpo_s, 0)
		# The scratch database was a new one, never the site's, and it is gone.
		self.assertTrue(doc.scratch_database.startswith("erp_ops_drill_"))
		self.assertNotEqual(doc.scratch_database, frappe.conf.db_name)
		self.assertEqual(doc.scratch_dropped, 1)
		self.assertNotIn(doc.scratch_database, server_databases())
		self.assertEqual(site_checksums(), before)
		self.assertEqual(site_table_count(), tables_before)
		# A bench-started drill is an audited action.
		log = frappe.get_all(
			"Ops Action Log",
			filters={"action": "drill", "targets": ("like", f"%{name}%")},
			fields=["outcome", "state_after"],
		)
		self.assertEqual([(r.outcome, r.state_after) for r in log], [("done", "Passed")])
		state = api.drill_status()
		self.assertEqual((state["severity"], state["last_passed"]), ("ok", name))
		# Text without a digit goes bare: v15's card throws on it inside a dict (shorten_number).
		self.assertEqual(api.backups_proven_card(), "Proven")
		last = api.last_drill_card()
		self.assertTrue(last["value"].startswith("Passed\u00a0·\u00a0"), last)
		self.assertEqual(last["route"], ["List", "Restore Drill"])

	def test_a_truncated_dump_fails_with_the_reason_and_drops_the_scratch_database(self):
		folder = tempfile.mkdtemp(prefix="erp_ops_drill_test_")
		self.addCleanup(shutil.rmtree, folder, True)
		prefix = f"{self.backup['stamp']}-{frappe.local.site.replace('.', '_')}"
		for path in glob.glob(os.path.join(self.backup["folder"], prefix + "-*")):
			if not path.endswith("-erp_ops_manifest.json"):  # without it the restore is attempted
				shutil.copy(path, folder)
		dump = glob.glob(os.path.join(folder, prefix + "-database*.sql.gz"))[0]
		with open(dump, "rb") as f:
			data = f.read()
		with open(dump, "wb") as f:
			f.write(data[: len(data) * 2 // 3])
		with self.assertRaises(EOFError):  # what anybody's gunzip says about this file
			gzip.decompress(data[: len(data) * 2 // 3])
		before = site_checksums()

		name = drill_site.run_restore_drill(backup_folder=folder, triggered_by="Bench")
		doc = frappe.get_doc("Restore Drill", name)
		self.assertEqual(doc.outcome, "Failed")
		failed = {c.code: c.reason for c in doc.checks if c.status == "fail"}
		self.assertIn("truncated_gzip", failed, failed)
		self.assertEqual(doc.reason, failed["truncated_gzip"])
		self.assertIn(os.path.basename(dump), doc.reason)
		self.assertEqual(doc.scratch_dropped, 1)
		self.assertNotIn(doc.scratch_database, server_databases())
		self.assertEqual(site_checksums(), before)

	def test_a_set_without_files_archives_fails_when_files_are_required(self):
		folder = tempfile.mkdtemp(prefix="erp_ops_drill_test_")
		self.addCleanup(shutil.rmtree, folder, True)
		prefix = f"{self.backup['stamp']}-{frappe.local.site.replace('.', '_')}"
		for path in glob.glob(os.path.join(self.backup["folder"], prefix + "-*")):
			if "files" not in os.path.basename(path) and not path.endswith("manifest.json"):
				shutil.copy(path, folder)
		doc = frappe.get_doc("Restore Drill", drill_site.run_restore_drill(backup_folder=folder))
		self.assertEqual(doc.outcome, "Failed")
		self.assertIn("missing files archive", doc.reason)
		self.assertIn(f"{prefix}-files.tar", doc.reason)

	def test_no_backup_is_a_failed_drill_not_an_error(self):
		folder = tempfile.mkdtemp(prefix="erp_ops_drill_test_")
		self.addCleanup(shutil.rmtree, folder, True)
		doc = frappe.get_doc("Restore Drill", drill_site.run_restore_drill(backup_folder=folder))
		self.assertEqual(doc.outcome, "Failed")
		self.assertIn(folder, doc.reason)

	def test_the_backup_chain_verifies_and_sees_a_changed_file(self):
		# Frappe deletes backups older than a day: only this run's set is sure to be complete.
		ours = [i for i in api.verify_backup_chain()["issues"] if i["stamp"] == self.backup["stamp"]]
		self.assertEqual(ours, [])
		config = glob.glob(
			os.path.join(self.backup["folder"], f"{self.backup['stamp']}-*-site_config_backup*.json")
		)[0]
		with open(config, "rb") as f:
			original = f.read()
		self.addCleanup(lambda: open(config, "wb").write(original))
		with open(config, "ab") as f:
			f.write(b" ")
		issues = api.verify_backup_chain()["issues"]
		self.assertIn(("file_changed", os.path.basename(config)), [(i["code"], i["detail"]) for i in issues])


class TestDrillLockAndSchedule(DrillTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		fresh_backup()

	@classmethod
	def tearDownClass(cls):
		# The private queue goes with its jobs and registries: no phantom queue in `ops status`.
		from rq import Queue

		Queue(f"{get_bench_id()}:{TEST_QUEUE}", connection=get_redis_conn()).delete(delete_jobs=True)
		super().tearDownClass()

	def setUp(self):
		self.conn = get_redis_conn()
		frappe.db.set_single_value("Ops Settings", {"drills_enabled": 1, "drill_cron": "30 2 * * *"})
		frappe.clear_document_cache("Ops Settings", "Ops Settings")
		self.addCleanup(self._disable)
		frappe.local.conf.workers = {TEST_QUEUE: {"timeout": 900}}
		self.addCleanup(frappe.local.conf.pop, "workers", None)
		drill_site.QUEUE, queue = TEST_QUEUE, drill_site.QUEUE
		self.addCleanup(setattr, drill_site, "QUEUE", queue)
		frappe.db.commit()

	def _disable(self):
		frappe.db.set_single_value("Ops Settings", "drills_enabled", 0)
		frappe.clear_document_cache("Ops Settings", "Ops Settings")
		frappe.db.commit()

	def _last_scheduled(self) -> str:
		return frappe.db.get_value(
			"Restore Drill", {"triggered_by": "Scheduler"}, "creation", order_by="creation desc"
		)

	def test_the_scheduler_starts_a_drill_only_when_the_cron_is_due_and_no_drill_holds_the_lock(self):
		# Anchor: a scheduled drill created now, and an hourly cron whose tick is ~30 min away.
		anchor = drill_site.new_drill("Scheduler", "Administrator")
		frappe.db.set_value("Restore Drill", anchor, {"outcome": "Failed", "reason": "test anchor"})
		created = frappe.utils.get_datetime(self._last_scheduled())
		frappe.db.set_single_value("Ops Settings", "drill_cron", f"{(created.minute + 30) % 60} * * * *")
		frappe.clear_document_cache("Ops Settings", "Ops Settings")
		frappe.db.commit()
		count = frappe.db.count("Restore Drill")
		self.assertIsNone(tasks.maybe_start_restore_drill(now=created + timedelta(minutes=20)))
		self.assertEqual(frappe.db.count("Restore Drill"), count, "not due: nothing queued")

		due = created + timedelta(hours=2)
		with drill_lock(self.conn, get_bench_id(), frappe.local.site, 60):
			self.assertIsNone(tasks.maybe_start_restore_drill(now=due))
			self.assertEqual(frappe.db.count("Restore Drill"), count, "a drill holds the lock: none queued")

		name = tasks.maybe_start_restore_drill(now=due)
		self.assertIsNotNone(name)
		# Due again at the next tick, but the queued drill's job id deduplicates it.
		self.assertIsNone(tasks.maybe_start_restore_drill(now=due))
		doc = frappe.get_doc("Restore Drill", name)
		self.assertEqual((doc.outcome, doc.triggered_by), ("Queued", "Scheduler"))
		self.assertEqual(doc.job_id, f"{frappe.local.site}::erp_ops_restore_drill")
		run_private_worker()
		frappe.db.rollback()  # a fresh snapshot: the worker committed in its own connection
		doc.reload()
		self.assertEqual(doc.outcome, "Passed", doc.reason)
		self.assertTrue(doc.started_at and doc.finished_at)

	def test_the_ops_managers_are_told_once_a_day_when_no_drill_passed_in_time(self):
		from datetime import datetime, timezone

		from erp_ops.site.backups import ALERT_KEY, alert_if_stale

		ensure_user(MANAGER, ("Ops Manager",))
		name = drill_site.run_restore_drill(backup_folder=fresh_backup()["folder"], triggered_by="Bench")
		self.assertEqual(frappe.db.get_value("Restore Drill", name, "outcome"), "Passed")
		self.assertEqual(alert_if_stale(), 0, "a drill passed just now: nothing to say")
		later = datetime.now(timezone.utc) + timedelta(days=30)
		key = ALERT_KEY.format(bench=get_bench_id(), site=frappe.local.site, day=later.date())
		self.conn.delete(key)
		self.addCleanup(self.conn.delete, key)
		self.assertGreaterEqual(alert_if_stale(later), 1)
		note = frappe.get_all(
			"Notification Log",
			filters={"for_user": MANAGER, "document_type": "Restore Drill"},
			fields=["subject", "email_content"],
			order_by="creation desc",
			limit=1,
		)[0]
		self.assertIn(frappe.local.site, note.subject)
		self.assertIn("limit 7.0 days", note.email_content)
		self.assertEqual(alert_if_stale(later), 0, "once a day")

	def test_run_drill_now_queues_one_drill_per_site_and_the_worker_runs_it(self):
		ensure_user(MANAGER, ("Ops Manager",))
		frappe.db.commit()
		frappe.set_user(MANAGER)
		self.addCleanup(frappe.set_user, "Administrator")
		first = api.run_drill_now()
		second = api.run_drill_now()
		self.assertEqual(first["job_id"], f"{frappe.local.site}::erp_ops_restore_drill")
		self.assertEqual((second["drill"], second["already_queued"]), (first["drill"], True))
		queued = frappe.get_all(
			"Ops Action Log",
			filters={"action": "drill", "targets": ("like", f"%{first['drill']}%")},
			fields=["user", "outcome", "state_after"],
		)
		self.assertEqual([(r.user, r.outcome, r.state_after) for r in queued], [(MANAGER, "done", "Queued")])
		run_private_worker()
		frappe.db.rollback()
		doc = frappe.get_doc("Restore Drill", first["drill"])
		self.assertEqual(
			(doc.outcome, doc.triggered_by, doc.requested_by), ("Passed", "Desk", MANAGER), doc.reason
		)
		outcomes = frappe.get_all(
			"Ops Action Log",
			filters={"action": "drill", "targets": ("like", f"%{first['drill']}%")},
			pluck="state_after",
			order_by="seq",
		)
		self.assertEqual(outcomes, ["Queued", "Passed"])

	def test_a_drill_that_finds_the_lock_taken_does_not_run(self):
		with drill_lock(self.conn, get_bench_id(), frappe.local.site, 60):
			name = drill_site.run_restore_drill(triggered_by="Bench")
		doc = frappe.get_doc("Restore Drill", name)
		self.assertEqual(doc.outcome, "Failed")
		self.assertIn("already running", doc.reason)
		self.assertIsNone(doc.started_at)
		self.assertNotEqual(health().last_drill_at, doc.finished_at, "a drill that never ran is no evidence")

	def test_a_drill_over_its_time_limit_is_recorded_as_timed_out(self):
		# rq's own death penalty, as the work horse applies the job timeout (SIGALRM → JobTimeoutException),
		# in this process: a worker's start-up would eat a short limit before the drill begins.
		from rq.timeouts import JobTimeoutException, UnixSignalDeathPenalty

		folder = padded_backup(fresh_backup())
		self.addCleanup(shutil.rmtree, folder, True)
		name = drill_site.new_drill("Bench", "Administrator")
		frappe.db.commit()
		before = {d for d in server_databases() if d.startswith("erp_ops_drill_")}
		with self.assertRaises(JobTimeoutException):
			with UnixSignalDeathPenalty(2, JobTimeoutException, job_id=name):
				drill_site.run_restore_drill(name, backup_folder=folder, time_limit_s=2)
		doc = frappe.get_doc("Restore Drill", name)
		self.assertEqual(doc.outcome, "Failed")
		self.assertEqual(doc.reason, "timed out after 2 s (Ops Settings: drill time limit)")
		self.assertIsNotNone(doc.started_at)
		# The MariaDB server is shared (other runs create and drop scratch databases of their own
		# meanwhile): what counts is that this drill left none of its own behind.
		if doc.scratch_database:
			self.assertNotIn(doc.scratch_database, server_databases())
		new = {d for d in server_databases() if d.startswith("erp_ops_drill_")} - before
		self.assertEqual([d for d in sorted(new) if made_by_this_process(d)], [])


def made_by_this_process(database: str) -> bool:
	"""Whether a scratch database's owner marker names this process on this host (the drill above
	ran here); another run's drill on the shared server writes its own pid."""
	from erp_ops.core.drills.scratch import read_marker

	try:
		owner = read_marker(MariaDBClient(drill_site.drill_target()), database)
	except Exception:
		return False  # dropped meanwhile by its own run, or no marker: not this drill's
	return owner is not None and owner.pid == os.getpid() and owner.host == socket.gethostname()


def padded_backup(backup: dict) -> str:
	"""A copy of the set whose dump restores for seconds: a second gzip member with 200k rows."""
	folder = tempfile.mkdtemp(prefix="erp_ops_drill_test_")
	prefix = f"{backup['stamp']}-{frappe.local.site.replace('.', '_')}"
	for path in glob.glob(os.path.join(backup["folder"], prefix + "-*")):
		if not path.endswith("-erp_ops_manifest.json"):
			shutil.copy(path, folder)
	rows = b",".join(b"(%d,'%s')" % (i, b"x" * 100) for i in range(1000))
	pad = (
		b"CREATE TABLE `erp_ops_pad` (a int, b varchar(200));\n"
		+ (b"INSERT INTO `erp_ops_pad` VALUES " + rows + b";\n") * 200
	)
	with open(glob.glob(os.path.join(folder, prefix + "-database*.sql.gz"))[0], "ab") as f:
		f.write(gzip.compress(pad, 1))
	return folder


class TestLostDrills(FrappeTestCase):
	"""Drills whose job or worker is gone end Failed with why, instead of staying open for ever."""

	def setUp(self):
		self.conn = get_redis_conn()

	def open_drill(self, outcome: str, age: timedelta = timedelta(minutes=10)) -> str:
		name = drill_site.new_drill("Desk", "Administrator")
		created = frappe.utils.now_datetime() - age
		values = {
			"outcome": outcome,
			"creation": created,
			"started_at": created if outcome == "Running" else None,
		}
		frappe.db.set_value("Restore Drill", name, values, update_modified=False)
		frappe.db.commit()
		# Never leave an open drill to the other tests.
		self.addCleanup(self.close, name)
		return name

	@staticmethod
	def close(name: str) -> None:
		frappe.db.set_value("Restore Drill", name, "outcome", "Failed")
		frappe.db.commit()

	def test_open_drills_without_a_job_or_the_lock_are_failed_with_the_reason_and_logged(self):
		queued, running, young = (
			self.open_drill("Queued"),
			self.open_drill("Running"),
			self.open_drill("Queued", timedelta(0)),
		)
		with drill_lock(self.conn, get_bench_id(), frappe.local.site, 60):
			self.assertEqual(drill_site.settle_lost_drills(), [], "a drill holds the lock: any may be it")
		lost = drill_site.settle_lost_drills()
		self.assertEqual(set(lost) & {queued, running, young}, {queued, running})
		q, r, y = (frappe.get_doc("Restore Drill", name) for name in (queued, running, young))
		self.assertEqual((q.outcome, q.started_at), ("Failed", None))
		self.assertIn("lost before it ran", q.reason)
		self.assertEqual(r.outcome, "Failed")
		self.assertIn("lost while running", r.reason)
		self.assertTrue(q.finished_at and r.finished_at and r.started_at)
		self.assertEqual(y.outcome, "Queued", "just queued: its job may not be enqueued yet")
		logged = frappe.get_all(
			"Ops Action Log",
			filters={"action": "drill", "targets": ("like", f"%{queued}%")},
			fields=["outcome", "state_after", "error"],
		)
		self.assertEqual([(row.outcome, row.state_after) for row in logged], [("failed", "Failed")])

	def test_a_verdict_committed_after_the_open_drills_were_read_is_kept(self):
		import pymysql

		name = self.open_drill("Running")
		frappe.db.get_value("Restore Drill", name, "outcome")  # this transaction now reads a snapshot
		# The drill's own worker stores its verdict, from another connection.
		other = pymysql.connect(
			host=frappe.conf.db_host or "127.0.0.1",
			port=int(frappe.conf.db_port or 3306),
			user=frappe.conf.db_user or frappe.conf.db_name,
			password=frappe.conf.db_password,
			database=frappe.conf.db_name,
			autocommit=True,
		)
		with other.cursor() as cur:
			cur.execute("update `tabRestore Drill` set outcome = 'Passed' where name = %s", (name,))
		other.close()
		self.assertNotIn(name, drill_site.settle_lost_drills())
		frappe.db.rollback()
		self.assertEqual(frappe.db.get_value("Restore Drill", name, "outcome"), "Passed")

	def test_a_drill_named_by_a_queued_job_is_left_open_until_the_job_is_gone(self):
		from frappe.utils.background_jobs import create_job_id
		from rq.job import Job, JobStatus

		name = self.open_drill("Queued")
		# A real job record as frappe.enqueue writes it, in no queue list: no worker runs it.
		job = Job.create(
			"frappe.utils.background_jobs.execute_job",
			kwargs={"kwargs": {"drill": name}},
			id=create_job_id(drill_site.JOB_ID),
			connection=self.conn,
			status=JobStatus.QUEUED,
		)
		job.save()
		self.addCleanup(job.delete)
		self.assertNotIn(name, drill_site.settle_lost_drills())
		self.assertEqual(frappe.db.get_value("Restore Drill", name, "outcome"), "Queued")
		job.delete()
		self.assertIn(name, drill_site.settle_lost_drills())


class TestDrillPermissions(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_user(VIEWER, ("Ops Viewer",))
		ensure_user(MANAGER, ("Ops Manager",))
		frappe.db.commit()

	def tearDown(self):
		frappe.set_user("Administrator")

	def test_an_ops_viewer_may_not_start_a_drill_and_the_attempt_is_logged(self):
		frappe.set_user(VIEWER)
		with self.assertRaises(frappe.PermissionError):
			api.run_drill_now()
		frappe.set_user("Administrator")
		row = frappe.get_all(
			"Ops Action Log",
			filters={"action": "drill"},
			fields=["user", "outcome", "error"],
			order_by="seq desc",
			limit=1,
		)[0]
		self.assertEqual((row.user, row.outcome), (VIEWER, "denied"))
		self.assertIn("write permission on Ops Drill Action", row.error)  # what the switchboard asks for

	def test_over_http_an_ops_viewer_gets_403_for_run_drill_now_and_200_for_the_status(self):
		from erp_ops.api.test_jobs import http
		from erp_ops.api.test_signals import api_token

		token = api_token(frappe.get_doc("User", VIEWER))
		denied = http("POST", "/api/method/erp_ops.api.drills.run_drill_now", token)
		self.assertEqual(denied.status_code, 403, denied.get_data(as_text=True))
		status = http("GET", "/api/method/erp_ops.api.drills.drill_status", token)
		self.assertEqual(status.status_code, 200, status.get_data(as_text=True))
		self.assertIn(status.json["message"]["severity"], ("ok", "warning", "critical"))

	def test_an_ops_viewer_reads_the_status_but_may_not_touch_retention(self):
		frappe.set_user(VIEWER)
		self.assertIn(api.drill_status()["severity"], ("ok", "warning", "critical"))
		self.assertRaises(frappe.PermissionError, api.retention_plan)
		self.assertRaises(frappe.PermissionError, api.apply_retention, plan_id="x")
		self.assertRaises(frappe.PermissionError, api.verify_backup_chain)

	def test_retention_applies_only_when_turned_on_and_only_the_confirmed_plan(self):
		frappe.set_user(MANAGER)
		plan = api.retention_plan()
		self.assertEqual(len(plan["plan_id"]), 64)
		with self.assertRaises(frappe.ValidationError) as raised:
			api.apply_retention(plan_id=plan["plan_id"])
		self.assertEqual(raised.exception.http_status_code, 422)
		frappe.db.set_single_value("Ops Settings", "retention_apply", 1)
		frappe.clear_document_cache("Ops Settings", "Ops Settings")
		self.addCleanup(frappe.clear_document_cache, "Ops Settings", "Ops Settings")
		self.addCleanup(frappe.db.set_single_value, "Ops Settings", "retention_apply", 0)
		with self.assertRaises(frappe.ValidationError) as raised:
			api.apply_retention(plan_id="0" * 64)
		self.assertEqual(raised.exception.http_status_code, 409)


class TestDrillCommands(DrillTestCase):
	def test_ops_backup_then_ops_drill_passes_and_is_stored(self):
		from erp_ops.commands.test_commands import bench

		backup = bench("ops", "backup")
		self.assertEqual(backup.returncode, 0, backup.stderr)
		taken = json.loads(backup.stdout)
		self.assertEqual(len(taken["head"]), 64)
		self.assertEqual(taken["files"], ["database", "private_files", "public_files", "site_config"])

		drill = bench("ops", "drill", "--json")
		self.assertEqual(drill.returncode, 0, drill.stdout + drill.stderr)
		result = json.loads(drill.stdout)
		self.assertEqual((result["outcome"], result["backup_stamp"]), ("passed", taken["stamp"]))
		# The manifest `ops backup` wrote is what the drill checked the files and counts against.
		checks = {c["code"]: c["status"] for c in result["checks"]}
		self.assertEqual((checks["checksums"], checks["row_counts"]), ("pass", "pass"))
		frappe.db.rollback()
		stored = frappe.get_all(
			"Restore Drill",
			filters={"triggered_by": "Bench", "backup_stamp": taken["stamp"]},
			fields=["outcome", "scratch_dropped"],
		)
		self.assertIn(frappe._dict(outcome="Passed", scratch_dropped=1), stored)

	def test_ops_drill_exits_2_with_the_reason_when_there_is_no_backup(self):
		from erp_ops.commands.test_commands import bench

		folder = tempfile.mkdtemp(prefix="erp_ops_drill_test_")
		self.addCleanup(shutil.rmtree, folder, True)
		drill = bench("ops", "drill", "--backup-folder", folder)
		self.assertEqual(drill.returncode, 2, drill.stdout + drill.stderr)
		self.assertIn("FAILED: no database backup of", drill.stdout)
		self.assertIn("Stored as Restore Drill RD-", drill.stdout)


class TestDrillSettings(FrappeTestCase):
	def test_the_drill_cron_is_validated_and_the_defaults_are_the_documented_ones(self):
		settings = frappe.get_doc("Ops Settings")
		settings.drills_enabled, settings.drill_cron = 1, "30 25 * * *"
		with self.assertRaises(frappe.ValidationError) as raised:
			settings.save()
		self.assertIn("not a cron expression", str(raised.exception))
		frappe.db.rollback()
		got = drill_site.drill_settings()
		meta = frappe.get_meta("Ops Settings")
		self.assertEqual(meta.get_field("drill_cron").default, "30 2 * * *")
		self.assertEqual(meta.get_field("drill_max_age_days").default, "7")
		self.assertFalse(int(meta.get_field("retention_apply").default))
		self.assertTrue(got.manifest_enabled)

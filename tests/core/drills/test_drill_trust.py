"""Drills that cannot be fooled and leave nothing behind (issue 21), on sets built from real
mariadb-dump output: another site's set renamed to this site's names, flipped bits mid-gzip, a
dump cut after its last CREATE TABLE, no manifest, kill -9 mid-restore, two drills at once."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import psutil
import pymysql
import pytest

from erp_ops.core.drills import DrillOptions, SiteFacts, latest_backup_set, run_drill
from erp_ops.core.drills.errors import BackupNotFound
from erp_ops.core.drills.facts import live_identity
from erp_ops.core.drills.manifest import record_manifest
from erp_ops.core.drills.models import CheckStatus, DrillOutcome
from erp_ops.core.drills.scratch import (
	Owner,
	_marker_sql,
	scratch_name,
	sweep_scratch,
	unowned_leftovers,
)
from tests.core.drills.conftest import SITE, backup_with_manifest, drop_db, make_site_db
from tests.core.drills.test_cli_drills import drill
from tests.core.drills.test_drill import _insert_sql_after_header, checks_of, site_facts
from tests.support.frappe_backup import read_dump, scratch_databases, take_backup, write_dump
from tests.support.rq_helpers import ROOT

OTHER = "other.example.com"


def exact_counts(kwargs: dict, db: str) -> dict[str, int]:
	"""COUNT(*) of every table, read with pymysql (not the drill's client)."""
	conn = pymysql.connect(**kwargs, database=db)
	try:
		with conn.cursor() as cur:
			cur.execute("SHOW TABLES")
			tables = [r[0] for r in cur.fetchall()]
			counts = {}
			for table in tables:
				cur.execute(f"SELECT COUNT(*) FROM `{table}`")
				counts[table] = cur.fetchone()[0]
			return counts
	finally:
		conn.close()


@pytest.fixture(scope="module")
def this_site(mariadb_url):
	"""The live site the drills are for (its own database, its own install time)."""
	kwargs, name = make_site_db(mariadb_url)
	yield kwargs, name
	drop_db(kwargs, name)


def renamed_into(folder_from: str, sites_to, site: str, db_name: str) -> str:
	"""Copy another site's set into `site`'s backups folder under `site`'s names; beside it the
	site's own site_config.json (its live db_name), as on a bench."""
	site_dir = sites_to / site
	folder = site_dir / "private" / "backups"
	folder.mkdir(parents=True)
	(site_dir / "site_config.json").write_text(json.dumps({"db_name": db_name}))
	for name in os.listdir(folder_from):
		shutil.copy(
			os.path.join(folder_from, name),
			folder / name.replace(OTHER.replace(".", "_"), site.replace(".", "_")),
		)
	return str(folder)


def test_another_sites_set_renamed_to_this_sites_names_fails_from_its_content(
	client, mariadb_url, source_site, this_site, tmp_path, no_scratch_left
):
	kwargs, other_db = source_site
	_, db = this_site
	other_folder = take_backup(kwargs, other_db, str(tmp_path / "b"), OTHER)
	folder = renamed_into(other_folder, tmp_path / "a", SITE, db)
	assert all(n.split("-")[1] == "erp_example_com" for n in os.listdir(folder))

	# The user gives only the folder: the site and its database come from where the folder is.
	done = drill("--backup", folder, "--mariadb", mariadb_url, "--json")
	assert done.returncode == 2, done.stdout + done.stderr
	result = json.loads(done.stdout)
	assert result["outcome"] == "failed" and result["rto_s"] is None  # never restored
	assert result["reason"] == (
		f"backup of another site ({OTHER}: its files archives hold {OTHER}/…/files; "
		f"named for erp_example_com; dump of database {other_db})"
	)
	assert len(result["reason"]) <= 200

	# Without files archives the dump's own header and the live db_name still tell.
	for name in os.listdir(folder):
		if name.endswith(".tar"):
			os.unlink(os.path.join(folder, name))
	done = drill("--backup", folder, "--mariadb", mariadb_url, "--no-files", "--json")
	assert done.returncode == 2, done.stdout + done.stderr
	assert json.loads(done.stdout)["reason"] == (
		f"backup of another site (dump of database {other_db}; this site's database is {db})"
	)

	# A folder holding only the other site's set says so.
	with pytest.raises(BackupNotFound, match=r"holds only backups of other sites \(other_example_com\)"):
		latest_backup_set(other_folder, SITE)
	done = drill("--backup", other_folder, "--site", SITE, "--mariadb", mariadb_url)
	assert done.returncode == 2
	assert "holds only backups of other sites (other_example_com)" in done.stderr


def test_fingerprint_of_the_live_site_catches_a_restore_that_is_another_sites(
	client, source_site, this_site, tmp_path, no_scratch_left
):
	kwargs, other_db = source_site
	_, db = this_site
	backup = backup_with_manifest(client, kwargs, other_db, tmp_path, site=OTHER)
	mine, theirs = live_identity(client, db).fingerprint, live_identity(client, other_db).fingerprint
	assert mine and theirs and mine != theirs
	# Names and db_name agree (a clone's database, say): only the identifying rows differ.
	facts = SiteFacts(site=OTHER, db_name=other_db, site_databases=[other_db, db], fingerprint=mine)
	result = run_drill(client, backup, facts)
	check = checks_of(result)["site_fingerprint"]
	assert check.status == CheckStatus.FAIL and result.outcome == DrillOutcome.FAILED
	assert check.reason.startswith("backup of another site (tabUser/Administrator.creation is ")
	assert theirs["tabUser/Administrator.creation"] in check.reason
	assert mine["tabUser/Administrator.creation"] in check.reason
	same = run_drill(client, backup, facts.model_copy(update={"fingerprint": theirs}))
	assert checks_of(same)["site_fingerprint"].status == CheckStatus.PASS
	assert same.outcome == DrillOutcome.PASSED, same.reason


@pytest.fixture(scope="module")
def big_site(mariadb_url):
	"""Enough rows that the SQL after the first tabItem INSERT is far more than the 1 MiB pipe and
	the client's own buffer (one whole statement, up to 1 MB for mariadb-dump's INSERTs) hold."""
	kwargs, name = make_site_db(mariadb_url, items=60000)
	yield kwargs, name
	drop_db(kwargs, name)


def test_flipped_bits_mid_gzip_name_the_crc_error_not_the_clients_echo(
	client, big_site, tmp_path, no_scratch_left
):
	kwargs, db = big_site
	backup = backup_with_manifest(client, kwargs, db, tmp_path, manifest=False)
	header, sql = read_dump(backup.database.path)
	at = sql.index(b"(", sql.index(b"INSERT INTO `tabItem` VALUES"))
	assert len(sql) - at > 6 << 20
	damaged = sql[:at] + b")" + sql[at + 1 :]
	# Deflate data that decodes cleanly to a changed statement while the trailer keeps the
	# original CRC-32: zlib can only tell at the member's end, the client chokes long before.
	write_dump(backup.database.path, header, damaged, crc_of=sql)
	result = run_drill(client, latest_backup_set(backup.folder), site_facts(db))
	check = checks_of(result)["corrupt_gzip"]
	assert result.outcome == DrillOutcome.FAILED and result.scratch_dropped
	assert result.reason == check.reason
	assert result.reason.startswith(f"{backup.database.name}: corrupted gzip: CRC-32 mismatch")
	assert len(result.reason) <= 200 and "\n" not in result.reason
	# The client did die first, on the damaged statement: its words are kept in the details.
	assert "ERROR 1064" in (check.details["client_error"] or ""), {
		k: v for k, v in check.details.items() if k != "full_reason"
	}


def test_sql_error_reason_is_one_short_line_with_code_and_line(client, big_site, tmp_path, no_scratch_left):
	kwargs, db = big_site
	backup = backup_with_manifest(client, kwargs, db, tmp_path, manifest=False)
	header, sql = read_dump(backup.database.path)
	at = sql.index(b"(", sql.index(b"INSERT INTO `tabItem` VALUES"))
	write_dump(backup.database.path, header, sql[:at] + b")" + sql[at + 1 :])  # intact gzip, bad SQL
	result = run_drill(client, latest_backup_set(backup.folder), site_facts(db))
	check = checks_of(result)["import_error"]
	assert result.reason == check.reason and len(result.reason) <= 200
	assert result.reason.startswith("the import failed: ERROR 1064 (42000) at line ")
	assert ": SQL syntax error near ')'ITEM-00000','Item 0','a fair…' at line 2" in result.reason
	assert "ERROR 1064" in check.details["client_error"]  # the client's words are kept in the record


def test_dump_cut_after_its_last_create_table_is_incomplete(client, source_site, tmp_path, no_scratch_left):
	kwargs, db = source_site
	backup = backup_with_manifest(client, kwargs, db, tmp_path, manifest=False)
	header, sql = read_dump(backup.database.path)
	assert sql.rstrip().rsplit(b"\n", 1)[-1].startswith(b"-- Dump completed")
	last_create = sql.rindex(b"\nCREATE TABLE ")
	cut = sql.index(b";\n", last_create) + 2
	write_dump(backup.database.path, header, sql[:cut])
	result = run_drill(client, latest_backup_set(backup.folder), site_facts(db))
	assert result.outcome == DrillOutcome.FAILED and result.scratch_dropped
	assert checks_of(result)["dump_incomplete"].status == CheckStatus.FAIL
	assert result.reason.startswith(f"incomplete dump: {backup.database.name} ends without mariadb-dump's")
	assert "last statement: CREATE TABLE `tabVersion`" in result.reason
	assert result.tables == 9  # every table is there: only the trailer tells

	# Cut after the last table's data: with a manifest, every other check passes. Still failed.
	unlock = sql.rindex(b"UNLOCK TABLES;\n") + len(b"UNLOCK TABLES;\n")
	write_dump(backup.database.path, header, sql[:unlock])
	cut_set = latest_backup_set(backup.folder)
	record_manifest(client, cut_set, db, SITE)
	result = run_drill(client, cut_set, site_facts(db))
	failed = [c.code for c in result.checks if c.status == CheckStatus.FAIL]
	assert failed == ["dump_incomplete"] and result.outcome == DrillOutcome.FAILED
	assert checks_of(result)["row_counts"].status == CheckStatus.PASS


def test_without_a_manifest_the_verdict_is_restored_not_verified_unless_counts_come_from_somewhere(
	client, mariadb_url, source_site, tmp_path, no_scratch_left
):
	kwargs, db = source_site
	backup = backup_with_manifest(client, kwargs, db, tmp_path, manifest=False)
	result = run_drill(client, backup, site_facts(db))
	assert result.outcome == DrillOutcome.NOT_VERIFIED
	assert result.reason.startswith("restored, not verified: 9 tables, ") and len(result.reason) <= 200
	assert "no expected row counts" in result.reason and "row_counts" in result.reason
	assert checks_of(result)["row_counts"].status == CheckStatus.SKIP

	counts = exact_counts(kwargs, db)
	from_file = run_drill(client, backup, site_facts(db), DrillOptions(expected_counts=counts))
	assert from_file.outcome == DrillOutcome.PASSED, from_file.reason
	assert checks_of(from_file)["row_counts"].reason == "9 tables within tolerance of the expected counts"
	live = run_drill(client, backup, site_facts(db, expected_counts=counts))
	assert live.outcome == DrillOutcome.PASSED
	assert checks_of(live)["row_counts"].reason.endswith("of the live site")
	wrong = run_drill(
		client, backup, site_facts(db), DrillOptions(expected_counts={**counts, "tabVersion": 800})
	)
	assert wrong.outcome == DrillOutcome.FAILED
	assert wrong.reason == "row counts off the expected counts: tabVersion 400 rows (expected counts: 800)"

	# The CLI: exit 3 for "restored, not verified", 0 with --expect-counts, 64 for a bad file.
	done = drill("--backup", backup.folder, "--mariadb", mariadb_url)
	assert done.returncode == 3, done.stdout + done.stderr
	assert "RESTORED, NOT VERIFIED" in done.stdout
	expect = tmp_path / "counts.json"
	expect.write_text(json.dumps(counts))
	done = drill("--backup", backup.folder, "--mariadb", mariadb_url, "--expect-counts", str(expect))
	assert done.returncode == 0, done.stdout + done.stderr
	expect.write_text(json.dumps(["tabUser", 4]))
	bad = drill("--backup", backup.folder, "--mariadb", mariadb_url, "--expect-counts", str(expect))
	assert bad.returncode == 64 and "table → row count" in bad.stderr and "Traceback" not in bad.stderr


def _cli(*args: str) -> subprocess.Popen:
	return subprocess.Popen(
		[sys.executable, "-m", "erp_ops.cli", "drill", *args],
		stdout=subprocess.PIPE,
		stderr=subprocess.PIPE,
		text=True,
		env={**os.environ, "PYTHONPATH": str(ROOT)},
	)


def _sleeping_scratch(kwargs: dict, owner: str, timeout: float = 90) -> str:
	"""The scratch database of this test's owner whose restore session is in the dump's SLEEP."""
	conn = pymysql.connect(**kwargs, autocommit=True)
	try:
		deadline = time.monotonic() + timeout
		while time.monotonic() < deadline:
			with conn.cursor() as cur:
				cur.execute(
					"SELECT DB FROM information_schema.PROCESSLIST "
					"WHERE DB LIKE 'erp\\_ops\\_drill\\_%' AND INFO LIKE 'SELECT SLEEP%'"
				)
				for (db,) in cur.fetchall():
					try:
						cur.execute(f"SELECT owner FROM `{db}`.erp_ops_drill_owner")
					except pymysql.MySQLError:
						continue  # gone meanwhile, or not a marked scratch database
					if cur.fetchone() == (owner,):
						return db
			time.sleep(0.05)
	finally:
		conn.close()
	raise AssertionError("the restore never reached the SLEEP")


def test_kill_9_mid_restore_then_the_next_drill_sweeps_the_scratch_and_reports_it(
	client, mariadb_url, source_site, tmp_path, no_scratch_left, own_lock_and_owner
):
	kwargs, db = source_site
	slow = backup_with_manifest(client, kwargs, db, tmp_path / "slow", manifest=False)
	_insert_sql_after_header(slow.database.path, "SELECT SLEEP(60);\n")
	proc = _cli("--backup", slow.folder, "--mariadb", mariadb_url)
	try:
		stale = _sleeping_scratch(kwargs, own_lock_and_owner)
		assert proc.poll() is None, proc.communicate()
		proc.send_signal(signal.SIGKILL)
		proc.wait(10)
	finally:
		if proc.poll() is None:
			proc.kill()
		proc.communicate()
	assert stale in scratch_databases(kwargs)  # SIGKILL: no finally ran

	good = backup_with_manifest(client, kwargs, db, tmp_path / "good")
	done = drill("--backup", good.folder, "--site-db", db, "--mariadb", mariadb_url, "--json")
	assert done.returncode == 0, done.stdout + done.stderr
	result = json.loads(done.stdout)
	assert result["swept"] == [stale], [(c["code"], c["status"], c["reason"]) for c in result["checks"]]
	swept = {c["code"]: c for c in result["checks"]}["stale_scratch"]
	assert swept["status"] == "warn" and stale in swept["reason"]
	assert f"(pid {proc.pid} on {socket.gethostname()}" in swept["details"]["swept"][0]["why"]
	assert stale not in scratch_databases(kwargs)


def test_sweep_drops_only_what_this_owner_provably_left_behind(
	client, mariadb_url, own_lock_and_owner, tmp_path
):
	owner = own_lock_and_owner
	here = socket.gethostname()
	now = datetime.now(timezone.utc).replace(microsecond=0)
	gone = subprocess.Popen(["sleep", "30"])
	gone_started = psutil.Process(gone.pid).create_time()
	gone.kill()
	gone.wait()
	me = Owner.this_process(owner, timedelta(hours=1))

	def marker(**changes) -> Owner:
		return me.model_copy(update=changes)

	cases = {
		"dead pid here": (marker(pid=gone.pid, pid_started=gone_started), True),
		"pid reused": (marker(pid_started=me.pid_started - 1000), True),
		"alive here": (me, False),
		"other host, lease over": (marker(host="elsewhere", deadline=now - timedelta(minutes=1)), True),
		"other host, lease on": (marker(host="elsewhere", deadline=now + timedelta(hours=1)), False),
		"another owner, dead": (marker(name=owner + "-x", pid=gone.pid, pid_started=gone_started), False),
		"no marker": (None, False),
	}
	names = {}
	try:
		for case, (mark, _) in cases.items():
			names[case] = scratch_name()
			client.query(f"CREATE DATABASE `{names[case]}`")
			if mark is not None:
				client.query(_marker_sql(mark), names[case])
		entries = {e.name: e for e in sweep_scratch(client, owner)}
		for case, (_, dropped) in cases.items():
			assert entries[names[case]].dropped is dropped, (case, entries[names[case]])
		assert entries[names["no marker"]].why == "no owner marker: not provably ours"
		# Reported (never dropped) by every drill once its name stamp is older than an hour.
		later = now + timedelta(hours=2)
		assert names["no marker"] in unowned_leftovers(list(entries.values()), later)
		assert names["no marker"] not in unowned_leftovers(list(entries.values()), now)
		assert entries[names["alive here"]].why == f"its drill (pid {os.getpid()}) is still running"
		remaining = set(client.databases())
		assert {n for c, n in names.items() if not cases[c][1]} <= remaining
		assert not {n for c, n in names.items() if cases[c][1]} & remaining

		# `erp-ops drill --sweep` does the same and reports it.
		leftover = scratch_name()
		client.query(f"CREATE DATABASE `{leftover}`")
		client.query(_marker_sql(marker(pid=gone.pid, pid_started=gone_started)), leftover)
		done = drill("--sweep", "--mariadb", mariadb_url)
		assert done.returncode == 0, done.stderr
		assert f"dropped  {leftover}: its drill (pid {gone.pid} on {here}" in done.stdout
		assert (
			f"kept     {names['alive here']}: its drill (pid {os.getpid()}) is still running" in done.stdout
		)
		assert leftover not in client.databases()
	finally:
		for name in names.values():
			client.query(f"DROP DATABASE IF EXISTS `{name}`")


def test_two_drills_at_once_on_one_host_the_second_refuses_or_waits(
	client, mariadb_url, source_site, tmp_path, no_scratch_left, own_lock_and_owner
):
	kwargs, db = source_site
	slow = backup_with_manifest(client, kwargs, db, tmp_path / "slow")
	_insert_sql_after_header(slow.database.path, "SELECT SLEEP(4);\n")
	record_manifest(client, latest_backup_set(slow.folder), db, SITE)
	good = backup_with_manifest(client, kwargs, db, tmp_path / "good")
	first = _cli("--backup", slow.folder, "--mariadb", mariadb_url, "--json")
	waiting = None
	try:
		_sleeping_scratch(kwargs, own_lock_and_owner)
		refused = drill("--backup", good.folder, "--mariadb", mariadb_url)
		assert refused.returncode == 2
		assert refused.stderr.startswith(
			f"erp-ops drill: FAILED: another restore drill runs on this host (pid {first.pid} since "
		), refused.stderr
		waiting = _cli("--backup", good.folder, "--mariadb", mariadb_url, "--json", "--wait", "60")
		first_out, first_err = first.communicate(timeout=60)
		waited_out, waited_err = waiting.communicate(timeout=60)
	finally:
		for proc in (first, waiting):
			if proc is not None and proc.poll() is None:
				proc.kill()
				proc.communicate()
	assert first.returncode == 0, first_err
	assert waiting.returncode == 0, waited_err
	one, two = json.loads(first_out), json.loads(waited_out)
	assert datetime.fromisoformat(two["started_at"]) >= datetime.fromisoformat(one["finished_at"])

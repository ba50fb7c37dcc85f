"""`erp-ops drill` as a process: exit codes, JSON, and SIGTERM in the middle of a restore."""

import json
import os
import signal
import subprocess
import sys
import time

import pymysql

from tests.core.drills.conftest import SITE, backup_with_manifest
from tests.core.drills.test_drill import _insert_sql_after_header
from tests.support.frappe_backup import scratch_databases
from tests.support.rq_helpers import ROOT


def drill(*args: str, **popen) -> subprocess.CompletedProcess:
	env = {**os.environ, "PYTHONPATH": str(ROOT)}
	env.pop("ERP_OPS_MARIADB", None)
	return subprocess.run(
		[sys.executable, "-m", "erp_ops.cli", "drill", *args],
		capture_output=True,
		text=True,
		env=env,
		timeout=120,
	)


def test_passing_drill_exits_0_and_prints_the_result(
	client, source_site, mariadb_url, tmp_path, no_scratch_left
):
	kwargs, db = source_site
	backup = backup_with_manifest(client, kwargs, db, tmp_path)
	done = drill(
		"--backup", backup.folder, "--site", SITE, "--site-db", db, "--mariadb", mariadb_url, "--json"
	)
	assert done.returncode == 0, done.stdout + done.stderr
	result = json.loads(done.stdout)
	assert result["outcome"] == "passed" and result["scratch_dropped"] is True
	assert {c["code"]: c["status"] for c in result["checks"]}["dump_source"] == "pass"
	text = drill("--backup", backup.database.path, "--mariadb", mariadb_url)
	assert text.returncode == 0 and "PASSED" in text.stdout and "PASS  doctype_tables" in text.stdout


def test_failed_drill_exits_2_with_the_reason(client, source_site, mariadb_url, tmp_path, no_scratch_left):
	kwargs, db = source_site
	backup = backup_with_manifest(client, kwargs, db, tmp_path, manifest=False)
	with open(backup.database.path, "r+b") as f:
		f.truncate(os.path.getsize(backup.database.path) - 100)
	done = drill("--backup", backup.folder, "--mariadb", mariadb_url)
	assert done.returncode == 2, done.stdout + done.stderr
	assert "FAILED" in done.stdout and "truncated" in done.stdout
	empty = tmp_path / "empty"
	empty.mkdir()
	none = drill("--backup", str(empty), "--mariadb", mariadb_url)
	assert none.returncode == 2 and "no database backup" in none.stderr


def test_bad_usage_exits_64_and_anything_about_the_backup_exits_2(tmp_path, mariadb_url):
	assert drill("--backup", str(tmp_path)).returncode == 64  # no --mariadb
	assert drill("--backup", str(tmp_path), "--mariadb", "redis://x").returncode == 64
	assert (
		drill("--backup", str(tmp_path), "--mariadb", mariadb_url, "--time-zone", "Mars/Base").returncode
		== 64
	)
	assert drill("--mariadb", mariadb_url).returncode == 64  # neither --backup nor --sweep
	assert drill("--nonsense").returncode == 64  # argparse's own error is 64, not 2
	missing_counts = drill("--backup", str(tmp_path), "--mariadb", mariadb_url, "--expect-counts", "/nope")
	assert missing_counts.returncode == 64 and "No such file" in missing_counts.stderr
	# The rule: a path that holds no backup is what a drill exists to catch, missing or empty.
	missing = drill("--backup", str(tmp_path / "missing"), "--mariadb", mariadb_url)
	assert missing.returncode == 2
	assert missing.stderr == f"erp-ops drill: FAILED: --backup '{tmp_path / 'missing'}' does not exist\n"
	empty = drill("--backup", str(tmp_path), "--mariadb", mariadb_url)
	assert empty.returncode == 2 and "no database backup in" in empty.stderr
	for done in (missing, empty, missing_counts):
		assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


def test_sigterm_mid_restore_drops_the_scratch_database(
	client, source_site, mariadb_url, tmp_path, no_scratch_left
):
	kwargs, db = source_site
	backup = backup_with_manifest(client, kwargs, db, tmp_path, manifest=False)
	_insert_sql_after_header(backup.database.path, "SELECT SLEEP(60);\n")
	env = {**os.environ, "PYTHONPATH": str(ROOT)}
	proc = subprocess.Popen(
		[
			sys.executable,
			"-m",
			"erp_ops.cli",
			"drill",
			"--backup",
			backup.folder,
			"--mariadb",
			mariadb_url,
			"--json",
		],
		stdout=subprocess.PIPE,
		stderr=subprocess.PIPE,
		text=True,
		env=env,
	)
	try:
		conn = pymysql.connect(**kwargs, autocommit=True)
		deadline = time.monotonic() + 20
		seen = False
		while time.monotonic() < deadline and not seen:
			with conn.cursor() as cur:
				cur.execute(
					"SELECT COUNT(*) FROM information_schema.PROCESSLIST "
					"WHERE DB LIKE 'erp\\_ops\\_drill\\_%' AND INFO LIKE 'SELECT SLEEP%'"
				)
				seen = cur.fetchone()[0] > 0
			time.sleep(0.05)
		conn.close()
		assert seen, "the restore never reached the SLEEP"
		assert scratch_databases(kwargs)
		started = time.monotonic()
		proc.send_signal(signal.SIGTERM)
		out, err = proc.communicate(timeout=30)
	finally:
		if proc.poll() is None:
			proc.kill()
			proc.wait()
	assert time.monotonic() - started < 15  # the session was killed, not waited out
	assert proc.returncode == 2, err
	result = json.loads(out)
	assert result["interrupted"] is True and result["scratch_dropped"] is True
	assert result["reason"] == "drill interrupted by SIGTERM"

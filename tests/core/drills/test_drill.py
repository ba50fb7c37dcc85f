"""Restore drills against the real MariaDB: a passing drill, the safety rules, every bad input."""

import gzip
import os
import shutil
import threading
import time

import pymysql
import pytest

from erp_ops.core.drills import DrillOptions, SiteFacts, latest_backup_set, run_drill
from erp_ops.core.drills.discovery import FileKind
from erp_ops.core.drills.errors import UnsafeScratchTarget
from erp_ops.core.drills.manifest import read_manifest, write_manifest
from erp_ops.core.drills.models import CheckStatus, DrillOutcome
from erp_ops.core.drills.scratch import scratch_database, scratch_name
from tests.core.drills.conftest import SITE, backup_with_manifest, drop_db, make_site_db
from tests.support.frappe_backup import APPS, PATCHES, table_checksums


def checks_of(result) -> dict:
	return {c.code: c for c in result.checks}


def site_facts(db_name: str, **changes) -> SiteFacts:
	return SiteFacts(
		site=SITE, db_name=db_name, installed_apps=dict(APPS), patches=list(PATCHES), site_databases=[db_name]
	).model_copy(update=changes)


def test_passing_drill_verifies_from_the_scratch_database_and_leaves_the_source_untouched(
	client, source_site, tmp_path, no_scratch_left
):
	kwargs, db = source_site
	backup = backup_with_manifest(client, kwargs, db, tmp_path)
	before = table_checksums(kwargs, db)
	seen_scratch = []

	def during_restore(sql_bytes: int) -> None:
		seen_scratch.extend(n for n in client.databases("erp\\_ops\\_drill\\_%") if n not in seen_scratch)

	result = run_drill(client, backup, site_facts(db), on_chunk=during_restore)

	checks = checks_of(result)
	assert result.outcome == DrillOutcome.PASSED, result.reason
	for code in (
		"checksums",
		"files_archives",
		"backup_site",
		"restore",
		"dump_source",
		"doctype_tables",
		"key_tables",
		"row_counts",
		"installed_apps",
		"patch_log",
		"ledger_balanced",
		"ledger_manifest",
	):
		assert checks[code].status == CheckStatus.PASS, (code, checks[code].reason)
	assert checks["doctype_tables"].reason.startswith(
		"all 8 DocTypes"
	)  # the single and the virtual are skipped
	# The scratch database really existed and held the data; counts equal the source's exact counts.
	assert result.scratch_database in seen_scratch and result.scratch_dropped
	assert result.table_counts["tabVersion"] == 400 and result.table_counts["tabGL Entry"] == 120
	assert result.table_counts == {t: result.table_counts[t] for t in before}
	assert {f.kind for f in result.files} == set(FileKind)
	assert all(len(f.sha256) == 64 for f in result.files)
	assert result.rto_s > 0 and result.rpo_s is not None and result.sql_bytes > 10_000
	assert table_checksums(kwargs, db) == before
	assert result.scratch_database not in client.databases()


def test_time_zone_sets_the_rpo(client, source_site, tmp_path, no_scratch_left):
	kwargs, db = source_site
	backup = backup_with_manifest(client, kwargs, db, tmp_path, stamp="20240101_120000")
	utc = run_drill(client, backup, site_facts(db))
	kolkata = run_drill(client, backup, site_facts(db), DrillOptions(time_zone="Asia/Kolkata"))
	assert utc.backup_taken_at.isoformat() == "2024-01-01T12:00:00+00:00"
	# 12:00 in Kolkata (UTC+5:30) is 06:30 UTC: the same stamp is 5.5 h older there.
	drift = (kolkata.started_at - utc.started_at).total_seconds()
	assert abs(kolkata.rpo_s - utc.rpo_s - drift - 19800) < 0.01


def test_scratch_target_must_have_the_prefix_and_never_be_a_site_database(client, source_site):
	_, db = source_site
	for bad in (db, "erp_ops_drill_x", "mysql", "erp_ops_drill_20240101000000_0000000g"):
		with pytest.raises(UnsafeScratchTarget):
			with scratch_database(client, bad, [db]):
				pass
	named_like_scratch = scratch_name()
	with pytest.raises(UnsafeScratchTarget, match="site's own database"):
		with scratch_database(client, named_like_scratch, [db, named_like_scratch.upper()]):
			pass
	from erp_ops.core.drills.scratch import drop_scratch

	for not_scratch in (db, "mysql", "erp_ops_drill_kept_by_someone"):
		with pytest.raises(UnsafeScratchTarget):
			drop_scratch(client, not_scratch)
	assert db in client.databases() and "mysql" in client.databases()


def test_an_existing_database_is_neither_used_nor_dropped(client, mariadb_url, source_site, tmp_path):
	kwargs, db = source_site
	existing = scratch_name()
	client.query(f"CREATE DATABASE `{existing}`")
	try:
		backup = backup_with_manifest(client, kwargs, db, tmp_path)
		with pytest.raises(UnsafeScratchTarget, match="exists already"):
			run_drill(client, backup, site_facts(db), scratch=existing)
		assert existing in client.databases()
	finally:
		client.query(f"DROP DATABASE IF EXISTS `{existing}`")


def test_empty_dump_fails_with_its_reason(client, source_site, tmp_path, no_scratch_left):
	kwargs, db = source_site
	backup = backup_with_manifest(client, kwargs, db, tmp_path, manifest=False)
	with gzip.open(backup.database.path, "wt") as f:  # what bench backup leaves when mysqldump wrote nothing
		f.write("-- begin frappe metadata\n-- [frappe]\n-- version = 15.40.0\n-- end frappe metadata\n")
	result = run_drill(client, latest_backup_set(backup.folder), site_facts(db))
	assert result.outcome == DrillOutcome.FAILED and result.scratch_dropped
	assert checks_of(result)["dump_empty"].status == CheckStatus.FAIL
	assert result.reason.startswith("empty dump:") and "holds only Frappe's header" in result.reason

	with open(backup.database.path, "wb") as f:
		f.write(gzip.compress(b"", mtime=0))  # a 20-byte gzip of nothing: another case
	assert os.path.getsize(backup.database.path) == 20
	nothing = run_drill(client, latest_backup_set(backup.folder), site_facts(db))
	assert nothing.outcome == DrillOutcome.FAILED
	assert checks_of(nothing)["dump_empty"].status == CheckStatus.FAIL
	assert "is a gzip of nothing (0 bytes of SQL)" in nothing.reason, nothing.reason


def test_near_empty_dump_with_tables_but_no_rows_fails(client, mariadb_url, tmp_path, no_scratch_left):
	kwargs, db = make_site_db(mariadb_url, items=0, versions=0, gl_pairs=0)
	try:
		conn = pymysql.connect(**kwargs, database=db, autocommit=True)
		with conn.cursor() as cur:
			cur.execute("DELETE FROM `tabUser`")
		conn.close()
		backup = backup_with_manifest(client, kwargs, db, tmp_path, manifest=False)
		result = run_drill(client, backup, site_facts(db))
		assert result.outcome == DrillOutcome.FAILED
		assert "tabUser" in checks_of(result)["key_tables"].reason
	finally:
		drop_db(kwargs, db)


def test_truncated_dump_fails_and_drops_the_scratch(client, source_site, tmp_path, no_scratch_left):
	kwargs, db = source_site
	backup = backup_with_manifest(client, kwargs, db, tmp_path, manifest=False)
	size = os.path.getsize(backup.database.path)
	with open(backup.database.path, "r+b") as f:
		f.truncate(size // 2)
	result = run_drill(client, latest_backup_set(backup.folder), site_facts(db))
	assert result.outcome == DrillOutcome.FAILED and result.scratch_dropped
	assert checks_of(result)["truncated_gzip"].status == CheckStatus.FAIL
	assert "truncated" in result.reason


def test_corrupted_gzip_fails_with_its_reason(client, source_site, tmp_path, no_scratch_left):
	kwargs, db = source_site
	backup = backup_with_manifest(client, kwargs, db, tmp_path, manifest=False)
	_flip_bytes(backup.database.path)
	result = run_drill(client, latest_backup_set(backup.folder), site_facts(db))
	assert result.outcome == DrillOutcome.FAILED and result.scratch_dropped
	assert checks_of(result)["corrupt_gzip"].status == CheckStatus.FAIL
	assert result.reason.startswith(os.path.basename(backup.database.path) + ": corrupted gzip: ")


def test_changed_file_fails_the_checksums_before_any_restore(client, source_site, tmp_path, no_scratch_left):
	kwargs, db = source_site
	backup = backup_with_manifest(client, kwargs, db, tmp_path)
	_flip_bytes(backup.database.path)
	result = run_drill(client, latest_backup_set(backup.folder), site_facts(db))
	checks = checks_of(result)
	assert checks["checksums"].status == CheckStatus.FAIL and "SHA-256" in checks["checksums"].reason
	assert checks["restore"].status == CheckStatus.SKIP and result.rto_s is None


def test_encrypted_backup_restores_with_the_key_and_fails_with_a_wrong_one(
	client, source_site, tmp_path, no_scratch_left
):
	kwargs, db = source_site
	key = "k" * 44
	backup = backup_with_manifest(client, kwargs, db, tmp_path, encryption_key=key)
	assert backup.database.name.endswith("-database-enc.sql.gz") and backup.database.encrypted
	with open(backup.database.path, "rb") as f:
		assert f.read(2) != b"\x1f\x8b"  # really encrypted
	good = run_drill(client, backup, site_facts(db), DrillOptions(encryption_key=key))
	assert good.outcome == DrillOutcome.PASSED, good.reason
	assert checks_of(good)["files_archives"].status == CheckStatus.PASS  # listed through gpg

	wrong = run_drill(client, backup, site_facts(db), DrillOptions(encryption_key="not-the-key"))
	assert wrong.outcome == DrillOutcome.FAILED and wrong.scratch_dropped
	assert checks_of(wrong)["wrong_encryption_key"].status == CheckStatus.FAIL
	assert "wrong encryption key" in wrong.reason


def test_missing_files_archive_fails_unless_not_required(client, source_site, tmp_path, no_scratch_left):
	kwargs, db = source_site
	backup = backup_with_manifest(client, kwargs, db, tmp_path, with_files=False)
	result = run_drill(client, backup, site_facts(db))
	assert result.outcome == DrillOutcome.FAILED
	assert result.reason.startswith("missing files archive:") and "-files.tar" in result.reason
	relaxed = run_drill(client, backup, site_facts(db), DrillOptions(require_files=False))
	assert relaxed.outcome == DrillOutcome.PASSED, relaxed.reason


def test_files_archive_count_must_match_the_manifest(client, source_site, tmp_path, no_scratch_left):
	kwargs, db = source_site
	backup = backup_with_manifest(client, kwargs, db, tmp_path)
	public = backup.files[FileKind.PUBLIC_FILES].path
	sites = tmp_path
	shutil.rmtree(sites / SITE / "public" / "files")
	os.makedirs(sites / SITE / "public" / "files")
	os.system(f"cd {sites} && tar -cf {public} ./{SITE}/public/files")
	result = run_drill(client, latest_backup_set(backup.folder), site_facts(db))
	assert result.outcome == DrillOutcome.FAILED
	# Either the changed checksum or the count is the reason; both name the archive.
	assert "-files.tar" in result.reason


def test_dump_from_another_site_fails(client, source_site, mariadb_url, tmp_path, no_scratch_left):
	kwargs, db = source_site
	backup = backup_with_manifest(client, kwargs, db, tmp_path, manifest=False)
	other_db = "_0123456789abcdef"
	result = run_drill(client, backup, site_facts(other_db, patches=None))
	assert result.outcome == DrillOutcome.FAILED and result.rto_s is None  # judged before any restore
	assert result.reason == (
		f"backup of another site (dump of database {db}; this site's database is {other_db})"
	)
	named_for_other = run_drill(client, backup, site_facts(db, site="other.example.com"))
	assert named_for_other.reason.startswith("backup of another site") and named_for_other.rto_s is None


def test_patch_log_and_apps_are_judged_against_the_live_site(client, source_site, tmp_path, no_scratch_left):
	kwargs, db = source_site
	backup = backup_with_manifest(client, kwargs, db, tmp_path)
	newer_site = run_drill(client, backup, site_facts(db, patches=[*PATCHES, "frappe.patches.v15_1.later"]))
	assert checks_of(newer_site)["patch_log"].status == CheckStatus.WARN
	assert newer_site.outcome == DrillOutcome.PASSED
	foreign = run_drill(
		client,
		backup,
		site_facts(db, patches=PATCHES[:-3], installed_apps={"frappe": "15.40.0", "hrms": "15.0.0"}),
	)
	checks = checks_of(foreign)
	assert checks["patch_log"].status == CheckStatus.FAIL and "never ran" in checks["patch_log"].reason
	assert (
		checks["installed_apps"].status == CheckStatus.FAIL and "erpnext" in checks["installed_apps"].reason
	)


def test_missing_doctype_table_and_unbalanced_ledger_fail(client, mariadb_url, tmp_path, no_scratch_left):
	kwargs, db = make_site_db(mariadb_url)
	try:
		conn = pymysql.connect(**kwargs, database=db, autocommit=True)
		with conn.cursor() as cur:
			cur.execute("DROP TABLE `tabSales Invoice`")
			cur.execute("INSERT INTO `tabGL Entry` VALUES ('GLE-X', 'Acme Ltd', 'Debtors', 10, 0, 0)")
		conn.close()
		backup = backup_with_manifest(client, kwargs, db, tmp_path)
		result = run_drill(client, backup, site_facts(db))
		checks = checks_of(result)
		assert checks["doctype_tables"].status == CheckStatus.FAIL
		assert "Sales Invoice" in checks["doctype_tables"].reason
		assert (
			checks["ledger_balanced"].status == CheckStatus.FAIL
			and "Acme Ltd" in checks["ledger_balanced"].reason
		)
		assert checks["ledger_manifest"].status == CheckStatus.PASS  # the manifest saw the same ledger
	finally:
		drop_db(kwargs, db)


def test_row_counts_off_the_manifest_fail(client, source_site, tmp_path, no_scratch_left):
	kwargs, db = source_site
	backup = backup_with_manifest(client, kwargs, db, tmp_path)
	manifest = read_manifest(backup.manifest_path)
	# The manifest saw 800 versions and 10 users: the dump holds 400 and 4 (rows lost on the way).
	tables = {**manifest.tables, "tabVersion": 800, "tabUser": 10, "tabItem": manifest.tables["tabItem"] + 3}
	write_manifest(backup, manifest.model_copy(update={"tables": tables}))
	result = run_drill(client, backup, site_facts(db))
	row_counts = checks_of(result)["row_counts"]
	assert row_counts.status == CheckStatus.FAIL
	assert (
		"tabVersion 400 rows (manifest: 800)" in row_counts.reason
		and "tabUser 4 rows (manifest: 10)" in row_counts.reason
	)
	assert "tabItem" not in row_counts.reason  # 3 rows of 300 are within the tolerance


def test_dump_that_switches_database_is_refused_before_the_statement_runs(
	client, source_site, tmp_path, no_scratch_left
):
	kwargs, db = source_site
	backup = backup_with_manifest(client, kwargs, db, tmp_path, manifest=False)
	before = table_checksums(kwargs, db)
	_append_sql(backup.database.path, f"USE `{db}`;\nDELETE FROM `tabUser`;\n")
	result = run_drill(client, latest_backup_set(backup.folder), site_facts(db))
	assert result.outcome == DrillOutcome.FAILED
	assert checks_of(result)["dump_switches_database"].status == CheckStatus.FAIL
	assert table_checksums(kwargs, db) == before


def test_mariadb_going_away_mid_restore_fails_with_its_reason(client, source_site, tmp_path, no_scratch_left):
	kwargs, db = source_site
	backup = backup_with_manifest(client, kwargs, db, tmp_path, manifest=False)
	_insert_sql_after_header(backup.database.path, "SELECT SLEEP(30);\n")
	killed = []

	def kill_the_restore_session() -> None:
		conn = pymysql.connect(**kwargs, autocommit=True)
		try:
			deadline = time.monotonic() + 20
			while time.monotonic() < deadline and not killed:
				with conn.cursor() as cur:
					cur.execute(
						"SELECT ID FROM information_schema.PROCESSLIST "
						"WHERE DB LIKE 'erp\\_ops\\_drill\\_%' AND INFO LIKE 'SELECT SLEEP%'"
					)
					for (session,) in cur.fetchall():
						cur.execute(f"KILL {int(session)}")  # the server side drops the client's connection
						killed.append(session)
				time.sleep(0.05)
		finally:
			conn.close()

	killer = threading.Thread(target=kill_the_restore_session)
	killer.start()
	started = time.monotonic()
	result = run_drill(client, latest_backup_set(backup.folder), site_facts(db))
	killer.join()
	assert killed, "the restore session was never seen"
	assert time.monotonic() - started < 25
	assert result.outcome == DrillOutcome.FAILED and result.scratch_dropped, result.reason
	assert checks_of(result)["server_gone"].status == CheckStatus.FAIL, result.checks
	assert result.reason.startswith("MariaDB went away mid-restore")


def _flip_bytes(path: str) -> None:
	size = os.path.getsize(path)
	with open(path, "r+b") as f:
		f.seek(size // 2)
		chunk = f.read(64)
		f.seek(size // 2)
		f.write(bytes(b ^ 0xFF for b in chunk))


def _append_sql(path: str, sql: str) -> None:
	with gzip.open(path, "ab") as f:  # one more gzip member, as `>>` appends
		f.write(sql.encode())


def _insert_sql_after_header(path: str, sql: str) -> None:
	with gzip.open(path, "rb") as f:
		text = f.read()
	marker = b"\nCREATE TABLE"
	at = text.index(marker)
	with gzip.open(path, "wb") as f:
		f.write(text[:at] + b"\n" + sql.encode() + text[at:])


def test_partial_backup_and_cut_files_archive_fail_with_their_reasons(
	client, source_site, tmp_path, no_scratch_left
):
	from erp_ops.core.drills.discovery import backup_set_of

	kwargs, db = source_site
	backup = backup_with_manifest(client, kwargs, db, tmp_path, manifest=False)
	private = backup.files[FileKind.PRIVATE_FILES].path
	with open(private, "r+b") as f:
		f.truncate(700)  # inside the first member
	result = run_drill(client, backup_set_of(private), site_facts(db))
	checks = checks_of(result)
	assert checks["corrupt_archive"].status == CheckStatus.FAIL and "-private-files.tar" in result.reason
	assert checks["files_archives"].status == CheckStatus.FAIL

	os.unlink(private)
	partial = backup.database.path.replace("-database.sql.gz", "-partial-database.sql.gz")
	os.rename(backup.database.path, partial)
	result = run_drill(client, backup_set_of(partial), site_facts(db), DrillOptions(require_files=False))
	assert result.reason.endswith("is a partial backup: it cannot restore the whole site")
	assert result.rto_s is None  # not restored


def test_bad_sql_in_the_dump_fails_with_the_clients_words(client, source_site, tmp_path, no_scratch_left):
	kwargs, db = source_site
	backup = backup_with_manifest(client, kwargs, db, tmp_path, manifest=False)
	_insert_sql_after_header(backup.database.path, "INSERT INTO `tabNowhere` VALUES (1);\n")
	result = run_drill(client, latest_backup_set(backup.folder), site_facts(db))
	assert result.outcome == DrillOutcome.FAILED and result.scratch_dropped
	assert checks_of(result)["import_error"].status == CheckStatus.FAIL
	assert "tabNowhere" in result.reason and "doesn't exist" in result.reason


@pytest.mark.parametrize(
	"stderr, code",
	[
		("ERROR 1114 (HY000) at line 52: The table 'tabVersion' is full", "disk_full"),
		(
			"ERROR 3 (HY000) at line 9: Error writing file './x/tabVersion.ibd' (Errcode: 28 \"No space left on device\")",
			"disk_full",
		),
		("ERROR 2013 (HY000) at line 40: Lost connection to server during query", "server_gone"),
		("ERROR 2006 (HY000) at line 41: Server has gone away", "server_gone"),
		("ERROR 1927 (70100) at line 20: Connection was killed", "server_gone"),
		("ERROR 1064 (42000) at line 3: You have an error in your SQL syntax", "import_error"),
	],
)
def test_client_errors_are_classified(stderr, code):
	from erp_ops.core.drills.scratch import classify_client_error

	found, reason = classify_client_error(stderr + "\n")
	assert found == code and stderr in reason


def test_no_installed_application_rows_on_either_side_is_not_a_match():
	"""v15 keeps a fresh site's installed apps in tabDefaultValue: an empty Installed Application
	table on both sides proves nothing and says so (SKIP), instead of "installed apps match: "."""
	from erp_ops.core.drills.drill import _apps
	from erp_ops.core.drills.facts import DatabaseFacts

	empty = _apps(DatabaseFacts(database="x", tables={}, apps={}), site_facts("x", installed_apps={}), None)
	assert empty.status == CheckStatus.SKIP and "nothing to compare" in empty.reason
	same = _apps(
		DatabaseFacts(database="x", tables={}, apps={"frappe": "15.44.2"}),
		site_facts("x", installed_apps={"frappe": "15.44.2"}),
		None,
	)
	assert same.status == CheckStatus.PASS and same.reason == "installed apps match: frappe"

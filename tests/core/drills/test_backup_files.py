"""Backup names, stream checks, GFS retention and the manifest hash chain, on real files."""

import gzip
import io
import os
import tarfile
from datetime import datetime, timedelta

import pytest

from erp_ops.core.drills.discovery import (
	FileKind,
	backup_set_of,
	backups_folder,
	find_backup_sets,
	latest_backup_set,
	parse_backup_name,
)
from erp_ops.core.drills.errors import BackupNotFound, StreamError
from erp_ops.core.drills.manifest import build_manifest, chain_head, verify_chain, write_manifest
from erp_ops.core.drills.retention import RetentionPolicy, apply_retention, keep_reasons, plan_retention
from erp_ops.core.drills.streams import check_gzip, count_tar_files, sha256_file


@pytest.mark.parametrize(
	"name, expected",
	[
		(
			"20240105_010203-erp_example_com-database.sql.gz",
			("erp_example_com", FileKind.DATABASE, False, False),
		),
		(
			"20240105_010203-erp_example_com-database-enc.sql.gz",
			("erp_example_com", FileKind.DATABASE, True, False),
		),
		(
			"20240105_010203-my-shop_com-partial-database.sql.gz",
			("my-shop_com", FileKind.DATABASE, False, True),
		),
		(
			"20240105_010203-my-shop_com-private-files.tar",
			("my-shop_com", FileKind.PRIVATE_FILES, False, False),
		),
		("20240105_010203-my-shop_com-files-enc.tgz", ("my-shop_com", FileKind.PUBLIC_FILES, True, False)),
		# Frappe names the config -enc but never encrypts it.
		("20240105_010203-a_b-site_config_backup-enc.json", ("a_b", FileKind.SITE_CONFIG, False, False)),
	],
)
def test_frappe_v15_backup_names(name, expected):
	parts = parse_backup_name(name)
	assert (parts["slug"], parts["kind"], parts["encrypted"], parts["partial"]) == expected
	assert parts["stamp"] == "20240105_010203"


@pytest.mark.parametrize(
	"name",
	[
		"20240105_010203-a_b-database.sql",
		"20241305_010203-a_b-database.sql.gz",
		"20240105_010203-a_b-files.sql.gz",
		"20240105_010203-a_b-partial-files.tar",
		"latest-a_b-database.sql.gz",
		"20240105_010203-a_b-erp_ops_manifest.json",
	],
)
def test_names_that_are_not_backups(name):
	assert parse_backup_name(name) is None


def _touch(folder, name, data=b"x"):
	os.makedirs(folder, exist_ok=True)
	with open(os.path.join(folder, name), "wb") as f:
		f.write(data)
	return os.path.join(folder, name)


def test_latest_set_per_site_is_the_newest_with_a_dump_even_if_incomplete(tmp_path):
	folder = backups_folder(str(tmp_path), "erp.example.com")
	assert folder.endswith("erp.example.com/private/backups")
	for kind in ("database.sql.gz", "files.tar", "private-files.tar", "site_config_backup.json"):
		_touch(folder, f"20240101_000000-erp_example_com-{kind}")
	_touch(folder, "20240102_000000-erp_example_com-database.sql.gz")
	_touch(folder, "20240102_000000-erp_example_com-site_config_backup.json")
	_touch(folder, "20240103_000000-erp_example_com-files.tar")  # a set with no dump is not a backup
	_touch(folder, "20240104_000000-erp_example_com-partial-database.sql.gz")  # an export, not a backup
	_touch(folder, "20240109_000000-other_site-database.sql.gz")
	_touch(folder, "notes.txt")
	assert [s.stamp for s in find_backup_sets(folder, "erp.example.com")] == [
		"20240101_000000",
		"20240102_000000",
		"20240103_000000",
		"20240104_000000",
	]
	assert latest_backup_set(folder, "erp.example.com", include_partial=True).database.partial
	latest = latest_backup_set(folder, "erp.example.com")
	assert latest.stamp == "20240102_000000"
	assert latest.missing_files_archives() == [FileKind.PUBLIC_FILES, FileKind.PRIVATE_FILES]
	assert latest_backup_set(folder).site_slug == "other_site"
	assert backup_set_of(latest.database.path).files.keys() == latest.files.keys()
	with pytest.raises(BackupNotFound):
		latest_backup_set(folder, "nobody.example.com")
	with pytest.raises(BackupNotFound):
		latest_backup_set(str(tmp_path / "nowhere"))


def _frappe_dump(path, body=b"CREATE TABLE `t` (a int);\n" * 1000):
	with gzip.open(path, "wb") as f:
		f.write(b"-- begin frappe metadata\n")
	with open(path, "ab") as f:
		f.write(gzip.compress(body))  # `mysqldump | gzip >>`: a second member


def test_gzip_stream_check_walks_members_and_finds_damage(tmp_path):
	path = str(tmp_path / "d.sql.gz")
	_frappe_dump(path)
	assert check_gzip(path) == len(b"-- begin frappe metadata\n") + 26 * 1000
	data = open(path, "rb").read()
	with open(path, "ab") as f:
		f.write(b"\0" * 1024)  # padding after the last member is tolerated, as by gzip(1)
	assert check_gzip(path) > 0
	cases = {
		"truncated_gzip": data[: len(data) // 2],
		"corrupt_gzip": data[:40] + bytes(b ^ 0x55 for b in data[40:80]) + data[80:],
		"empty_file": b"",
	}
	for code, broken in cases.items():
		with open(path, "wb") as f:
			f.write(broken)
		with pytest.raises(StreamError) as caught:
			check_gzip(path)
		assert caught.value.code == code, caught.value.reason
	with open(path, "wb") as f:
		f.write(data + b"garbage after the last member")
	with pytest.raises(StreamError) as caught:
		check_gzip(path)
	assert caught.value.code == "corrupt_gzip"


def test_tar_listing_counts_files_and_rejects_a_cut_archive(tmp_path):
	path = str(tmp_path / "f.tar")
	with tarfile.open(path, "w") as archive:
		for i in range(4):
			data = os.urandom(3000)
			info = tarfile.TarInfo(f"./site/public/files/{i}.bin")
			info.size = len(data)
			archive.addfile(info, io.BytesIO(data))
	assert count_tar_files(path) == (4, 12000)
	intact = open(path, "rb").read()
	with open(path, "wb") as f:
		f.write(intact[: 512 * 7])  # header + data of the first two members: a cut between members
	with pytest.raises(StreamError, match="no end-of-archive"):
		count_tar_files(path)
	with gzip.open(path + ".tgz", "wb") as f:
		f.write(intact)
	assert count_tar_files(path + ".tgz") == (4, 12000)
	with open(path, "wb") as f:
		f.write(intact)
	with open(path, "r+b") as f:
		f.truncate(512 * 8)  # inside the third member's data
	with pytest.raises(StreamError) as caught:
		count_tar_files(path)
	assert caught.value.code == "corrupt_archive"


def test_gfs_keeps_daily_weekly_monthly_and_the_newest():
	start = datetime(2024, 1, 1, 2, 0)
	stamps = [
		(start + timedelta(days=d, hours=h)).strftime("%Y%m%d_%H%M%S") for d in range(90) for h in (0, 12)
	]
	reasons = keep_reasons(stamps, RetentionPolicy(daily=3, weekly=2, monthly=2))
	kept = sorted(reasons)
	newest = max(stamps)
	assert reasons[newest][0] == "newest backup"
	# last 3 days' newest (12:00) sets, plus the newest of last 2 ISO weeks and 2 months
	assert [s for s in kept if "daily" in " ".join(reasons[s])] == [
		"20240328_140000",
		"20240329_140000",
		"20240330_140000",
	]
	assert {r for s in kept for r in reasons[s] if r.startswith("monthly")} == {
		"monthly 2024-03",
		"monthly 2024-02",
	}
	assert "20240229_140000" in kept  # newest of February
	assert len(kept) == 5  # the newest/daily/weekly/monthly buckets overlap on the newest set


def test_retention_plan_is_a_dry_run_and_apply_deletes_exactly_the_listed_files(tmp_path):
	folder = str(tmp_path)
	for day in range(1, 6):
		for kind in ("database.sql.gz", "files.tar"):
			_touch(folder, f"202401{day:02d}_000000-s_com-{kind}", f"{day}{kind}".encode())
	_touch(folder, "unrelated.txt")
	plan = plan_retention(folder, RetentionPolicy(daily=2, weekly=0, monthly=0))
	assert len(os.listdir(folder)) == 11  # nothing deleted by planning
	assert [p.stamp for p in plan.deletions] == ["20240101_000000", "20240102_000000", "20240103_000000"]
	listed = {f.name: f.sha256 for p in plan.deletions for f in p.files}
	assert len(listed) == 6 and all(sha256_file(os.path.join(folder, n)) == h for n, h in listed.items())
	# A file changed after the plan was shown is kept, not deleted.
	_touch(folder, "20240103_000000-s_com-files.tar", b"rewritten")
	records = apply_retention(plan)
	assert {r.name for r in records if r.deleted} == set(listed) - {"20240103_000000-s_com-files.tar"}
	assert [r.reason for r in records if not r.deleted] == ["changed since the plan: kept"]
	assert sorted(os.listdir(folder)) == sorted(
		[
			"20240103_000000-s_com-files.tar",
			"20240104_000000-s_com-database.sql.gz",
			"20240104_000000-s_com-files.tar",
			"20240105_000000-s_com-database.sql.gz",
			"20240105_000000-s_com-files.tar",
			"unrelated.txt",
			"20240101_000000-s_com-erp_ops_retention.json",
			"20240102_000000-s_com-erp_ops_retention.json",
			"20240103_000000-s_com-erp_ops_retention.json",
		]
	)


def test_hash_chain_detects_changed_and_missing_backups_and_accepts_retention(tmp_path):
	folder = str(tmp_path)
	heads = []
	for day in range(1, 5):
		_touch(folder, f"202401{day:02d}_000000-s_com-database.sql.gz", gzip.compress(f"day {day}".encode()))
		found = latest_backup_set(folder, "s.com")
		heads.append(
			write_manifest(found, build_manifest(found, None, "s.com", previous=chain_head(folder, "s_com")))
		)
	assert verify_chain(folder, "s_com", expected_head=heads[-1]) == []

	plan = plan_retention(folder, RetentionPolicy(daily=3, weekly=0, monthly=0))
	assert [r.deleted for r in apply_retention(plan)] == [True]
	assert verify_chain(folder, "s_com", expected_head=heads[-1]) == []  # deleted by retention: accepted

	_touch(folder, "20240102_000000-s_com-database.sql.gz", gzip.compress(b"tampered"))
	os.unlink(os.path.join(folder, "20240103_000000-s_com-database.sql.gz"))
	manifest_2 = os.path.join(folder, "20240102_000000-s_com-erp_ops_manifest.json")
	with open(manifest_2, "a") as f:
		f.write(" ")
	os.unlink(os.path.join(folder, "20240103_000000-s_com-erp_ops_manifest.json"))
	issues = {(i.code, i.stamp) for i in verify_chain(folder, "s_com", expected_head=heads[-1])}
	assert issues == {
		("file_changed", "20240102_000000"),
		("manifest_missing", "20240103_000000"),
	}
	with open(os.path.join(folder, "20240104_000000-s_com-erp_ops_manifest.json"), "a") as f:
		f.write(" ")
	assert ("manifest_changed", "20240104_000000") in {
		(i.code, i.stamp) for i in verify_chain(folder, "s_com", expected_head=heads[-1])
	}


def test_line_start_scan_sees_statements_cut_by_any_chunk_boundary():
	from erp_ops.core.drills.scratch import LineStarts

	sql = (
		b"-- MariaDB dump\n/*!40101 SET NAMES utf8mb4 */;\nCREATE TABLE `a` (x int);\n"
		b"INSERT INTO `a` VALUES (1),(2);\nCREATE TABLE `b` (y text);\n"
		b"INSERT INTO `b` VALUES ('USE `x`;\\nCREATE DATABASE y');\n"  # escaped newline: data, not a statement
	)
	for cut in range(len(sql) + 1):
		for pieces in ([sql[:cut], sql[cut:]], [sql[:cut], b"", sql[cut : cut + 3], sql[cut + 3 :]]):
			lines = LineStarts()
			for piece in pieces:
				lines.feed(piece)
			lines.feed(b"", final=True)
			assert lines.create_tables == 2, cut
	for statement in (b"USE `site_db`;\n", b"CREATE DATABASE `x`;\n", b"DROP SCHEMA x;\n", b"USE x"):
		bad = sql + statement
		for cut in range(len(sql) - 5, len(bad) + 1):
			lines = LineStarts()
			with pytest.raises(StreamError) as caught:
				lines.feed(bad[:cut])
				lines.feed(bad[cut:])
				lines.feed(b"", final=True)
			assert caught.value.code == "dump_switches_database"
	starts_with_use = LineStarts()
	with pytest.raises(StreamError):
		starts_with_use.feed(b"USE `other`;\nCREATE TABLE t (a int);\n", final=True)


def test_damaged_encrypted_dump_fails_fast_instead_of_waiting_on_gpg(tmp_path):
	import threading

	from tests.support.frappe_backup import gpg_encrypt

	path = str(tmp_path / "20240101_000000-s_com-database-enc.sql.gz")
	data = bytearray(gzip.compress(os.urandom(2 << 20)))  # far more than a pipe holds after the damage
	data[10] |= 0b110  # the first deflate block's type becomes 3 (reserved): zlib fails at once
	with open(path, "wb") as f:
		f.write(data)
	gpg_encrypt(path, "right-key")
	outcome = {}

	def check() -> None:
		try:
			check_gzip(path, "right-key")
		except StreamError as exc:
			outcome["code"] = exc.code

	worker = threading.Thread(target=check, daemon=True)
	worker.start()
	worker.join(30)
	assert not worker.is_alive(), "the check hangs on gpg's full pipe"
	assert outcome == {"code": "corrupt_gzip"}
	with pytest.raises(StreamError) as caught:
		check_gzip(path, "wrong-key")
	assert caught.value.code == "wrong_encryption_key"
	with pytest.raises(StreamError) as caught:
		check_gzip(path)
	assert caught.value.code == "encryption_key_missing"


def _write_set(folder, stamp, slug="s_com", kinds=("database.sql.gz", "files.tar")):
	for kind in kinds:
		_touch(folder, f"{stamp}-{slug}-{kind}", f"{stamp} {kind}".encode())


def test_newest_set_is_chosen_by_file_time_with_the_stamp_as_tiebreak(tmp_path):
	import time

	from erp_ops.core.drills.discovery import choose_latest

	folder = str(tmp_path)
	_write_set(folder, "20240110_090000")  # written first, under the old time zone
	time.sleep(0.05)
	# The clock moved west: the next backup, written later, carries an older stamp.
	_write_set(folder, "20240110_043000")
	ctimes = {s.stamp: s.changed_ns for s in find_backup_sets(folder)}
	assert ctimes["20240110_043000"] > ctimes["20240110_090000"]  # the kernel's order, not ours
	latest = latest_backup_set(folder, "s.com")
	assert latest.stamp == "20240110_043000"
	assert latest.chosen_because.startswith("newest of 2 sets by file time: its database file changed ")
	assert latest.chosen_because.endswith(
		"; set 20240110_090000 has a newer stamp but was written earlier "
		"(the stamp is local time: did the time zone change?)"
	)
	# Equal file times (one coarse clock tick): the newer stamp wins, and the record says so.
	sets = [
		s.model_copy(update={"files": {k: f.model_copy(update={"ctime_ns": 7}) for k, f in s.files.items()}})
		for s in find_backup_sets(folder)
	]
	tie = choose_latest(sets)
	assert tie.stamp == "20240110_090000"
	assert "(as 1 other set(s): the newest stamp decides)" in tie.chosen_because


def test_retention_with_deletion_on_across_the_gfs_tiers_keeps_the_newest_verified_set(tmp_path, caplog):
	"""One set a day at 02:00 for 100 days (stamps and file times set by the test, oldest written
	first), the policy 3 daily, 2 weekly, 3 monthly; the newest verified set is 40 days old."""
	import logging

	folder = str(tmp_path)
	first = datetime(2024, 1, 1, 2, 0)
	days = [first + timedelta(days=d) for d in range(100)]  # 2024-01-01 … 2024-04-09 (a Tuesday)
	stamps = [d.strftime("%Y%m%d_%H%M%S") for d in days]
	for day, stamp in zip(days, stamps, strict=True):
		_write_set(folder, stamp)
		when = day.timestamp()
		for kind in ("database.sql.gz", "files.tar"):
			os.utime(os.path.join(folder, f"{stamp}-s_com-{kind}"), (when, when))
	verified = "20240229_020000"  # the newest set a drill passed (later drills failed)
	other_site = _touch(folder, "20240101_020000-t_com-database.sql.gz")
	before = {n: sha256_file(os.path.join(folder, n)) for n in os.listdir(folder)}

	plan = plan_retention(folder, RetentionPolicy(daily=3, weekly=2, monthly=3), "s.com", protect=[verified])
	# Worked out by hand from the calendar: the last 3 days; the newest of ISO weeks 15 (Apr 8-9)
	# and 14 (ends Sun Apr 7); the newest of April, March, February; the verified set.
	expected = {
		"20240409_020000": ["newest backup", "daily 2024-04-09", "weekly 2024-W15", "monthly 2024-04"],
		"20240408_020000": ["daily 2024-04-08"],
		"20240407_020000": ["daily 2024-04-07", "weekly 2024-W14"],
		"20240331_020000": ["monthly 2024-03"],
		"20240229_020000": ["newest verified backup (its drill passed)", "monthly 2024-02"],
	}
	assert {s.stamp: s.reasons for s in plan.sets if s.keep} == expected
	assert len(plan.deletions) == 95

	caplog.set_level(logging.INFO, logger="erp_ops.drills.retention")
	records = apply_retention(plan)
	deleted = {r.name for r in records if r.deleted}
	assert len(deleted) == 190 and all(r.deleted for r in records)
	left = set(os.listdir(folder))
	for stamp in expected:
		for kind in ("database.sql.gz", "files.tar"):
			name = f"{stamp}-s_com-{kind}"
			assert name in left and sha256_file(os.path.join(folder, name)) == before[name]
	assert not deleted & left and os.path.exists(other_site)  # another site's set is not in the plan
	assert {n for n in left if n.endswith("-erp_ops_retention.json")} == {
		f"{s}-s_com-erp_ops_retention.json" for s in stamps if s not in expected
	}
	logged = [r.getMessage() for r in caplog.records if r.name == "erp_ops.drills.retention"]
	assert len(logged) == 190 and all(m.startswith("retention deleted ") for m in logged)
	assert any(m.startswith(f"retention deleted {stamps[0]}-s_com-database.sql.gz") for m in logged)
	# Applying the same plan again deletes nothing more and says why.
	again = apply_retention(plan)
	assert {r.reason for r in again} == {"already gone"} and not any(r.deleted for r in again)
	assert set(os.listdir(folder)) == left


def test_every_manifest_anchors_the_action_log_head_and_the_newest_is_read_back(tmp_path):
	from datetime import datetime, timezone

	from erp_ops.core.control.models import ChainAnchor
	from erp_ops.core.drills.manifest import latest_manifest

	folder = str(tmp_path)
	assert latest_manifest(folder, "s_com") is None
	for day in (1, 2):
		_touch(folder, f"202401{day:02d}_000000-s_com-database.sql.gz", gzip.compress(f"day {day}".encode()))
		found = latest_backup_set(folder, "s.com")
		anchor = ChainAnchor(chain="c" * 64, seq=10 * day, head=f"{day}" * 64, at=datetime.now(timezone.utc))
		write_manifest(found, build_manifest(found, None, "s.com", action_log=anchor))
	with open(os.path.join(folder, "20240103_000000-s_com-erp_ops_manifest.json"), "w") as f:
		f.write("not a manifest")  # a newer unreadable one does not hide the newest readable anchor
	newest = latest_manifest(folder, "s_com")
	assert (newest.stamp, newest.action_log.seq, newest.action_log.head) == ("20240102_000000", 20, "2" * 64)

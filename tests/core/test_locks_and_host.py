"""File locks as Frappe leaves them, judged through the kernel's lock table; disk headroom."""

import fcntl
import hashlib
import os
import time

import pytest

from erp_ops.core.signals.host import read_host
from erp_ops.core.signals.locks import held_inodes, read_locks


@pytest.fixture
def bench(tmp_path):
	for site in ("a.local", "b.local"):
		(tmp_path / "sites" / site / "locks").mkdir(parents=True)
	(tmp_path / "config").mkdir()
	return tmp_path


def signature(doctype: str, name: str) -> str:
	return hashlib.sha224(f"{doctype}:{name}".encode()).hexdigest()


def test_document_locks_are_held_while_they_exist_and_stale_after_expiry(bench):
	fresh = bench / "sites/a.local/locks" / f"{signature('Sales Invoice', 'SINV-1')}.lock"
	old = bench / "sites/b.local/locks" / f"{signature('Stock Entry', 'STE-9')}.lock"
	fresh.touch()
	old.touch()
	past = time.time() - 13 * 3600
	os.utime(old, (past, past))
	locks = {lock.site: lock for lock in read_locks(bench / "sites")}
	assert (locks["a.local"].kind, locks["a.local"].held, locks["a.local"].stale) == ("document", True, False)
	assert (locks["b.local"].held, locks["b.local"].stale) == (True, True)
	assert locks["b.local"].age_s > 12 * 3600


def test_process_locks_count_only_while_the_os_lock_is_held(bench):
	path = bench / "sites/a.local/locks/bench_migrate.lock"
	released = bench / "config/bench_update.lock"
	released.touch()  # filelock leaves the file behind after release
	with open(path, "w") as handle:
		fcntl.flock(handle, fcntl.LOCK_EX)
		past = time.time() - 3 * 3600
		os.utime(path, (past, past))
		before = read_locks(bench / "sites")
		assert [(lock.name, lock.kind, lock.held, lock.stale) for lock in before] == [
			("bench_migrate", "process", True, True)
		]
		fcntl.flock(handle, fcntl.LOCK_UN)
	assert read_locks(bench / "sites") == []


def test_unreadable_lock_table_is_unknown_not_stale(bench, tmp_path):
	(bench / "sites/a.local/locks/backup.lock").touch()
	locks = read_locks(bench / "sites", proc_locks=str(tmp_path / "missing"))
	assert [(lock.name, lock.held, lock.stale) for lock in locks] == [("backup", None, False)]
	assert held_inodes(str(tmp_path / "missing")) is None


def test_missing_sites_folder_is_empty(tmp_path):
	assert read_locks(tmp_path / "nope") == []


def test_host_reports_disk_headroom_for_existing_paths(tmp_path):
	host = read_host({"bench": str(tmp_path), "backups": str(tmp_path / "absent")})
	assert [d.label for d in host.disks] == ["bench"]
	disk = host.disks[0]
	assert 0 < disk.free_bytes <= disk.total_bytes and 0 < disk.free_pct <= 100
	assert host.memory_total_bytes > 0 and host.cpu_count >= 1

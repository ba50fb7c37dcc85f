"""Frappe's file locks with their age, and which of them are really held.

Two kinds live in `sites/<site>/locks/` (and bench-wide ones in `config/`):
- document locks (`Document.lock()`, named by the sha224 signature of doctype:name): the file
  exists while the lock is held; Frappe treats one older than 12 hours as expired, and until then
  the document cannot be queued or submitted again;
- process locks (`frappe.utils.synchronization.filelock`: migrate, install-app, backups…): an OS
  lock on a file that stays on disk after release, so only the kernel's lock table says whether
  one is held. It is read from /proc/locks: observing never takes a lock.
"""

import os
import re
import time
from pathlib import Path

from erp_ops.core.signals.models import FileLock

DOCUMENT_LOCK_EXPIRY_S = 12 * 3600  # frappe.model.document.DOCUMENT_LOCK_EXPIRTY (v15)
PROCESS_LOCK_STALE_S = 1800  # a migrate or backup holding a lock this long deserves a look
_SIGNATURE = re.compile(r"^[0-9a-f]{56}$")


def held_inodes(proc_locks: str = "/proc/locks") -> set[tuple[int, int]] | None:
	"""(device, inode) of every file with an OS lock on it, or None where the kernel does not say."""
	try:
		text = Path(proc_locks).read_text()
	except OSError:
		return None
	held = set()
	for line in text.splitlines():
		# "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" (blocked waiters carry "->")
		parts = line.split()
		if "->" in parts or len(parts) < 6:
			continue
		try:
			major, minor, inode = parts[5].split(":")
			held.add((os.makedev(int(major, 16), int(minor, 16)), int(inode)))
		except ValueError:
			continue
	return held


def read_locks(
	sites_path: str | os.PathLike,
	*,
	now: float | None = None,
	document_expiry_s: float = DOCUMENT_LOCK_EXPIRY_S,
	process_stale_s: float = PROCESS_LOCK_STALE_S,
	proc_locks: str = "/proc/locks",
) -> list[FileLock]:
	"""Held locks of every site (and the bench's config/), oldest first; released ones are left out."""
	now = time.time() if now is None else now
	root = Path(sites_path)
	if not root.is_dir():
		return []
	held = held_inodes(proc_locks)
	places = [(d.parent.name, d) for d in sorted(root.glob("*/locks"))]
	places.append(("(bench)", root.parent / "config"))
	locks = []
	for site, folder in places:
		for entry in sorted(folder.glob("*.lock")) if folder.is_dir() else []:
			try:
				stat = entry.stat()
			except FileNotFoundError:  # released while we looked
				continue
			age = max(0.0, now - stat.st_mtime)
			if _SIGNATURE.match(entry.stem):
				kind, is_held, limit = "document", True, document_expiry_s
			else:
				kind, limit = "process", process_stale_s
				is_held = None if held is None else (stat.st_dev, stat.st_ino) in held
				if is_held is False:
					continue
			locks.append(
				FileLock(
					site=site,
					name=entry.stem,
					path=str(entry),
					kind=kind,
					held=is_held,
					age_s=round(age, 1),
					stale=bool(is_held) and age > limit,
				)
			)
	return sorted(locks, key=lambda lock: -lock.age_s)

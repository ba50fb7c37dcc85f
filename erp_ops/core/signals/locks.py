"""Frappe's file locks (`sites/<site>/locks/<name>.lock`) with their age.

Frappe v15 treats a lock file older than its timeout (10 minutes by default) as stale: a process
died holding it, and whatever it guards (a backup, a migrate, a document) may be blocked.
"""

import os
import time
from pathlib import Path

from erp_ops.core.signals.models import FileLock

STALE_AFTER_S = 600


def read_locks(sites_path: str | os.PathLike, *, now: float | None = None, stale_after_s: float = STALE_AFTER_S) -> list[FileLock]:
    now = time.time() if now is None else now
    root = Path(sites_path)
    locks = []
    if not root.is_dir():
        return locks
    for lock_dir in sorted(root.glob("*/locks")):
        site = lock_dir.parent.name
        for entry in sorted(lock_dir.glob("*.lock")):
            try:
                mtime = entry.stat().st_mtime
            except FileNotFoundError:  # released while we looked
                continue
            age = max(0.0, now - mtime)
            locks.append(
                FileLock(site=site, name=entry.stem, path=str(entry), age_s=round(age, 1), stale=age > stale_after_s)
            )
    return locks

"""One drill at a time on a host: an exclusive `flock` on a lock file, taken before anything runs.

Two restores at once on one host share its disk and CPU (and, on a bench, its MariaDB), and both
run several times slower. Why a file lock and not MariaDB's `GET_LOCK`:
- the kernel releases a `flock` when its process dies in any way, SIGKILL included; a named
  MariaDB lock lives as long as a server session, which the drill would have to keep open (an
  extra client process) for hours, across `wait_timeout`, and would lose silently on a reconnect
  or a server restart (the drill itself uses one short client per statement);
- it needs no server privilege and no server at all to refuse early;
- the contention the issue names is per host (the restore runs on the bench host and, as
  configured, against its server). A drill aimed at a separate MariaDB from several hosts is not
  serialised by it: see docs/drills.md.
The file holds the holder's pid, host and start time, so a refusal says who holds it.
"""

import fcntl
import json
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from erp_ops.core.drills.errors import DrillAlreadyRunning

LOCK_NAME = "erp_ops_drill.lock"


def default_lock_path() -> str:
	"""$ERP_OPS_DRILL_LOCK, else `<tmp>/erp_ops_drill.lock` (the directory the host's users share)."""
	return os.environ.get("ERP_OPS_DRILL_LOCK") or os.path.join(tempfile.gettempdir(), LOCK_NAME)


@contextmanager
def host_lock(path: str | None = None, wait_s: float = 0.0, poll_s: float = 0.2) -> Iterator[dict]:
	"""Hold the host's drill lock for the block; DrillAlreadyRunning when another process holds it
	after `wait_s` seconds (0: refuse at once). Yields what was written into the file."""
	path = path or default_lock_path()
	try:
		fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
		writable = True
	except PermissionError:  # another user's file without write access: flock needs none
		fd = os.open(path, os.O_RDONLY)
		writable = False
	try:
		try:
			os.fchmod(fd, 0o666)  # other users' drills must be able to take it too
		except OSError:
			pass  # not ours: its owner set the mode
		deadline = time.monotonic() + wait_s
		while True:
			try:
				fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
				break
			except BlockingIOError:
				if time.monotonic() >= deadline:
					raise DrillAlreadyRunning(
						f"another restore drill runs on this host ({_holder(path)}; lock {path}): not started"
					) from None
				time.sleep(poll_s)
		me = {
			"pid": os.getpid(),
			"host": socket.gethostname(),
			"since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
		}
		if writable:
			os.ftruncate(fd, 0)
			os.pwrite(fd, json.dumps(me).encode(), 0)
		try:
			yield me
		finally:
			if writable:
				os.ftruncate(fd, 0)
			fcntl.flock(fd, fcntl.LOCK_UN)
	finally:
		os.close(fd)


def _holder(path: str) -> str:
	try:
		with open(path) as f:
			held = json.load(f)
		return f"pid {held['pid']} since {held['since']}"
	except (OSError, ValueError, KeyError, TypeError):
		return "holder unknown"

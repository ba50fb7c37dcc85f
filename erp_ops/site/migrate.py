"""Whether the site's last `bench migrate` finished: the source of the `migrate.<site>.failed` fact.

Frappe records no failed migrate (the Patch Log holds only patches that ran, and its own
`touched_tables.json` is rewritten whatever the outcome). So `before_migrate` writes a marker
file in the site folder (`erp_ops_migrate.json`: started_at, host, pid) and `after_migrate`,
which Frappe runs only when every patch, the schema sync and the earlier hooks succeeded, adds
finished_at. A marker started but not finished is a migrate that stopped with an error once its
process is gone (same host: the pid is not alive; another host: older than STALE_AFTER).

A file, not the database or the cache: a failed migrate rolls back its transaction, and migrate
clears the site's cache. Both hooks only log their own errors: they never fail a migrate.
"""

import json
import logging
import os
import socket
from datetime import datetime, timedelta, timezone

import frappe

MARKER = "erp_ops_migrate.json"
# A migrate run on another host (a separate container) is judged by age: none takes this long.
STALE_AFTER = timedelta(hours=3)

log = logging.getLogger(__name__)


def before_migrate() -> None:
	_write({"started_at": _now(), "host": socket.gethostname(), "pid": os.getpid(), "finished_at": None})


def after_migrate() -> None:
	marker = read_marker() or {}
	_write({**marker, "finished_at": _now()})


def read_marker() -> dict | None:
	try:
		with open(frappe.get_site_path(MARKER)) as f:
			marker = json.load(f)
		return marker if isinstance(marker, dict) else None
	except FileNotFoundError:
		return None
	except (OSError, ValueError):
		log.warning("erp_ops: unreadable migrate marker", exc_info=True)
		return None


def migrate_failed(marker: dict | None, now: datetime | None = None) -> bool | None:
	"""True when the marked migrate stopped without finishing; None when no migrate was marked."""
	if not marker or not marker.get("started_at"):
		return None
	try:
		started = datetime.fromisoformat(marker["started_at"])
		finished = marker.get("finished_at")
		if finished and datetime.fromisoformat(finished) >= started:
			return False
		if marker.get("host") == socket.gethostname():
			return not _alive(int(marker.get("pid") or 0))
		return (now or datetime.now(timezone.utc)) - started > STALE_AFTER
	except (TypeError, ValueError):  # edited by hand: no verdict rather than no alert facts at all
		log.warning("erp_ops: migrate marker with unreadable values: %r", marker)
		return None


def _alive(pid: int) -> bool:
	if pid <= 0:
		return False
	try:
		os.kill(pid, 0)
	except ProcessLookupError:
		return False
	except PermissionError:
		return True  # exists, owned by another user
	return True


def _write(marker: dict) -> None:
	path = frappe.get_site_path(MARKER)
	try:
		with open(path + ".tmp", "w") as f:
			json.dump(marker, f)
		os.replace(path + ".tmp", path)  # readers never see half a marker
	except OSError:
		log.warning("erp_ops: could not write the migrate marker %s", path, exc_info=True)


def _now() -> str:
	return datetime.now(timezone.utc).isoformat()

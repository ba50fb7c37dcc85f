"""The scratch database: a name that can never be a site's, a streaming restore, a certain drop.

Safety rules, each enforced here and proven by tests:
- the name matches `erp_ops_drill_<stamp>_<hex>` and equals no site database given by the caller;
- the database must not exist before: a drill only ever drops what it created itself;
- the dump may not switch databases (`USE`, `CREATE/DROP DATABASE` at the start of a line end the
  restore before the statement reaches the server; the client also runs with `--one-database`);
- the drop runs in `finally`, with SIGTERM/SIGINT turned into an exception while a drill runs, and
  `sweep_stale_scratch` removes what a SIGKILL left behind.
"""

import os
import re
import secrets
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from pydantic import BaseModel

from erp_ops.core.drills.client import MariaDBClient, quote_ident
from erp_ops.core.drills.errors import DatabaseUnavailable, DrillInterrupted, StreamError, UnsafeScratchTarget
from erp_ops.core.drills.streams import gunzip_chunks, open_source

SCRATCH_PREFIX = "erp_ops_drill_"
_SCRATCH_NAME = re.compile(r"^erp_ops_drill_(\d{14})_([0-9a-f]{8})$")
_FORBIDDEN = (b"USE ", b"CREATE DATABASE", b"DROP DATABASE", b"CREATE SCHEMA", b"DROP SCHEMA")
_CREATE_TABLE = b"CREATE TABLE "
_LOOK = max(len(p) for p in (*_FORBIDDEN, _CREATE_TABLE))
RESTORE_READ = 64 * 1024  # compressed bytes per step: small steps keep the client's pipe full
PIPE_SIZE = 1 << 20
_DUMP_DATABASE = re.compile(rb"^-- Host: .*?Database: (\S+)\s*$", re.MULTILINE)
_FRAPPE_VERSION = re.compile(rb"^-- version = (\S+)", re.MULTILINE)
_CONN_MARK = "erp_ops_connection_id"


class RestoreStats(BaseModel):
	"""What streaming the dump into the scratch database saw."""

	sql_bytes: int = 0
	create_tables: int = 0
	source_database: str | None = None
	frappe_version: str | None = None
	duration_s: float = 0.0


class RestoreFailed(StreamError):
	"""The client stopped before the end of the dump: the server went away, a disk filled, bad SQL."""


def scratch_name(now: datetime | None = None) -> str:
	"""A fresh scratch database name: the prefix, the UTC time (for the sweep) and 32 random bits."""
	now = now or datetime.now(timezone.utc)
	return f"{SCRATCH_PREFIX}{now:%Y%m%d%H%M%S}_{secrets.token_hex(4)}"


def assert_scratch_name(name: str, site_databases: list[str]) -> None:
	"""Refuse any restore target that is not a scratch name or that is one of the sites' databases."""
	if not _SCRATCH_NAME.match(name):
		raise UnsafeScratchTarget(
			f"refusing to restore into {name!r}: a scratch database is named {SCRATCH_PREFIX}<stamp>_<hex>"
		)
	if name.lower() in {db.lower() for db in site_databases}:
		raise UnsafeScratchTarget(f"refusing to restore into {name!r}: it is a site's own database")


@contextmanager
def scratch_database(
	client: MariaDBClient, name: str, site_databases: list[str], events: list[str] | None = None
) -> Iterator[str]:
	"""Create the scratch database, yield its name, and drop it whatever happens inside.

	`events` receives "created" and "dropped" as they happen, so a caller can tell a scratch
	database that never existed from one that could not be dropped."""
	assert_scratch_name(name, site_databases)
	if name in client.databases(name):
		raise UnsafeScratchTarget(
			f"refusing to use {name!r}: it exists already and this drill did not create it"
		)
	events = [] if events is None else events
	client.query(f"CREATE DATABASE {quote_ident(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
	events.append("created")
	try:
		yield name
	finally:
		drop_scratch(client, name)
		events.append("dropped")


def drop_scratch(client: MariaDBClient, name: str, attempts: int = 3) -> None:
	"""DROP DATABASE with signals held back, retried briefly (a killed session may still hold a lock)."""
	assert_scratch_name(name, [])
	with _signals_blocked():
		for attempt in range(attempts):
			try:
				client.query(
					f"SET SESSION lock_wait_timeout = 30; DROP DATABASE IF EXISTS {quote_ident(name)}",
					timeout=120,
				)
				return
			except DatabaseUnavailable:
				if attempt == attempts - 1:
					raise
				time.sleep(1 + attempt)


def sweep_stale_scratch(
	client: MariaDBClient, older_than: timedelta, now: datetime | None = None
) -> list[str]:
	"""Drop scratch databases older than `older_than` (left by a killed drill); their names."""
	now = now or datetime.now(timezone.utc)
	swept = []
	for name in client.databases(SCRATCH_PREFIX.replace("_", "\\_") + "%"):
		match = _SCRATCH_NAME.match(name)
		if not match:
			continue
		created = datetime.strptime(match[1], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
		if now - created > older_than:
			drop_scratch(client, name)
			swept.append(name)
	return swept


def restore_dump(
	client: MariaDBClient,
	database: str,
	dump_path: str,
	site_databases: list[str],
	encryption_key: str | None = None,
	on_chunk: Callable[[int], None] | None = None,
) -> RestoreStats:
	"""Stream gunzip(dump) into the scratch database; never a decompressed copy on disk.

	Raises StreamError (damaged/undecryptable dump, a statement that leaves the scratch
	database) or RestoreFailed (the client stopped: server gone, disk full, bad SQL).
	"""
	assert_scratch_name(database, site_databases)
	stats = RestoreStats()
	started = time.monotonic()
	with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
		proc = subprocess.Popen(
			client.argv(database, "--batch", "--one-database", "--max-allowed-packet=1073741824"),
			stdin=subprocess.PIPE,
			stdout=out,
			stderr=err,
			env=client.env(),
		)
		try:
			# The session's id comes back on stdout, so the server side can be killed if we stop.
			proc.stdin.write(f"SELECT CONNECTION_ID() AS {_CONN_MARK};\n".encode())
			_grow_pipe(proc.stdin.fileno())
			lines = LineStarts()
			head = b""
			with open_source(dump_path, encryption_key) as source:
				for chunk in gunzip_chunks(source, RESTORE_READ):
					lines.feed(chunk)
					if len(head) < 16384:
						head += chunk[: 16384 - len(head)]
					stats.sql_bytes += len(chunk)
					try:
						proc.stdin.write(chunk)
					except BrokenPipeError:
						break  # the client died: its stderr says why, below
					if on_chunk:
						on_chunk(stats.sql_bytes)
				lines.feed(b"", final=True)
			stats.create_tables = lines.create_tables
			try:
				proc.stdin.close()
			except BrokenPipeError:
				pass
			rc = proc.wait()
		finally:
			if proc.poll() is None:
				_stop_client(client, proc, out)
			try:
				proc.stdin.close()
			except OSError:
				pass  # unflushed bytes for a client that is gone
		stats.duration_s = time.monotonic() - started
		match = _DUMP_DATABASE.search(head)
		stats.source_database = match[1].decode(errors="replace") if match else None
		version = _FRAPPE_VERSION.search(head)
		stats.frappe_version = version[1].decode(errors="replace") if version else None
		if rc != 0:
			err.seek(0)
			raise RestoreFailed(*classify_client_error(err.read().decode("utf-8", errors="replace")))
	return stats


class LineStarts:
	"""Judges the first bytes of every line, where mysqldump starts its statements.

	Values never hold a raw newline in a dump (mysqldump writes `\\n`), and an extended INSERT is
	one line of up to a megabyte, so this is one memchr pass plus a check per line. A line start
	cut by a chunk boundary waits in `tail` for the next chunk.
	"""

	def __init__(self) -> None:
		self.tail = b"\n"  # the stream starts at a line start
		self.create_tables = 0

	def feed(self, chunk: bytes, final: bool = False) -> None:
		buf = self.tail + chunk if self.tail else chunk
		self.tail = b""
		at = buf.find(b"\n")
		while at != -1:
			start = at + 1
			if start + _LOOK > len(buf) and not final:
				self.tail = buf[at:]
				return
			line = buf[start : start + _LOOK]
			if line.startswith(_FORBIDDEN):
				statement = line.split(b"`")[0].strip().decode(errors="replace")
				raise StreamError(
					"dump_switches_database",
					f"the dump contains `{statement} …`: it would write outside the scratch database; "
					"a Frappe dump never does (was it made with --databases?)",
				)
			if line.startswith(_CREATE_TABLE):
				self.create_tables += 1
			at = buf.find(b"\n", start)


def _grow_pipe(fd: int) -> None:
	"""A 1 MiB pipe lets the client read while the next piece is decompressed (Linux only)."""
	try:
		import fcntl

		fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_SIZE)
	except (ImportError, OSError):
		pass


def classify_client_error(stderr: str) -> tuple[str, str]:
	"""(code, reason) for the client's last words."""
	text = re.sub(r"\s+", " ", stderr).strip()[:800] or "the client exited without a message"
	lowered = text.lower()
	if any(s in lowered for s in ("lost connection", "gone away", "error 2013", "error 2006", "error 1927")):
		return "server_gone", f"MariaDB went away mid-restore: {text}"
	if any(s in lowered for s in ("table is full", "no space left", "errno: 28", "error 1114", "error 1021")):
		return "disk_full", f"the server ran out of disk during the restore: {text}"
	if "killed" in lowered or "error 1317" in lowered:
		return "server_gone", f"the restore session was killed: {text}"
	return "import_error", f"the import failed: {text}"


def _stop_client(client: MariaDBClient, proc: subprocess.Popen, out) -> None:
	"""Kill the server session first (it may hold table locks the DROP would wait on), then the client."""
	try:
		out.seek(0)
		lines = out.read(4096).decode(errors="replace").split("\n")
		if len(lines) > 1 and lines[0] == _CONN_MARK and lines[1].isdigit():
			client.query(f"KILL {int(lines[1])}", timeout=30)
	except (DatabaseUnavailable, OSError):
		pass  # the session is gone already, or the server is: nothing holds a lock then
	proc.kill()
	proc.wait()


@contextmanager
def interruptible() -> Iterator[None]:
	"""Turn SIGTERM/SIGINT/SIGHUP into DrillInterrupted so `finally` blocks run (main thread only)."""
	if threading.current_thread() is not threading.main_thread():
		yield
		return

	def _raise(signum, frame):
		raise DrillInterrupted(f"interrupted by {signal.Signals(signum).name}")

	previous = {s: signal.signal(s, _raise) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
	try:
		yield
	finally:
		for sig, handler in previous.items():
			signal.signal(sig, handler)


@contextmanager
def _signals_blocked() -> Iterator[None]:
	if threading.current_thread() is not threading.main_thread():
		yield
		return
	held = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
	old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
	try:
		yield
	finally:
		signal.pthread_sigmask(signal.SIG_SETMASK, old)

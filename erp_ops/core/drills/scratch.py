"""The scratch database: a name that can never be a site's, a streaming restore, a certain drop.

Safety rules, each enforced here and proven by tests:
- the name matches `erp_ops_drill_<stamp>_<hex>` and equals no site database given by the caller;
- the database must not exist before: a drill only ever drops what it created itself;
- the dump may not switch databases (`USE`, `CREATE/DROP DATABASE` at the start of a line end the
  restore before the statement reaches the server; the client also runs with `--one-database`);
- the drop runs in `finally`, with SIGTERM/SIGINT turned into an exception while a drill runs, and
  the next drill's sweep drops what a SIGKILL left behind (only databases marked with its owner).
"""

import getpass
import os
import re
import secrets
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import psutil
from pydantic import BaseModel

from erp_ops.core.drills.client import MariaDBClient, quote_ident
from erp_ops.core.drills.errors import DatabaseUnavailable, DrillInterrupted, StreamError, UnsafeScratchTarget
from erp_ops.core.drills.facts import MARKER_TABLE
from erp_ops.core.drills.facts import literal as _literal
from erp_ops.core.drills.streams import gunzip_chunks, open_source
from erp_ops.core.models import Frozen

SCRATCH_PREFIX = "erp_ops_drill_"
_SCRATCH_NAME = re.compile(r"^erp_ops_drill_(\d{14})_([0-9a-f]{8})$")
_FORBIDDEN = (b"USE ", b"CREATE DATABASE", b"DROP DATABASE", b"CREATE SCHEMA", b"DROP SCHEMA")
_CREATE_TABLE = b"CREATE TABLE "
_STATEMENTS = (b"CREATE TABLE ", b"INSERT INTO ", b"DROP TABLE ", b"LOCK TABLES ", b"ALTER TABLE ")
_LOOK = max(len(p) for p in (*_FORBIDDEN, _CREATE_TABLE))
RESTORE_READ = 64 * 1024  # compressed bytes per step: small steps keep the client's pipe full
PIPE_SIZE = 1 << 20
DUMP_DATABASE = re.compile(rb"^-- Host: .*?Database: (\S+)\s*$", re.MULTILINE)
_FRAPPE_VERSION = re.compile(rb"^-- version = (\S+)", re.MULTILINE)
_CONN_MARK = "erp_ops_connection_id"
DEFAULT_LEASE = timedelta(hours=6)


class RestoreStats(BaseModel):
	"""What streaming the dump into the scratch database saw."""

	sql_bytes: int = 0
	create_tables: int = 0
	source_database: str | None = None
	frappe_version: str | None = None
	# mysqldump/mariadb-dump end with `-- Dump completed`: without it the dump was cut.
	completed: bool = False
	last_statement: str | None = None
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


class Owner(Frozen):
	"""Who a scratch database belongs to, written into it as its first table (`MARKER_TABLE`).

	`name` says whose drills may sweep it (the Frappe layer: bench and site; the CLI: `--owner`,
	by default user and host); host, pid and the pid's start time tell a live drill from a dead
	one on this host; the deadline (start + lease) is all a sweep on another host can judge by.
	"""

	name: str
	host: str
	pid: int
	pid_started: float
	created_at: datetime
	deadline: datetime

	@classmethod
	def this_process(cls, name: str, lease: timedelta, now: datetime | None = None) -> "Owner":
		now = (now or datetime.now(timezone.utc)).replace(microsecond=0)
		return cls(
			name=name,
			host=socket.gethostname(),
			pid=os.getpid(),
			pid_started=psutil.Process().create_time(),
			created_at=now,
			deadline=now + lease,
		)


def default_owner() -> str:
	"""$ERP_OPS_DRILL_OWNER, else this user on this host (the standalone CLI's owner name)."""
	if os.environ.get("ERP_OPS_DRILL_OWNER"):
		return os.environ["ERP_OPS_DRILL_OWNER"]
	try:
		user = getpass.getuser()
	except (KeyError, OSError):
		user = str(os.getuid())
	return f"erp-ops:{user}@{socket.gethostname()}"


@contextmanager
def scratch_database(
	client: MariaDBClient,
	name: str,
	site_databases: list[str],
	events: list[str] | None = None,
	owner: Owner | None = None,
) -> Iterator[str]:
	"""Create the scratch database with its owner marker, yield its name, and drop it whatever
	happens inside.

	`events` receives "created" and "dropped" as they happen, so a caller can tell a scratch
	database that never existed from one that could not be dropped."""
	assert_scratch_name(name, site_databases)
	if name in client.databases(name):
		raise UnsafeScratchTarget(
			f"refusing to use {name!r}: it exists already and this drill did not create it"
		)
	events = [] if events is None else events
	owner = owner or Owner.this_process(default_owner(), DEFAULT_LEASE)
	client.query(f"CREATE DATABASE {quote_ident(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
	events.append("created")
	try:
		client.query(_marker_sql(owner), name)
		yield name
	finally:
		drop_scratch(client, name)
		events.append("dropped")


def _marker_sql(owner: Owner) -> str:
	values = ", ".join(
		_literal(v)
		for v in (
			owner.name,
			owner.host,
			str(owner.pid),
			repr(owner.pid_started),
			f"{owner.created_at:%Y-%m-%d %H:%M:%S}",
			f"{owner.deadline:%Y-%m-%d %H:%M:%S}",
		)
	)
	return (
		f"CREATE TABLE {quote_ident(MARKER_TABLE)} (owner VARCHAR(255) NOT NULL, host VARCHAR(255) NOT NULL, "
		"pid INT NOT NULL, pid_started DOUBLE NOT NULL, created_at DATETIME NOT NULL, "
		"deadline DATETIME NOT NULL) ENGINE=InnoDB;\n"
		f"INSERT INTO {quote_ident(MARKER_TABLE)} VALUES ({values});"
	)


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


class SweepEntry(Frozen):
	"""One scratch database a sweep looked at: dropped, or kept and why."""

	name: str
	dropped: bool
	why: str
	owner: str | None = None


def sweep_scratch(client: MariaDBClient, owner: str, now: datetime | None = None) -> list[SweepEntry]:
	"""Drop the scratch databases of `owner` whose drill is over; one entry per scratch database seen.

	Dropped only when its marker names `owner` and its drill cannot be running: on this host its
	pid is gone (or is another process now), on another host its lease deadline has passed. A
	database without a readable marker (killed between CREATE DATABASE and the marker, or made by
	something else) and other owners' databases are kept and listed: nothing is dropped that this
	owner cannot prove it created.
	"""
	now = now or datetime.now(timezone.utc)
	here = socket.gethostname()
	pattern = SCRATCH_PREFIX.replace("_", "\\_") + "%"
	names = [n for n in client.databases(pattern) if _SCRATCH_NAME.match(n)]
	marked = {
		row[0]
		for row in client.query(
			"SELECT TABLE_SCHEMA FROM information_schema.TABLES "
			f"WHERE TABLE_NAME = {_literal(MARKER_TABLE)} AND TABLE_SCHEMA LIKE {_literal(pattern)}"
		)
	}
	entries = []
	for name in sorted(names):
		if name not in marked:
			entries.append(SweepEntry(name=name, dropped=False, why="no owner marker: not provably ours"))
			continue
		try:
			marker = read_marker(client, name)
		except DatabaseUnavailable as exc:  # dropped meanwhile by its own drill, or unreadable
			entries.append(SweepEntry(name=name, dropped=False, why=f"marker unreadable: {exc}"))
			continue
		if marker is None:
			entries.append(SweepEntry(name=name, dropped=False, why="owner marker is empty"))
			continue
		if marker.name != owner:
			entries.append(SweepEntry(name=name, dropped=False, why="another owner's", owner=marker.name))
			continue
		if marker.host == here:
			if _alive(marker.pid, marker.pid_started):
				why = f"its drill (pid {marker.pid}) is still running"
				entries.append(SweepEntry(name=name, dropped=False, why=why, owner=marker.name))
				continue
			why = f"its drill (pid {marker.pid} on {here}, started {marker.created_at:%Y-%m-%d %H:%M} UTC) is gone"
		elif now >= marker.deadline:
			why = f"its lease (drill on {marker.host}) expired {marker.deadline:%Y-%m-%d %H:%M} UTC"
		else:
			why = f"its drill on {marker.host} holds a lease until {marker.deadline:%Y-%m-%d %H:%M} UTC"
			entries.append(SweepEntry(name=name, dropped=False, why=why, owner=marker.name))
			continue
		_kill_sessions(client, name)  # a killed drill's client may still run, holding table locks
		drop_scratch(client, name)
		entries.append(SweepEntry(name=name, dropped=True, why=why, owner=marker.name))
	return entries


def unowned_leftovers(
	entries: list[SweepEntry], now: datetime | None = None, older_than: timedelta = timedelta(hours=1)
) -> list[str]:
	"""Scratch databases without an owner marker whose name stamp is older than `older_than`:
	left by an older version or a drill killed before its marker; never dropped, only reported."""
	now = now or datetime.now(timezone.utc)
	found = []
	for e in entries:
		match = _SCRATCH_NAME.match(e.name)
		if e.owner is None and not e.dropped and e.why.startswith("no owner marker") and match:
			created = datetime.strptime(match[1], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
			if now - created > older_than:
				found.append(e.name)
	return found


def _kill_sessions(client: MariaDBClient, name: str) -> None:
	rows = client.query(f"SELECT ID FROM information_schema.PROCESSLIST WHERE DB = {_literal(name)}")
	for (session,) in rows:
		try:
			client.query(f"KILL {int(session)}", timeout=30)
		except DatabaseUnavailable:
			pass  # ended meanwhile


def read_marker(client: MariaDBClient, name: str) -> Owner | None:
	rows = client.query(
		"SELECT owner, host, pid, pid_started, created_at, deadline "
		f"FROM {quote_ident(name)}.{quote_ident(MARKER_TABLE)} LIMIT 1"
	)
	if not rows or len(rows[0]) != 6:
		return None
	owner, host, pid, started, created, deadline = rows[0]
	utc = timezone.utc
	return Owner(
		name=owner,
		host=host,
		pid=int(pid),
		pid_started=float(started),
		created_at=datetime.strptime(created, "%Y-%m-%d %H:%M:%S").replace(tzinfo=utc),
		deadline=datetime.strptime(deadline, "%Y-%m-%d %H:%M:%S").replace(tzinfo=utc),
	)


def _alive(pid: int, started: float) -> bool:
	"""Whether `pid` on this host is still the process that wrote the marker (not a reused pid)."""
	try:
		return abs(psutil.Process(pid).create_time() - started) < 1.0
	except (psutil.NoSuchProcess, psutil.ZombieProcess):
		return False
	except psutil.AccessDenied:
		return True  # exists and is not ours to inspect: assume the drill runs


def restore_dump(
	client: MariaDBClient,
	database: str,
	dump_path: str,
	site_databases: list[str],
	encryption_key: str | None = None,
	on_chunk: Callable[[int], None] | None = None,
) -> RestoreStats:
	"""Stream gunzip(dump) into the scratch database; never a decompressed copy on disk.

	The stream is read to its end even when the client dies early, so the reason is the first
	real cause, in this order: a damaged/undecryptable file (StreamError: gzip CRC or length, cut
	gzip), an empty dump, a dump without its `-- Dump completed` trailer (cut SQL) that the client
	choked on, then the client's own error (RestoreFailed: server gone, disk full, bad SQL with its
	code and line). A cut dump the client took without error returns with `completed=False`: the
	caller fails it and still verifies the rest. A statement that leaves the scratch database
	stops the restore before it reaches the client.
	"""
	assert_scratch_name(database, site_databases)
	stats = RestoreStats()
	started = time.monotonic()
	name = os.path.basename(dump_path)
	with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
		proc = subprocess.Popen(
			client.argv(database, "--batch", "--one-database", "--max-allowed-packet=1073741824"),
			stdin=subprocess.PIPE,
			stdout=out,
			stderr=err,
			env=client.env(),
		)
		client_gone = False
		tail = b""
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
					tail = (tail + chunk)[-4096:]
					stats.sql_bytes += len(chunk)
					if client_gone:
						continue  # read on: a damaged file explains the client's death better
					try:
						proc.stdin.write(chunk)
					except BrokenPipeError:
						client_gone = True
						continue
					if on_chunk:
						on_chunk(stats.sql_bytes)
				lines.feed(b"", final=True)
			stats.create_tables = lines.create_tables
			stats.last_statement = lines.last_statement
			try:
				proc.stdin.close()
			except BrokenPipeError:
				pass
			rc = proc.wait()
		except StreamError as exc:
			_stop(client, proc, out)
			exc.details.setdefault("client_error", _read(err) or None)
			raise
		finally:
			if proc.poll() is None:
				_stop(client, proc, out)
			try:
				proc.stdin.close()
			except OSError:
				pass  # unflushed bytes for a client that is gone
		stats.duration_s = time.monotonic() - started
		match = DUMP_DATABASE.search(head)
		stats.source_database = match[1].decode(errors="replace") if match else None
		version = _FRAPPE_VERSION.search(head)
		stats.frappe_version = version[1].decode(errors="replace") if version else None
		last_line = tail.rstrip().rsplit(b"\n", 1)[-1]
		stats.completed = last_line.startswith(b"-- Dump completed")
		client_error = _read(err) if rc != 0 else ""
		details = {**stats.model_dump(), **({"client_error": client_error} if client_error else {})}
		if stats.create_tables == 0:
			raise StreamError("dump_empty", _empty_reason(name, stats, head), details)
		if not stats.completed and rc != 0:  # the cut explains the client's error
			raise StreamError("dump_incomplete", incomplete_reason(name, stats), details)
		if rc != 0:
			code, reason = classify_client_error(client_error)
			raise RestoreFailed(code, reason, details)
	return stats


def incomplete_reason(name: str, stats: RestoreStats) -> str:
	return (
		f"incomplete dump: {name} ends without mariadb-dump's `-- Dump completed` trailer after "
		f"{stats.sql_bytes} bytes of SQL (last statement: {stats.last_statement or '?'})"
	)


def _empty_reason(name: str, stats: RestoreStats, head: bytes) -> str:
	if stats.sql_bytes == 0:
		return f"empty dump: {name} is a gzip of nothing (0 bytes of SQL): no dump was ever written into it"
	if head.lstrip().startswith(b"-- begin frappe metadata") and b"-- Host:" not in head:
		return (
			f"empty dump: {name} holds only Frappe's header ({stats.sql_bytes} bytes): "
			"bench backup wrote its header and mariadb-dump added nothing"
		)
	return f"empty dump: {name} holds {stats.sql_bytes} bytes of SQL and no CREATE TABLE (a dump of an empty database?)"


def _read(err) -> str:
	"""The client's stderr for the record: it echoes a failed statement whole (up to a megabyte
	for an extended INSERT), so the middle of a long text is left out."""
	err.seek(0)
	text = err.read().decode("utf-8", errors="replace").strip()
	if len(text) <= CLIENT_TEXT_MAX:
		return text
	head, tail = text[:1000], text[-(CLIENT_TEXT_MAX - 1000) :]
	return f"{head} …[{len(text) - CLIENT_TEXT_MAX} characters left out]… {tail}"


class LineStarts:
	"""Judges the first bytes of every line, where mysqldump starts its statements.

	Values never hold a raw newline in a dump (mysqldump writes `\\n`), and an extended INSERT is
	one line of up to a megabyte, so this is one memchr pass plus a check per line. A line start
	cut by a chunk boundary waits in `tail` for the next chunk.
	"""

	def __init__(self) -> None:
		self.tail = b"\n"  # the stream starts at a line start
		self.create_tables = 0
		self._last = b""

	@property
	def last_statement(self) -> str | None:
		"""The last CREATE TABLE/INSERT/… line start seen, e.g. "CREATE TABLE `tabGL Entry`"."""
		if not self._last:
			return None
		words = self._last.split(b"(")[0].split(b" VALUES")[0]
		return words.decode(errors="replace").strip()

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
			if line.startswith(_STATEMENTS):
				self._last = buf[start : start + 80]
			at = buf.find(b"\n", start)


def _grow_pipe(fd: int) -> None:
	"""A 1 MiB pipe lets the client read while the next piece is decompressed (Linux only)."""
	try:
		import fcntl

		fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_SIZE)
	except (ImportError, OSError):
		pass


_CLIENT_ERROR = re.compile(r"ERROR (\d+) \((\w+)\)(?: at line (\d+))?: (.*)")
_NEAR = re.compile(r"near '(.{0,30}).*?' at line (\d+)$")
_SYNTAX_BOILERPLATE = (
	"You have an error in your SQL syntax; check the manual that corresponds to your MariaDB "
	"server version for the right syntax to use"
)
CLIENT_TEXT_MAX = 4000


def classify_client_error(stderr: str) -> tuple[str, str]:
	"""(code, one-line reason) for the client's last words: the error's number and line first,
	an echoed statement shortened (the whole text goes to the check's details)."""
	text = re.sub(r"\s+", " ", stderr).strip() or "the client exited without a message"
	lowered = text.lower()
	matches = list(_CLIENT_ERROR.finditer(text))
	if matches:
		number, state, line, message = matches[-1].groups()
		message = message.replace(_SYNTAX_BOILERPLATE, "SQL syntax error")
		message = _NEAR.sub(lambda m: f"near '{m[1]}…' at line {m[2]}", message)
		short = f"ERROR {number} ({state}){f' at line {line}' if line else ''}: {message}"
	else:
		short = text
	if any(s in lowered for s in ("lost connection", "gone away", "error 2013", "error 2006", "error 1927")):
		return "server_gone", f"MariaDB went away mid-restore: {short}"
	if any(s in lowered for s in ("table is full", "no space left", "errno: 28", "error 1114", "error 1021")):
		return "disk_full", f"the server ran out of disk during the restore: {short}"
	if "killed" in lowered or "error 1317" in lowered:
		return "server_gone", f"the restore session was killed: {short}"
	return "import_error", f"the import failed: {short}"


def _stop(client: MariaDBClient, proc: subprocess.Popen, out) -> None:
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

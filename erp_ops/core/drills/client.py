"""The `mariadb` command-line client as the drill's only way to the server (no driver in the core).

Queries run with `--batch --raw --skip-column-names`: one row a line, tab-separated, values as
stored. The password travels in MYSQL_PWD (readable only by this user), never on the command line.
"""

import os
import re
import shutil
import subprocess
from urllib.parse import unquote, urlparse

from erp_ops.core.drills.errors import ClientMissing, DatabaseUnavailable
from erp_ops.core.errors import InvalidInput
from erp_ops.core.models import Frozen

QUERY_TIMEOUT_S = 600


class MariaDBTarget(Frozen):
	"""Where the scratch database lives: a server and an account that may create databases."""

	host: str = "127.0.0.1"
	port: int = 3306
	user: str = "root"
	password: str = ""
	socket: str | None = None

	@classmethod
	def from_url(cls, url: str) -> "MariaDBTarget":
		"""`mysql://user:password@host:port` or `mariadb://…`; `?unix_socket=/path` for a socket."""
		parsed = urlparse(url)
		if parsed.scheme not in ("mysql", "mariadb"):
			raise InvalidInput(f"a MariaDB URL looks like mysql://user:password@host:3306, got {url!r}")
		query = dict(p.split("=", 1) for p in parsed.query.split("&") if "=" in p)
		return cls(
			host=parsed.hostname or "127.0.0.1",
			port=parsed.port or 3306,
			user=unquote(parsed.username or "root"),
			password=unquote(parsed.password or ""),
			socket=query.get("unix_socket"),
		)


def quote_ident(name: str) -> str:
	return "`" + name.replace("`", "``") + "`"


def client_binary() -> str:
	"""`mariadb`, else `mysql` (older MariaDB packages)."""
	found = shutil.which("mariadb") or shutil.which("mysql")
	if not found:
		raise ClientMissing("neither `mariadb` nor `mysql` is on PATH: install the MariaDB client")
	return found


class MariaDBClient:
	"""Runs statements through the client binary against one server."""

	def __init__(self, target: MariaDBTarget):
		self.target = target
		self.binary = client_binary()

	def argv(self, database: str | None = None, *extra: str) -> list[str]:
		# --skip-reconnect: a silent reconnect would go on restoring without the session state
		# (foreign_key_checks=0, the open transaction) and hide that the server went away.
		args = [
			self.binary,
			"--no-defaults",
			"--skip-reconnect",
			f"--user={self.target.user}",
			"--connect-timeout=10",
		]
		if self.target.socket:
			args.append(f"--socket={self.target.socket}")
		else:
			args += [f"--host={self.target.host}", f"--port={self.target.port}", "--protocol=TCP"]
		args += list(extra)
		if database:
			# Positional, not --database=: `--one-database` ignores every statement otherwise.
			args.append(database)
		return args

	def env(self) -> dict[str, str]:
		env = {k: v for k, v in os.environ.items() if k != "MYSQL_PWD"}
		if self.target.password:
			env["MYSQL_PWD"] = self.target.password
		return env

	def query(
		self, sql: str, database: str | None = None, timeout: float = QUERY_TIMEOUT_S
	) -> list[list[str]]:
		"""Rows of the last result set(s) as lists of strings (NULL reads as "NULL")."""
		try:
			done = subprocess.run(
				self.argv(database, "--batch", "--raw", "--skip-column-names"),
				input=sql.encode(),
				capture_output=True,
				env=self.env(),
				timeout=timeout,
			)
		except subprocess.TimeoutExpired as exc:
			raise DatabaseUnavailable(f"query did not finish in {timeout:.0f}s: {sql[:120]}") from exc
		if done.returncode != 0:
			raise DatabaseUnavailable(_client_error(done.stderr))
		text = done.stdout.decode("utf-8", errors="replace")
		return [line.split("\t") for line in text.split("\n") if line]

	def databases(self, like: str | None = None) -> list[str]:
		sql = "SHOW DATABASES"
		if like is not None:
			sql += " LIKE '" + like.replace("\\", "\\\\").replace("'", "\\'") + "'"
		return [row[0] for row in self.query(sql)]


def _client_error(stderr: bytes) -> str:
	text = stderr.decode("utf-8", errors="replace").strip()
	return re.sub(r"\s+", " ", text)[:1000] or "the client failed without a message"

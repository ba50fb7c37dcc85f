"""What the standalone preflight reads of one site: its config files and, read-only, its database.

`read_site_config` reads `sites/<site>/site_config.json` over `sites/common_site_config.json` the way
Frappe merges them (the site's keys win) and keeps no secret. `read_site_database` connects with the
site's own credentials, puts the session in read-only mode and reads the Patch Log, the installed
apps, the server's version and the database's size. PyMySQL (Frappe's own driver) is imported only
here and only when asked: without it, or without a reachable database, the answer says why.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from erp_ops.core.preflight.models import SiteConfig

CONNECT_TIMEOUT_S = 5
DEFAULT_WEBSERVER_PORT = 8000


@dataclass
class SiteDatabase:
	"""What the site's database answered; `error` says why it did not (then the rest is empty)."""

	executed_patches: set[str] = field(default_factory=set)
	installed_apps: list[str] | None = None
	server_version: str | None = None
	size_bytes: int | None = None
	error: str | None = None


def merged_config(bench: Path, site: str) -> tuple[dict, str | None]:
	"""common_site_config.json overlaid with the site's site_config.json; an error names the file."""
	conf: dict = {}
	for path in (bench / "sites" / "common_site_config.json", bench / "sites" / site / "site_config.json"):
		if not path.is_file():
			if path.name == "site_config.json":
				return conf, f"{path.relative_to(bench)} not found"
			continue
		try:
			data = json.loads(path.read_text(encoding="utf-8"))
		except (OSError, ValueError) as exc:
			return conf, f"{path.relative_to(bench)}: {exc}"
		if isinstance(data, dict):
			conf.update(data)
	return conf, None


def read_site_config(bench: Path, site: str) -> SiteConfig:
	"""The site's URL, redis_queue and bench id, as Frappe would compute them."""
	conf, error = merged_config(bench, site)
	host = conf.get("host_name")
	if host:
		url = str(host).rstrip("/")
		if "://" not in url:
			url = f"http://{url}"
	else:
		# gunicorn listens on webserver_port (127.0.0.1 in production, behind nginx); Host picks the site
		url = f"http://127.0.0.1:{conf.get('webserver_port') or DEFAULT_WEBSERVER_PORT}"
	return SiteConfig(
		site=site,
		url=url,
		redis_queue=conf.get("redis_queue"),
		bench_id=conf.get("bench_id") or str(bench.resolve()).strip("/").replace("/", "-"),
		error=error,
	)


def read_site_database(bench: Path, site: str) -> SiteDatabase:
	"""Patch Log, installed apps, SELECT VERSION() and the schema's size, in a read-only session."""
	conf, error = merged_config(bench, site)
	if error:
		return SiteDatabase(error=error)
	if not conf.get("db_name"):
		return SiteDatabase(error=f"sites/{site}/site_config.json has no db_name")
	if conf.get("db_type", "mariadb") != "mariadb":
		return SiteDatabase(error=f"db_type {conf.get('db_type')} is not read by this preflight")
	try:
		import pymysql
	except ImportError:
		return SiteDatabase(error="PyMySQL is not installed in this Python (pip install pymysql)")
	params = {
		"user": conf.get("db_user") or conf["db_name"],
		"password": conf.get("db_password") or "",
		"database": conf["db_name"],
		"connect_timeout": CONNECT_TIMEOUT_S,
		"read_timeout": 30,
		"charset": "utf8mb4",
	}
	socket = conf.get("db_socket")
	if socket:
		params["unix_socket"] = socket
	else:
		params["host"] = conf.get("db_host") or "127.0.0.1"
		params["port"] = int(conf.get("db_port") or 3306)
	try:
		conn = pymysql.connect(**params)
	except pymysql.MySQLError as exc:
		return SiteDatabase(
			error=f"cannot connect to {params.get('host', socket)}/{conf['db_name']}: {exc.args[-1]}"
		)
	try:
		with conn.cursor() as cur:
			cur.execute("SET SESSION TRANSACTION READ ONLY")
			cur.execute("START TRANSACTION READ ONLY")
			cur.execute("SELECT VERSION()")
			version = str(cur.fetchone()[0])
			result = SiteDatabase(server_version=version)
			cur.execute(
				"SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'tabPatch Log'"
			)
			columns = {row[0] for row in cur.fetchall()}
			if not columns:
				result.error = "the database has no `tabPatch Log` table: not a Frappe site"
				return result
			skipped = " WHERE skipped = 0" if "skipped" in columns else ""
			cur.execute(f"SELECT patch FROM `tabPatch Log`{skipped}")
			result.executed_patches = {row[0] for row in cur.fetchall()}
			cur.execute(
				"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'tabInstalled Application'"
			)
			if cur.fetchone()[0]:
				cur.execute("SELECT app_name FROM `tabInstalled Application` ORDER BY idx")
				result.installed_apps = [row[0] for row in cur.fetchall()]
			cur.execute(
				"SELECT SUM(DATA_LENGTH + INDEX_LENGTH) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
			)
			size = cur.fetchone()[0]
			result.size_bytes = int(size) if size is not None else None
			cur.execute("ROLLBACK")
			return result
	except pymysql.MySQLError as exc:
		return SiteDatabase(error=f"reading {conf['db_name']}: {exc.args[-1]}")
	finally:
		conn.close()


def site_names(bench: Path) -> list[str]:
	"""Folders of sites/ that hold a site_config.json."""
	sites = bench / "sites"
	if not sites.is_dir():
		return []
	return sorted(
		p.name for p in sites.iterdir() if (p / "site_config.json").is_file() and not p.name.startswith(".")
	)


__all__ = ["SiteDatabase", "read_site_config", "read_site_database", "site_names"]

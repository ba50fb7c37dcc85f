"""`erp-ops exporter`: the bench's metrics over HTTP for Prometheus, read-only, without Frappe.

    GET /metrics   the exposition (prometheus_client: text 0.0.4, OpenMetrics on request, gzip)
    GET /health    200 "ok" when Redis answers a PING, 503 with the error otherwise
    GET /          a short page linking both

Every scrape reads the snapshot (`signals.read`: a constant number of pipelined reads, never RQ's
counters, which move jobs) unless one younger than `cache_seconds` is in this process's memory,
so several Prometheus servers scraping one bench cost one read. Nothing is written to Redis: the
exporter does not even use the snapshot's Redis cache.

What it knows beyond the snapshot (MetricFacts): firing alerts from the alert state hash, the app's
tick durations, and with `bench_path` the newest backup of each site and the scheduler switches
of each site's config (maintenance_mode, pause_scheduler, disable_scheduler). Drills, preflight,
integration events, a failed migrate and the scheduler's overdue jobs live in each site's
database: scrape the site endpoint for those (docs/monitoring.md).
"""

import json
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app
from redis import Redis
from redis.exceptions import RedisError

from erp_ops.core.alerts import store as alert_store
from erp_ops.core.alerts.models import AlertStatus
from erp_ops.core.drills.discovery import backups_folder, latest_backup_set
from erp_ops.core.drills.errors import BackupNotFound
from erp_ops.core.signals import ticks
from erp_ops.core.signals.models import SiteSchedulerFacts, Snapshot
from erp_ops.core.signals.prometheus import (
	DEFAULT_TOP_METHODS,
	FiringAlert,
	MetricFacts,
	SiteMetricFacts,
	registry,
)
from erp_ops.core.signals.snapshot import read

DEFAULT_LISTEN = "127.0.0.1:9726"
SCHEDULER_SWITCHES = ("maintenance_mode", "pause_scheduler", "disable_scheduler")


class BenchReader:
	"""The bench's snapshot and facts, cached in memory for `cache_seconds`."""

	def __init__(
		self,
		conn: Redis,
		bench_id: str,
		*,
		bench_path: str | None = None,
		cache_seconds: float = 5,
		clock: Callable[[], float] = time.monotonic,
	):
		self.conn = conn
		self.bench_id = bench_id
		self.bench_path = os.path.abspath(bench_path) if bench_path else None
		self.cache_seconds = cache_seconds
		self._clock = clock
		self._lock = threading.Lock()
		self._cached: tuple[float, Snapshot, MetricFacts] | None = None

	@property
	def sites_path(self) -> str | None:
		return os.path.join(self.bench_path, "sites") if self.bench_path else None

	def reading(self) -> tuple[Snapshot, MetricFacts]:
		with self._lock:  # concurrent scrapes wait for one read instead of each reading
			now = self._clock()
			if self._cached and now - self._cached[0] < self.cache_seconds:
				_, snap, facts = self._cached
				return snap.model_copy(update={"cached": True}), facts
			snap = read(
				self.conn,
				self.bench_id,
				sites=self.site_scheduler_facts,
				sites_path=self.sites_path,
				disk_paths={"bench": self.bench_path, "sites": self.sites_path} if self.bench_path else {},
			)
			facts = self.facts()
			if self.cache_seconds > 0 and snap.redis_ok:
				self._cached = (now, snap, facts)
			return snap, facts

	def sites(self) -> list[str]:
		"""Sites of the bench folder: folders of sites/ holding a site_config.json."""
		if not self.sites_path or not os.path.isdir(self.sites_path):
			return []
		return sorted(
			name
			for name in os.listdir(self.sites_path)
			if os.path.isfile(os.path.join(self.sites_path, name, "site_config.json"))
		)

	def site_scheduler_facts(self) -> list[SiteSchedulerFacts]:
		"""The switches of site_config.json over common_site_config.json, as Frappe merges them.

		System Settings' enable_scheduler, dormancy and Scheduled Job Type rows are in the site's
		database: not known here (the site endpoint has the full diagnosis).
		"""
		if not self.sites_path:
			return []
		common = _read_json(os.path.join(self.sites_path, "common_site_config.json"))
		out = []
		for site in self.sites():
			conf = {**common, **_read_json(os.path.join(self.sites_path, site, "site_config.json"))}
			switches = {name: _truthy(conf.get(name)) for name in SCHEDULER_SWITCHES}
			out.append(SiteSchedulerFacts(site=site, now=datetime.now(), **switches))
		return out

	def facts(self) -> MetricFacts:
		now = datetime.now(timezone.utc)
		alerts, tick_list = None, []
		try:
			alerts = firing_alerts(self.conn, self.bench_id)
			tick_list = ticks.read(self.conn, self.bench_id)
		except (RedisError, ValueError):
			pass  # erp_ops_redis_up says why
		sites = [
			SiteMetricFacts(
				site=site, backup_age_s=backup_age_s(backups_folder(self.sites_path, site), site, now)
			)
			for site in self.sites()
		]
		return MetricFacts(sites=sites, alerts=alerts, ticks=tick_list, now=now)

	def healthy(self) -> tuple[bool, str]:
		try:
			self.conn.ping()
		except RedisError as e:
			return False, f"redis unreachable: {type(e).__name__}: {e}"
		return True, "ok"


def firing_alerts(conn: Redis, bench_id: str) -> list[FiringAlert]:
	"""Firing alerts of erp_ops' own evaluation (the alert state hash), counted by rule."""
	firing: dict[tuple[str, str], int] = {}
	for alert in alert_store.load(conn, bench_id):
		if alert.status is AlertStatus.FIRING:
			key = (alert.rule, alert.severity.value)
			firing[key] = firing.get(key, 0) + 1
	return [FiringAlert(rule=r, severity=s, count=n) for (r, s), n in sorted(firing.items())]


def backup_age_s(folder: str, site: str, now: datetime) -> float | None:
	"""Seconds since the site's newest full database backup in `folder` was written; None: none."""
	try:
		newest = latest_backup_set(folder, site)
	except (BackupNotFound, OSError):
		return None
	return max(0.0, (now - newest.database.mtime).total_seconds())


def make_app(reader: BenchReader, *, top_methods: int = DEFAULT_TOP_METHODS):
	"""The WSGI application: /metrics through prometheus_client, /health, and a small index."""
	metrics_app = make_wsgi_app(registry(reader.reading, top_methods=top_methods))

	def app(environ, start_response):
		path = environ.get("PATH_INFO") or "/"
		if path == "/metrics":
			return metrics_app(environ, start_response)
		if path == "/health":
			ok, text = reader.healthy()
			start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
			return [text.encode() + b"\n"]
		if path == "/":
			body = b'<html><body><h1>erp_ops exporter</h1><a href="/metrics">/metrics</a> <a href="/health">/health</a></body></html>'
			start_response("200 OK", [("Content-Type", "text/html")])
			return [body]
		start_response("404 Not Found", [("Content-Type", "text/plain")])
		return [b"not found: /metrics and /health are served\n"]

	return app


class _Server(ThreadingMixIn, WSGIServer):
	daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
	def log_message(self, format, *args):  # one line per scrape is noise in a supervisor log
		pass


def make_http_server(host: str, port: int, app) -> WSGIServer:
	"""Bind now (an address in use fails here, before serving); `serve_forever()` to run."""
	return make_server(host, port, app, server_class=_Server, handler_class=_QuietHandler)


def parse_listen(text: str) -> tuple[str, int]:
	"""`host:port` or `[v6]:port` → (host, port); ValueError with the reason otherwise."""
	host, sep, port = text.rpartition(":")
	if not sep or not port.isdigit() or not 0 < int(port) < 65536:
		raise ValueError(f"--listen must be HOST:PORT, e.g. {DEFAULT_LISTEN}; got {text!r}")
	return host.strip("[]") or "0.0.0.0", int(port)


def _read_json(path: str) -> dict:
	try:
		with open(path, encoding="utf-8") as f:
			data = json.load(f)
	except (OSError, ValueError):
		return {}
	return data if isinstance(data, dict) else {}


def _truthy(value) -> bool:
	try:
		return bool(int(value or 0))
	except (TypeError, ValueError):
		return bool(value)

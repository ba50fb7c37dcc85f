"""A real Prometheus on loopback scrapes the exporter (and the site scope of the same collector)
over a seeded bench; every dashboard panel's query and every alert rule's expression returns data.

Seed (tests/support/metrics_seed.py): RQ states through RQ's API and real workers, a bench folder on
a 1 MiB tmpfs filled to leave under 5 % free (both disk rules), a site in maintenance mode.
The site scope gets its facts the way the Frappe layer hands them over (plain data): a Scheduled
Job Type three hours overdue, a failed and stale restore drill, a failed migrate, a conflict storm.
"""

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from prometheus_client import make_wsgi_app

from erp_ops.core.signals import prometheus as collector
from erp_ops.core.signals import read
from erp_ops.core.signals.exporter import make_http_server
from erp_ops.core.signals.models import ScheduledJobRow, SiteSchedulerFacts
from erp_ops.core.signals.prometheus import DrillFacts, MetricFacts, PreflightFacts, SiteMetricFacts
from tests.support.metrics_seed import SITE, seed_bench

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "erp_ops.rules.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "erp_ops.json"
BENCH = "bench-prom"
SITE_URL = "https://one.localhost"


def free_port() -> int:
	with socket.socket() as s:
		s.bind(("127.0.0.1", 0))
		return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str):
	deadline = time.monotonic() + timeout
	last = None
	while time.monotonic() < deadline:
		try:
			value = predicate()
			if value:
				return value
		except OSError as e:
			last = e
		time.sleep(0.25)
	raise AssertionError(f"timed out after {timeout}s waiting for {what} ({last})")


def api(base: str, path: str, **params) -> dict:
	url = f"{base}{path}?{urllib.parse.urlencode(params)}" if params else base + path
	with urllib.request.urlopen(url, timeout=30) as r:
		body = json.loads(r.read())
	assert body["status"] == "success", body
	return body["data"]


def dashboard_queries() -> list[tuple[str, str]]:
	doc = json.loads(DASHBOARD.read_text())
	out = []
	for panel in doc["panels"]:
		for target in panel.get("targets", []):
			out.append((panel["title"], target["expr"]))
	return out


def grafana_to_promql(expr: str) -> str:
	"""Grafana's variables as an all-benches dashboard expands them."""
	return expr.replace("$bench", ".*").replace("$__rate_interval", "1m")


@pytest.fixture
def small_disk(tmp_path):
	"""A 1 MiB tmpfs for the bench folder, so the disk rules have something to say."""
	mount = tmp_path / "bench"
	mount.mkdir()
	result = subprocess.run(
		["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True
	)
	if result.returncode != 0:
		pytest.fail(f"cannot mount a tmpfs for the disk rules (CI runs as root): {result.stderr.strip()}")
	try:
		yield mount
	finally:
		subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path, leave_pct: float) -> None:
	usage = shutil.disk_usage(path)
	size = usage.free - int(usage.total * leave_pct / 100)
	with open(path / "filler", "wb") as f:
		f.write(b"\0" * max(0, size))
	assert 100 * shutil.disk_usage(path).free / usage.total < 5


def site_scope_facts(conn) -> tuple:
	"""What erp_ops.api.signals.metrics hands the collector, built from the seeded Redis."""
	now = datetime.now()
	sched = SiteSchedulerFacts(
		site=SITE,
		now=now,
		maintenance_mode=True,
		jobs=[
			ScheduledJobRow(
				name="erp_ops.tasks.hourly",
				method="erp_ops.tasks.hourly",
				frequency="Hourly",
				last_execution=now - timedelta(hours=3),
				creation=now - timedelta(days=30),
			)
		],
	)
	snap = read(conn, BENCH, sites=[sched])
	facts = MetricFacts(
		now=datetime.now(timezone.utc),
		sites=[
			SiteMetricFacts(
				site=SITE,
				backup_age_s=7200,
				drill=DrillFacts(
					verdict="Failed", age_s=3600, rpo_s=90000, rto_s=240, last_success_age_s=9 * 86400
				),
				preflight=PreflightFacts(verdict="Blocked", score=80, age_s=3600, target="16"),
				integration_events={"Processed": 40, "Conflict": 25, "Failed": 2},
				integration_conflicts_5m=25,
				migrate_failed=True,
			)
		],
	)
	return snap, facts


def test_prometheus_scrapes_and_every_panel_and_rule_has_data(redis_conn, redis_url, tmp_path, small_disk):
	prometheus = shutil.which("prometheus")
	assert prometheus, "prometheus is not installed (Debian's prometheus package; .ci/run installs it)"
	seeded = seed_bench(redis_conn, redis_url, BENCH, small_disk, tmp_path)
	fill(small_disk, leave_pct=2)
	procs: list[subprocess.Popen] = []
	site_server = None
	try:
		exporter_port, site_port, prom_port = free_port(), free_port(), free_port()
		procs.append(
			subprocess.Popen(
				[
					sys.executable,
					"-m",
					"erp_ops.cli",
					"exporter",
					"--redis",
					redis_url,
					"--bench-id",
					BENCH,
					"--listen",
					f"127.0.0.1:{exporter_port}",
					"--bench-path",
					str(small_disk),
					"--cache-seconds",
					"1",
				],
				cwd=ROOT,
				stderr=subprocess.PIPE,
			)
		)
		reading = site_scope_facts(redis_conn)
		site_server = make_http_server(
			"127.0.0.1", site_port, make_wsgi_app(collector.registry(lambda: reading))
		)
		threading.Thread(target=site_server.serve_forever, daemon=True).start()

		site_text = (
			urllib.request.urlopen(f"http://127.0.0.1:{site_port}/metrics", timeout=10).read().decode()
		)
		check = subprocess.run(
			["promtool", "check", "metrics"], input=site_text, capture_output=True, text=True
		)
		assert check.returncode == 0 and not (check.stdout + check.stderr), check.stdout + check.stderr

		config = {
			"global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
			"rule_files": [str(RULES)],
			"scrape_configs": [
				{
					"job_name": "erp_ops",
					"static_configs": [
						{"targets": [f"127.0.0.1:{exporter_port}"], "labels": {"site_url": SITE_URL}}
					],
				},
				{
					"job_name": "erp_ops_site",
					"static_configs": [
						{
							"targets": [f"127.0.0.1:{site_port}"],
							"labels": {"site_url": SITE_URL, "scope": "site"},
						}
					],
				},
			],
		}
		(tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
		procs.append(
			subprocess.Popen(
				[
					prometheus,
					f"--config.file={tmp_path / 'prometheus.yml'}",
					f"--storage.tsdb.path={tmp_path / 'tsdb'}",
					f"--web.listen-address=127.0.0.1:{prom_port}",
				],
				stdout=subprocess.DEVNULL,
				stderr=open(tmp_path / "prometheus.log", "wb"),
			)
		)
		base = f"http://127.0.0.1:{prom_port}"

		def targets_up():
			active = api(base, "/api/v1/targets")["activeTargets"]
			return len(active) == 2 and all(t["health"] == "up" for t in active)

		wait_for(targets_up, 60, "both targets scraped")
		# rate() needs two samples; the rules without `for` fire on their first evaluations
		wait_for(
			lambda: (
				len(api(base, "/api/v1/query", query="erp_ops_worker_jobs_total[1m]")["result"][0]["values"])
				>= 3
			),
			30,
			"three scrapes",
		)

		def firing():
			return {
				a["labels"]["alertname"]: a
				for a in api(base, "/api/v1/alerts")["alerts"]
				if a["state"] == "firing"
			}

		alerts = wait_for(
			lambda: "ErpOpsJobAbandoned" in firing() and firing(), 30, "an alert without `for` to fire"
		)
		abandoned = alerts["ErpOpsJobAbandoned"]
		assert abandoned["annotations"]["runbook_url"] == f"{SITE_URL}/desk/runbook/RB-WORKER-DOWN"
		assert abandoned["labels"]["queue"] == "reports" and abandoned["labels"]["bench"] == BENCH

		empty = []
		for title, expr in dashboard_queries():
			if not api(base, "/api/v1/query", query=grafana_to_promql(expr))["result"]:
				empty.append(f"panel {title!r}: {expr}")
		rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
		for rule in rules:
			if not api(base, "/api/v1/query", query=rule["expr"])["result"]:
				empty.append(f"rule {rule['alert']}: {rule['expr']}")
		assert not empty, "queries without data:\n" + "\n".join(empty)
		assert len(rules) == 15 and len(dashboard_queries()) >= 25
	finally:
		for proc in reversed(procs):
			proc.terminate()
			try:
				proc.wait(20)
			except subprocess.TimeoutExpired:
				proc.kill()
				proc.wait(5)
		if site_server:
			site_server.shutdown()
			site_server.server_close()
		seeded.stop()

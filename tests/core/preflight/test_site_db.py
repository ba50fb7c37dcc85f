"""The standalone preflight reads a site: its config files and, read-only, its real MariaDB database
(Patch Log, installed apps, server version); what it cannot read is listed as not checked."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pymysql
import pytest

from erp_ops.core.preflight import run_preflight, to_text
from erp_ops.core.preflight.models import RuntimeVersions
from tests.support.preflight_bench import make_bench

ROOT = Path(__file__).resolve().parents[3]
SITE = "site1.local"


def _site(bench: Path, kwargs: dict, name: str, **extra) -> None:
	folder = bench / "sites" / SITE
	folder.mkdir(parents=True, exist_ok=True)
	config = {
		"db_name": name,
		"db_user": kwargs["user"],
		"db_password": kwargs["password"],
		"db_host": kwargs["host"],
		"db_port": kwargs["port"],
		**extra,
	}
	(folder / "site_config.json").write_text(json.dumps(config), encoding="utf-8")


def _seed(kwargs: dict) -> None:
	conn = pymysql.connect(**kwargs, autocommit=True)
	with conn.cursor() as cur:
		cur.execute(
			"CREATE TABLE `tabPatch Log` (name VARCHAR(140) PRIMARY KEY, patch TEXT, skipped INT DEFAULT 0)"
		)
		cur.execute(
			"CREATE TABLE `tabInstalled Application` (name VARCHAR(140) PRIMARY KEY, app_name VARCHAR(140), idx INT)"
		)
		cur.executemany(
			"INSERT INTO `tabPatch Log` (name, patch, skipped) VALUES (%s, %s, %s)",
			[("p1", "custom_app.patches.v1_0.done", 0), ("p2", "custom_app.patches.v1_0.skipped_once", 1)],
		)
		cur.executemany(
			"INSERT INTO `tabInstalled Application` (name, app_name, idx) VALUES (%s, %s, %s)",
			[("a1", "frappe", 1), ("a2", "custom_app", 2)],
		)
	conn.close()


def _state(kwargs: dict) -> tuple:
	conn = pymysql.connect(**kwargs)
	with conn.cursor() as cur:
		cur.execute("CHECKSUM TABLE `tabPatch Log`, `tabInstalled Application`")
		sums = cur.fetchall()
		cur.execute("SELECT VERSION()")
		version = cur.fetchone()[0]
	conn.close()
	return sums, version


@pytest.fixture
def bench(tmp_path) -> Path:
	bench = make_bench(tmp_path, dirty=False)
	(bench / "apps" / "custom_app" / "custom_app" / "patches.txt").write_text(
		"[pre_model_sync]\ncustom_app.patches.v1_0.done\ncustom_app.patches.v1_0.skipped_once\n"
		"[post_model_sync]\ncustom_app.patches.v1_0.new\n"
	)
	(bench / "sites" / "common_site_config.json").write_text(
		json.dumps({"webserver_port": 8123, "redis_queue": "redis://127.0.0.1:1", "bench_id": "acme-bench"})
	)
	return bench


def test_pending_patches_and_the_server_version_come_from_the_sites_database(bench, mariadb_db):
	kwargs, name = mariadb_db
	_seed(kwargs)
	_site(bench, kwargs, name)
	before, server_version = _state(kwargs)
	report = run_preflight(bench, 16, site=SITE)
	assert [(p.app, p.patch) for p in report.site.pending_patches] == [
		("custom_app", "custom_app.patches.v1_0.skipped_once"),  # a skipped patch never ran
		("custom_app", "custom_app.patches.v1_0.new"),
	]
	assert {f.evidence.text for f in report.findings if f.check == "pending-patch"} == {
		"custom_app.patches.v1_0.skipped_once",
		"custom_app.patches.v1_0.new",
	}
	# the server's own version, not a client's `Ver 15.1`
	assert report.facts.runtimes.mariadb == server_version
	assert report.facts.runtimes.sources["mariadb"] == "server: SELECT VERSION()"
	assert report.site.db_size_bytes and report.site.db_size_bytes > 0
	assert {n.check for n in report.not_checked} >= {"customizations", "scheduler-running"}
	assert "pending-patch" not in {n.check for n in report.not_checked}
	assert _state(kwargs)[0] == before  # read only


def test_an_unreachable_database_is_not_checked_with_why_never_silence(bench, mariadb_db):
	kwargs, name = mariadb_db
	_site(bench, {**kwargs, "port": 1}, name)
	report = run_preflight(bench, 16, site=SITE)
	[pending] = [n for n in report.not_checked if n.check == "pending-patch"]
	assert "cannot connect" in pending.why and name in pending.why
	assert any(n.check == "mariadb-version" and "cannot connect" in n.why for n in report.not_checked)
	assert report.facts.runtimes.mariadb is None
	assert "pending-patch: not checked (cannot connect" in to_text(report)


def test_a_database_without_a_patch_log_is_not_checked(bench, mariadb_db):
	kwargs, name = mariadb_db
	_site(bench, kwargs, name)
	report = run_preflight(bench, 16, site=SITE)
	[pending] = [n for n in report.not_checked if n.check == "pending-patch"]
	assert "no `tabPatch Log`" in pending.why
	conn = pymysql.connect(**kwargs)
	with conn.cursor() as cur:
		cur.execute("SELECT VERSION()")
		server_version = cur.fetchone()[0]
	conn.close()
	assert report.facts.runtimes.mariadb == server_version  # the server answered before the Patch Log failed


def test_the_plans_use_the_sites_url_port_redis_and_previous_python(bench, mariadb_db):
	kwargs, name = mariadb_db
	_seed(kwargs)
	_site(bench, kwargs, name)
	report = run_preflight(bench, 16, site=SITE)
	commands = [s.command for s in report.verification_plan]
	assert (
		f"curl -s -o /dev/null -w '%{{http_code}}' -H 'Host: {SITE}' http://127.0.0.1:8123/desk" in commands
	)
	assert "erp-ops status --redis redis://127.0.0.1:1 --bench-id acme-bench" in commands
	assert all("SITE" not in c for c in commands if c)

	_site(bench, kwargs, name, host_name="https://erp.example.com")
	hosted = run_preflight(bench, 16, site=SITE)
	assert "curl -s -o /dev/null -w '%{http_code}' https://erp.example.com/desk" in [
		s.command for s in hosted.verification_plan
	]


def test_python_from_pyvenv_cfg_when_the_interpreter_cannot_run(tmp_path):
	bench = make_bench(tmp_path, dirty=False)
	env = bench / "env"
	(env / "bin" / "python").unlink()
	(env / "bin" / "python").symlink_to("/nonexistent/python3.11")  # the interpreter is gone
	(env / "pyvenv.cfg").write_text(
		"home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.9\n"
	)
	report = run_preflight(bench, 16, runtimes=RuntimeVersions(node="24.1.0"))
	[finding] = [f for f in report.findings if f.check == "python-version"]
	assert (finding.severity.value, finding.step, finding.phase.value) == ("blocker", True, "runtime")
	assert (finding.evidence.file, finding.evidence.line) == ("env/pyvenv.cfg", 3)
	assert finding.command == "bench setup env --python python3.14"
	assert "python-version" in report.risk.steps
	env_step = next(s for s in report.rollback_plan.steps if "bench setup env" in (s.command or ""))
	assert env_step.command == "bench setup env --python python3.11" and "3.11.9" in env_step.step
	assert "env/pyvenv.cfg:3" in env_step.step
	# uv writes version_info instead
	(env / "pyvenv.cfg").write_text("home = /usr/bin\nimplementation = CPython\nversion_info = 3.12.4\n")
	assert run_preflight(bench, 16).facts.runtimes.python == "3.12.4"
	# nothing to read: not checked, with why
	(env / "pyvenv.cfg").unlink()
	report = run_preflight(bench, 16)
	assert report.facts.runtimes.python is None
	assert any(n.check == "python-version" and "pyvenv.cfg" in n.why for n in report.not_checked)


def _cli(bench: Path, *args: str) -> subprocess.CompletedProcess:
	env = {**os.environ, "PYTHONPATH": str(ROOT)}
	argv = [sys.executable, "-m", "erp_ops.cli", "preflight", "--bench", str(bench), "--target", "16", *args]
	return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)


def test_cli_site_reads_the_database_and_lists_unreachable_redis(bench, mariadb_db):
	kwargs, name = mariadb_db
	_seed(kwargs)
	_site(bench, kwargs, name)
	data = json.loads(_cli(bench, "--site", SITE, "--json").stdout)
	assert [p["patch"] for p in data["site"]["pending_patches"]] == [
		"custom_app.patches.v1_0.skipped_once",
		"custom_app.patches.v1_0.new",
	]
	[queues] = [n for n in data["not_checked"] if n["check"] == "queues-in-flight"]
	assert "redis://127.0.0.1:1 did not answer" in queues["why"]
	bad = _cli(bench, "--site", "nope")
	assert bad.returncode == 64 and "no sites/nope/site_config.json" in bad.stderr
	assert bad.stderr.count("\n") == 1

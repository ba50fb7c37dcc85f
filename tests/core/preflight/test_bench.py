"""Bench facts, the read-only promise, plans and the standalone command's exit codes."""

import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from erp_ops.core.preflight import (
	BackupInfo,
	Customization,
	PendingPatch,
	SiteFacts,
	Verdict,
	run_preflight,
	to_markdown,
)
from erp_ops.core.preflight.facts import gather_bench_facts, git_state
from erp_ops.core.preflight.models import RuntimeVersions
from erp_ops.core.preflight.score import PHASE_ORDER
from tests.support.preflight_bench import git, make_bench, tree_digest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def bench(tmp_path) -> Path:
	return make_bench(tmp_path)


def _clean_bench(tmp_path: Path) -> Path:
	"""Only the clean app, a fresh backup, a known database size: nothing blocks."""
	bench = make_bench(tmp_path, dirty=False)
	subprocess.run(["rm", "-rf", str(bench / "apps" / "custom_app")], check=True)
	(bench / "sites" / "apps.txt").write_text("frappe\nclean_app\n")
	backups = bench / "sites" / "site1.local" / "private" / "backups"
	backups.mkdir(parents=True)
	(backups / "20260101_000000-site1_local-database.sql.gz").write_bytes(b"\x1f\x8b" + b"0" * 100)
	return bench


def test_facts_read_versions_pins_and_git_state(bench):
	facts = gather_bench_facts(bench, db_size_bytes=10)
	apps = {a.name: a for a in facts.apps}
	assert list(apps) == ["frappe", "custom_app", "clean_app"]
	assert apps["frappe"].version == "15.41.0" and apps["custom_app"].version == "1.2.3"
	assert apps["custom_app"].version_source == "apps/custom_app/custom_app/__init__.py"
	assert apps["custom_app"].frappe_dependency == ">=15.0.0,<17.0.0"
	assert "rq==1.15.1" in apps["custom_app"].requirements
	git_custom = apps["custom_app"].git
	assert git_custom.branch == "version-15" and len(git_custom.head) == 40
	assert git_custom.changed == [" M custom_app/hooks.py"]
	assert apps["clean_app"].git.changed == []
	assert facts.disks and facts.disks[0].free_bytes > 0
	assert facts.runtimes.python == platform.python_version()  # asked env/bin/python, not this process


def test_local_commits_ahead_of_upstream_are_counted(bench, tmp_path):
	app = bench / "apps" / "clean_app"
	remote = tmp_path / "remote.git"
	git(tmp_path, "clone", "-q", "--bare", str(app), str(remote))
	git(app, "remote", "add", "origin", str(remote))
	git(app, "fetch", "-q", "origin")
	git(app, "branch", "-q", "-u", "origin/version-15")
	(app / "clean_app" / "extra.py").write_text("X = 1\n")
	git(app, "add", "-A")
	git(app, "commit", "-q", "-m", "local")
	state = git_state(app)
	assert (state.upstream, state.ahead, state.behind, state.changed) == ("origin/version-15", 1, 0, [])
	report = run_preflight(bench, 16)
	ahead = next(f for f in report.findings if f.check == "git-local-commits")
	assert ahead.app == "clean_app" and ahead.evidence.values["ahead"] == 1


def test_a_run_leaves_the_bench_byte_identical(bench):
	app = bench / "apps" / "custom_app" / "custom_app" / "api.py"
	# A stat-dirty tracked file: plain `git status` would refresh and rewrite .git/index here.
	os.utime(app, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
	before = tree_digest(bench)
	report = run_preflight(bench, 16)
	assert report.findings
	assert tree_digest(bench) == before


def test_the_digest_would_see_what_plain_git_status_writes(bench):
	"""Control: without --no-optional-locks, git status rewrites the index and the digest changes."""
	app = bench / "apps" / "custom_app" / "custom_app" / "api.py"
	os.utime(app, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
	before = tree_digest(bench)
	git(bench / "apps" / "custom_app", "status", "--porcelain")
	after = tree_digest(bench)
	assert after != before and after["apps/custom_app/.git/index"] != before["apps/custom_app/.git/index"]


def test_site_facts_become_findings(bench):
	now = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
	site = SiteFacts(
		site="site1.local",
		pending_patches=[PendingPatch(app="custom_app", patch="custom_app.patches.v1_0.fix_todo")],
		customizations=[
			Customization(kind="Custom Field", doctype="Newsletter", name="Newsletter-region"),
			Customization(kind="Property Setter", doctype="ToDo", name="ToDo-main-sort"),
		],
		scheduler_paused=False,
		pending_jobs=3,
		drills_exist=True,
		last_restore_drill_at=now - timedelta(days=45),
		db_size_bytes=1024,
		last_backup=BackupInfo(path="/backups/x-database.sql.gz", taken_at=now - timedelta(hours=2)),
	)
	report = run_preflight(bench, 16, site_facts=site, now=now)
	by_check = {f.check: f for f in report.findings}
	assert by_check["pending-patch"].evidence.text == "custom_app.patches.v1_0.fix_todo"
	assert by_check["customization-on-changed-doctype"].evidence.values == {"doctype": "Newsletter"}
	assert by_check["customizations"].evidence.values == {"count": 1}
	assert by_check["scheduler-running"].severity.value == "high"
	assert by_check["site-pending-jobs"].severity.value == "blocker"
	assert by_check["restore-drill-stale"].evidence.values == {"age_days": 45}
	assert "backup-missing" not in by_check and "backup-stale" not in by_check
	assert report.rollback_plan.backup == "/backups/x-database.sql.gz"


def test_an_app_outside_git_has_no_rollback_ref(bench):
	subprocess.run(["rm", "-rf", str(bench / "apps" / "clean_app" / ".git")], check=True)
	report = run_preflight(bench, 16)
	[finding] = [f for f in report.findings if f.check == "git-not-a-repo"]
	assert finding.app == "clean_app" and "clean_app" not in report.rollback_plan.app_refs


def test_disk_headroom_compares_free_space_with_twice_the_database(bench):
	free = gather_bench_facts(bench).disks[0].free_bytes
	short = run_preflight(bench, 16, db_size_bytes=free)  # needs 2x: cannot fit
	roomy = run_preflight(bench, 16, db_size_bytes=1024)
	assert any(f.check == "disk-headroom" and f.severity.value == "blocker" for f in short.findings)
	assert not any(f.check.startswith("disk-") for f in roomy.findings)


def test_verdict_score_fix_order_and_plans(bench):
	report = run_preflight(bench, 16)
	assert report.verdict is Verdict.DO_NOT_PROCEED and report.risk.band.value in ("high", "critical")
	assert report.risk.score == min(100, sum(report.risk.components.values()))
	assert {"code", "repositories", "dependencies"} <= set(report.risk.components)
	phases = [PHASE_ORDER[i.phase] for i in report.fix_list]
	assert phases == sorted(phases)
	assert report.fix_list[0].check == "git-uncommitted"  # what blocks even starting comes first
	assert [i.check for i in report.fix_list[-2:]] == ["upgrade", "verify"]
	assert all(i.command for i in report.fix_list), [i.check for i in report.fix_list if not i.command]
	heads = {a.name: a.git.head for a in report.facts.apps}
	assert report.rollback_plan.app_refs == heads
	commands = [s.command for s in report.rollback_plan.steps]
	reset = f"git -C apps/custom_app checkout version-15 && git -C apps/custom_app reset --hard {heads['custom_app']}"
	assert reset in commands
	# custom_app has an uncommitted hooks.py edit: the plan says to save it before the reset destroys it
	stash = commands.index("git -C apps/custom_app stash push --include-untracked -m 'before rollback'")
	assert stash == commands.index(reset) - 1 and "WARNING" in report.rollback_plan.steps[stash].step
	assert not any("stash" in (c or "") and "clean_app" in (c or "") for c in commands)
	python = platform.python_version()
	env_step = next(s for s in report.rollback_plan.steps if "bench setup env" in (s.command or ""))
	assert python in env_step.step and "PREVIOUS" not in env_step.command
	assert any("scheduler resume" in (s.command or "") for s in report.verification_plan)
	assert to_markdown(report).startswith("# Upgrade preflight: DO NOT PROCEED")


def test_a_clean_app_on_a_healthy_v15_bench_scores_low(tmp_path):
	"""Python 3.11 and Node 20 are what v15 runs on: the upgrade's steps, listed, not risk."""
	bench = _clean_bench(tmp_path)
	report = run_preflight(
		bench, 16, db_size_bytes=1024, runtimes=RuntimeVersions(python="3.11.9", node="20.11.0")
	)
	assert report.risk.band.value == "low" and report.risk.score < 15, report.risk
	assert report.risk.steps == ["node-version", "python-version"]
	steps = {i.check: i for i in report.fix_list}
	assert steps["python-version"].command == "bench setup env --python python3.14"
	assert steps["node-version"].phase.value == "runtime"
	assert report.verdict is Verdict.DO_NOT_PROCEED  # not yet: the steps come first


def test_clean_bench_proceeds(tmp_path):
	bench = _clean_bench(tmp_path)
	report = run_preflight(
		bench,
		16,
		db_size_bytes=1024,
		scan_apps=["clean_app"],
		runtimes=RuntimeVersions(python="3.14.0", node="24.1.0"),
	)
	assert report.verdict is not Verdict.DO_NOT_PROCEED, [
		f.check for f in report.findings if f.severity.value == "blocker"
	]
	assert report.rollback_plan.backup.endswith("-database.sql.gz")


def _cli(*args: str) -> subprocess.CompletedProcess:
	env = {**os.environ, "PYTHONPATH": str(ROOT)}
	return subprocess.run(
		[sys.executable, "-m", "erp_ops.cli", "preflight", *args],
		capture_output=True,
		text=True,
		env=env,
		timeout=60,
	)


def test_cli_exit_codes_and_formats(bench, tmp_path):
	blocked = _cli("--bench", str(bench), "--target", "16", "--json")
	assert blocked.returncode == 2, blocked.stderr
	data = json.loads(blocked.stdout)
	assert data["verdict"] == "do_not_proceed" and data["risk"]["components"]
	md = _cli("--bench", str(bench), "--target", "16", "--markdown")
	assert md.returncode == 2 and md.stdout.startswith("# Upgrade preflight: DO NOT PROCEED")
	text = _cli("--bench", str(bench), "--target", "16")
	assert text.returncode == 2 and text.stdout.startswith("Upgrade preflight: DO NOT PROCEED\n")
	assert "(from v15)" in text.stdout and "&gt;" not in text.stdout and "&amp;" not in text.stdout
	assert "`" not in text.stdout.split("Findings")[0] and "**" not in text.stdout
	assert "\nNot checked\n" in text.stdout and "pending-patch: not checked (no site given" in text.stdout

	clean = _clean_bench(tmp_path / "clean")
	args = ("--bench", str(clean), "--target", "16", "--db-size-mb", "1", "--app", "clean_app")
	ok = _cli(*args, "--python-version", "3.14.0", "--node-version", "24.1.0")
	assert ok.returncode == 0, ok.stdout
	old_node = _cli(*args, "--python-version", "3.14.0", "--node-version", "20.11.0", "--json")
	assert old_node.returncode == 2
	assert [f["check"] for f in json.loads(old_node.stdout)["findings"] if f["severity"] == "blocker"] == [
		"node-version"
	]

	assert _cli("--bench", str(tmp_path / "nope"), "--target", "16").returncode == 64
	assert _cli("--bench", str(bench), "--target", "42").returncode == 64
	assert _cli("--bench", str(bench)).returncode == 64
	assert (
		_cli("--bench", str(bench), "--target", "16", "--redis", "redis://127.0.0.1:6379/5").returncode == 64
	)


def test_cli_accepts_site_facts_as_json(bench, tmp_path):
	facts = tmp_path / "site.json"
	facts.write_text(
		json.dumps(
			{"site": "s1", "pending_patches": [{"app": "custom_app", "patch": "custom_app.patches.p1"}]}
		)
	)
	result = _cli("--bench", str(bench), "--target", "16", "--json", "--site-facts", str(facts))
	assert any(f["check"] == "pending-patch" for f in json.loads(result.stdout)["findings"])
	facts.write_text("{not json")
	assert _cli("--bench", str(bench), "--target", "16", "--site-facts", str(facts)).returncode == 64


def test_add_parser_wires_into_an_erp_ops_style_parser(bench, capsys):
	"""What the lead's erp_ops/cli/__init__.py will do: add the sub-command, parse, call run(args)."""
	import argparse

	from erp_ops.cli import preflight as cli_preflight

	parser = argparse.ArgumentParser(prog="erp-ops")
	commands = parser.add_subparsers(dest="command", required=True)
	cli_preflight.add_parser(commands)
	args = parser.parse_args(["preflight", "--bench", str(bench), "--target", "16", "--json"])
	assert args.command == "preflight"
	assert cli_preflight.run(args) == 2
	assert json.loads(capsys.readouterr().out)["verdict"] == "do_not_proceed"

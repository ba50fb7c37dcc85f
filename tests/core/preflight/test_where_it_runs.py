"""Findings rated by where the code runs (pending patch, applied patch, hooks, scheduled job, page),
`--app` limiting every app-level check, and every pin/range finding at its file's line."""

import textwrap
from pathlib import Path

import pytest

from erp_ops.core.preflight import PendingPatch, SiteFacts, run_preflight
from tests.support.preflight_bench import git, line_of, make_bench

PATCHES = """\
[pre_model_sync]
custom_app.patches.v1_0.old_fix
custom_app.patches.v1_0.fix_perm #2026-01-01

[post_model_sync]
execute:frappe.db.set_value("ToDo", "x", "status", "Open")
execute:frappe.get_all("ToDo", fields=["count(name) as n"])
"""
PATCH = """\
import frappe
from frappe.permissions import has_permission


def execute():
	for doc in frappe.get_all("ToDo"):
		has_permission("ToDo", "read", doc, "u", False)  # mark:patch
"""
HOOKS = """\
app_name = "custom_app"
from frappe.core.doctype.user.user import get_roles  # mark:hooks

scheduler_events = {"daily": ["custom_app.tasks.daily_cleanup"], "cron": {"0 * * * *": ["custom_app.tasks.hourly"]}}
"""
TASKS = """\
import frappe


def daily_cleanup():
	return frappe.db.is_column_missing(None)  # mark:task


def hourly():
	pass
"""
PAGE_JS = 'frappe.pages["ops"].on_page_load = () => { window.location.href = "/app/todo"; };  // mark:page\n'


def _write(root: Path, rel: str, text: str) -> None:
	path = root / rel
	path.parent.mkdir(parents=True, exist_ok=True)
	path.write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.fixture
def bench(tmp_path) -> Path:
	bench = make_bench(tmp_path, dirty=False)
	app = bench / "apps" / "custom_app"
	_write(app, "custom_app/patches.txt", PATCHES)
	for name in ("old_fix", "fix_perm"):
		_write(app, f"custom_app/patches/v1_0/{name}.py", PATCH)
	_write(app, "custom_app/patches/__init__.py", "")
	_write(app, "custom_app/patches/v1_0/__init__.py", "")
	_write(app, "custom_app/hooks.py", HOOKS)
	_write(app, "custom_app/tasks.py", TASKS)
	_write(app, "custom_app/ops/page/ops/ops.js", PAGE_JS)
	git(app, "add", "-A")
	git(app, "commit", "-q", "-m", "patches, hooks, tasks, page")
	return bench


def _at(report, rel: str, marker: str, bench: Path):
	line = line_of(bench, rel, marker)
	return [f for f in report.findings if f.evidence.file == rel and f.evidence.line == line]


P = "apps/custom_app/custom_app/patches/v1_0/"


def test_a_pending_patch_calling_a_changed_api_is_a_blocker(bench):
	one_liner = 'execute:frappe.get_all("ToDo", fields=["count(name) as n"])'
	site = SiteFacts(
		site="s1",
		pending_patches=[
			PendingPatch(app="custom_app", patch="custom_app.patches.v1_0.fix_perm #2026-01-01"),
			PendingPatch(app="custom_app", patch=one_liner),
		],
	)
	report = run_preflight(bench, 16, site_facts=site)
	[pending] = _at(report, P + "fix_perm.py", "mark:patch", bench)
	assert (pending.check, pending.severity.value, pending.context) == (
		"v16-has-permission-raise-exception",
		"blocker",
		"pending patch",
	)
	assert "migrate to the target stops in it" in pending.title
	assert pending.evidence.values["patch"] == "custom_app.patches.v1_0.fix_perm #2026-01-01"
	# the same code in a patch the site already ran never runs again: information only
	[applied] = _at(report, P + "old_fix.py", "mark:patch", bench)
	assert (applied.severity.value, applied.context) == ("info", "applied patch")
	# hooks.py is imported by everything: a high finding there blocks
	[hooks] = _at(report, "apps/custom_app/custom_app/hooks.py", "mark:hooks", bench)
	assert (hooks.check, hooks.severity.value, hooks.context) == ("v16-user-get-roles", "blocker", "hooks")
	# a scheduled job fails where nobody sees it: a warning there is high
	[task] = _at(report, "apps/custom_app/custom_app/tasks.py", "mark:task", bench)
	assert (task.check, task.severity.value, task.context) == (
		"v16-is-column-missing-renamed",
		"high",
		"scheduled job",
	)
	[page] = _at(report, "apps/custom_app/custom_app/ops/page/ops/ops.js", "mark:page", bench)
	assert (page.severity.value, page.context) == ("high", "page")
	# an `execute:` one-liner is patch code too, found at its patches.txt line
	[inline] = [
		f
		for f in report.findings
		if (f.evidence.file or "").endswith("patches.txt") and f.check.startswith("v16-")
	]
	assert (inline.check, inline.evidence.line, inline.severity.value, inline.context) == (
		"v16-sql-function-in-fields",
		7,
		"blocker",
		"pending patch",
	)


def test_without_the_patch_log_a_patch_keeps_the_rules_rating(bench):
	report = run_preflight(bench, 16)
	for name in ("old_fix", "fix_perm"):
		[f] = _at(report, P + f"{name}.py", "mark:patch", bench)
		assert (f.severity.value, f.context) == ("high", "patch") and "not read" in f.title
	[inline] = [
		f
		for f in report.findings
		if (f.evidence.file or "").endswith("patches.txt") and f.check.startswith("v16-")
	]
	assert (inline.severity.value, inline.context) == ("high", "patch")
	assert any(n.check == "pending-patch" for n in report.not_checked)


def test_app_limits_every_app_level_check(tmp_path):
	bench = make_bench(tmp_path)  # custom_app: uncommitted change, rq pin conflict, seeded code
	site = SiteFacts(
		site="s1", pending_patches=[PendingPatch(app="custom_app", patch="custom_app.patches.p")]
	)
	full = run_preflight(bench, 16, site_facts=site)
	assert {"git-uncommitted", "dependency-conflict", "pending-patch"} <= {f.check for f in full.findings}
	only = run_preflight(bench, 16, site_facts=site, scan_apps=["clean_app"])
	assert [f for f in only.findings if f.app == "custom_app"] == []
	assert only.scan.scanned_apps == ["clean_app"]
	assert not {"git-uncommitted", "dependency-conflict", "pending-patch"} & {f.check for f in only.findings}


def test_pin_and_range_findings_carry_their_line(tmp_path):
	bench = make_bench(tmp_path, dirty=False)
	app = bench / "apps" / "clean_app"
	(app / "pyproject.toml").write_text(
		textwrap.dedent(
			"""\
			[project]
			name = "clean_app"
			# a comment
			requires-python = ">=3.10,<3.13"
			dynamic = ["version"]

			[tool.ruff]
			line-length = 110

			[tool.bench.frappe-dependencies]
			frappe = ">=15.0.0,<16.0.0"
			"""
		)
	)
	(app / "requirements.txt").write_text("# pins\nrequests\nrq==1.15.1\n")
	setup_app = bench / "apps" / "custom_app"
	(setup_app / "pyproject.toml").unlink()
	(setup_app / "setup.py").write_text(
		'from setuptools import setup\n\nsetup(\n\tname="custom_app",\n\tpython_requires=">=3.8,<3.12",\n'
		'\tinstall_requires=["redis~=4.5.5"],\n)\n'
	)
	report = run_preflight(bench, 16)
	lines = {(f.check, f.app): (f.evidence.file, f.evidence.line) for f in report.findings}
	assert lines[("frappe-range-excludes-target", "clean_app")] == ("apps/clean_app/pyproject.toml", 11)
	assert lines[("requires-python-excludes-target", "clean_app")] == ("apps/clean_app/pyproject.toml", 4)
	assert lines[("dependency-conflict", "clean_app")] == ("apps/clean_app/requirements.txt", 3)
	assert lines[("requires-python-excludes-target", "custom_app")] == ("apps/custom_app/setup.py", 5)
	assert lines[("dependency-conflict", "custom_app")] == ("apps/custom_app/setup.py", 6)

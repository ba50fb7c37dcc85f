"""The code scan on a fixture bench: every seeded problem at its line, nothing on the clean app."""

from pathlib import Path

import pytest

from erp_ops.core.preflight import run_preflight
from erp_ops.core.preflight.rules import load_rule_set
from erp_ops.core.preflight.scan import CompiledRules, scan_tree
from tests.support.preflight_bench import SEEDED_CODE, line_of, make_bench


@pytest.fixture
def bench(tmp_path) -> Path:
	return make_bench(tmp_path)


def _located(report) -> set[tuple[str, str | None, int | None]]:
	return {(f.check, f.evidence.file, f.evidence.line) for f in report.findings}


def test_every_seeded_problem_is_found_at_its_line(bench):
	report = run_preflight(bench, 16)
	located = _located(report)
	expected = {(check, rel, line_of(bench, rel, marker)) for check, rel, marker in SEEDED_CODE}
	assert expected <= located, sorted(expected - located)
	conflict = next(f for f in report.findings if f.check == "dependency-conflict")
	assert conflict.evidence.values == {"app": "rq==1.15.1", "frappe": "rq==2.6.1"}  # both sides quoted
	uncommitted = next(f for f in report.findings if f.check == "git-uncommitted")
	assert (
		uncommitted.app == "custom_app" and uncommitted.evidence.file == "apps/custom_app/custom_app/hooks.py"
	)


def test_no_code_finding_beyond_the_seeded_ones(bench):
	report = run_preflight(bench, 16)
	code = {(f.check, f.evidence.file, f.evidence.line) for f in report.findings if f.evidence.line}
	expected = {(check, rel, line_of(bench, rel, marker)) for check, rel, marker in SEEDED_CODE}
	assert code == expected


def test_clean_app_has_no_finding(bench):
	report = run_preflight(bench, 16)
	assert [f for f in report.findings if f.app == "clean_app"] == []
	alone = run_preflight(bench, 16, scan_apps=["clean_app"])
	assert [f for f in alone.findings if (f.evidence.file or "").startswith("apps/clean_app")] == []
	assert alone.scan.files == 4 and alone.scan.lines > 10


def test_version_guards_and_comments_are_honoured(bench):
	report = run_preflight(bench, 16)
	assert report.scan.guarded == 2
	assert not any(
		f.check in ("v16-workspace-sidebar-items", "v16-gravatar-helpers") for f in report.findings
	)
	js = "apps/custom_app/custom_app/public/js/todo.js"
	routes = [
		f.evidence.line for f in report.findings if f.check == "v16-desk-route-app" and f.evidence.file == js
	]
	assert routes == [line_of(bench, js, "seed:v16-desk-route-app")]  # the comment line above is skipped


def test_official_apps_are_not_scanned_unless_asked(bench):
	api = bench / "apps" / "frappe" / "frappe" / "api.py"
	api.write_text("import imghdr\n")

	def scanned(report) -> bool:
		return any(f.app == "frappe" and f.check == "py313-removed-modules" for f in report.findings)

	default = run_preflight(bench, 16)
	assert not scanned(default)
	assert (default.scan.scanned_apps, default.scan.skipped_apps) == (["custom_app", "clean_app"], ["frappe"])
	assert scanned(run_preflight(bench, 16, scan_apps=["frappe"]))
	assert not scanned(run_preflight(bench, 16, skip_apps=()))  # still official by its remote
	assert scanned(run_preflight(bench, 16, skip_apps=(), scan_official_apps=True))


SNIPPETS = [
	# (source, rule id expected or None)
	("import frappe.db as d\nd.is_column_missing(1)\n", "v16-is-column-missing-renamed"),
	(
		"from frappe import permissions\npermissions.has_permission('ToDo', raise_exception=False)\n",
		"v16-has-permission-raise-exception",
	),
	("from frappe.permissions import has_permission\nhas_permission('ToDo', 'read', None, 'u')\n", None),
	("import frappe\nfrappe.has_permission('ToDo', 'read', None, 'u', True)\n", None),
	("from rq import Connection\n", "v16-rq-connection-helpers"),
	("import distutils.core\n", "py312-removed-modules"),
	("import ast\nast.Num(1)\n", "py314-removed-names"),
	("Num = 1\nprint(Num)\n", None),
	("import frappe\nfrappe._dict()\nfrappe._('x')\nfrappe.__version__\n", None),
	("import frappe\nfrappe.local._realtime_log\n", "frappe-private-api"),
	("from frappe.email.doctype.newsletter.newsletter import send_newsletter\n", "v16-newsletter-moved"),
	("from .user import get_roles\n", None),
	("import sys\nif sys.version_info >= (3, 12):\n\timport tomllib\nelse:\n\timport imp\n", None),
	# inside definitions, which the scan skips when nothing in them can match: these must not be skipped
	(
		# imported below its use: module globals still resolve inside the method
		"class A:\n\tdef g(self):\n\t\treturn hp('ToDo', raise_exception=False)\n\n\n"
		"from frappe.permissions import has_permission as hp\n",
		"v16-has-permission-raise-exception",
	),
	(
		"import frappe\n\n\nclass A:\n\t@staticmethod\n\tdef g():\n\t\treturn frappe.local._realtime_log\n",
		"frappe-private-api",
	),
	(
		"import frappe\n\n\ndef f():\n\tfrom frappe.utils import get_gravatar\n\treturn get_gravatar\n",
		"v16-gravatar-helpers",
	),
	(
		"import frappe\n\n\ndef f(e):\n\tdef inner():\n\t\treturn frappe.db.is_column_missing(e)\n\treturn inner\n",
		"v16-is-column-missing-renamed",
	),
]


@pytest.mark.parametrize(("source", "rule_id"), SNIPPETS)
def test_resolution_through_imports(tmp_path, source, rule_id):
	(tmp_path / "m.py").write_text(source)
	result = scan_tree(tmp_path, CompiledRules.from_rule_set(load_rule_set(16)))
	assert [f.check for f in result.findings] == ([rule_id] if rule_id else [])


def test_v15_rule_set_finds_v15_removals(tmp_path):
	(tmp_path / "m.py").write_text(
		"import frappe\nfrappe.db.set_temp(1)\nfrappe.db.sql('select 1', as_utf8=1)\nfrappe.db.sql('select 1')\n"
	)
	result = scan_tree(tmp_path, CompiledRules.from_rule_set(load_rule_set(15)))
	assert [(f.check, f.evidence.line) for f in result.findings] == [
		("v15-db-temp-removed", 2),
		("v15-db-sql-formatting-args", 3),
	]


def test_a_syntax_error_is_reported_not_raised(tmp_path):
	(tmp_path / "broken.py").write_text("import frappe\nfrappe.db.is_column_missing(\n")
	result = scan_tree(tmp_path, CompiledRules.from_rule_set(load_rule_set(16)))
	assert result.findings == [] and len(result.stats.syntax_errors) == 1


def test_line_numbers_survive_form_feeds_and_repeats_on_one_line_count_once(tmp_path):
	(tmp_path / "m.py").write_text(
		'import frappe\n\x0c\nA = "/app/x" + "/app/y"\nfrappe.db.is_column_missing(1)\n'
	)
	(tmp_path / "big.js").write_text("//" + "x" * (3 * 1024 * 1024))
	result = scan_tree(tmp_path, CompiledRules.from_rule_set(load_rule_set(16)))
	assert [(f.check, f.evidence.line) for f in result.findings] == [
		("v16-desk-route-app", 3),
		("v16-is-column-missing-renamed", 4),
	]
	assert result.findings[1].evidence.text == "frappe.db.is_column_missing(1)"
	assert result.stats.too_large == ["big.js"]

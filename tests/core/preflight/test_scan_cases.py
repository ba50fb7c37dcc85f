"""Issue 16's scan cases, each with its must-flag and its must-not-flag side.

SQL functions written as strings in query fields; version-guarded compatibility code (frappe_major
comparisons, __version__ / packaging comparisons, hasattr/getattr probes, ImportError/AttributeError
fallbacks); test code scanned for test APIs only; JSON records' strings.
"""

import json
from pathlib import Path

import pytest

from erp_ops.core.preflight.rules import load_rule_set
from erp_ops.core.preflight.scan import CompiledRules, is_test_path, scan_tree

SQL = "v16-sql-function-in-fields"


def _scan(root: Path, files: dict[str, str]):
	for rel, text in files.items():
		path = root / rel
		path.parent.mkdir(parents=True, exist_ok=True)
		path.write_text(text, encoding="utf-8")
	return scan_tree(root, CompiledRules.from_rule_set(load_rule_set(16)))


def _checks(result) -> list[tuple[str, int]]:
	return sorted((f.check, f.evidence.line) for f in result.findings)


SQL_CASES = [
	# (source, flagged lines)
	('import frappe\nfrappe.get_all("ToDo", fields=["count(name) as total", "status"])\n', [2]),
	('import frappe\nfrappe.get_list("ToDo", ["sum(qty) as qty"])\n', [2]),  # fields by position
	('import frappe\nfrappe.db.get_all("ToDo", fields=("max(creation)",))\n', [2]),
	('import frappe\nfrappe.db.get_value("ToDo", {"status": "Open"}, "max(modified)")\n', [2]),
	('import frappe\nfrappe.db.get_value("ToDo", "x", fieldname=["name", "COUNT(*) as n"])\n', [2]),
	('import frappe\nfrappe.get_value("ToDo", None, "avg(priority)")\n', [2]),
	("from frappe import get_all as ga\nga('ToDo', fields=['count(distinct owner) as n'])\n", [2]),
	# must not flag: plain fields, dict syntax, filters, a string that is not a field, other calls
	('import frappe\nfrappe.get_all("ToDo", fields=["name", "status as s", "`tabToDo`.owner"])\n', []),
	('import frappe\nfrappe.get_all("ToDo", fields=[{"COUNT": "name", "as": "total"}])\n', []),
	('import frappe\nfrappe.get_all("ToDo", filters={"description": "count(x)"}, fields=["name"])\n', []),
	('import frappe\nfrappe.db.get_value("ToDo", "count(x)", "name")\n', []),  # a filter by name
	('import frappe\nfrappe.db.sql("select count(name) from tabToDo")\n', []),
	('import frappe\nfrappe.throw(frappe._("count(x) failed"))\n', []),
]


@pytest.mark.parametrize(("source", "lines"), SQL_CASES)
def test_sql_functions_in_query_fields(tmp_path, source, lines):
	result = _scan(tmp_path, {"m.py": source})
	assert [line for check, line in _checks(result) if check == SQL] == lines
	for f in result.findings:
		assert (
			f.severity.value == "high"
			and '{"COUNT": "name", "as": "total"}' in f.fix
			and "frappe.qb" in f.fix
		)


GUARDED = """\
import frappe
from packaging.version import Version

frappe_major = int(frappe.__version__.split(".")[0])

if frappe_major >= 16:
	rows = frappe.get_all("ToDo", fields=[{"COUNT": "name", "as": "n"}])
else:
	rows = frappe.get_all("ToDo", fields=["count(name) as n"])

if Version(frappe.__version__) < Version("16.0.0"):
	from frappe.desk.desktop import get_workspace_sidebar_items

IS_V15 = frappe_major == 15
if IS_V15:
	frappe.db.is_column_missing(1)

try:
	from frappe.utils import get_gravatar
except ImportError:
	from frappe.utils import has_gravatar as get_gravatar

try:
	make = frappe.utils.make_esc
except AttributeError:
	make = frappe.utils.gzip_compress

if hasattr(frappe.db, "is_column_missing"):
	frappe.db.is_column_missing(2)

if getattr(frappe.utils, "get_number_format_info", None):
	frappe.utils.get_number_format_info("#,###.##")

label = frappe.utils.get_gravatar_url("a") if hasattr(frappe.utils, "get_gravatar_url") else None
"""

UNGUARDED = """\
import frappe

if frappe.session.user == "Administrator":
	frappe.db.is_column_missing(1)

try:
	frappe.utils.make_esc("x")
except ValueError:
	frappe.utils.gzip_compress(b"x")

rows = frappe.get_all("ToDo", fields=["count(name) as n"])
"""


def test_version_guarded_code_is_the_fix_not_the_breakage(tmp_path):
	guarded = _scan(tmp_path / "a", {"m.py": GUARDED})
	assert guarded.findings == [], _checks(guarded)
	assert guarded.stats.guarded >= 8
	# the same calls without a version guard are reported, each at its line
	plain = _scan(tmp_path / "b", {"m.py": UNGUARDED})
	assert _checks(plain) == [
		("v16-gzip-helpers", 9),
		("v16-is-column-missing-renamed", 4),
		("v16-make-esc", 7),
		(SQL, 11),
	]


TEST_FILE = """\
import imghdr
from frappe.tests.utils import FrappeTestCase

BAD = 'window.location.href = "/app/todo";'
SEEDED = 'frappe.get_all("ToDo", fields=["count(name) as n"])'


class TestX(FrappeTestCase):
	def test_link(self):
		self.assertTrue(get_url().endswith("/app/todo"))
"""


def test_test_code_is_scanned_for_test_apis_only(tmp_path):
	result = _scan(
		tmp_path,
		{
			"app/app/tests/test_api.py": TEST_FILE,
			"app/app/doctype/x/test_x.py": TEST_FILE,
			"app/benchmarks/bench.py": "URL = '/app/x'\nfrom frappe.test_runner import run_all_tests\n",
			"app/app/api.py": "URL = '/app/x'\n",
		},
	)
	located = sorted((f.evidence.file, f.evidence.line, f.check) for f in result.findings)
	assert located == [
		("app/app/api.py", 1, "v16-desk-route-app"),
		("app/app/doctype/x/test_x.py", 2, "v16-frappe-test-case-deprecated"),
		("app/app/tests/test_api.py", 2, "v16-frappe-test-case-deprecated"),
		("app/benchmarks/bench.py", 2, "v16-test-runner-helpers-removed"),
	]
	assert result.stats.test_files == 3


@pytest.mark.parametrize(
	("rel", "is_test"),
	[
		("app/tests/support/x.py", True),
		("app/app/doctype/todo/test_todo.py", True),
		("app/app/site_tests/test_a.py", True),
		("app/benchmarks/scan.py", True),
		("app/cypress/integration/todo.js", True),
		("app/app/public/js/form.spec.js", True),
		("app/app/api.py", False),
		("app/app/latest.py", False),
		("app/app/contest/entry.py", False),
	],
)
def test_what_counts_as_test_code(rel, is_test):
	assert is_test_path(rel) is is_test


def test_json_records_are_scanned_by_their_strings(tmp_path):
	block = {
		"doctype": "Custom HTML Block",
		"name": "Links",
		"html": '<div>\n<a href="/app/todo">ToDo</a>\n</div>',
		"script": "frappe.call({method: 'frappe.core.doctype.user.user.get_roles'});",
	}
	card = {"doctype": "Number Card", "name": "Open", "type": "Custom", "label": "Open /desk items"}
	workspace = {
		"doctype": "Workspace",
		"name": "Ops",
		"links": [{"link_to": "ToDo", "url": "/app/todo?status=Open"}],
	}
	files = {
		"app/app/fixtures/custom_html_block.json": json.dumps([block], indent=1),
		"app/app/ops/number_card/open/open.json": json.dumps(card, indent=1),
		"app/app/ops/workspace/ops/ops.json": json.dumps(workspace, indent=1),
		# data files and tooling are not records Frappe loads into a site
		"app/app/data/routes.json": json.dumps({"home": "/app/todo"}),
		"app/package.json": json.dumps({"homepage": "/app/x"}),
	}
	result = _scan(tmp_path, files)
	located = sorted((f.evidence.file, f.evidence.line, f.check, f.evidence.text) for f in result.findings)
	assert located == [
		("app/app/fixtures/custom_html_block.json", 5, "v16-desk-route-app", '<a href="/app/todo">ToDo</a>'),
		(
			"app/app/fixtures/custom_html_block.json",
			6,
			"v16-user-get-roles-endpoint",
			"frappe.call({method: 'frappe.core.doctype.user.user.get_roles'});",
		),
		("app/app/ops/workspace/ops/ops.json", 7, "v16-desk-route-app", "/app/todo?status=Open"),
	]
	# the file's line holds what the finding names
	for f in result.findings:
		line = (tmp_path / f.evidence.file).read_text().split("\n")[f.evidence.line - 1]
		assert json.dumps(f.evidence.text)[1:-1] in line or f.evidence.text.split('"')[1] in line

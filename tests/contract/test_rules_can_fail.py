"""Each contract check rejects a deliberately broken sample: the checks are able to fail.

Samples are built in a temporary copy of the app's layout, starting from the real files, with one
defect each; the test asserts the defect is reported (and, for the untouched copy, nothing is).
"""

import json
import shutil
from pathlib import Path

import pytest

from tests.contract import frappe_rules as rules

REAL = rules.App()
JOB_EVIDENCE = "doctype/job_evidence/job_evidence.json"


@pytest.fixture
def app(tmp_path) -> rules.App:
	"""A copy of the app's package (without the core) to break one thing in."""
	root = tmp_path / "repo"
	shutil.copytree(REAL.package, root / REAL.name, ignore=shutil.ignore_patterns("core", "__pycache__"))
	return rules.App(root=root)


def module(app: rules.App) -> Path:
	return app.module_dir("ERP Ops")


def edit_json(path: Path, change) -> None:
	doc = json.loads(path.read_text())
	change(doc)
	path.write_text(rules.frappe_json(doc))


def field(doc: dict, fieldname: str) -> dict:
	return next(f for f in doc["fields"] if f["fieldname"] == fieldname)


def problems_after(app: rules.App, change) -> list[str]:
	path = module(app) / JOB_EVIDENCE
	edit_json(path, change)
	return rules.doctype_problems(app, path)


def test_the_untouched_copy_is_clean(app):
	assert rules.doctype_problems(app, module(app) / JOB_EVIDENCE) == []
	assert rules.hooks_problems(app, (app.package / "hooks.py").read_text()) == []


@pytest.mark.parametrize(
	("change", "expected"),
	[
		(lambda d: field(d, "method").update(fieldname="Bad-Name"), "not a valid fieldname"),
		(lambda d: field(d, "method").update(fieldname="owner"), "reserved by Frappe"),
		(lambda d: field(d, "method").update(fieldname="meta"), "reserved by Frappe"),
		(lambda d: field(d, "method").update(fieldname="save"), "conflicts with an attribute"),
		(lambda d: field(d, "method").update(fieldname="autoname"), "conflicts with an attribute"),
		(lambda d: field(d, "method").update(fieldname="site"), "appears 2 times"),
		(lambda d: field(d, "method").update(fieldtype="Strng"), "unknown fieldtype"),
		(lambda d: field(d, "ref_doctype").update(options="No Such DocType"), "unknown DocType"),
		(lambda d: field(d, "ref_name").update(options="site"), "Dynamic Link options"),
		(lambda d: field(d, "outcome").update(default="maybe"), "is not an option"),
		(lambda d: field(d, "exc_message").update(search_index=1), "cannot be indexed"),
		(lambda d: field(d, "method").update(colour="red"), "unknown DocField property"),
		(lambda d: d["fields"].reverse(), "field_order"),
		(lambda d: d["permissions"].append({"role": "Ghost Role", "read": 1}), "unknown role"),
		(lambda d: d["permissions"].append({"role": "Ops Viewer", "read": 1}), "two permission rows"),
		(lambda d: d.update(custom=1), "must not be custom"),
		(lambda d: d.update(module="Accounts"), "not in modules.txt"),
		(lambda d: d.update(name="Job Evidences"), "does not match its folder"),
		(lambda d: d.update(naming_rule="By magic"), "naming_rule"),
		(lambda d: d.update(sort_field="nowhere"), "sort_field"),
		(lambda d: d.update(title_field="nowhere"), "title_field"),
		(lambda d: d.update(trackchanges=1), "unknown DocType property"),
		(lambda d: field(d, "queue").update(reqd=1), "types block disagrees"),
	],
)
def test_doctype_check_rejects(app, change, expected):
	problems = problems_after(app, change)
	assert any(expected in p for p in problems), problems


def test_doctype_check_rejects_json_not_written_as_frappe_does(app):
	path = module(app) / JOB_EVIDENCE
	path.write_text(json.dumps(json.loads(path.read_text()), indent=2))
	assert any("not written as Frappe exports" in p for p in rules.doctype_problems(app, path))


def test_doctype_check_rejects_a_missing_controller_class_and_init(app):
	folder = module(app) / "doctype/job_evidence"
	controller = folder / "job_evidence.py"
	controller.write_text(controller.read_text().replace("class JobEvidence(", "class Evidence("))
	(folder / "__init__.py").unlink()
	problems = rules.doctype_problems(app, folder / "job_evidence.json")
	assert any("no class JobEvidence" in p for p in problems), problems
	assert any("has no __init__.py" in p for p in problems), problems


HOOKS_BREAKS = [
	(
		'before_job = ["erp_ops.job_hooks.before_job"]',
		'before_job = ["erp_ops.job_hooks.nope"]',
		"not a function defined",
	),
	(
		'after_install = "erp_ops.site.install.after_install"',
		'after_install = "erp_ops.setup.missing.after_install"',
		"not a function defined",
	),
	("required_apps = []", 'required_apps = ["frappe"]', "required_apps lists frappe"),
	('app_name = "erp_ops"', 'app_name = "erpops"', "app_name"),
	(
		'"hourly_long": ["erp_ops.tasks.record_backup_manifests"],',
		'"hourly_long": ["erp_ops.tasks.record_backup_manifests", "erp_ops.other.tasks.tick"],',
		"two scheduled methods end in 'tasks.tick'",
	),
]


@pytest.mark.parametrize(("old", "new", "expected"), HOOKS_BREAKS)
def test_hooks_check_rejects(app, old, new, expected):
	source = (app.package / "hooks.py").read_text()
	assert old in source, "the sample no longer matches hooks.py: update this test"
	problems = rules.hooks_problems(app, source.replace(old, new))
	assert any(expected in p for p in problems), problems


def test_hooks_check_rejects_bad_doc_events_and_fixtures(app):
	source = (app.package / "hooks.py").read_text()
	source += '\ndoc_events = {"Sales Invoce": {"on_submit": "erp_ops.tasks.on_submit"}}\nfixtures = [{"dt": "Rolez"}]\n'
	problems = rules.hooks_problems(app, source)
	assert any("unknown DocType 'Sales Invoce'" in p for p in problems), problems
	assert any("erp_ops.tasks.on_submit" in p for p in problems), problems
	assert any("fixture of unknown DocType 'Rolez'" in p for p in problems), problems


GOOD_ENDPOINT = '''
import frappe
from erp_ops.api import READERS, require_roles

@frappe.whitelist(methods=["GET"])
def ok(name: str) -> dict:
    """Docstring first is fine."""
    require_roles(*READERS)
    return {}

@frappe.whitelist(methods=["POST"])
def ok_too(doctype: str, name: str) -> None:
    if not frappe.has_permission(doctype, "write", name):
        frappe.throw("no", frappe.PermissionError)
'''


@pytest.mark.parametrize(
	("source", "expected"),
	[
		("import frappe\n@frappe.whitelist()\ndef f(a: str):\n    require_roles('X')\n", "without methods="),
		(
			"import frappe\n@frappe.whitelist(methods=['GET'])\ndef f(a):\n    require_roles('X')\n",
			"no type hint",
		),
		(
			"import frappe\n@frappe.whitelist(methods=['GET'])\ndef f(a: str):\n    x = 1\n    require_roles('X')\n",
			"not a permission check",
		),
		(
			"import frappe\n@frappe.whitelist(methods=['GET'])\ndef f(a: str):\n    return frappe.get_doc('X', a)\n",
			"not a permission check",
		),
		(
			"import frappe\n@frappe.whitelist(methods=['GET'])\ndef f(**kw: str):\n    require_roles('X')\n",
			"escape Frappe's argument validation",
		),
		(
			"import frappe\n@frappe.whitelist(methods=['GET'], allow_guest=True)\ndef f():\n    require_roles('X')\n",
			"allows guests",
		),
		("from __future__ import annotations\nimport frappe\n", "string annotations"),
		(
			"import frappe\n@frappe.whitelist(methods=['GET'])\ndef f(d: str):\n    if not frappe.has_permission(d):\n        pass\n",
			"not a permission check",
		),
	],
)
def test_whitelist_check_rejects(source, expected):
	problems = rules.whitelist_problems(source, "sample.py")
	assert any(expected in p for p in problems), problems


def test_whitelist_check_accepts_the_two_gate_styles():
	assert rules.whitelist_problems(GOOD_ENDPOINT, "sample.py") == []


def test_number_card_check_rejects(app):
	path = module(app) / "number_card/queued_jobs/queued_jobs.json"
	assert rules.number_card_problems(app, path) == []
	edit_json(
		path, lambda d: d.update(method="erp_ops.api.signals.not_there", document_type=None, type="Custom")
	)
	problems = rules.number_card_problems(app, path)
	assert any("not a whitelisted function" in p for p in problems), problems
	assert any("needs a document_type" in p for p in problems), problems
	# A function of the app that is not whitelisted is refused too.
	edit_json(
		path, lambda d: d.update(method="erp_ops.site.signals.site_snapshot", document_type="Job Evidence")
	)
	assert any("not a whitelisted function" in p for p in rules.number_card_problems(app, path))
	edit_json(path, lambda d: d.update(type="Magic"))
	assert any("not a Number Card type" in p for p in rules.number_card_problems(app, path))


def test_chart_and_source_checks_reject(app):
	chart = module(app) / "dashboard_chart/job_outcomes_per_hour/job_outcomes_per_hour.json"
	edit_json(chart, lambda d: d.update(source="Nope", type="Radar", roles=[{"role": "Ghost"}]))
	problems = rules.dashboard_chart_problems(app, chart)
	for expected in ("source 'Nope'", "type 'Radar'", "role 'Ghost'"):
		assert any(expected in p for p in problems), (expected, problems)

	js = module(app) / "dashboard_chart_source/job_outcomes_per_hour/job_outcomes_per_hour.js"
	js.write_text(js.read_text().replace(".job_outcomes_per_hour.get", ".job_outcomes_per_hour.gets"))
	source = js.with_suffix(".json")
	assert any("not a whitelisted function" in p for p in rules.chart_source_problems(app, source))
	js.unlink()
	assert any(".js missing" in p for p in rules.chart_source_problems(app, source))


def test_workspace_check_rejects(app):
	path = module(app) / "workspace/operations/operations.json"
	assert rules.workspace_problems(app, path) == []

	def break_it(doc):
		doc["number_cards"].append({"label": "Ghost Card", "number_card_name": "Ghost Card"})
		doc["shortcuts"].append({"label": "Nope", "link_to": "No Such DocType", "type": "DocType"})
		blocks = json.loads(doc["content"])
		blocks.append(
			{"id": blocks[0]["id"], "type": "chart", "data": {"chart_name": "Unlabelled", "col": 12}}
		)
		blocks.append({"id": "zzzzzzzzzz", "type": "carousel", "data": {}})
		doc["content"] = json.dumps(blocks)

	edit_json(path, break_it)
	problems = rules.workspace_problems(app, path)
	for expected in (
		"'Ghost Card' is not in the app",
		"unknown DocType 'No Such DocType'",
		"repeated",
		"'Unlabelled'",
		"'carousel'",
	):
		assert any(expected in p for p in problems), (expected, problems)

"""The app as Frappe v15 will load it: DocTypes, hooks, whitelisted functions and desk records.

No Frappe import and no services: the files are parsed and checked against data/frappe_v15.json.
test_rules_can_fail.py shows that every check here rejects a deliberately broken sample.
"""

import ast
import json

import pytest

from tests.contract import frappe_rules as rules

APP = rules.App()
DOCTYPES = APP.documents("doctype")
API_AND_CONTROLLERS = sorted(
	{
		p
		for p in APP.package.rglob("*.py")
		if "core" not in p.relative_to(APP.package).parts and not p.name.startswith("test_")
	}
)


def _id(path):
	return path.parent.name if path.suffix == ".json" else str(path.relative_to(APP.root))


def test_the_app_ships_what_this_issue_promises():
	assert APP.modules == ["ERP Ops"]
	assert {
		"Job Evidence",
		"Ops Settings",
		"Ops Action Log",
		"Quarantine",
		"Ops Retry Rule",
		"Upgrade Preflight",
		"Upgrade Preflight Finding",
		"Runbook",
		"Runbook Step",
		"Restore Drill",
		"Restore Drill File",
		"Restore Drill Check",
		"Backup Retention Log",
		"Backup Retention Entry",
		"Runbook Review",
		"Runbook Signature",
		"Ops Alert Rule",
		"Ops Alert",
		"Ops Alert Transition",
	} <= APP.names("doctype")
	assert APP.names("workspace") == {"Operations"}
	assert len(APP.names("number_card")) == 16
	assert {"Quarantined Jobs", "Actions Today", "Upgrade Preflight", "Firing Alerts"} <= APP.names(
		"number_card"
	)
	assert APP.names("report") == {"Runbook Coverage"}
	assert {"Last Restore Drill", "Restore Drill RPO", "Restore Drill RTO", "Backups Proven"} <= APP.names(
		"number_card"
	)
	assert APP.names("dashboard_chart") == {"Job Outcomes per Hour"}
	assert APP.app_roles == ("Ops Viewer", "Ops Operator", "Ops Manager", "Integration User")


@pytest.mark.parametrize("path", DOCTYPES, ids=_id)
def test_doctype_json_is_one_frappe_accepts(path):
	assert rules.doctype_problems(APP, path) == []


def test_job_evidence_contract():
	doc = json.loads((APP.module_dir("ERP Ops") / "doctype/job_evidence/job_evidence.json").read_text())
	fields = {f["fieldname"]: f for f in doc["fields"]}
	from erp_ops.core.evidence.models import EvidenceRecord, Outcome

	# Every record field has a column, and the outcomes are exactly the core's.
	assert set(EvidenceRecord.model_fields) <= set(fields)
	assert fields["outcome"]["options"].split("\n") == [o.value for o in Outcome]
	assert doc["in_create"] == 1 and not doc.get("track_changes")
	assert fields["user"]["fieldtype"] == "Data", "a restored site may lack the user: no Link"
	assert fields["ref_name"] == {**fields["ref_name"], "fieldtype": "Dynamic Link", "options": "ref_doctype"}
	for name in ("job_id", "method", "outcome", "ended_at", "ref_doctype", "ref_name"):
		assert fields[name].get("search_index") == 1, name
	for perm in doc["permissions"]:
		assert not any(perm.get(k) for k in ("write", "create", "delete", "submit", "import")), perm
	assert {p["role"] for p in doc["permissions"]} == {
		"Ops Viewer",
		"Ops Operator",
		"Ops Manager",
		"System Manager",
	}


def test_ops_settings_covers_the_core_thresholds():
	doc = json.loads((APP.module_dir("ERP Ops") / "doctype/ops_settings/ops_settings.json").read_text())
	fields = {f["fieldname"]: f for f in doc["fields"]}
	from erp_ops.core.signals import Thresholds

	assert doc["issingle"] == 1
	for name, info in Thresholds.model_fields.items():
		assert name in fields, name
		assert float(fields[name]["default"]) == float(info.default), name
	assert fields["evidence_retention_days"]["default"] == "30"
	assert fields["snapshot_cache_seconds"]["default"] == "5"
	writers = {p["role"] for p in doc["permissions"] if p.get("write")}
	readers = {p["role"] for p in doc["permissions"] if p.get("read")}
	assert writers == {"Ops Manager", "System Manager"}
	assert readers == {"Ops Viewer", "Ops Operator", "Ops Manager", "System Manager"}


def test_hooks_resolve_to_functions_of_the_app():
	source = (APP.package / "hooks.py").read_text()
	assert rules.hooks_problems(APP, source) == []
	hooks = rules.hook_values(source)
	assert hooks["before_job"] == ["erp_ops.job_hooks.before_job"]
	assert hooks["after_job"] == ["erp_ops.job_hooks.after_job"]
	assert hooks["scheduler_events"]["cron"]["* * * * *"] == [
		"erp_ops.tasks.flush_job_evidence",  # first: the failure policy reads what it flushed
		"erp_ops.tasks.run_due_retries",
		"erp_ops.tasks.sweep_action_intents",
		"erp_ops.tasks.finish_stopped_cancels",
		"erp_ops.tasks.sync_quarantine_records",
		"erp_ops.tasks.evaluate_alerts",
	]
	assert hooks["scheduler_events"]["daily"] == [
		"erp_ops.tasks.verify_action_log",
		"erp_ops.tasks.mark_runbooks_for_review",
	]


@pytest.mark.parametrize("path", API_AND_CONTROLLERS, ids=_id)
def test_whitelisted_functions_check_permission_first(path):
	assert rules.whitelist_problems(path.read_text(), str(path.relative_to(APP.root))) == []


def test_there_are_whitelisted_functions_to_check():
	count = sum(
		1
		for path in API_AND_CONTROLLERS
		for node in ast.walk(ast.parse(path.read_text()))
		if isinstance(node, ast.FunctionDef) and rules.whitelist_decorator(node)
	)
	assert count >= 8


@pytest.mark.parametrize("path", APP.documents("number_card"), ids=_id)
def test_number_card(path):
	assert rules.number_card_problems(APP, path) == []


@pytest.mark.parametrize("path", APP.documents("dashboard_chart"), ids=_id)
def test_dashboard_chart(path):
	assert rules.dashboard_chart_problems(APP, path) == []


@pytest.mark.parametrize("path", APP.documents("dashboard_chart_source"), ids=_id)
def test_dashboard_chart_source(path):
	assert rules.chart_source_problems(APP, path) == []


@pytest.mark.parametrize("path", APP.documents("workspace"), ids=_id)
def test_workspace(path):
	assert rules.workspace_problems(APP, path) == []


def test_commands_are_registered_as_frappe_expects():
	tree = ast.parse((APP.package / "commands" / "__init__.py").read_text())
	assigned = [
		n
		for n in tree.body
		if isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "commands" for t in n.targets)
	]
	assert assigned and isinstance(assigned[0].value, ast.List) and assigned[0].value.elts


def test_every_package_folder_has_an_init():
	for folder in [
		APP.package / "api",
		APP.package / "site",
		APP.package / "cli",
		APP.package / "commands",
		APP.module_dir("ERP Ops"),
		APP.module_dir("ERP Ops") / "doctype",
	]:
		assert (folder / "__init__.py").is_file(), folder
	assert (APP.package / "public").is_dir(), "bench build links public/"


def test_no_bench_test_sits_at_the_package_root():
	# v15's `run-tests --app` imports the app itself for a test_*.py at the package root (relative
	# path "."), so such tests never run: they live in subpackages (site/, api/, doctype/…).
	assert sorted(p.name for p in APP.package.glob("test_*.py")) == []
	for test in APP.package.rglob("test_*.py"):
		assert (test.parent / "__init__.py").is_file(), test


def test_each_layer_has_its_home():
	"""core/ (no frappe), site/ (adapters), api/ (endpoints), cli/ (standalone), commands/ (bench ops),
	the Frappe module (DocTypes, pages…); at the package root only what Frappe looks for there."""
	root_modules = sorted(p.stem for p in APP.package.glob("*.py"))
	assert root_modules == ["__init__", "events_example", "hooks", "job_hooks", "tasks"], root_modules


def test_doctype_controllers_do_not_reach_into_the_api():
	"""Controllers stay thin: validation and permissions of their DocType; adapters live in site/."""
	offenders = []
	for path in (APP.module_dir("ERP Ops") / "doctype").rglob("*.py"):
		if path.name.startswith("test_"):
			continue  # a DocType's tests may call the endpoints
		for node in ast.walk(ast.parse(path.read_text(), str(path))):
			names = []
			if isinstance(node, ast.Import):
				names = [alias.name for alias in node.names]
			elif isinstance(node, ast.ImportFrom) and node.module:
				names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
			offenders += [f"{path.name}: {n}" for n in names if n.startswith("erp_ops.api")]
	assert offenders == []


def _doctype(name: str) -> dict:
	folder = rules.scrub(name)
	return json.loads((APP.module_dir("ERP Ops") / f"doctype/{folder}/{folder}.json").read_text())


def test_ops_action_log_is_immutable_and_mirrors_the_core_entry():
	doc = _doctype("Ops Action Log")
	fields = {f["fieldname"]: f for f in doc["fields"]}
	from erp_ops.core.control.models import Action, ActionOutcome

	assert doc["in_create"] == 1 and not doc.get("track_changes")
	for perm in doc["permissions"]:
		assert not any(
			perm.get(k) for k in ("write", "create", "delete", "submit", "cancel", "amend", "import")
		), perm
	assert fields["action"]["options"].split("\n") == [a.value for a in Action]
	assert fields["outcome"]["options"].split("\n") == [o.value for o in ActionOutcome]
	for name in ("entry_json", "previous_hash", "row_hash", "seq"):
		assert fields[name].get("read_only") == 1, name
	assert fields["seq"].get("unique") == 1


def test_quarantine_hides_the_raw_payload_from_all_but_managers():
	doc = _doctype("Quarantine")
	fields = {f["fieldname"]: f for f in doc["fields"]}
	level = fields["payload_raw"]["permlevel"]
	assert level >= 1 and not fields["payload_redacted"].get("permlevel")
	raw_readers = {p["role"] for p in doc["permissions"] if p.get("permlevel", 0) == level and p.get("read")}
	assert raw_readers == {"Ops Manager", "System Manager"}
	readers = {p["role"] for p in doc["permissions"] if not p.get("permlevel") and p.get("read")}
	assert readers == {"Ops Viewer", "Ops Operator", "Ops Manager", "System Manager"}
	assert fields["status"]["options"].split("\n") == ["Quarantined", "Released"]
	assert fields["release_log"]["options"] == "Ops Action Log"


def test_ops_settings_has_the_control_defaults():
	fields = {f["fieldname"]: f for f in _doctype("Ops Settings")["fields"]}
	assert fields["four_eyes"]["default"] == "1"
	assert fields["four_eyes_threshold"]["default"] == "500"
	assert fields["poison_threshold"]["default"] == "3"
	assert fields["poison_window_min"]["default"] == "60"
	assert fields["retry_rules"]["options"] == "Ops Retry Rule"
	assert _doctype("Ops Retry Rule")["istable"] == 1


def test_upgrade_preflight_mirrors_the_core_record():
	from erp_ops.core.preflight.models import Band, Phase, Severity, Verdict
	from erp_ops.core.preflight.record import PreflightFindingRow, PreflightRecord

	doc, child = _doctype("Upgrade Preflight"), _doctype("Upgrade Preflight Finding")
	fields = {f["fieldname"]: f for f in doc["fields"]}
	child_fields = {f["fieldname"]: f for f in child["fields"]}
	# `frappe.get_doc({"doctype": ..., **record.model_dump()})` must find a column for every key.
	assert set(PreflightRecord.model_fields) <= set(fields)
	assert set(PreflightFindingRow.model_fields) <= set(child_fields)
	assert fields["verdict"]["options"].split("\n") == [v.value for v in Verdict]
	assert fields["risk_band"]["options"].split("\n") == [b.value for b in Band]
	assert child_fields["severity"]["options"].split("\n") == [s.value for s in Severity]
	assert child_fields["phase"]["options"].split("\n") == [p.value for p in Phase]
	assert fields["findings"]["options"] == "Upgrade Preflight Finding" and child["istable"] == 1
	# Only code writes a preflight; the verdict comes first on the form.
	assert doc["in_create"] == 1 and not doc.get("track_changes")
	assert doc["field_order"][:2] == ["verdict_section", "verdict"]
	for name in PreflightRecord.model_fields:
		assert fields[name].get("read_only") == 1, name
	readers = {p["role"] for p in doc["permissions"] if p.get("read")}
	deleters = {p["role"] for p in doc["permissions"] if p.get("delete")}
	assert readers == {"Ops Viewer", "Ops Operator", "Ops Manager", "System Manager"}
	assert deleters == {"Ops Manager", "System Manager"}
	for perm in doc["permissions"]:
		assert not any(perm.get(k) for k in ("write", "create", "submit", "import")), perm


def test_the_workspace_opens_the_preflights():
	doc = json.loads((APP.module_dir("ERP Ops") / "workspace/operations/operations.json").read_text())
	assert {
		"doc_view": "List",
		"label": "Upgrade Preflight",
		"link_to": "Upgrade Preflight",
		"type": "DocType",
	} in doc["shortcuts"]
	assert "Upgrade Preflight" in {r["number_card_name"] for r in doc["number_cards"]}
	card = json.loads(
		(APP.module_dir("ERP Ops") / "number_card/upgrade_preflight/upgrade_preflight.json").read_text()
	)
	assert card["method"] == "erp_ops.api.preflight.latest_verdict"
	assert card["document_type"] == "Upgrade Preflight"


def test_runbook_is_versioned_named_by_its_id_and_edited_by_managers_only():
	doc, child = _doctype("Runbook"), _doctype("Runbook Step")
	assert doc["track_changes"] == 1 and doc["autoname"] == "field:runbook_name"
	fields = {f["fieldname"]: f for f in doc["fields"]}
	assert fields["steps"]["options"] == "Runbook Step" and child["istable"] == 1
	assert fields["status"]["options"].split("\n") == ["Draft", "Active", "Needs Review", "Retired"]
	assert fields["next_review_due"]["read_only"] == 1
	writers = {p["role"] for p in doc["permissions"] if p.get("write")}
	readers = {p["role"] for p in doc["permissions"] if p.get("read")}
	assert writers == {"Ops Manager", "System Manager"}
	assert readers == {"Ops Viewer", "Ops Operator", "Ops Manager", "System Manager"}


def test_the_workspace_opens_the_runbooks():
	doc = json.loads((APP.module_dir("ERP Ops") / "workspace/operations/operations.json").read_text())
	assert {"doc_view": "List", "label": "Runbook", "link_to": "Runbook", "type": "DocType"} in doc[
		"shortcuts"
	]


def test_restore_drill_stores_the_core_result():
	from erp_ops.core.drills.discovery import FileKind
	from erp_ops.core.drills.models import CheckStatus, DrillResult, FileReport

	doc, files, checks = (
		_doctype("Restore Drill"),
		_doctype("Restore Drill File"),
		_doctype("Restore Drill Check"),
	)
	fields = {f["fieldname"]: f for f in doc["fields"]}
	# Every scalar of the core's result has a column (files/checks are child tables, result is the JSON).
	assert set(DrillResult.model_fields) - {"files", "checks"} <= set(fields)
	assert fields["outcome"]["options"].split("\n") == ["Queued", "Running", "Passed", "Failed"]
	assert {f["fieldname"] for f in files["fields"]} >= set(FileReport.model_fields) - {"name"} | {
		"file_name"
	}
	assert {f["fieldname"]: f for f in files["fields"]}["kind"]["options"].split("\n") == [
		k.value for k in FileKind
	]
	status = {f["fieldname"]: f for f in checks["fields"]}["status"]
	assert status["options"].split("\n") == [s.value for s in CheckStatus]
	assert (
		fields["files"]["options"] == "Restore Drill File"
		and fields["checks"]["options"] == "Restore Drill Check"
	)
	# Sizes and row totals pass 2**31: Float, not Int.
	for name in ("sql_bytes", "rows"):
		assert fields[name]["fieldtype"] == "Float", name
	assert doc["in_create"] == 1 and not doc.get("track_changes") and doc["autoname"] == "RD-.YYYY.-.#####"
	for child in (doc, _doctype("Backup Retention Log")):
		readers = {p["role"] for p in child["permissions"] if p.get("read")}
		deleters = {p["role"] for p in child["permissions"] if p.get("delete")}
		assert readers == {"Ops Viewer", "Ops Operator", "Ops Manager", "System Manager"}
		assert deleters == {"Ops Manager", "System Manager"}
		for perm in child["permissions"]:
			assert not any(perm.get(k) for k in ("write", "create", "submit", "import")), perm


def test_ops_settings_has_the_drill_defaults():
	fields = {f["fieldname"]: f for f in _doctype("Ops Settings")["fields"]}
	assert fields["drills_enabled"]["default"] == "0"
	assert fields["drill_cron"]["default"] == "30 2 * * *"
	assert fields["drill_max_age_days"]["default"] == "7"
	assert fields["drill_require_files"]["default"] == "1"
	# Deleting backups stays off until an Ops Manager turns it on.
	assert fields["retention_apply"]["default"] == "0" and fields["retention_enabled"]["default"] == "0"
	assert fields["drill_db_password"]["fieldtype"] == "Password"


def test_integration_event_mirrors_the_core_record():
	from erp_ops.core.events.models import EventRecord, EventStatus, Outcome, ReplayEntry

	doc, order, replay = (
		_doctype("Integration Event"),
		_doctype("Integration Event Order"),
		_doctype("Integration Event Replay"),
	)
	fields = {f["fieldname"]: f for f in doc["fields"]}
	# The store inserts every record field as a column (`name` is the row's own).
	assert set(EventRecord.model_fields) - {"name"} <= set(fields)
	assert fields["status"]["options"].split("\n") == [s.value for s in EventStatus]
	assert fields["sequence"]["fieldtype"] == "Data", "Frappe's Int is int(11); a sequence may need 64 bits"
	assert fields["idempotency_key"]["length"] == 255 and fields["source"]["length"] == 140
	assert fields["conflict_with"]["options"] == "Integration Event"
	assert doc["in_create"] == 1 and not doc.get("track_changes")
	replay_fields = {f["fieldname"] for f in replay["fields"]}
	assert set(ReplayEntry.model_fields) - {"event"} <= replay_fields and "event" in replay_fields
	assert {f["fieldname"]: f for f in replay["fields"]}["outcome"]["options"].split("\n") == [
		o.value for o in Outcome
	]
	assert {"source", "entity_key", "last_sequence", "last_occurred_at", "last_event"} <= {
		f["fieldname"] for f in order["fields"]
	}
	for d in (doc, order, replay):
		for perm in d["permissions"]:
			assert not any(perm.get(k) for k in ("write", "create", "submit", "import")), perm
	controller = (APP.module_dir("ERP Ops") / "doctype/integration_event/integration_event.py").read_text()
	# The database's unique key is what makes a key's effect happen once.
	assert 'add_unique("Integration Event", ["source", "idempotency_key"]' in controller
	assert 'add_unique("Integration Event Order", ["source", "entity_key"]' in controller


def test_scheduled_and_event_hooks_resolve():
	import runpy

	hooks = runpy.run_path(str(APP.package / "hooks.py"))
	events = hooks["scheduler_events"]
	assert events["cron"]["*/5 * * * *"] == ["erp_ops.tasks.recover_integration_events"]
	assert "erp_ops.tasks.purge_integration_events" in events["daily_long"]
	paths = [p for key, value in events.items() if key != "cron" for p in value]
	paths += [p for value in events["cron"].values() for p in value]
	for path in paths:
		assert APP.resolve(path) is not None, path
	assert isinstance(hooks["erp_ops_event_handlers"], dict)


def test_the_event_number_cards_use_the_events_api():
	for folder, method in (
		("failed_events_24h", "failed_last_24h"),
		("conflict_events_24h", "conflicts_last_24h"),
		("superseded_events_24h", "superseded_last_24h"),
	):
		card = json.loads((APP.module_dir("ERP Ops") / f"number_card/{folder}/{folder}.json").read_text())
		assert card["method"] == f"erp_ops.api.events.{method}"
		assert card["document_type"] == "Integration Event"


def test_runbook_keeps_a_read_only_review_history_and_its_failure_signatures():
	doc = _doctype("Runbook")
	fields = {f["fieldname"]: f for f in doc["fields"]}
	assert fields["reviews"]["options"] == "Runbook Review" and fields["reviews"]["read_only"] == 1
	assert fields["signatures"]["options"] == "Runbook Signature"
	review = {f["fieldname"]: f for f in _doctype("Runbook Review")["fields"]}
	assert {name: review[name]["fieldtype"] for name in ("reviewer", "reviewed_on", "notes")} == {
		"reviewer": "Link",
		"reviewed_on": "Datetime",
		"notes": "Small Text",
	}
	from erp_ops.core.runbooks.models import FailureSignature

	signature = {f["fieldname"] for f in _doctype("Runbook Signature")["fields"]}
	assert signature == set(FailureSignature.model_fields)


def test_ops_alert_rule_mirrors_the_core_rule():
	from erp_ops.core.alerts.models import AlertSeverity, Comparison

	doc = _doctype("Ops Alert Rule")
	fields = {f["fieldname"]: f for f in doc["fields"]}
	assert doc["autoname"] == "field:rule_name" and doc["track_changes"] == 1
	assert fields["comparison"]["options"].split("\n") == [c.value for c in Comparison]
	assert fields["guard_comparison"]["options"].split("\n") == [c.value for c in Comparison]
	assert fields["severity"]["options"].split("\n") == [s.value for s in AlertSeverity]
	assert fields["runbook"]["options"] == "Runbook"
	# Webhook URLs carry tokens: only managers read them.
	assert fields["webhook_urls"]["permlevel"] == 1
	level1 = {p["role"] for p in doc["permissions"] if p.get("permlevel") == 1 and p.get("read")}
	assert level1 == {"Ops Manager", "System Manager"}
	writers = {p["role"] for p in doc["permissions"] if p.get("write") and not p.get("permlevel")}
	assert writers == {"Ops Manager", "System Manager"}


def test_ops_alert_is_written_by_the_evaluator_only():
	from erp_ops.core.alerts.models import TransitionKind

	doc, child = _doctype("Ops Alert"), _doctype("Ops Alert Transition")
	fields = {f["fieldname"]: f for f in doc["fields"]}
	assert doc["in_create"] == 1
	assert fields["status"]["options"].split("\n") == ["Pending", "Firing", "Resolved", "Canceled"]
	assert fields["transitions"]["options"] == "Ops Alert Transition" and child["istable"] == 1
	events = {f["fieldname"]: f for f in child["fields"]}["event"]["options"].split("\n")
	assert events == [k.value for k in TransitionKind]
	for perm in doc["permissions"]:
		assert not any(perm.get(k) for k in ("write", "create", "submit", "import")), perm
	card = json.loads(
		(APP.module_dir("ERP Ops") / "number_card/firing_alerts/firing_alerts.json").read_text()
	)
	assert card["document_type"] == "Ops Alert" and "Firing" in card["filters_json"]


def test_the_runbook_search_block_is_a_fixture_calling_the_search_api():
	hooks = rules.hook_values((APP.package / "hooks.py").read_text())
	assert {"dt": "Custom HTML Block", "filters": [["name", "in", ["Runbook Search"]]]} in hooks["fixtures"]
	[block] = json.loads((APP.package / "fixtures" / "custom_html_block.json").read_text())
	assert block["name"] == "Runbook Search" and block["private"] == 0
	assert "erp_ops.api.runbooks.search" in block["script"] and 'type: "GET"' in block["script"]
	assert APP.is_whitelisted("erp_ops.api.runbooks.search")
	assert {r["role"] for r in block["roles"]} == {
		"Ops Viewer",
		"Ops Operator",
		"Ops Manager",
		"System Manager",
	}

"""One way to do each thing (issue 14): time conversions live in core/clock, value objects derive from
core/models. A second way creeping back in fails here, with where it is."""

import ast
import importlib
import inspect
import re
from pathlib import Path

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "erp_ops"

# Models that are mutable on purpose: accumulated while a job runs, or parsed from someone else's JSON.
MUTABLE_MODELS = {
	"erp_ops.core.signals.snapshot.Thresholds",  # settings copied with model_copy(update=…)
	"erp_ops.core.evidence.records.FlushResult",  # counted up during a flush
	"erp_ops.core.drills.scratch.RestoreStats",  # filled while a dump streams into MariaDB
	"erp_ops.core.alerts.alertmanager.WebhookAlert",  # Alertmanager's payload, extra fields ignored
	"erp_ops.core.alerts.alertmanager.Webhook",
}


def _app_modules() -> list[Path]:
	return [p for p in PACKAGE.rglob("*.py") if not p.name.startswith("test_")]


def _calls(path: Path):
	for node in ast.walk(ast.parse(path.read_text(), str(path))):
		if isinstance(node, ast.Call):
			func = node.func
			name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
			yield name, node.lineno


def test_time_zone_conversions_happen_only_in_core_clock():
	clock = PACKAGE / "core" / "clock.py"
	offenders = [
		f"{path.relative_to(ROOT)}:{line} {name}()"
		for path in _app_modules()
		if path != clock
		for name, line in _calls(path)
		if name in {"ZoneInfo", "astimezone", "convert_utc_to_timezone", "convert_utc_to_system_timezone"}
	]
	assert not offenders, "convert with erp_ops.core.clock instead: " + ", ".join(offenders)


def test_frozen_config_is_declared_once():
	models = PACKAGE / "core" / "models.py"
	offenders = []
	for path in _app_modules():
		if path == models:
			continue
		for node in ast.walk(ast.parse(path.read_text(), str(path))):
			if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "ConfigDict":
				if any(k.arg in {"frozen", "extra"} and not _is_ignore(k) for k in node.keywords):
					offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
	assert not offenders, "derive from erp_ops.core.models.Frozen / Strict instead: " + ", ".join(offenders)


def _is_ignore(keyword: ast.keyword) -> bool:
	return keyword.arg == "extra" and isinstance(keyword.value, ast.Constant) and keyword.value.value == "ignore"


def test_every_core_model_is_a_frozen_value_object_unless_listed():
	from erp_ops.core.models import Frozen

	seen, mutable = 0, []
	for path in sorted((PACKAGE / "core").rglob("*.py")):
		name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
		module = importlib.import_module(name)
		for cls_name, cls in inspect.getmembers(module, inspect.isclass):
			if cls.__module__ != name or not issubclass(cls, BaseModel) or cls is Frozen:
				continue
			seen += 1
			qualified = f"{name}.{cls_name}"
			if not issubclass(cls, Frozen) and qualified not in MUTABLE_MODELS:
				mutable.append(qualified)
			if issubclass(cls, Frozen):
				assert cls.model_config.get("frozen") is True, qualified
	assert seen > 50
	assert not mutable, f"not frozen and not in MUTABLE_MODELS: {mutable}"
	for qualified in MUTABLE_MODELS:  # the list names real classes
		module, _, cls_name = qualified.rpartition(".")
		assert hasattr(importlib.import_module(module), cls_name), qualified


def test_every_explicit_commit_says_why():
	"""Frappe commits a successful POST and a successful job itself; an explicit commit is for what must
	be durable before something outside the transaction (Redis, a file, another process, a rollback that
	follows). Each one says which, on its line or the line above."""
	bare = []
	for path in _app_modules():
		lines = path.read_text().splitlines()
		for number, line in enumerate(lines, 1):
			code = line.split("#", 1)[0]
			if "frappe.db.commit()" not in code and not re.search(r"(?<!\w)commit=True", code):
				continue
			above = lines[number - 2].strip() if number > 1 else ""
			if "#" not in line and not above.startswith("#"):
				bare.append(f"{path.relative_to(ROOT)}:{number}")
	assert not bare, "explicit commit without a reason: " + ", ".join(bare)


# A controller's module-level functions: Frappe's own hook, and the typed view of Ops Settings
# (each capability reads its section through one getter instead of picking fields itself).
CONTROLLER_FUNCTIONS = {"on_doctype_update"}
SETTINGS_GETTERS = {"get_thresholds", "get_snapshot_cache_seconds", "get_retention_days", "get_control_settings"}


def test_controllers_hold_their_doctype_only():
	"""Adapters (records written for a capability, queries for other modules) live in site/, so a
	controller is the DocType's validation and permissions and nothing a capability calls."""
	extra = []
	for path in sorted((PACKAGE / "erp_ops" / "doctype").glob("*/*.py")):
		if path.name.startswith("test_") or path.name == "__init__.py":
			continue
		allowed = CONTROLLER_FUNCTIONS | (SETTINGS_GETTERS if path.stem == "ops_settings" else set())
		tree = ast.parse(path.read_text(), str(path))
		extra += [
			f"{path.relative_to(ROOT)}: {node.name}"
			for node in tree.body
			if isinstance(node, ast.FunctionDef) and node.name not in allowed
		]
	assert not extra, "move these adapters to erp_ops/site/: " + ", ".join(extra)

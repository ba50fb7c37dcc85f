"""The core must import and run without Frappe: checked in a fresh interpreter, module by module."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "erp_ops" / "core"
ALLOWED_THIRD_PARTY = {"rq", "redis", "croniter", "psutil", "pydantic", "pydantic_core", "prometheus_client", "packaging"}
# Imported only inside a function, when asked, with the ImportError answered ("not checked: …"):
# the standalone preflight reads a site's Patch Log with Frappe's own driver when it is there.
OPTIONAL_LAZY = {"pymysql"}


def core_modules() -> list[str]:
	return sorted(
		".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
		for path in CORE.rglob("*.py")
	)


def test_every_core_module_imports_without_frappe():
	modules = core_modules()
	assert len(modules) > 10
	assert_imports_alone(modules, ("frappe",))


def assert_imports_alone(modules: list[str], forbidden: tuple[str, ...]) -> None:
	"""Import `modules` in a fresh interpreter; fail when any module named or under `forbidden` loaded."""
	script = (
		"import importlib, sys\n"
		f"for name in {modules!r}:\n"
		"    importlib.import_module(name)\n"
		f"leaked = sorted(m for m in sys.modules if m in {forbidden!r} or m.startswith(tuple(f + '.' for f in {forbidden!r})))\n"
		"print('LEAKED', leaked)\n"
		"sys.exit(1 if leaked else 0)\n"
	)
	result = subprocess.run(
		[sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
	)
	assert result.returncode == 0, result.stdout + result.stderr


def test_core_imports_only_the_allowed_libraries():
	stdlib = set(sys.stdlib_module_names)
	offenders = []
	for path in CORE.rglob("*.py"):
		tree = ast.parse(path.read_text(), str(path))
		in_functions = _nodes_inside_functions(tree)
		for node in ast.walk(tree):
			names = []
			if isinstance(node, ast.Import):
				names = [alias.name for alias in node.names]
			elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
				names = [node.module]
			for name in names:
				top = name.split(".")[0]
				if top in OPTIONAL_LAZY and id(node) in in_functions:
					continue
				if top not in stdlib and top not in ALLOWED_THIRD_PARTY and top != "erp_ops":
					offenders.append(f"{path.relative_to(ROOT)}: {name}")
				if name.startswith("erp_ops.") and not name.startswith("erp_ops.core"):
					offenders.append(
						f"{path.relative_to(ROOT)}: {name} (the core may not reach the Frappe layer)"
					)
	assert offenders == []


def _nodes_inside_functions(tree: ast.Module) -> set[int]:
	return {
		id(inner)
		for fn in ast.walk(tree)
		if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
		for inner in ast.walk(fn)
		if inner is not fn
	}


def test_the_worker_hot_path_stays_light():
	"""Frappe imports hook modules in every forked work horse: the capture must not pull in pydantic
	(about 90 ms of model building per job) or anything else heavy."""
	script = (
		"import sys, rq, redis\n"
		"before = set(sys.modules)\n"
		"import erp_ops.core.evidence.capture\n"
		"added = sorted(m for m in set(sys.modules) - before if not m.startswith('erp_ops'))\n"
		"heavy = [m for m in added if m.split('.')[0] in ('pydantic', 'pydantic_core', 'psutil', 'croniter')]\n"
		"print(added)\n"
		"sys.exit(1 if heavy else 0)\n"
	)
	result = subprocess.run(
		[sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
	)
	assert result.returncode == 0, result.stdout + result.stderr


CLI = ROOT / "erp_ops" / "cli"


def test_the_standalone_cli_imports_without_frappe():
	"""`erp-ops` runs where Frappe is not installed: every cli/ module imports in a fresh interpreter
	without pulling in frappe or the Frappe layer (site/, api/, commands/)."""
	modules = sorted(
		".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
		for path in CLI.rglob("*.py")
		if path.name != "__main__.py"  # runs the command
	)
	assert "erp_ops.cli" in modules and len(modules) >= 5
	assert_imports_alone(modules, ("frappe", "erp_ops.site", "erp_ops.api", "erp_ops.commands"))
	offenders = [
		f"{path.relative_to(ROOT)}: {name}"
		for path in CLI.rglob("*.py")
		for name in _imported_names(path)
		if name.split(".")[0] == "frappe"
		or name.startswith(("erp_ops.site", "erp_ops.api", "erp_ops.commands"))
	]
	assert offenders == []


def _imported_names(path: Path) -> list[str]:
	names = []
	for node in ast.walk(ast.parse(path.read_text(), str(path))):
		if isinstance(node, ast.Import):
			names += [alias.name for alias in node.names]
		elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
			names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
	return names

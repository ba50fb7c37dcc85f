"""Gather bench facts without changing a byte of the bench.

Only reads: files are opened read-only, directories listed, and git runs as
`git --no-optional-locks` (plain `git status` refreshes and rewrites `.git/index`). Runtimes are
asked for their version and tolerated when absent. Nothing from an app is imported or executed.
"""

import ast
import os
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from erp_ops.core.preflight.errors import BenchNotFound
from erp_ops.core.preflight.models import (
	AppFacts,
	BackupInfo,
	BenchFacts,
	DiskFacts,
	GitState,
	RuntimeVersions,
)

try:
	import tomllib
except ImportError:  # Python 3.10 (Frappe v15's floor): fall back to the few keys we need
	tomllib = None

GIT_TIMEOUT_S = 20
VERSION_TIMEOUT_S = 5
_GIT_ENV = {"GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


def gather_bench_facts(
	bench_path: str | os.PathLike,
	*,
	db_path: str | None = None,
	backup_path: str | None = None,
	db_size_bytes: int | None = None,
	mariadb_version: str | None = None,
	redis_version: str | None = None,
	runtimes: RuntimeVersions | None = None,
) -> BenchFacts:
	"""Apps (apps.txt, versions, pins, git state), runtimes, disk and backup sizes of one bench.

	`runtimes` overrides what is probed, field by field: the versions the upgrade will run with when
	they differ from this shell's (another PATH, a container).
	"""
	bench = Path(bench_path).resolve()
	if not (bench / "apps").is_dir() or not (bench / "sites").is_dir():
		raise BenchNotFound(f"{bench} is not a bench: it needs apps/ and sites/")
	listed = read_apps_txt(bench)
	names = list(listed)
	for extra in sorted(
		p.name for p in (bench / "apps").iterdir() if p.is_dir() and not p.name.startswith(".")
	):
		if extra not in names:
			names.append(extra)
	apps = [
		read_app(bench, name, in_apps_txt=name in listed)
		for name in names
		if (bench / "apps" / name).is_dir()
	]

	latest = find_latest_backup(Path(backup_path) if backup_path else bench / "sites")
	disks = [disk_facts(bench, "bench")]
	if db_path:
		disks.append(disk_facts(Path(db_path), "database"))
	disks.append(disk_facts(Path(backup_path) if backup_path else bench / "sites", "backup"))
	if db_size_bytes is None and db_path:
		db_size_bytes = directory_size(Path(db_path))
	return BenchFacts(
		bench_path=str(bench),
		apps=apps,
		runtimes=_runtimes(bench, runtimes or RuntimeVersions(), mariadb_version, redis_version),
		disks=disks,
		db_size_bytes=db_size_bytes,
		backup_size_bytes=latest.size_bytes if latest else None,
		latest_backup=latest,
	)


def _runtimes(bench: Path, given: RuntimeVersions, mariadb: str | None, redis: str | None) -> RuntimeVersions:
	"""Each version with where it was read. MariaDB's is the server's (SELECT VERSION(), passed in):
	a client's `mariadb --version` prints its own version (`Ver 15.1 Distrib 10.6…`), not the server's."""
	sources = dict(given.sources)
	python = given.python
	if python:
		sources.setdefault("python", "given (--python-version)")
	else:
		python, where = _python_version(bench)
		if where:
			sources["python"] = where
	node = given.node
	if node:
		sources.setdefault("node", "given (--node-version)")
	else:
		node = _command_version(["node", "--version"])
		if node:
			sources["node"] = f"node --version ({shutil.which('node')})"
	mariadb = given.mariadb or mariadb
	if mariadb:
		sources.setdefault("mariadb", "server: SELECT VERSION()")
	redis = given.redis or redis
	if redis:
		sources.setdefault("redis", "server: INFO server")
	return RuntimeVersions(python=python, node=node, mariadb=mariadb, redis=redis, sources=sources)


def read_apps_txt(bench: Path) -> list[str]:
	path = bench / "sites" / "apps.txt"
	if not path.is_file():
		return []
	return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_app(bench: Path, name: str, *, in_apps_txt: bool = True) -> AppFacts:
	"""Version, declared ranges and git state of apps/<name>."""
	root = bench / "apps" / name
	project = _read_pyproject(root / "pyproject.toml")
	version, version_source = None, None
	if isinstance(project.get("project", {}).get("version"), str):
		version, version_source = project["project"]["version"], "pyproject.toml"
	else:
		init = _package_dir(root, name, project) / "__init__.py"
		version = _dunder_version(init)
		version_source = os.path.relpath(init, bench) if version else None
	requirements = [r for r in project.get("project", {}).get("dependencies", []) if isinstance(r, str)]
	requirements_source = "pyproject.toml" if requirements else None
	if not requirements and (root / "requirements.txt").is_file():
		requirements = [
			line.strip()
			for line in (root / "requirements.txt").read_text(encoding="utf-8", errors="replace").splitlines()
			if line.strip() and not line.lstrip().startswith(("#", "-"))
		]
		requirements_source = "requirements.txt"
	setup = _read_setup_py(root / "setup.py")
	if not requirements and setup.get("install_requires"):
		requirements, requirements_source = setup["install_requires"], "setup.py"
	requires_python = project.get("project", {}).get("requires-python")
	requires_python_source = "pyproject.toml" if requires_python else None
	if not requires_python and setup.get("python_requires"):
		requires_python, requires_python_source = setup["python_requires"], "setup.py"
	bench_deps = project.get("tool", {}).get("bench", {}).get("frappe-dependencies", {})
	lines = {}
	if requires_python_source:
		key = "requires-python" if requires_python_source == "pyproject.toml" else "python_requires"
		lines["requires_python"] = line_number(root / requires_python_source, rf"^\s*{key}\s*=")
	if isinstance(bench_deps, dict) and bench_deps.get("frappe"):
		lines["frappe_dependency"] = line_number(
			root / "pyproject.toml", r"^\s*frappe\s*=", after=r"^\s*\[tool\.bench\.frappe-dependencies\]"
		)
	return AppFacts(
		name=name,
		path=str(root),
		in_apps_txt=in_apps_txt,
		version=version,
		version_source=version_source,
		frappe_dependency=bench_deps.get("frappe") if isinstance(bench_deps, dict) else None,
		requires_python=requires_python,
		requires_python_source=requires_python_source,
		requirements=requirements,
		requirements_source=requirements_source,
		lines={k: v for k, v in lines.items() if v},
		git=git_state(root),
	)


def line_number(path: Path, pattern: str, *, after: str | None = None) -> int | None:
	"""The 1-based line of `path` matching `pattern` (below the first line matching `after`)."""
	try:
		text = path.read_text(encoding="utf-8", errors="replace")
	except OSError:
		return None
	armed = after is None
	for number, line in enumerate(text.split("\n"), 1):
		if not armed:
			armed = re.search(after, line) is not None
			continue
		if re.search(pattern, line):
			return number
	return None


def _read_setup_py(path: Path) -> dict:
	"""`install_requires` and `python_requires` of a setup() call, when they are literals (never run)."""
	if not path.is_file():
		return {}
	try:
		tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
	except (SyntaxError, ValueError):
		return {}
	found: dict = {}
	for node in ast.walk(tree):
		if not (
			isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "setup"
		):
			continue
		for kw in node.keywords:
			try:
				value = ast.literal_eval(kw.value)
			except (ValueError, TypeError, SyntaxError, RecursionError):
				continue
			if kw.arg == "python_requires" and isinstance(value, str):
				found["python_requires"] = value
			elif kw.arg == "install_requires" and isinstance(value, list | tuple):
				found["install_requires"] = [v for v in value if isinstance(v, str)]
	return found


def _package_dir(root: Path, name: str, project: dict) -> Path:
	declared = project.get("project", {}).get("name")
	for candidate in (name, declared):
		if candidate and (root / candidate.replace("-", "_") / "__init__.py").is_file():
			return root / candidate.replace("-", "_")
	return root / name


def _dunder_version(init: Path) -> str | None:
	if not init.is_file():
		return None
	try:
		tree = ast.parse(init.read_text(encoding="utf-8", errors="replace"))
	except SyntaxError:
		return None
	for node in tree.body:
		if (
			isinstance(node, ast.Assign)
			and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
			and isinstance(node.value, ast.Constant)
			and isinstance(node.value.value, str)
		):
			return node.value.value
	return None


def _read_pyproject(path: Path) -> dict:
	if not path.is_file():
		return {}
	text = path.read_text(encoding="utf-8", errors="replace")
	if tomllib is not None:
		try:
			return tomllib.loads(text)
		except tomllib.TOMLDecodeError:
			return {}
	return _mini_toml(text)


def _mini_toml(text: str) -> dict:
	"""The keys a preflight reads, for Python 3.10 where tomllib is missing."""
	result: dict = {"project": {}, "tool": {"bench": {"frappe-dependencies": {}}}}
	section = ""
	deps = re.search(r"^dependencies\s*=\s*\[(.*?)\]", text, re.S | re.M)
	if deps:
		result["project"]["dependencies"] = re.findall(r"[\"']([^\"']+)[\"']", deps.group(1))
	for line in text.splitlines():
		stripped = line.strip()
		if stripped.startswith("["):
			section = stripped.strip("[]").strip()
			continue
		m = re.match(r"^([\w.-]+)\s*=\s*[\"']([^\"']*)[\"']", stripped)
		if not m:
			continue
		if section == "project" and m[1] in ("version", "requires-python", "name"):
			result["project"][m[1]] = m[2]
		elif section == "tool.bench.frappe-dependencies":
			result["tool"]["bench"]["frappe-dependencies"][m[1]] = m[2]
	return result


_BRANCH = re.compile(r"^## (?P<branch>.+?)(?:\.\.\.(?P<upstream>\S+))?(?: \[(?P<track>[^\]]+)\])?$")


def git_state(path: Path) -> GitState:
	"""Branch, head, upstream distance and uncommitted changes, without taking any lock."""
	if not (path / ".git").exists():
		return GitState(is_repo=False)
	status = _git(path, "status", "--porcelain=v1", "--branch", "--untracked-files=normal")
	if status.returncode != 0:
		return GitState(is_repo=True, error=(status.stderr or status.stdout).strip()[:500])
	lines = status.stdout.splitlines()
	branch = upstream = None
	ahead = behind = None
	if lines and lines[0].startswith("## "):
		m = _BRANCH.match(lines[0])
		if m:
			branch = m["branch"]
			if branch.startswith("No commits yet on "):
				branch = branch.removeprefix("No commits yet on ")
			elif branch.startswith("HEAD (no branch)"):
				branch = None
			upstream = m["upstream"]
			if upstream:
				track = m["track"] or ""
				ahead = int(a[1]) if (a := re.search(r"ahead (\d+)", track)) else 0
				behind = int(b[1]) if (b := re.search(r"behind (\d+)", track)) else 0
		lines = lines[1:]
	head = _git(path, "rev-parse", "--verify", "--quiet", "HEAD")
	return GitState(
		is_repo=True,
		branch=branch,
		head=head.stdout.strip() or None if head.returncode == 0 else None,
		upstream=upstream,
		ahead=ahead,
		behind=behind,
		changed=[line for line in lines if line.strip()],
	)


def git_remote_urls(path: Path) -> list[str]:
	"""Remote URLs read from .git/config as text (no git process)."""
	config = path / ".git" / "config"
	if not config.is_file():
		return []
	return re.findall(r"^\s*url\s*=\s*(\S+)", config.read_text(encoding="utf-8", errors="replace"), re.M)


def _git(path: Path, *args: str) -> subprocess.CompletedProcess:
	return subprocess.run(
		["git", "--no-optional-locks", "-C", str(path), *args],
		capture_output=True,
		text=True,
		timeout=GIT_TIMEOUT_S,
		env={**os.environ, **_GIT_ENV},
		check=False,
	)


def _python_version(bench: Path) -> tuple[str | None, str | None]:
	"""The bench env's Python: asked when it can run, else read from `env/pyvenv.cfg` (a venv's
	`version = 3.11.9`, uv's `version_info = 3.11.9`); with where it was read."""
	for candidate in (bench / "env" / "bin" / "python", bench / "env" / "bin" / "python3"):
		if candidate.is_file() and os.access(candidate, os.X_OK):
			version = _command_version([str(candidate), "--version"])
			if version:
				return version, f"{candidate.relative_to(bench)} --version"
	cfg = bench / "env" / "pyvenv.cfg"
	try:
		lines = cfg.read_text(encoding="utf-8", errors="replace").split("\n")
	except OSError:
		return None, None
	for key in ("version", "version_info"):
		for number, line in enumerate(lines, 1):
			m = re.match(rf"^\s*{key}\s*=\s*(\d+\.\d+(?:\.\d+)?)", line)
			if m:
				return m[1], f"env/pyvenv.cfg:{number}"
	return None, None


def _command_version(argv: list[str]) -> str | None:
	"""`X.Y.Z` from a `--version` output; None when the program is missing or silent."""
	if not shutil.which(argv[0]):
		return None
	try:
		out = subprocess.run(argv, capture_output=True, text=True, timeout=VERSION_TIMEOUT_S, check=False)
	except (OSError, subprocess.TimeoutExpired):
		return None
	if out.returncode != 0:
		return None
	m = re.search(r"(\d+\.\d+(?:\.\d+)?)", out.stdout + out.stderr)
	return m[1] if m else None


def disk_facts(path: Path, role: str) -> DiskFacts:
	try:
		usage = shutil.disk_usage(path)
		return DiskFacts(path=str(path), role=role, device=os.stat(path).st_dev, free_bytes=usage.free)
	except OSError as exc:
		return DiskFacts(path=str(path), role=role, error=str(exc))


def directory_size(path: Path) -> int | None:
	"""Bytes under `path` (a MariaDB datadir or one database's folder); None when unreadable."""
	total = 0
	try:
		for dirpath, _dirnames, filenames in os.walk(path):
			for name in filenames:
				try:
					total += os.lstat(os.path.join(dirpath, name)).st_size
				except OSError:
					continue
	except OSError:
		return None
	return total


def find_latest_backup(root: Path) -> BackupInfo | None:
	"""The newest `*-database.sql.gz` under sites/*/private/backups (or the given folder)."""
	candidates: list[Path] = []
	if not root.is_dir():
		return None
	patterns = (
		"*/private/backups/*-database.sql.gz",
		"*-database.sql.gz",
		"*/private/backups/*-database.sql",
	)
	for pattern in patterns:
		candidates.extend(root.glob(pattern))
	if not candidates:
		return None
	latest = max(candidates, key=lambda p: p.stat().st_mtime)
	prefix = latest.name.split("-database.sql")[0]
	files = sorted(str(p) for p in latest.parent.glob(f"{prefix}-*files.tar*"))
	stat = latest.stat()
	return BackupInfo(
		path=str(latest),
		size_bytes=stat.st_size,
		taken_at=datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc),
		files=files,
	)

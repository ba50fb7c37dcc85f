"""Where an app's code runs, and what that does to a finding's rating.

The same removed API is worse in some places than others: in a patch that has not run yet, the
migrate to the target stops in it; in `hooks.py`, every request and every bench command imports it;
in a scheduled job it fails in the background where nobody sees it; a patch the site already ran
never runs again. Read from the app's own files (patches.txt, hooks.py's `scheduler_events`, the
`page/` and `www/` folders); nothing is imported.
"""

import ast
import os
from pathlib import Path

from erp_ops.core.preflight.models import Finding, PendingPatch, Severity
from erp_ops.core.preflight.site import parse_patches_txt

PENDING_PATCH = "pending patch"
APPLIED_PATCH = "applied patch"
PATCH = "patch"  # the site's Patch Log was not read: pending or not is unknown
HOOKS = "hooks"
SCHEDULED = "scheduled job"
PAGE = "page"

_RAISE = {Severity.WARNING: Severity.HIGH, Severity.HIGH: Severity.BLOCKER}
_WHY = {
	PENDING_PATCH: "in a patch the site has not run yet: the migrate to the target stops in it",
	HOOKS: "in hooks.py: every request, job and bench command imports it",
	SCHEDULED: "in a scheduled job: it fails in the background, where nobody sees it",
	APPLIED_PATCH: "in a patch the site already ran: it never runs again there",
	PATCH: "in a patch (the site's Patch Log was not read: pending or not is unknown)",
	PAGE: "in a page: users see it break",
}


def patch_entry_module(entry: str) -> str | None:
	"""`app.patches.v1_0.fix #2024-01-01` → `app.patches.v1_0.fix`; None for `execute:` one-liners."""
	entry = entry.strip()
	if not entry or entry.startswith("execute:"):
		return None
	return entry.split()[0].split("#")[0] or None


def module_file(bench: Path, app: str, module: str) -> str | None:
	"""The file of a dotted module of `app`, relative to the bench (module.py or module/__init__.py)."""
	base = bench / "apps" / app / Path(*module.split("."))
	for candidate in (base.with_suffix(".py"), base / "__init__.py"):
		if candidate.is_file():
			return os.path.relpath(candidate, bench)
	return None


def code_contexts(bench: Path, app: str) -> tuple[dict[str, str], dict[str, str]]:
	"""(file → context, patch file → its patches.txt entry) for one app; paths relative to the bench."""
	package = bench / "apps" / app / app
	contexts: dict[str, str] = {}
	patches: dict[str, str] = {}
	hooks = package / "hooks.py"
	if hooks.is_file():
		contexts[os.path.relpath(hooks, bench)] = HOOKS
		for method in _scheduled_methods(hooks):
			module = method.rpartition(".")[0]
			rel = module_file(bench, app, module) if module else None
			if rel:
				contexts.setdefault(rel, SCHEDULED)
	for parent in (package, bench / "apps" / app):
		txt = parent / "patches.txt"
		if not txt.is_file():
			continue
		for entry in parse_patches_txt(txt.read_text(encoding="utf-8", errors="replace")):
			module = patch_entry_module(entry)
			rel = module_file(bench, app, module) if module else None
			if rel:
				contexts[rel] = PATCH
				patches[rel] = entry
		break
	for dirpath, dirnames, filenames in os.walk(package):
		dirnames[:] = [d for d in dirnames if not d.startswith((".", "__"))]
		parts = Path(dirpath).relative_to(package).parts
		if "page" in parts[:-1] or "www" in parts:
			for name in filenames:
				contexts.setdefault(os.path.relpath(Path(dirpath) / name, bench), PAGE)
	return contexts, patches


def _scheduled_methods(hooks: Path) -> list[str]:
	"""Every dotted string in hooks.py's `scheduler_events` (whatever the frequency key)."""
	try:
		tree = ast.parse(hooks.read_text(encoding="utf-8", errors="replace"))
	except (SyntaxError, ValueError):
		return []
	for node in tree.body:
		if isinstance(node, ast.Assign) and any(
			isinstance(t, ast.Name) and t.id == "scheduler_events" for t in node.targets
		):
			return [
				n.value
				for n in ast.walk(node.value)
				if isinstance(n, ast.Constant) and isinstance(n.value, str) and "." in n.value
			]
	return []


def rate(
	findings: list[Finding],
	contexts: dict[str, str],
	patches: dict[str, str],
	pending: list[PendingPatch] | None,
) -> list[Finding]:
	"""Each code finding with where it runs, its severity raised or lowered by that.

	`pending` is the site's pending patches (None: the Patch Log was not read)."""
	pending_entries = {p.patch for p in pending} if pending is not None else None
	rated: list[Finding] = []
	for f in findings:
		where = contexts.get(f.evidence.file or "")
		if where is None:
			rated.append(f)
			continue
		patch = patches.get(f.evidence.file or "") if where == PATCH else None
		rated.append(rate_one(f, where, patch, pending_entries))
	return rated


def rate_one(f: Finding, where: str, patch: str | None, pending_entries: set[str] | None) -> Finding:
	"""One finding rated by where it runs; a patch is pending or applied when the Patch Log was read."""
	if where == PATCH and pending_entries is not None:
		where = PENDING_PATCH if patch in pending_entries else APPLIED_PATCH
	severity = f.severity
	if where in (PENDING_PATCH, HOOKS):
		severity = _RAISE.get(severity, severity)
	elif where == SCHEDULED and severity is Severity.WARNING:
		severity = Severity.HIGH
	elif where == APPLIED_PATCH:
		severity = Severity.INFO
	values = {**f.evidence.values, "runs_in": where}
	if where in (PENDING_PATCH, APPLIED_PATCH, PATCH):
		values["patch"] = patch
	return f.model_copy(
		update={
			"severity": severity,
			"context": where,
			"title": f"{f.title} ({_WHY[where]})",
			"evidence": f.evidence.model_copy(update={"values": values}),
		}
	)


def execute_patches(bench: Path, app: str) -> list[tuple[str, int, str]]:
	"""`execute:` one-liners of an app's patches.txt: (patches.txt relative to the bench, line, entry)."""
	for parent in (bench / "apps" / app / app, bench / "apps" / app):
		txt = parent / "patches.txt"
		if not txt.is_file():
			continue
		entries = set(parse_patches_txt(txt.read_text(encoding="utf-8", errors="replace")))
		rel = os.path.relpath(txt, bench)
		found = []
		for number, line in enumerate(txt.read_text(encoding="utf-8", errors="replace").split("\n"), 1):
			entry = line.strip()
			if entry.startswith("execute:") and entry in entries:
				found.append((rel, number, entry))
		return found
	return []

"""Scan an app's code for API use the target version removes, renames, re-signatures or hides.

Python goes through `ast` with import-aware name resolution (`from frappe.utils import x as y;
y()` resolves to `frappe.utils.x`); JavaScript and HTML through compiled regular expressions,
skipping comment lines; JSON files (fixtures, workspaces, number cards, pages) through the string
values they hold. A cheap identifier pre-filter decides which Python files need parsing at all,
which is what keeps a million-line tree inside the time budget.

Version guards are honoured: a match inside an `if`/conditional expression whose test compares a
version (`frappe.__version__`, `sys.version_info`, a `frappe_major`/`FRAPPE_VERSION` name,
`packaging.version.Version(...)`) or probes with `hasattr`/`getattr`, or inside a `try:` that
catches ImportError/AttributeError (the body and its fallback handlers), is the app already
handling the change: counted, not reported.

Test code (tests/, test_*.py, benchmarks/, cypress/ ...) is scanned with the rules marked `tests`
only (test APIs): the strings a test seeds on purpose are not the app's problems.
"""

import ast
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from erp_ops.core.preflight.models import Evidence, Finding, Phase, ScanStats

try:  # the regular-expression parser, to find the literal a pattern requires (3.11+ / 3.10)
	from re import _constants as _sre_constants
	from re import _parser as _sre_parse
except ImportError:
	import sre_constants as _sre_constants
	import sre_parse as _sre_parse
from erp_ops.core.preflight.rules import (
	ArgSpot,
	CallArgMatch,
	CallMatch,
	NameMatch,
	PrivateMatch,
	RegexMatch,
	Rule,
	RuleSet,
	UndeclaredImportMatch,
)

PY_SUFFIXES = (".py",)
JS_SUFFIXES = (".js", ".mjs", ".jsx", ".ts", ".vue")
HTML_SUFFIXES = (".html",)
JSON_SUFFIXES = (".json",)
# JSON that is tooling, not something Frappe loads into a site
SKIP_JSON = frozenset(
	{"package.json", "package-lock.json", "tsconfig.json", "jsconfig.json", "composer.json"}
)
TEST_DIRS = frozenset({"tests", "test", "benchmarks", "benchmark", "cypress", "__tests__", "test_data"})
SKIP_DIRS = frozenset(
	{".git", "node_modules", "__pycache__", "dist", "build", ".venv", "env", ".mypy_cache", ".ruff_cache"}
)
MAX_FILE_BYTES = 2 * 1024 * 1024  # bigger files are generated bundles, not code anyone maintains
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GUARD_NAMES = frozenset({"__version__", "version_info", "hasattr", "getattr", "parse_version"})
# names a version switch is spelled with: frappe_major, FRAPPE_VERSION, IS_V16, is_version_16, Version(...)
_GUARD_NAME = re.compile(r"(?i)version|major|(?:^|_)v\d+$|^is_v\d")
_GUARD_EXCEPTIONS = frozenset({"ImportError", "ModuleNotFoundError", "AttributeError"})
_IMPORT_PRIVATE = re.compile(r"import[^\n]*\b_[A-Za-z0-9]")
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
# Nodes that can hold no name: not worth a stack push (ctx alone is on every Name and Attribute)
_LEAVES = (ast.expr_context, ast.Constant, ast.operator, ast.boolop, ast.cmpop, ast.unaryop)
_COMMENT_PREFIXES = {"js": ("//", "*", "/*"), "py": ("#",), "html": ("<!--",), "json": ()}
_JSON_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')


@dataclass
class CompiledRules:
	"""A rule set indexed for the scanner: dictionaries for names, one pre-filter per rule."""

	names: dict[str, Rule] = field(default_factory=dict)
	calls: dict[str, list[tuple[Rule, CallMatch]]] = field(default_factory=dict)
	private: list[tuple[Rule, PrivateMatch]] = field(default_factory=list)
	undeclared: dict[str, tuple[Rule, str]] = field(default_factory=dict)
	regex: dict[str, list[tuple[Rule, re.Pattern, str]]] = field(default_factory=dict)
	call_args: dict[str, list[tuple[Rule, ArgSpot, re.Pattern]]] = field(default_factory=dict)
	# a quoted string that can match a call_arg pattern: only then do call_args make a file worth parsing
	call_arg_hints: list[re.Pattern] = field(default_factory=list)
	# the rules that also apply to test code (test APIs), compiled the same way
	for_tests: "CompiledRules | None" = None
	# every component of a rule name: a file can only reach `a.b.c` if it mentions a, b and c
	# (`import a.b as x` and `from a import b` name them too), so other files skip the parse
	triggers: set[frozenset[str]] = field(default_factory=set)

	@classmethod
	def from_rule_set(cls, rule_set: RuleSet) -> "CompiledRules":
		compiled = cls._compile(rule_set.rules)
		compiled.for_tests = cls._compile([r for r in rule_set.rules if r.tests])
		return compiled

	@classmethod
	def _compile(cls, rules: list[Rule]) -> "CompiledRules":
		compiled = cls()
		for rule in rules:
			m = rule.match
			if isinstance(m, NameMatch):
				for name in m.names:
					compiled.names[name] = rule
					compiled.triggers.add(_trigger(name))
			elif isinstance(m, CallMatch):
				for name in m.names:
					compiled.calls.setdefault(name, []).append((rule, m))
					compiled.triggers.add(_trigger(name))
			elif isinstance(m, CallArgMatch):
				pattern = re.compile(m.pattern)
				for name, spot in m.calls.items():
					compiled.call_args.setdefault(name, []).append((rule, spot, pattern))
				compiled.call_arg_hints.append(re.compile("[\"']" + m.pattern.removeprefix("^")))
			elif isinstance(m, PrivateMatch):
				compiled.private.append((rule, m))
			elif isinstance(m, UndeclaredImportMatch):
				for module, package in m.modules.items():
					compiled.undeclared[module] = (rule, package)
			elif isinstance(m, RegexMatch):
				pattern = re.compile(m.pattern, re.MULTILINE)
				needle = required_literal(m.pattern)
				for lang in m.langs:
					compiled.regex.setdefault(lang, []).append((rule, pattern, needle))
		return compiled

	def needs_parse(self, idents: set[str], text: str = "") -> bool:
		if any(trigger <= idents for trigger in self.triggers):
			return True
		if self.undeclared and not idents.isdisjoint(self.undeclared):
			return True
		return self.needs_call_arg_parse(idents, text)

	def needs_call_arg_parse(self, idents: set[str], text: str) -> bool:
		"""A listed call's last name is spelled and some quoted string looks like what its argument must not be."""
		if not self.call_args or not any(name.rsplit(".", 1)[-1] in idents for name in self.call_args):
			return False
		return any(hint.search(text) for hint in self.call_arg_hints)

	def needs_private_parse(self, idents: set[str], text: str) -> bool:
		"""An underscore name imported, or reached through an attribute of something other than self/cls."""
		return any(m.root in idents for _rule, m in self.private) and private_hint(text)


def required_literal(pattern: str) -> str:
	"""The longest run of plain characters every match of `pattern` must contain ("" if none):
	consecutive literals at the top level of the parsed pattern, outside groups, branches and
	repeats. Case-insensitive patterns give ""."""
	parsed = _sre_parse.parse(pattern)
	if parsed.state.flags & re.IGNORECASE:
		return ""
	best = run = ""
	for op, arg in parsed:
		if op is _sre_constants.LITERAL:
			run += chr(arg)
			best = max(best, run, key=len)
		else:
			run = ""
	return best


def private_hint(text: str) -> bool:
	"""`from x import _y`, or `a._y` where `a` is not self/cls: the only ways to reach a module's
	private name. String searches, not one regular expression: a lookbehind regex tries every
	position of the file, and `self._x` is on most lines of a class."""
	for m in _IMPORT_PRIVATE.finditer(text):
		start = m.start()
		if (start == 0 or not _word_char(text[start - 1])) and not _word_char(text[start + 6 : start + 7]):
			return True
	i = text.find("._")
	while i != -1:
		if _word_char(text[i + 2 : i + 3]) and text[i + 2] != "_":
			j = i
			while j > 0 and _word_char(text[j - 1]):
				j -= 1
			if text[j:i] not in ("self", "cls"):
				return True
		i = text.find("._", i + 2)
	return False


def _word_char(c: str) -> bool:
	return c.isalnum() or c == "_"


def _trigger(name: str) -> frozenset[str]:
	return frozenset(name.split("."))


def _is_private(component: str) -> bool:
	return (
		component.startswith("_")
		and component != "_"
		and not (component.startswith("__") and component.endswith("__"))
	)


@dataclass
class AppScan:
	findings: list[Finding] = field(default_factory=list)
	imported_top_modules: dict[str, tuple[str, int, str]] = field(default_factory=dict)
	stats: ScanStats = field(default_factory=ScanStats)


def iter_code_files(root: Path) -> Iterator[tuple[Path, str]]:
	"""Files to scan under `root` with their language, skipping vendored and generated folders."""
	for dirpath, dirnames, filenames in os.walk(root):
		dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
		folder = os.path.basename(dirpath)
		in_fixtures = "fixtures" in Path(dirpath).relative_to(root).parts
		for name in sorted(filenames):
			lang = _language(name)
			# JSON that Frappe loads into a site: fixtures, and module records (doctype/x/x.json,
			# workspace/x/x.json, number_card/x/x.json, page/x/x.json …); not tooling or data files
			if lang == "json" and not (in_fixtures or name[:-5] == folder):
				continue
			if lang:
				yield Path(dirpath) / name, lang


def _language(name: str) -> str | None:
	if name.endswith(PY_SUFFIXES):
		return "py"
	if name.endswith(JS_SUFFIXES) and not name.endswith((".min.js", ".bundle.js.map")):
		return "js"
	if name.endswith(HTML_SUFFIXES):
		return "html"
	if name.endswith(JSON_SUFFIXES) and name not in SKIP_JSON:
		return "json"
	return None


def is_test_path(rel: str) -> bool:
	"""Test and benchmark code, by the conventions of Frappe apps, pytest and Cypress."""
	parts = rel.replace(os.sep, "/").split("/")
	name = parts[-1]
	if any(p in TEST_DIRS for p in parts[:-1]):
		return True
	return (
		name.startswith("test_")
		or name.endswith(("_test.py", ".spec.js", ".test.js", ".spec.ts", ".test.ts"))
		or name == "conftest.py"
	)


def scan_tree(
	root: Path, rules: CompiledRules, *, app: str | None = None, relative_to: Path | None = None
) -> AppScan:
	"""Scan every code file under `root`; evidence paths are relative to `relative_to` (the bench)."""
	started = time.perf_counter()
	result = AppScan()
	files = lines = parsed = guarded = tests = 0
	errors: list[str] = []
	too_large: list[str] = []
	base = relative_to or root
	for path, lang in iter_code_files(root):
		try:
			if path.stat().st_size > MAX_FILE_BYTES:
				too_large.append(os.path.relpath(path, base))
				continue
			text = path.read_text(encoding="utf-8", errors="replace")
		except OSError:
			continue
		rel = os.path.relpath(path, base)
		files += 1
		lines += text.count("\n") + (0 if text.endswith("\n") or not text else 1)
		file_rules = rules
		if is_test_path(os.path.relpath(path, root)):
			tests += 1
			file_rules = rules.for_tests or CompiledRules()
		text_scan = scan_text(text, lang, rel, file_rules, app=app)
		result.findings.extend(text_scan.findings)
		parsed += text_scan.parsed
		guarded += text_scan.guarded
		if text_scan.syntax_error:
			errors.append(text_scan.syntax_error)
		for module, where in text_scan.top_imports.items():
			result.imported_top_modules.setdefault(module, where)
	result.stats = ScanStats(
		files=files,
		lines=lines,
		parsed_files=parsed,
		guarded=guarded,
		syntax_errors=errors,
		too_large=too_large,
		seconds=round(time.perf_counter() - started, 3),
		test_files=tests,
	)
	return result


@dataclass
class TextScan:
	findings: list[Finding] = field(default_factory=list)
	parsed: int = 0
	guarded: int = 0
	syntax_error: str | None = None
	top_imports: dict[str, tuple[str, int, str]] = field(default_factory=dict)


def scan_text(
	text: str,
	lang: str,
	rel: str,
	rules: CompiledRules,
	*,
	app: str | None = None,
	preset_globals: dict[str, str] | None = None,
) -> TextScan:
	"""Scan one source text (a file, or a Client/Server Script's code); `rel` names it in evidence.

	`preset_globals` are names bound without an import (a Server Script's `frappe`)."""
	out = TextScan()
	if lang == "json":
		out.findings = _scan_json(text, rel, rules, app)
		return out
	# split on "\n" only: str.splitlines() also breaks on \f and \v, which would shift line numbers
	source_lines: list[str] | None = None
	for rule, pattern, needle in rules.regex.get(lang, ()):
		if needle not in text:
			continue  # a substring test is far cheaper than a regex scan that cannot match
		reported: set[int] = set()
		for m in pattern.finditer(text):
			if source_lines is None:
				source_lines = text.split("\n")
			lineno = text.count("\n", 0, m.start()) + 1
			line = source_lines[lineno - 1]
			if lineno in reported or line.lstrip().startswith(_COMMENT_PREFIXES[lang]):
				continue
			reported.add(lineno)
			out.findings.append(_finding(rule, app, rel, lineno, line))
	if lang != "py":
		return out
	idents = set(_IDENT.findall(text))
	if not (rules.needs_parse(idents, text) or rules.needs_private_parse(idents, text)):
		return out
	try:
		tree = ast.parse(text, filename=rel)
	except (SyntaxError, ValueError) as exc:
		out.syntax_error = f"{rel}: {exc}"
		return out
	out.parsed = 1
	visitor = _PythonScan(rules, app, rel, source_lines or text.split("\n"))
	visitor.aliases.update(preset_globals or {})
	visitor.run(tree, idents)
	out.findings.extend(visitor.findings)
	out.guarded = visitor.guarded
	out.top_imports = dict(visitor.top_imports)
	return out


def _scan_json(text: str, rel: str, rules: CompiledRules, app: str | None) -> list[Finding]:
	"""The string values of a JSON file (a Custom HTML Block's html and script, a workspace's or
	number card's link, a page's content), each matched as the quoted string it was: evidence is the
	file's line where the string starts and the matching line inside the string."""
	patterns = rules.regex.get("json")
	if not patterns:
		return []
	findings: list[Finding] = []
	seen: set[tuple[str, int]] = set()
	for token in _JSON_STRING.finditer(text):
		raw = token.group()
		if "\\" in raw:
			try:
				value = json.loads(raw)
			except ValueError:
				continue
		else:
			value = raw[1:-1]
		quoted = f'"{value}"'
		for rule, pattern, needle in patterns:
			m = pattern.search(quoted) if needle in quoted else None
			if m is None:
				continue
			lineno = text.count("\n", 0, token.start()) + 1
			if (rule.id, lineno) in seen:
				continue
			seen.add((rule.id, lineno))
			inner = quoted.count("\n", 0, m.start())
			line = quoted.split("\n")[inner].strip('"')
			findings.append(_finding(rule, app, rel, lineno, line))
	return findings


def scan_site_scripts(scripts: list, rules: CompiledRules) -> list[Finding]:
	"""Client Scripts (JS) and Server Scripts (Python) live in the database, not in an app's tree:
	the same rules apply, with `<kind>: <name>` in place of a file path."""
	findings: list[Finding] = []
	for script in scripts:
		lang = "js" if script.kind == "Client Script" else "py"
		# safe_exec gives a Server Script `frappe` (a restricted copy of it) without an import
		preset = {"frappe": "frappe"} if lang == "py" else None
		rel = f"{script.kind}: {script.name}"
		findings += scan_text(script.code, lang, rel, rules, preset_globals=preset).findings
	return findings


def _finding(rule: Rule, app: str | None, rel: str, line: int, text: str, **values) -> Finding:
	return Finding(
		check=rule.id,
		severity=rule.severity,
		title=rule.title,
		app=app,
		evidence=Evidence(file=rel, line=line, text=text.strip()[:240], values=values),
		fix=rule.fix,
		phase=Phase.CODE,
		source=rule.sources,
	)


class _PythonScan:
	"""One pass over a module in source order, resolving names through its module-level imports
	and the imports seen so far inside definitions."""

	def __init__(self, rules: CompiledRules, app: str | None, rel: str, lines: list[str]):
		self.rules, self.app, self.rel, self.lines = rules, app, rel, lines
		self.aliases: dict[str, str] = {}
		self.findings: list[Finding] = []
		self.guarded = 0
		self.top_imports: dict[str, tuple[str, int, str]] = {}
		self._seen: set[tuple[str, int]] = set()

	def run(self, tree: ast.Module, idents: set[str] | None = None) -> None:
		# module globals are visible to every function whatever the import's position
		self.aliases.update(_module_aliases(tree.body))
		hot = self._hot_tokens(tree, idents) if idents is not None else None
		stack: list[tuple[ast.AST, bool]] = [(node, False) for node in reversed(tree.body)]
		while stack:
			node, guarded = stack.pop()
			if hot is not None and isinstance(node, _DEFINITIONS) and not self._is_hot(node, hot):
				continue  # nothing in this function or class can resolve to a rule
			if isinstance(node, ast.Import | ast.ImportFrom):
				self._import(node, guarded)
				continue
			if isinstance(node, ast.If) and _is_version_guard(node.test):
				stack.extend((n, True) for n in reversed(node.orelse))
				stack.extend((n, True) for n in reversed(node.body))
				continue
			if isinstance(node, ast.IfExp) and _is_version_guard(node.test):
				stack.extend(((node.orelse, True), (node.body, True)))
				continue
			if isinstance(node, ast.Try) and _catches_import_errors(node):
				# the try body probes the API, the handlers are its fallback: both are the compatibility code
				for part in (node.finalbody, node.orelse):
					stack.extend((n, guarded) for n in reversed(part))
				for handler in reversed(node.handlers):
					stack.extend((n, True) for n in reversed(handler.body))
				stack.extend((n, True) for n in reversed(node.body))
				continue
			if isinstance(node, ast.Call):
				name = self._resolve(node.func)
				if name:
					self._call(node, name, guarded)
			elif isinstance(node, ast.Attribute):
				chain = _chain(node)
				if chain is not None:
					name = self._resolve_chain(chain)
					if name:
						self._reference(name, node.lineno, guarded)
					continue  # the inner attributes are prefixes of this one: already checked
			children: list[ast.AST] = []
			for name in node._fields:
				value = getattr(node, name, None)
				if isinstance(value, ast.AST):
					if not isinstance(value, _LEAVES):
						children.append(value)
				elif isinstance(value, list):
					children.extend(v for v in value if isinstance(v, ast.AST) and not isinstance(v, _LEAVES))
			stack.extend((n, guarded) for n in reversed(children))

	# -- pruning ----------------------------------------------------------------------------------

	def _hot_tokens(self, tree: ast.Module, idents: set[str]) -> set[str]:
		"""Substrings a definition must contain for anything in it to match a rule.

		A use of rule name `a.b.c` spells `b` and `c` (through `a` or an alias of `a.b`), unless it
		goes through an alias bound to the name itself (`from a.b import c as x`): those aliases are
		collected from every module-level import first, so an import below the use still counts.
		Imports inside a definition keep it hot (\"import\"); private names are judged by regex.
		"""
		relevant = [n for n in (*self.rules.names, *self.rules.calls) if _trigger(n) <= idents]
		relevant += [n for n in self.rules.call_args if n.rsplit(".", 1)[-1] in idents]
		hot = {"import"}
		for name in relevant:
			parts = name.split(".")
			hot.update(parts[1:] or parts)
		for alias, resolved in _module_aliases(tree.body).items():
			if any(resolved == n or resolved.startswith(n + ".") for n in relevant):
				hot.add(alias)
		return hot

	def _is_hot(self, node: ast.AST, hot: set[str]) -> bool:
		first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))])
		segment = "\n".join(self.lines[first - 1 : node.end_lineno])
		if any(token in segment for token in hot):
			return True
		return bool(self.rules.private) and private_hint(segment)

	# -- imports and names ------------------------------------------------------------------------

	def _import(self, node: ast.Import | ast.ImportFrom, guarded: bool) -> None:
		if isinstance(node, ast.Import):
			for alias in node.names:
				self._top(alias.name, node.lineno, guarded)
				if alias.asname:
					self.aliases[alias.asname] = alias.name
				else:
					root = alias.name.split(".")[0]
					self.aliases[root] = root
				self._reference(alias.name, node.lineno, guarded)
			return
		if node.level or not node.module:
			return  # relative imports stay inside the app
		self._top(node.module, node.lineno, guarded)
		for alias in node.names:
			if alias.name == "*":
				self._reference(node.module, node.lineno, guarded)
				continue
			full = f"{node.module}.{alias.name}"
			self.aliases[alias.asname or alias.name] = full
			self._reference(full, node.lineno, guarded)

	def _top(self, module: str, lineno: int, guarded: bool) -> None:
		top = module.split(".")[0]
		if not guarded and top not in self.top_imports:
			self.top_imports[top] = (self.rel, lineno, self._line(lineno))

	def _resolve(self, node: ast.AST) -> str | None:
		chain = _chain(node)
		return self._resolve_chain(chain) if chain else None

	def _resolve_chain(self, chain: list[str]) -> str | None:
		base = self.aliases.get(chain[0])
		if base is None:
			return None
		return ".".join((base, *chain[1:]))

	def _reference(self, name: str, lineno: int, guarded: bool) -> None:
		parts = name.split(".")
		for i in range(len(parts), 0, -1):
			rule = self.rules.names.get(".".join(parts[:i]))
			if rule:
				self._report(rule, lineno, guarded, name=name)
				break
		for rule, m in self.rules.private:
			if parts[0] != m.root:
				continue
			for i in range(1, len(parts)):
				if _is_private(parts[i]):
					prefix = ".".join(parts[: i + 1])
					if prefix not in m.allow:
						self._report(rule, lineno, guarded, name=prefix)
					break

	def _call(self, node: ast.Call, name: str, guarded: bool) -> None:
		for rule, spot, pattern in self.rules.call_args.get(name, ()):
			for text in _argument_strings(node, spot):
				if pattern.search(text):
					self._report(rule, node.lineno, guarded, name=name, argument=text[:120])
					break
		for rule, m in self.rules.calls.get(name, ()):
			if not m.kwargs and m.min_positional is None:
				self._report(rule, node.lineno, guarded, name=name)
				continue
			passed = {k.arg for k in node.keywords if k.arg}
			hit = sorted(passed.intersection(m.kwargs))
			positional = sum(1 for a in node.args if not isinstance(a, ast.Starred))
			if hit or (m.min_positional is not None and positional >= m.min_positional):
				self._report(
					rule, node.lineno, guarded, name=name, kwargs=",".join(hit), positional=positional
				)

	def _report(self, rule: Rule, lineno: int, guarded: bool, **values) -> None:
		key = (rule.id, lineno)
		if key in self._seen:
			return
		self._seen.add(key)
		if guarded:
			self.guarded += 1
			return
		self.findings.append(_finding(rule, self.app, self.rel, lineno, self._line(lineno), **values))

	def _line(self, lineno: int) -> str:
		return self.lines[lineno - 1] if 0 < lineno <= len(self.lines) else ""


def _module_aliases(body: list[ast.stmt]) -> dict[str, str]:
	"""Local name → dotted name for every module-level import, including those under if/try."""
	aliases: dict[str, str] = {}
	for node in body:
		if isinstance(node, ast.Import):
			for a in node.names:
				aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
		elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
			for a in node.names:
				if a.name != "*":
					aliases[a.asname or a.name] = f"{node.module}.{a.name}"
		elif isinstance(node, ast.If | ast.Try):
			nested = [*node.body, *node.orelse]
			if isinstance(node, ast.Try):
				nested += [*node.finalbody, *(s for h in node.handlers for s in h.body)]
			aliases.update(_module_aliases(nested))
	return aliases


def _chain(node: ast.AST) -> list[str] | None:
	"""`a.b.c` → ["a", "b", "c"]; None when the base is not a plain name (a call, a subscript)."""
	parts: list[str] = []
	while isinstance(node, ast.Attribute):
		parts.append(node.attr)
		node = node.value
	if not isinstance(node, ast.Name):
		return None
	parts.append(node.id)
	parts.reverse()
	return parts


def _argument_strings(node: ast.Call, spot: ArgSpot) -> list[str]:
	"""The string constants passed at `spot`: the argument itself or the items of a list/tuple/set."""
	arg = next((k.value for k in node.keywords if k.arg == spot.keyword), None)
	if arg is None and spot.position is not None:
		positional = [a for a in node.args if not isinstance(a, ast.Starred)]
		if len(positional) > spot.position and len(positional) == len(node.args):
			arg = positional[spot.position]
	if arg is None:
		return []
	items = arg.elts if isinstance(arg, ast.List | ast.Tuple | ast.Set) else [arg]
	return [i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)]


def _is_version_guard(test: ast.expr) -> bool:
	"""A test that asks which version runs (or whether an API exists) before using it."""
	for node in ast.walk(test):
		name = (
			node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
		)
		if name is not None and (name in _GUARD_NAMES or _GUARD_NAME.search(name)):
			return True
	return False


def _catches_import_errors(node: ast.Try) -> bool:
	for handler in node.handlers:
		types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
		if any(isinstance(t, ast.Name) and t.id in _GUARD_EXCEPTIONS for t in types if t is not None):
			return True
	return False

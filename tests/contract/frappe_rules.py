"""What Frappe v15 would refuse in an app's files, checked without importing Frappe.

Each `*_problems` function returns a list of human-readable problems (empty when all is well), so
the tests can both assert that the real app is clean and that a deliberately broken sample is not.
The rules mirror Frappe v15's own (`frappe/core/doctype/doctype/doctype.py: validate_fields`,
`frappe/types/exporter.py`, `frappe/modules/export_file.py`, `frappe/model/sync.py`,
`frappe/utils/dashboard.py`); the facts they need are in data/frappe_v15.json.
"""

import ast
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

DATA = Path(__file__).parent / "data" / "frappe_v15.json"
REPO = Path(__file__).resolve().parents[2]
APP = "erp_ops"

# Hooks whose values are dotted paths to functions (fixtures are filters, not paths).
DOTTED_HOOKS = (
	"after_install",
	"after_migrate",
	"before_install",
	"before_migrate",
	"before_uninstall",
	"after_uninstall",
	"before_tests",
	"before_job",
	"after_job",
	"before_request",
	"after_request",
	"boot_session",
	"extend_bootinfo",
	"on_session_creation",
	"on_login",
	"on_logout",
	"notification_config",
	"get_website_user_home_page",
	"auth_hooks",
)
DICT_OF_DOTTED_HOOKS = (
	"permission_query_conditions",
	"has_permission",
	"override_whitelisted_methods",
	"override_doctype_dashboards",
)
PERMISSION_GATES = ("require_permission", "require_roles", "frappe.only_for", "only_for")
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # Frappe rejects \W; lowercase snake case by convention
LAYOUT_TYPES = ("Section Break", "Column Break", "Tab Break")


def reference() -> dict:
	return json.loads(DATA.read_text())


def scrub(name: str) -> str:
	"""frappe.scrub: how a document's name becomes its folder and file name."""
	return name.replace(" ", "_").replace("-", "_").lower()


def frappe_json(doc) -> str:
	"""frappe.as_json: how Frappe writes every exported document."""
	return json.dumps(doc, indent=1, sort_keys=True, separators=(",", ": "))


@dataclass
class App:
	"""The app's files as Frappe sees them: package dir, modules, and what it defines."""

	root: Path = REPO
	name: str = APP
	ref: dict = field(default_factory=reference)

	@property
	def package(self) -> Path:
		return self.root / self.name

	@cached_property
	def modules(self) -> list[str]:
		return [
			line.strip() for line in (self.package / "modules.txt").read_text().splitlines() if line.strip()
		]

	def module_dir(self, module: str) -> Path:
		return self.package / scrub(module)

	def documents(self, kind: str) -> list[Path]:
		"""JSON files of `kind` (doctype, number_card, ...) in every module: <module>/<kind>/<name>/<name>.json."""
		found = []
		for module in self.modules:
			base = self.module_dir(module) / kind
			if base.is_dir():
				found += sorted(
					p / f"{p.name}.json" for p in base.iterdir() if (p / f"{p.name}.json").is_file()
				)
		return found

	def names(self, kind: str) -> set[str]:
		return {json.loads(p.read_text())["name"] for p in self.documents(kind)}

	@cached_property
	def frappe_doctypes(self) -> dict[str, dict]:
		return {d["name"]: d for d in self.ref["doctypes"]}

	@cached_property
	def all_doctypes(self) -> set[str]:
		return set(self.frappe_doctypes) | self.names("doctype")

	@cached_property
	def roles(self) -> set[str]:
		return set(self.ref["roles"]) | set(self.app_roles)

	@cached_property
	def app_roles(self) -> tuple[str, ...]:
		"""Roles the app creates: the OPS_ROLES tuple its install module declares."""
		tree = ast.parse((self.package / "site" / "install.py").read_text())
		for node in tree.body:
			if isinstance(node, ast.Assign) and any(
				getattr(t, "id", None) == "OPS_ROLES" for t in node.targets
			):
				return tuple(ast.literal_eval(node.value))
		return ()

	def resolve(self, dotted: str) -> ast.FunctionDef | None:
		"""The top-level function a dotted path names, if the app defines it."""
		module, _, attr = dotted.rpartition(".")
		if not module.startswith(self.name + ".") and module != self.name:
			return None
		base = self.root / Path(*module.split("."))
		for candidate in (base.with_suffix(".py"), base / "__init__.py"):
			if candidate.is_file():
				for node in ast.parse(candidate.read_text()).body:
					if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == attr:
						return node
		return None

	def is_whitelisted(self, dotted: str) -> bool:
		node = self.resolve(dotted)
		return bool(node and whitelist_decorator(node))


# DocTypes ----------------------------------------------------------------------------------------


def doctype_problems(app: App, path: Path) -> list[str]:
	"""Everything Frappe v15 would refuse (or silently change) in one DocType JSON file."""
	ref = app.ref
	text = path.read_text()
	doc = json.loads(text)
	name = doc.get("name", "")
	where = f"{path.relative_to(app.root) if path.is_relative_to(app.root) else path}"
	out: list[str] = []
	if text != frappe_json(doc):
		out.append(f"{where}: not written as Frappe exports (indent 1, sorted keys)")
	if doc.get("doctype") != "DocType":
		out.append(f"{where}: doctype is {doc.get('doctype')!r}, not 'DocType'")
	if scrub(name) != path.parent.name or path.stem != path.parent.name:
		out.append(f"{where}: name {name!r} does not match its folder {path.parent.name!r}")
	if doc.get("module") not in app.modules:
		out.append(f"{where}: module {doc.get('module')!r} is not in modules.txt {app.modules}")
	elif path.parents[2] != app.module_dir(doc["module"]):
		out.append(f"{where}: lives outside its module's folder {app.module_dir(doc['module'])}")
	if doc.get("custom"):
		out.append(f"{where}: a shipped DocType must not be custom")
	for key in doc:
		if key not in ref["properties"]["DocType"]:
			out.append(f"{where}: unknown DocType property {key!r}")
	for key, option in (
		("naming_rule", "DocType.naming_rule"),
		("sort_order", "DocType.sort_order"),
		("engine", "DocType.engine"),
	):
		if key in doc and doc[key] not in ref["select_options"][option]:
			out.append(f"{where}: {key} {doc[key]!r} is not one of {ref['select_options'][option]}")

	fields = doc.get("fields", [])
	names = [f.get("fieldname", "") for f in fields]
	if doc.get("field_order") != names:
		out.append(f"{where}: field_order does not list the fields in their order")
	reserved = (
		set(ref["default_fields"])
		| set(ref["child_table_fields"])
		| set(ref["optional_fields"])
		| set(ref["reserved_keywords"])
	)
	conflicts = set(ref["document_attributes"]) | controller_attributes(path)
	by_name = {f.get("fieldname"): f for f in fields}
	for f in fields:
		fname, ftype = f.get("fieldname", ""), f.get("fieldtype")
		label = f"{where}: field {fname!r}"
		for key in f:
			if key not in ref["properties"]["DocField"]:
				out.append(f"{label}: unknown DocField property {key!r}")
		if not FIELD_NAME.match(fname) or len(fname) > ref["max_fieldname_length"]:
			out.append(f"{label}: not a valid fieldname")
		if names.count(fname) > 1:
			out.append(f"{label}: appears {names.count(fname)} times")
		if fname in reserved:
			out.append(f"{label}: reserved by Frappe")
		elif fname in conflicts and ftype not in ref["no_value_fields"]:
			out.append(f"{label}: conflicts with an attribute of the controller")
		if ftype not in ref["fieldtypes"]:
			out.append(f"{label}: unknown fieldtype {ftype!r}")
			continue
		if ftype in ("Link", *ref["table_fields"]):
			target = f.get("options")
			if not target:
				out.append(f"{label}: {ftype} without options")
			elif target not in app.all_doctypes:
				out.append(f"{label}: {ftype} to unknown DocType {target!r}")
			elif ftype in ref["table_fields"] and not _is_child_table(app, target):
				out.append(f"{label}: {target!r} is not a child table")
		if ftype == "Dynamic Link":
			pointer = by_name.get(f.get("options"))
			if (
				not pointer
				or pointer.get("fieldtype") not in ("Link", "Select")
				or (pointer.get("fieldtype") == "Link" and pointer.get("options") != "DocType")
			):
				out.append(f"{label}: Dynamic Link options must name a Link-to-DocType field of this DocType")
		if (
			ftype == "Select"
			and f.get("default")
			and f["default"] not in (f.get("options") or "").split("\n")
		):
			out.append(f"{label}: default {f['default']!r} is not an option")
		if ftype == "Check" and str(f.get("default", "0")) not in ("0", "1"):
			out.append(f"{label}: Check default must be 0 or 1")
		if ftype == "Data" and f.get("options") and f["options"] not in ref["data_field_options"]:
			out.append(f"{label}: Data options {f['options']!r} not allowed")
		if f.get("reqd") and ftype in ref["no_value_fields"] and ftype not in ref["table_fields"]:
			out.append(f"{label}: a {ftype} cannot be mandatory")
		if f.get("hidden") and f.get("reqd") and not f.get("default"):
			out.append(f"{label}: hidden and mandatory without a default")
		if f.get("search_index") and ftype in ("Text", "Long Text", "Small Text", "Code", "Text Editor"):
			out.append(f"{label}: a {ftype} cannot be indexed")
		if f.get("unique") and ftype not in ("Data", "Link", "Read Only", "Int"):
			out.append(f"{label}: a {ftype} cannot be unique")
		if f.get("in_list_view") and (ftype in ref["no_value_fields"] or ftype == "Attach Image"):
			out.append(f"{label}: a {ftype} cannot be in list view")
		if (
			ftype in ("Float", "Currency", "Percent")
			and f.get("precision") not in (None, "")
			and not 1 <= int(f["precision"]) <= 6
		):
			out.append(f"{label}: precision must be between 1 and 6")
	for key in ("title_field", "image_field", "timeline_field"):
		if doc.get(key) and doc[key] not in names:
			out.append(f"{where}: {key} {doc[key]!r} is not a field")
	sortable = set(names) | set(ref["default_fields"]) | set(ref["child_table_fields"])
	for part in (doc.get("sort_field") or "").split(","):
		if part.strip() and part.split()[0] not in sortable:
			out.append(f"{where}: sort_field {part!r} is not a field")
	for part in (doc.get("search_fields") or "").split(","):
		if part.strip() and (
			part.strip() not in names or by_name[part.strip()].get("fieldtype") in ref["no_value_fields"]
		):
			out.append(f"{where}: search field {part.strip()!r} is not valid")

	for perm in doc.get("permissions", []):
		role = perm.get("role")
		if role not in app.roles:
			out.append(f"{where}: permission for unknown role {role!r}")
		for key in perm:
			if key not in ref["properties"]["DocPerm"]:
				out.append(f"{where}: unknown DocPerm property {key!r}")
		if not any(perm.get(k) for k in ("read", "write", "create", "submit", "cancel", "delete", "select")):
			out.append(f"{where}: permission row for {role!r} grants nothing")
	roles = [(p.get("role"), p.get("permlevel", 0), p.get("if_owner", 0)) for p in doc.get("permissions", [])]
	if len(roles) != len(set(roles)):
		out.append(f"{where}: a role has two permission rows at the same level")

	out += controller_problems(app, path, doc)
	return out


def _is_child_table(app: App, doctype: str) -> bool:
	if doctype in app.frappe_doctypes:
		return bool(app.frappe_doctypes[doctype].get("istable"))
	for path in app.documents("doctype"):
		doc = json.loads(path.read_text())
		if doc["name"] == doctype:
			return bool(doc.get("istable"))
	return False


def controller_attributes(json_path: Path) -> set[str]:
	"""Names the controller class defines: a field by the same name would shadow them."""
	controller = json_path.with_suffix(".py")
	if not controller.is_file():
		return set()
	names = set()
	for node in ast.walk(ast.parse(controller.read_text())):
		if isinstance(node, ast.ClassDef):
			names |= {n.name for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
	return names


def expected_type_lines(ref: dict, doc: dict) -> list[str]:
	"""The annotation lines Frappe's TypeExporter writes for these fields, sorted like it does."""
	lines = []
	for f in doc.get("fields", []):
		ftype = f["fieldtype"]
		despaced = ftype.replace(" ", "")
		if ftype == "Select":
			options = (f.get("options") or "").split("\n") if f.get("options") else None
			hint = "DF.Literal" + (json.dumps([o.strip() for o in options]) if options else "[None]")
		elif despaced in ref["df_types"]:
			hint = f"DF.{despaced}"
			if ftype in ref["table_fields"]:
				hint += f"[{(f.get('options') or '').replace(' ', '')}]"
		else:
			continue
		if ftype not in ref["non_nullable_types"] and not f.get("reqd"):
			hint += " | None"
		lines.append(f"{f['fieldname']}: {hint}")
	if doc.get("istable"):
		lines += [f"{p}: DF.Data" for p in ("parent", "parentfield", "parenttype")]
	return sorted(lines)


def controller_problems(app: App, json_path: Path, doc: dict) -> list[str]:
	controller = json_path.with_suffix(".py")
	where = f"{controller.name}"
	out: list[str] = []
	for folder in (json_path.parent, json_path.parent.parent, json_path.parents[2]):
		if not (folder / "__init__.py").is_file():
			out.append(f"{where}: {folder.name}/ has no __init__.py")
	if not controller.is_file():
		return [*out, f"{where}: controller file missing"]
	source = controller.read_text()
	class_name = doc.get("name", "").replace(" ", "").replace("-", "")
	classes = [n for n in ast.parse(source).body if isinstance(n, ast.ClassDef)]
	if not any(c.name == class_name for c in classes):
		out.append(f"{where}: no class {class_name}")
	if "from __future__ import annotations" in source:
		out.append(f"{where}: string annotations break Frappe's argument validation")
	start, end = "# begin: auto-generated types", "# end: auto-generated types"
	if start not in source or end not in source:
		out.append(f"{where}: no auto-generated types block")
		return out
	block = source[source.index(start) : source.index(end)]
	actual = sorted(line.strip() for line in block.splitlines() if re.match(r"^\s+\w+: DF\.", line))
	expected = expected_type_lines(app.ref, doc)
	if actual != expected:
		missing = sorted(set(expected) - set(actual))
		extra = sorted(set(actual) - set(expected))
		out.append(f"{where}: types block disagrees with the JSON (missing {missing}, unexpected {extra})")
	return out


# hooks.py ----------------------------------------------------------------------------------------


def hook_values(source: str) -> dict:
	"""Module-level literal assignments of hooks.py, without executing it."""
	values = {}
	for node in ast.parse(source).body:
		if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
			try:
				values[node.targets[0].id] = ast.literal_eval(node.value)
			except ValueError:
				values[node.targets[0].id] = None
	return values


def _as_list(value) -> list:
	return list(value) if isinstance(value, list | tuple) else [value]


def hooks_problems(app: App, source: str) -> list[str]:
	hooks = hook_values(source)
	out: list[str] = []
	if hooks.get("app_name") != app.name:
		out.append(f"hooks.py: app_name is {hooks.get('app_name')!r}, not {app.name!r}")
	if "frappe" in (hooks.get("required_apps") or []):
		out.append("hooks.py: required_apps lists frappe")
	dotted: list[tuple[str, str]] = []
	for key in DOTTED_HOOKS:
		if key in hooks:
			dotted += [(key, p) for p in _as_list(hooks[key])]
	for key in DICT_OF_DOTTED_HOOKS:
		for target, paths in (hooks.get(key) or {}).items():
			dotted += [(f"{key}[{target}]", p) for p in _as_list(paths)]
	for doctype, events in (hooks.get("doc_events") or {}).items():
		if doctype != "*" and doctype not in app.all_doctypes:
			out.append(f"hooks.py: doc_events for unknown DocType {doctype!r}")
		for event, paths in events.items():
			dotted += [(f"doc_events[{doctype}][{event}]", p) for p in _as_list(paths)]
	scheduled: list[str] = []
	for frequency, entries in (hooks.get("scheduler_events") or {}).items():
		if isinstance(entries, dict):
			for cron, paths in entries.items():
				scheduled += _as_list(paths)
				dotted += [(f"scheduler_events[{frequency}][{cron}]", p) for p in _as_list(paths)]
		else:
			scheduled += _as_list(entries)
			dotted += [(f"scheduler_events[{frequency}]", p) for p in _as_list(entries)]
	for key, path in dotted:
		if not isinstance(path, str) or app.resolve(path) is None:
			out.append(f"hooks.py: {key} → {path!r} is not a function defined in the app")
	job_names = [".".join(p.split(".")[-2:]) for p in scheduled]
	for name in sorted({n for n in job_names if job_names.count(n) > 1}):
		out.append(f"hooks.py: two scheduled methods end in {name!r}: Frappe names Scheduled Job Types by it")
	for fixture in _as_list(hooks.get("fixtures") or []):
		doctype = (
			fixture
			if isinstance(fixture, str)
			else (fixture or {}).get("dt") or (fixture or {}).get("doctype")
		)
		if doctype not in app.all_doctypes:
			out.append(f"hooks.py: fixture of unknown DocType {doctype!r}")
	return out


# Whitelisted functions ---------------------------------------------------------------------------


def whitelist_decorator(node: ast.FunctionDef) -> ast.expr | None:
	for decorator in node.decorator_list:
		target = decorator.func if isinstance(decorator, ast.Call) else decorator
		if ast.unparse(target) in ("frappe.whitelist", "whitelist"):
			return decorator
	return None


def _first_statement(node: ast.FunctionDef) -> ast.stmt | None:
	body = node.body
	if (
		body
		and isinstance(body[0], ast.Expr)
		and isinstance(body[0].value, ast.Constant)
		and isinstance(body[0].value.value, str)
	):
		body = body[1:]
	return body[0] if body else None


def _is_permission_check(stmt: ast.stmt | None) -> bool:
	"""`require_roles(...)` / `frappe.only_for(...)`, or `if not frappe.has_permission(...): throw/raise`."""
	if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
		return ast.unparse(stmt.value.func) in PERMISSION_GATES
	if isinstance(stmt, ast.If):
		test = ast.unparse(stmt.test)
		throws = any(
			isinstance(s, ast.Raise)
			or (
				isinstance(s, ast.Expr)
				and isinstance(s.value, ast.Call)
				and ast.unparse(s.value.func) == "frappe.throw"
			)
			for s in stmt.body
		)
		return "has_permission(" in test and throws
	return False


def whitelist_problems(source: str, filename: str) -> list[str]:
	"""Every `@frappe.whitelist` function: HTTP methods named, arguments typed, permission first."""
	out: list[str] = []
	tree = ast.parse(source)
	if "from __future__ import annotations" in source:
		out.append(f"{filename}: string annotations disable Frappe's argument validation")
	for node in ast.walk(tree):
		if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
			continue
		decorator = whitelist_decorator(node)
		if decorator is None:
			continue
		where = f"{filename}:{node.lineno} {node.name}()"
		keywords = {k.arg: k.value for k in decorator.keywords} if isinstance(decorator, ast.Call) else {}
		if "methods" not in keywords:
			out.append(f"{where}: @frappe.whitelist without methods=")
		if "allow_guest" in keywords and ast.unparse(keywords["allow_guest"]) != "False":
			out.append(f"{where}: allows guests")
		args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
		for arg in args:
			if arg.arg not in ("self", "cls") and arg.annotation is None:
				out.append(f"{where}: argument {arg.arg!r} has no type hint")
		if node.args.vararg or node.args.kwarg:
			out.append(f"{where}: *args/**kwargs escape Frappe's argument validation")
		if not _is_permission_check(_first_statement(node)):
			out.append(
				f"{where}: the first statement is not a permission check ({', '.join(PERMISSION_GATES)} or has_permission + throw)"
			)
	return out


# Desk: number cards, charts, chart sources, workspaces ---------------------------------------------


def _desk_common(app: App, path: Path, doc: dict, doctype: str) -> list[str]:
	where = f"{doctype} {path.parent.name}"
	out = []
	if path.read_text() != frappe_json(doc):
		out.append(f"{where}: not written as Frappe exports (indent 1, sorted keys)")
	if doc.get("doctype") != doctype:
		out.append(f"{where}: doctype is {doc.get('doctype')!r}")
	if scrub(doc.get("name", "")) != path.parent.name:
		out.append(f"{where}: name {doc.get('name')!r} does not match its folder")
	if doc.get("module") not in app.modules:
		out.append(f"{where}: module {doc.get('module')!r} not in modules.txt")
	allowed = set(app.ref["desk_fields"][doctype]) | set(app.ref["default_fields"])
	for key in doc:
		if key not in allowed:
			out.append(f"{where}: unknown {doctype} property {key!r}")
	return out


def _option(app: App, key: str, value) -> bool:
	return value in app.ref["select_options"][key]


def number_card_problems(app: App, path: Path) -> list[str]:
	doc = json.loads(path.read_text())
	out = _desk_common(app, path, doc, "Number Card")
	where = f"Number Card {path.parent.name}"
	if not _option(app, "Number Card.type", doc.get("type")):
		out.append(f"{where}: type {doc.get('type')!r} is not a Number Card type")
	if doc.get("type") == "Custom" and not app.is_whitelisted(doc.get("method") or ""):
		out.append(f"{where}: method {doc.get('method')!r} is not a whitelisted function of the app")
	if doc.get("document_type") and doc["document_type"] not in app.all_doctypes:
		out.append(f"{where}: document_type {doc['document_type']!r} does not exist")
	if doc.get("type") == "Custom" and not doc.get("document_type"):
		# Frappe shows a card to a non-System Manager only when they can read its document_type.
		out.append(f"{where}: a Custom card needs a document_type, or only System Managers see it")
	for key in ("filters_json", "dynamic_filters_json"):
		try:
			json.loads(doc.get(key) or "null")
		except ValueError:
			out.append(f"{where}: {key} is not JSON")
	return out


def dashboard_chart_problems(app: App, path: Path) -> list[str]:
	doc = json.loads(path.read_text())
	out = _desk_common(app, path, doc, "Dashboard Chart")
	where = f"Dashboard Chart {path.parent.name}"
	if not _option(app, "Dashboard Chart.chart_type", doc.get("chart_type")):
		out.append(f"{where}: chart_type {doc.get('chart_type')!r} unknown")
	if not _option(app, "Dashboard Chart.type", doc.get("type")):
		out.append(f"{where}: type {doc.get('type')!r} unknown")
	if doc.get("chart_type") == "Custom" and doc.get("source") not in app.names("dashboard_chart_source"):
		out.append(f"{where}: source {doc.get('source')!r} is not a Dashboard Chart Source of the app")
	if doc.get("document_type") and doc["document_type"] not in app.all_doctypes:
		out.append(f"{where}: document_type {doc['document_type']!r} does not exist")
	for row in doc.get("roles", []):
		if row.get("role") not in app.roles:
			out.append(f"{where}: role {row.get('role')!r} does not exist")
	for key in ("filters_json", "dynamic_filters_json", "custom_options"):
		try:
			json.loads(doc.get(key) or "null")
		except ValueError:
			out.append(f"{where}: {key} is not JSON")
	return out


def chart_source_problems(app: App, path: Path) -> list[str]:
	doc = json.loads(path.read_text())
	out = _desk_common(app, path, doc, "Dashboard Chart Source")
	where = f"Dashboard Chart Source {path.parent.name}"
	js = path.with_suffix(".js")
	if not js.is_file():
		return [*out, f"{where}: {js.name} missing (Frappe loads the source's config from it)"]
	text = js.read_text()
	if f'frappe.dashboards.chart_sources["{doc.get("name")}"]' not in text:
		out.append(
			f"{where}: {js.name} does not register frappe.dashboards.chart_sources[{doc.get('name')!r}]"
		)
	methods = re.findall(r'method:\s*"([\w.]+)"', text)
	if not methods:
		out.append(f"{where}: {js.name} names no method")
	for method in methods:
		if not app.is_whitelisted(method):
			out.append(f"{where}: method {method!r} is not a whitelisted function of the app")
	for folder in (path.parent, path.parent.parent):
		if not (folder / "__init__.py").is_file():
			out.append(f"{where}: {folder.name}/ has no __init__.py")
	return out


def workspace_problems(app: App, path: Path) -> list[str]:
	doc = json.loads(path.read_text())
	out = _desk_common(app, path, doc, "Workspace")
	where = f"Workspace {path.parent.name}"
	ref = app.ref
	for table, child in (
		("shortcuts", "Workspace Shortcut"),
		("links", "Workspace Link"),
		("charts", "Workspace Chart"),
		("number_cards", "Workspace Number Card"),
	):
		for row in doc.get(table, []):
			for key in row:
				if key not in set(ref["desk_fields"][child]) | set(ref["default_fields"]) | set(
					ref["child_table_fields"]
				):
					out.append(f"{where}: unknown {child} property {key!r}")
	cards, charts = app.names("number_card"), app.names("dashboard_chart")
	for row in doc.get("number_cards", []):
		if row.get("number_card_name") not in cards:
			out.append(f"{where}: number card {row.get('number_card_name')!r} is not in the app")
	for row in doc.get("charts", []):
		if row.get("chart_name") not in charts:
			out.append(f"{where}: chart {row.get('chart_name')!r} is not in the app")
	for row in doc.get("shortcuts", []):
		if not _option(app, "Workspace Shortcut.type", row.get("type")):
			out.append(f"{where}: shortcut type {row.get('type')!r} unknown")
		if row.get("type") == "DocType" and row.get("link_to") not in app.all_doctypes:
			out.append(f"{where}: shortcut to unknown DocType {row.get('link_to')!r}")
		if row.get("doc_view") and not _option(app, "Workspace Shortcut.doc_view", row["doc_view"]):
			out.append(f"{where}: shortcut view {row['doc_view']!r} unknown")
	for row in doc.get("links", []):
		if not _option(app, "Workspace Link.type", row.get("type")):
			out.append(f"{where}: link type {row.get('type')!r} unknown")
		if (
			row.get("type") == "Link"
			and row.get("link_type") == "DocType"
			and row.get("link_to") not in app.all_doctypes
		):
			out.append(f"{where}: link to unknown DocType {row.get('link_to')!r}")
	try:
		blocks = json.loads(doc.get("content") or "[]")
	except ValueError:
		return [*out, f"{where}: content is not JSON"]
	if not isinstance(blocks, list) or not blocks:
		return [*out, f"{where}: content has no blocks"]
	ids = [b.get("id") for b in blocks]
	if len(ids) != len(set(ids)) or not all(ids):
		out.append(f"{where}: block ids are missing or repeated")
	# The desk finds a block's widget by the label of the matching child row.
	labels = {
		"number_card": {r.get("label") for r in doc.get("number_cards", [])},
		"chart": {r.get("label") for r in doc.get("charts", [])},
		"shortcut": {r.get("label") for r in doc.get("shortcuts", [])},
		"card": {r.get("label") for r in doc.get("links", []) if r.get("type") == "Card Break"},
	}
	for block in blocks:
		kind = block.get("type")
		if kind not in ref["workspace_block_types"]:
			out.append(f"{where}: block type {kind!r} unknown")
			continue
		data = block.get("data") or {}
		if "col" in data and not (isinstance(data["col"], int) and 1 <= data["col"] <= 12):
			out.append(f"{where}: block {block.get('id')} has col {data['col']!r}")
		if kind in labels and data.get(f"{kind}_name") not in labels[kind]:
			out.append(
				f"{where}: {kind} block names {data.get(f'{kind}_name')!r}, which no {kind} row is labelled"
			)
	return out

"""CREATE TABLE statements for the app's DocTypes, as Frappe v15 creates them on MariaDB.

Read from the DocType JSON (fields, length, default, unique, search_index) and the controller's
`on_doctype_update` (its `frappe.db.add_unique` / `add_index` calls), so a test table has the
site's columns and keys and cannot drift from them. The rules are Frappe 15.44.2's
(commit e0497f55): `frappe/database/mariadb/database.py` `type_map`, `frappe/database/schema.py`
`get_definition` / `DbColumn.get_definition`, `frappe/database/mariadb/schema.py`
`MariaDBTable.create`, `Database.add_unique` / `add_index` for the key names.
"""

import ast
import json
from functools import cache
from pathlib import Path

MODULE = Path(__file__).resolve().parents[2] / "erp_ops" / "erp_ops"
VARCHAR_LEN = 140
VARCHAR = {"Data", "Link", "Dynamic Link", "Select", "Read Only", "Color", "Icon", "Phone", "Autocomplete"}
TYPE_MAP = {
	**{t: "varchar" for t in VARCHAR},  # varchar(length or VARCHAR_LEN)
	**dict.fromkeys(("Currency", "Float", "Percent", "Duration"), "decimal(21,9)"),
	"Int": "int(11)",
	"Long Int": "bigint(20)",
	"Check": "int(1)",
	"Rating": "decimal(3,2)",
	**dict.fromkeys(("Small Text", "Text", "Password", "Attach", "Attach Image"), "text"),
	**dict.fromkeys(
		(
			"Long Text",
			"Code",
			"Text Editor",
			"Markdown Editor",
			"HTML Editor",
			"Signature",
			"Barcode",
			"Geolocation",
		),
		"longtext",
	),
	"Date": "date",
	"Datetime": "datetime(6)",
	"Time": "time(6)",
	"JSON": "json",  # MariaDB: longtext with a json_valid check
}
NUMERIC = {"Check": int, "Int": int, "Currency": float, "Float": float, "Percent": float}
DEFAULT_SHORTCUTS = ("_Login", "__user", "_Full Name", "Today", "__today", "now", "Now")
OPTIONAL_COLUMNS = (
	"_user_tags",
	"_comments",
	"_assign",
	"_liked_by",
)  # Text, on tables that are not child tables


def create_tables(*doctypes: str) -> list[str]:
	"""`create table if not exists` for each DocType of the app, with the keys its controllers add."""
	keys: dict[str, list[str]] = {}
	for doctype in doctypes:
		for target, key in controller_keys(_folder(doctype) / f"{_scrub(doctype)}.py"):
			keys.setdefault(target, []).append(key)
	return [
		create_table(json.loads((_folder(d) / f"{_scrub(d)}.json").read_text()), keys.get(d, []))
		for d in doctypes
	]


def create_table(doctype: dict, keys: list[str]) -> str:
	columns, indexes = [], []
	fields = [*doctype["fields"]]
	if not doctype.get("istable"):
		fields += [{"fieldname": f, "fieldtype": "Text"} for f in OPTIONAL_COLUMNS]
	for field in fields:
		definition = column(field)
		if definition is None:
			continue  # a layout field (Section Break, …): no column
		columns.append(f"`{field['fieldname']}` {definition}")
		if (
			field.get("search_index")
			and not field.get("unique")
			and definition.split()[0] not in ("text", "longtext")
		):
			indexes.append(f"index `{field['fieldname']}`(`{field['fieldname']}`)")
	if doctype.get("istable"):
		columns += [f"`{c}` varchar({VARCHAR_LEN})" for c in ("parent", "parentfield", "parenttype")]
		indexes.append("index parent(parent)")
	else:
		indexes.append("index modified(modified)")
	body = ",\n  ".join(
		[
			f"name varchar({VARCHAR_LEN}) primary key",
			"creation datetime(6)",
			"modified datetime(6)",
			f"modified_by varchar({VARCHAR_LEN})",
			f"owner varchar({VARCHAR_LEN})",
			"docstatus int(1) not null default '0'",
			"idx int(8) not null default '0'",
			*columns,
			*indexes,
			*keys,
		]
	)
	return (
		f"create table if not exists `tab{doctype['name']}` (\n  {body})\n"
		f"ENGINE={doctype.get('engine') or 'InnoDB'} ROW_FORMAT=DYNAMIC "
		"CHARACTER SET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
	)


def column(field: dict) -> str | None:
	"""A field's column definition, or None for a field without a value."""
	fieldtype, length, default = field["fieldtype"], field.get("length"), field.get("default")
	if fieldtype == "Int" and length and length > 11:
		fieldtype = "Long Int"
	coltype = TYPE_MAP.get(fieldtype)
	if coltype is None:
		return None
	if coltype == "varchar":
		coltype = f"varchar({length or VARCHAR_LEN})"
	elif coltype == "int(11)" and length and length < 11:
		coltype = f"int({length})"
	if fieldtype in NUMERIC:
		coltype += f" not null default {NUMERIC[fieldtype](default or 0) or 0}"
	elif default and default not in DEFAULT_SHORTCUTS and not str(default).startswith(":"):
		coltype += " default '{}'".format(str(default).replace("\\", "\\\\").replace("'", "''"))
	if field.get("unique") and coltype not in ("text", "longtext"):
		coltype += " unique"
	return coltype


def controller_keys(path: Path) -> list[tuple[str, str]]:
	"""(DocType, key definition) for each `frappe.db.add_unique` / `add_index` in `on_doctype_update`."""
	if not path.exists():
		return []
	keys = []
	for node in ast.parse(path.read_text()).body:
		if not (isinstance(node, ast.FunctionDef) and node.name == "on_doctype_update"):
			continue
		for call in ast.walk(node):
			if isinstance(call, ast.Call) and getattr(call.func, "attr", None) in ("add_unique", "add_index"):
				doctype, fields = (ast.literal_eval(a) for a in call.args[:2])
				fields = [fields] if isinstance(fields, str) else fields
				if call.func.attr == "add_unique":
					keys.append((doctype, f"unique `unique_{'_'.join(fields)}`({', '.join(fields)})"))
				else:
					keys.append((doctype, f"index `{'_'.join(fields)}_index`({', '.join(fields)})"))
	return keys


def _scrub(doctype: str) -> str:
	return doctype.lower().replace(" ", "_")


def _folder(doctype: str) -> Path:
	return MODULE / "doctype" / _scrub(doctype)


def as_saved(doctype: str, values: dict) -> dict:
	"""`values` as the document API writes them: Frappe 15's `BaseDocument.get_valid_dict` turns a
	Check into 1/0 and an Int's or a float-like's (`NUMERIC`) None into 0 before the INSERT (the
	columns are NOT NULL), so a raw INSERT of the same record must do the same."""
	types = _field_types(doctype)
	out = dict(values)
	for field, value in values.items():
		kind = types.get(field)
		if kind == "Check":
			out[field] = 1 if value else 0
		elif kind in NUMERIC and not isinstance(value, NUMERIC[kind]):
			out[field] = NUMERIC[kind](value or 0)
	return out


@cache
def _field_types(doctype: str) -> dict[str, str]:
	fields = json.loads((_folder(doctype) / f"{_scrub(doctype)}.json").read_text())["fields"]
	return {f["fieldname"]: f["fieldtype"] for f in fields}

"""Store a `PreflightRecord` in the tables Frappe creates for `Upgrade Preflight` (+ Finding).

The tables come from the DocType JSON (tests/support/doctype_ddl.py, Frappe v15's MariaDB rules),
in strict mode, so a value the core produces that would not fit the DocType fails here rather than
in production, and a field added to the DocType is a column here too.
"""

import uuid

import pymysql

from erp_ops.core.preflight.record import PreflightFindingRow, PreflightRecord
from tests.support.doctype_ddl import as_saved
from tests.support.doctype_ddl import create_tables as create_ddl

PARENT_FIELDS = [f for f in PreflightRecord.model_fields if f != "findings"]
CHILD_FIELDS = list(PreflightFindingRow.model_fields)


def create_tables(kwargs: dict) -> None:
	conn = pymysql.connect(**kwargs, autocommit=True)
	with conn.cursor() as cur:
		cur.execute("SET SESSION sql_mode = 'STRICT_ALL_TABLES'")
		for ddl in create_ddl("Upgrade Preflight", "Upgrade Preflight Finding"):
			cur.execute(ddl)
	conn.close()


def save(kwargs: dict, record: PreflightRecord) -> str:
	"""Insert the document and its findings in one transaction; returns the document name."""
	name = uuid.uuid4().hex[:10]
	conn = pymysql.connect(**kwargs)
	try:
		with conn.cursor() as cur:
			cur.execute("SET SESSION sql_mode = 'STRICT_ALL_TABLES'")
			values = as_saved("Upgrade Preflight", record.model_dump(exclude={"findings"}))
			cur.execute(
				f"INSERT INTO `tabUpgrade Preflight` (name, {', '.join(f'`{f}`' for f in PARENT_FIELDS)})"
				f" VALUES (%s, {', '.join(['%s'] * len(PARENT_FIELDS))})",
				[name, *(values[f] for f in PARENT_FIELDS)],
			)
			saved = [as_saved("Upgrade Preflight Finding", row.model_dump()) for row in record.findings]
			rows = [
				[f"{name}-{i}", name, "Upgrade Preflight", "findings", i, *(row[f] for f in CHILD_FIELDS)]
				for i, row in enumerate(saved, 1)
			]
			if rows:
				cur.executemany(
					"INSERT INTO `tabUpgrade Preflight Finding` (name, parent, parenttype, parentfield, idx, "
					f"{', '.join(f'`{f}`' for f in CHILD_FIELDS)}) VALUES ({', '.join(['%s'] * (5 + len(CHILD_FIELDS)))})",
					rows,
				)
		conn.commit()
	finally:
		conn.close()
	return name


def load(kwargs: dict, name: str) -> tuple[dict, list[dict]]:
	conn = pymysql.connect(**kwargs, cursorclass=pymysql.cursors.DictCursor)
	try:
		with conn.cursor() as cur:
			cur.execute("SELECT * FROM `tabUpgrade Preflight` WHERE name = %s", (name,))
			doc = cur.fetchone()
			cur.execute(
				"SELECT * FROM `tabUpgrade Preflight Finding` WHERE parent = %s ORDER BY idx", (name,)
			)
			rows = cur.fetchall()
	finally:
		conn.close()
	return doc, rows

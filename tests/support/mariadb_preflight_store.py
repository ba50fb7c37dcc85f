"""Store a `PreflightRecord` in MariaDB tables shaped like Frappe's for `Upgrade Preflight`.

Column types follow Frappe v15's MariaDB mapping (Data/Select varchar(140), Small Text text,
Long Text longtext, Int int, Datetime datetime(6)), in strict mode, so a value the core produces
that would not fit the DocType fails here rather than in production.
"""

import uuid

import pymysql

from erp_ops.core.preflight.record import PreflightFindingRow, PreflightRecord

PARENT = (
	"CREATE TABLE `tabUpgrade Preflight` (name VARCHAR(140) PRIMARY KEY, target INT, jump VARCHAR(140),"
	" rule_set VARCHAR(140), verdict VARCHAR(140), risk_score INT, risk_band VARCHAR(140), blockers INT,"
	" high INT, warnings INT, bench_path TEXT, site VARCHAR(140), generated_at DATETIME(6),"
	" summary_md LONGTEXT, report_json LONGTEXT) CHARACTER SET utf8mb4"
)
CHILD = (
	"CREATE TABLE `tabUpgrade Preflight Finding` (name VARCHAR(140) PRIMARY KEY, parent VARCHAR(140),"
	" parenttype VARCHAR(140), parentfield VARCHAR(140), idx INT, check_id VARCHAR(140), severity VARCHAR(140),"
	" title TEXT, app VARCHAR(140), file TEXT, line INT, evidence TEXT, fix TEXT, phase VARCHAR(140),"
	" sources TEXT) CHARACTER SET utf8mb4"
)
PARENT_FIELDS = [f for f in PreflightRecord.model_fields if f != "findings"]
CHILD_FIELDS = list(PreflightFindingRow.model_fields)


def create_tables(kwargs: dict) -> None:
	conn = pymysql.connect(**kwargs, autocommit=True)
	with conn.cursor() as cur:
		cur.execute("SET SESSION sql_mode = 'STRICT_ALL_TABLES'")
		cur.execute(PARENT)
		cur.execute(CHILD)
	conn.close()


def save(kwargs: dict, record: PreflightRecord) -> str:
	"""Insert the document and its findings in one transaction; returns the document name."""
	name = uuid.uuid4().hex[:10]
	conn = pymysql.connect(**kwargs)
	try:
		with conn.cursor() as cur:
			cur.execute("SET SESSION sql_mode = 'STRICT_ALL_TABLES'")
			values = record.model_dump(exclude={"findings"})
			cur.execute(
				f"INSERT INTO `tabUpgrade Preflight` (name, {', '.join(f'`{f}`' for f in PARENT_FIELDS)})"
				f" VALUES (%s, {', '.join(['%s'] * len(PARENT_FIELDS))})",
				[name, *(values[f] for f in PARENT_FIELDS)],
			)
			rows = [
				[
					f"{name}-{i}",
					name,
					"Upgrade Preflight",
					"findings",
					i,
					*(row.model_dump()[f] for f in CHILD_FIELDS),
				]
				for i, row in enumerate(record.findings, 1)
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

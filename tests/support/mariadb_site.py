"""A Frappe-shaped site database in MariaDB (only the tables a preflight reads), and its reader.

The reader is what the Frappe layer will do with `frappe.get_all`; here it runs plain SQL so the
core's site protocol is exercised against a real database without Frappe.
"""

import pymysql

from erp_ops.core.preflight.models import Customization, SiteFacts
from erp_ops.core.preflight.site import pending_patches

SCHEMA = (
	"CREATE TABLE `tabPatch Log` (name VARCHAR(140) PRIMARY KEY, patch LONGTEXT, skipped INT NOT NULL DEFAULT 0)",
	"CREATE TABLE `tabCustom Field` (name VARCHAR(140) PRIMARY KEY, dt VARCHAR(140), fieldname VARCHAR(140))",
	"CREATE TABLE `tabProperty Setter` (name VARCHAR(140) PRIMARY KEY, doc_type VARCHAR(140), property VARCHAR(140))",
)


def create_site_tables(kwargs: dict) -> None:
	conn = pymysql.connect(**kwargs, autocommit=True)
	with conn.cursor() as cur:
		for statement in SCHEMA:
			cur.execute(statement)
	conn.close()


def insert(kwargs: dict, table: str, rows: list[dict]) -> None:
	conn = pymysql.connect(**kwargs, autocommit=True)
	with conn.cursor() as cur:
		for row in rows:
			cols = ", ".join(f"`{c}`" for c in row)
			cur.execute(
				f"INSERT INTO `{table}` ({cols}) VALUES ({', '.join(['%s'] * len(row))})", list(row.values())
			)
	conn.close()


def read_site_facts(kwargs: dict, site: str, patches_by_app: dict[str, str]) -> SiteFacts:
	"""Patch Log, customizations and the database size, read-only."""
	conn = pymysql.connect(**kwargs)
	try:
		with conn.cursor() as cur:
			cur.execute("SELECT patch FROM `tabPatch Log` WHERE skipped = 0")
			executed = {row[0] for row in cur.fetchall()}
			cur.execute("SELECT name, dt FROM `tabCustom Field`")
			customizations = [
				Customization(kind="Custom Field", doctype=dt, name=name) for name, dt in cur.fetchall()
			]
			cur.execute("SELECT name, doc_type FROM `tabProperty Setter`")
			customizations += [
				Customization(kind="Property Setter", doctype=dt, name=name) for name, dt in cur.fetchall()
			]
			cur.execute(
				"SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables WHERE table_schema = %s",
				(kwargs["database"],),
			)
			db_size = int(cur.fetchone()[0])
			cur.execute("SELECT VERSION()")
			version = cur.fetchone()[0]
	finally:
		conn.close()
	return SiteFacts(
		site=site,
		pending_patches=pending_patches(patches_by_app, executed),
		customizations=customizations,
		db_size_bytes=db_size,
		mariadb_version=version.split("-")[0],
	)

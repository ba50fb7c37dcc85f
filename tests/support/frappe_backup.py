"""A Frappe-like site database with data, backed up the way `bench backup` does it (v15).

`take_backup` writes Frappe's own gzip member (the `-- begin frappe metadata` header) and appends
`mariadb-dump --single-transaction --quick --lock-tables=false <db> | gzip`, then the files
archives (`tar -cf`), the site config copy and, when asked, encrypts in place with gpg -c as
`BackupGenerator.backup_encryption` does.
"""

import gzip
import json
import os
import shlex
import shutil
import subprocess
import tarfile
import tempfile
from datetime import datetime
from decimal import Decimal

import pymysql

DOCTYPES = [
	# name, issingle, is_virtual
	("DocType", 0, 0),
	("User", 0, 0),
	("Patch Log", 0, 0),
	("Installed Application", 0, 0),
	("GL Entry", 0, 0),
	("Item", 0, 0),
	("Version", 0, 0),
	("Sales Invoice", 0, 0),
	("System Settings", 1, 0),
	("Virtual Report Row", 0, 1),
]
DDL = [
	"CREATE TABLE `tabDocType` (name VARCHAR(140) PRIMARY KEY, module VARCHAR(140), issingle INT NOT NULL DEFAULT 0, is_virtual INT NOT NULL DEFAULT 0)",
	"CREATE TABLE `tabUser` (name VARCHAR(140) PRIMARY KEY, creation DATETIME(6), email VARCHAR(140), enabled INT DEFAULT 1)",
	"CREATE TABLE `tabPatch Log` (name VARCHAR(140) PRIMARY KEY, patch TEXT)",
	"CREATE TABLE `tabSingles` (doctype VARCHAR(140), field VARCHAR(140), value TEXT, KEY singles_doctype_field_index (doctype, field))",
	"CREATE TABLE `tabInstalled Application` (name VARCHAR(140) PRIMARY KEY, app_name VARCHAR(140), app_version VARCHAR(140))",
	"CREATE TABLE `tabGL Entry` (name VARCHAR(140) PRIMARY KEY, company VARCHAR(140), account VARCHAR(140), debit DECIMAL(21,9) NOT NULL DEFAULT 0, credit DECIMAL(21,9) NOT NULL DEFAULT 0, is_cancelled INT NOT NULL DEFAULT 0)",
	"CREATE TABLE `tabItem` (name VARCHAR(140) PRIMARY KEY, item_name VARCHAR(140), description TEXT)",
	"CREATE TABLE `tabVersion` (name VARCHAR(140) PRIMARY KEY, ref_doctype VARCHAR(140), docname VARCHAR(140), data LONGTEXT)",
	"CREATE TABLE `tabSales Invoice` (name VARCHAR(140) PRIMARY KEY, customer VARCHAR(140), grand_total DECIMAL(21,9))",
]
APPS = {"frappe": "15.40.0", "erpnext": "15.35.0"}
PATCHES = [f"frappe.patches.v15_0.patch_{i:03d}" for i in range(25)] + [
	f"erpnext.patches.v15_0.patch_{i:03d}" for i in range(15)
]
COMPANIES = ("Acme Ltd", "Widgets Inc")


def create_site_schema(
	conn_kwargs: dict, *, items: int = 300, versions: int = 400, gl_pairs: int = 60
) -> None:
	"""Create and fill the Frappe-like tables in conn_kwargs' database."""
	conn = pymysql.connect(**conn_kwargs, autocommit=True)
	try:
		with conn.cursor() as cur:
			for ddl in DDL:
				cur.execute(ddl + " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci")
			cur.executemany("INSERT INTO `tabDocType` VALUES (%s, 'Core', %s, %s)", DOCTYPES)
			# `bench new-site` writes Administrator and Guest once: their creation times identify the site.
			installed = datetime.now()
			cur.executemany(
				"INSERT INTO `tabUser` VALUES (%s, %s, %s, 1)",
				[
					(u, installed, u)
					for u in ("Administrator", "Guest", "ops@example.com", "acct@example.com")
				],
			)
			cur.executemany(
				"INSERT INTO `tabPatch Log` VALUES (%s, %s)", [(f"PL-{i}", p) for i, p in enumerate(PATCHES)]
			)
			cur.executemany(
				"INSERT INTO `tabSingles` VALUES ('System Settings', %s, %s)",
				[("time_zone", "Asia/Kolkata"), ("country", "India"), ("encrypt_backup", "0")],
			)
			cur.executemany(
				"INSERT INTO `tabInstalled Application` VALUES (%s, %s, %s)",
				[(a, a, v) for a, v in APPS.items()],
			)
			cur.executemany(
				"INSERT INTO `tabItem` VALUES (%s, %s, %s)",
				[
					(f"ITEM-{i:05d}", f"Item {i}", "a fairly ordinary item description " * 3)
					for i in range(items)
				],
			)
			cur.executemany(
				"INSERT INTO `tabVersion` VALUES (%s, 'Item', %s, %s)",
				[
					(
						f"VER-{i:06d}",
						f"ITEM-{i % max(items, 1):05d}",
						json.dumps({"changed": [["rate", i, i + 1]]}),
					)
					for i in range(versions)
				],
			)
			cur.executemany(
				"INSERT INTO `tabSales Invoice` VALUES (%s, 'Customer', %s)",
				[(f"SINV-{i:05d}", Decimal(i) + Decimal("0.5")) for i in range(50)],
			)
			gl = []
			for i in range(gl_pairs):
				company = COMPANIES[i % 2]
				amount = Decimal(100 + i) + Decimal("0.25")
				gl.append((f"GLE-{i}-D", company, "Debtors", amount, 0))
				gl.append((f"GLE-{i}-C", company, "Sales", 0, amount))
			cur.executemany("INSERT INTO `tabGL Entry` VALUES (%s, %s, %s, %s, %s, 0)", gl)
	finally:
		conn.close()


def dump_binary() -> str:
	found = shutil.which("mariadb-dump") or shutil.which("mysqldump")
	assert found, "neither mariadb-dump nor mysqldump is installed"
	return found


def take_backup(
	conn_kwargs: dict,
	db_name: str,
	sites_path: str,
	site: str,
	*,
	stamp: str | None = None,
	with_files: bool = True,
	encryption_key: str | None = None,
	public_files: int = 3,
	private_files: int = 2,
) -> str:
	"""Back up the site like `bench --site S backup [--with-files]`; the backups folder."""
	stamp = stamp or datetime.now().strftime("%Y%m%d_%H%M%S")
	slug = site.replace(".", "_")
	enc = "-enc" if encryption_key else ""
	site_path = os.path.join(sites_path, site)
	folder = os.path.join(site_path, "private", "backups")
	os.makedirs(folder, exist_ok=True)
	with open(os.path.join(site_path, "site_config.json"), "w") as f:
		json.dump(
			{
				"db_name": db_name,
				"db_password": "x",
				**({"backup_encryption_key": encryption_key} if encryption_key else {}),
			},
			f,
		)

	db_path = os.path.join(folder, f"{stamp}-{slug}-database{enc}.sql.gz")
	header = "-- begin frappe metadata\n-- [frappe]\n-- version = 15.40.0\n-- branch = version-15\n-- end frappe metadata\n--\n"
	with gzip.open(db_path, "wt") as f:
		f.write(header)
	args = [
		dump_binary(),
		f"--user={conn_kwargs['user']}",
		f"--host={conn_kwargs['host']}",
		f"--port={conn_kwargs['port']}",
		*([f"--password={conn_kwargs['password']}"] if conn_kwargs.get("password") else []),
		"--single-transaction",
		"--quick",
		"--lock-tables=false",
		db_name,
	]
	subprocess.run(
		["bash", "-c", f"set -o pipefail; {shlex.join(args)} | gzip >> {shlex.quote(db_path)}"],
		check=True,
		timeout=600,
	)
	shutil.copy(
		os.path.join(site_path, "site_config.json"),
		os.path.join(folder, f"{stamp}-{slug}-site_config_backup{enc}.json"),
	)
	if with_files:
		for folder_name, count, name in (
			("public", public_files, "files"),
			("private", private_files, "private-files"),
		):
			files_dir = os.path.join(site_path, folder_name, "files")
			os.makedirs(files_dir, exist_ok=True)
			for i in range(count):
				with open(os.path.join(files_dir, f"attachment-{i}.txt"), "w") as f:
					f.write(f"file {i} of {folder_name}\n" * 50)
			subprocess.run(
				[
					"tar",
					"-cf",
					os.path.join(folder, f"{stamp}-{slug}-{name}{enc}.tar"),
					f"./{site}/{folder_name}/files",
				],
				cwd=sites_path,
				check=True,
			)
	if encryption_key:
		for name in os.listdir(folder):
			if name.startswith(stamp) and (name.endswith(".sql.gz") or name.endswith(".tar")):
				gpg_encrypt(os.path.join(folder, name), encryption_key)
	return folder


def gpg_encrypt(path: str, passphrase: str) -> None:
	"""`gpg --yes --passphrase K --pinentry-mode loopback -c FILE` then rename over the original, as Frappe."""
	home = tempfile.mkdtemp(prefix="gpg")  # short: gpg-agent's socket path has a length limit
	try:
		subprocess.run(
			[
				"gpg",
				"--batch",
				"--yes",
				"--homedir",
				home,
				"--passphrase",
				passphrase,
				"--pinentry-mode",
				"loopback",
				"-c",
				path,
			],
			check=True,
			capture_output=True,
		)
	finally:
		subprocess.run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], capture_output=True)
		shutil.rmtree(home, ignore_errors=True)
	os.rename(path + ".gpg", path)


def table_checksums(conn_kwargs: dict, db_name: str) -> dict[str, int | None]:
	"""CHECKSUM TABLE of every table: equal before and after proves the source is untouched."""
	conn = pymysql.connect(**{**conn_kwargs, "database": db_name}, autocommit=True)
	try:
		with conn.cursor() as cur:
			cur.execute("SHOW TABLES")
			tables = [r[0] for r in cur.fetchall()]
			cur.execute("CHECKSUM TABLE " + ", ".join(f"`{t}`" for t in tables))
			return {r[0].split(".", 1)[1]: r[1] for r in cur.fetchall()}
	finally:
		conn.close()


def scratch_databases(conn_kwargs: dict) -> list[str]:
	conn = pymysql.connect(**conn_kwargs, autocommit=True)
	try:
		with conn.cursor() as cur:
			cur.execute("SHOW DATABASES LIKE 'erp\\_ops\\_drill\\_%'")
			return [r[0] for r in cur.fetchall()]
	finally:
		conn.close()


def read_dump(path: str) -> tuple[bytes, bytes]:
	"""(Frappe's header, mariadb-dump's SQL) of a plain dump written as `take_backup` writes it."""
	import zlib

	with open(path, "rb") as f:
		data = f.read()
	first = zlib.decompressobj(31)
	header = first.decompress(data)
	return header, gzip.decompress(first.unused_data)


def write_dump(path: str, header: bytes, sql: bytes, *, crc_of: bytes | None = None) -> None:
	"""Write the two gzip members as bench does. `crc_of`: keep the trailer (CRC-32, length) of
	that text instead, as if bits flipped in the deflate data after it was compressed."""
	import struct
	import zlib

	body = gzip.compress(sql, mtime=0)
	if crc_of is not None:
		body = body[:-8] + struct.pack("<II", zlib.crc32(crc_of), len(crc_of) & 0xFFFFFFFF)
	with open(path, "wb") as f:
		f.write(gzip.compress(header, mtime=0) + body)

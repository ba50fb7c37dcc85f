"""Drill time beside a plain `gunzip | mariadb` restore of the same generated dump, in one run.

    ERP_OPS_TEST_MARIADB=mysql://root:@127.0.0.1:3306 python benchmarks/drill.py            # ~100 MB of SQL
    ERP_OPS_TEST_MARIADB=mysql://root:@127.0.0.1:3306 python benchmarks/drill.py --size-mb 500  # the issue's size

The dump is generated in mysqldump's format (extended INSERTs, DISABLE KEYS, LOCK TABLES) with
Frappe's header member in front, for a Frappe-like schema whose bulk is `tabVersion`; it is
written to a temporary folder under a v15 backup name and removed at the end. Both restores go
to databases this script creates and drops (`erp_ops_bench_plain_*` and the drill's scratch).
The goal of the issue: the drill (lock, sweep, hash, identity, restore, trailer, verify against
the expected counts, drop) costs at most 15% over the plain restore. Order: plain, drill, plain; plain_s is the mean of the two plain runs (whichever restore
comes second runs while InnoDB still purges the first one's dropped tables). The last line is
`… plain1_s=… plain2_s=… drill_s=… plain_s=… overhead_pct=…`.
"""

import argparse
import gzip
import os
import random
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from erp_ops.core.drills import DrillOptions, SiteFacts, latest_backup_set, run_drill
from erp_ops.core.drills.client import MariaDBClient, MariaDBTarget, quote_ident

SITE = "bench.example.com"
WORDS = "invoice payment stock ledger entry customer supplier item warehouse journal account tax rate".split()
TABLES = {
	"tabDocType": "name VARCHAR(140) NOT NULL, module VARCHAR(140), issingle INT NOT NULL DEFAULT 0, is_virtual INT NOT NULL DEFAULT 0, PRIMARY KEY (name)",
	"tabUser": "name VARCHAR(140) NOT NULL, email VARCHAR(140), PRIMARY KEY (name)",
	"tabPatch Log": "name VARCHAR(140) NOT NULL, patch TEXT, PRIMARY KEY (name)",
	"tabSingles": "doctype VARCHAR(140), field VARCHAR(140), value TEXT, KEY singles_doctype_field_index (doctype, field)",
	"tabInstalled Application": "name VARCHAR(140) NOT NULL, app_name VARCHAR(140), app_version VARCHAR(140), PRIMARY KEY (name)",
	"tabGL Entry": "name VARCHAR(140) NOT NULL, company VARCHAR(140), account VARCHAR(140), debit DECIMAL(21,9) NOT NULL DEFAULT 0, credit DECIMAL(21,9) NOT NULL DEFAULT 0, is_cancelled INT NOT NULL DEFAULT 0, PRIMARY KEY (name), KEY company (company)",
	"tabVersion": "name VARCHAR(140) NOT NULL, ref_doctype VARCHAR(140), docname VARCHAR(140), data LONGTEXT, PRIMARY KEY (name), KEY ref_doctype (ref_doctype, docname)",
}
DOCTYPES = ["DocType", "User", "Patch Log", "Installed Application", "GL Entry", "Version"]


def _sql_str(value: str) -> str:
	return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _insert(table: str, rows: list[str], counts: dict[str, int] | None = None) -> bytes:
	if counts is not None:
		counts[table] = counts.get(table, 0) + len(rows)
	return f"INSERT INTO `{table}` VALUES {','.join(rows)};\n".encode()


def write_dump(path: str, sql_bytes: int, db_name: str) -> tuple[int, dict[str, int]]:
	"""A mysqldump-shaped dump of about `sql_bytes` of SQL, gzip'ed the way bench backup does it;
	(bytes of SQL, rows written per table: what the drill is told to expect)."""
	rng = random.Random(15)
	with gzip.open(path, "wb") as f:
		f.write(b"-- begin frappe metadata\n-- [frappe]\n-- version = 15.40.0\n-- end frappe metadata\n")
	compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
	written = 0
	counts: dict[str, int] = {}
	with open(path, "ab") as out:

		def emit(data: bytes) -> None:
			nonlocal written
			written += len(data)
			out.write(compressor.compress(data))

		emit(
			f"-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB\n--\n-- Host: 127.0.0.1    Database: {db_name}\n"
			"-- ------------------------------------------------------\n"
			"/*!40101 SET NAMES utf8mb4 */;\n/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;\n"
			"/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;\n".encode()
		)
		for table, columns in TABLES.items():
			emit(
				f"\nDROP TABLE IF EXISTS `{table}`;\nCREATE TABLE `{table}` ({columns}) "
				"ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;\n".encode()
			)
			emit(f"LOCK TABLES `{table}` WRITE;\n/*!40000 ALTER TABLE `{table}` DISABLE KEYS */;\n".encode())
			if table == "tabDocType":
				emit(_insert(table, [f"({_sql_str(d)},'Core',0,0)" for d in DOCTYPES], counts))
			elif table == "tabUser":
				emit(
					_insert(
						table, [f"('user{i}@example.com','user{i}@example.com')" for i in range(50)], counts
					)
				)
			elif table == "tabPatch Log":
				emit(_insert(table, [f"('PL-{i}','frappe.patches.v15_0.p{i}')" for i in range(800)], counts))
			elif table == "tabSingles":
				emit(_insert(table, [f"('System Settings','f{i}','v{i}')" for i in range(100)], counts))
			elif table == "tabInstalled Application":
				emit(
					_insert(
						table, ["('frappe','frappe','15.40.0')", "('erpnext','erpnext','15.35.0')"], counts
					)
				)
			elif table == "tabGL Entry":
				for batch in range(20):
					rows = []
					for i in range(500):
						n = batch * 500 + i
						amount = f"{rng.randint(1, 99999)}.{rng.randint(0, 99):02d}"
						company = ("Acme Ltd", "Widgets Inc")[n % 2]
						rows.append(f"('GLE-{n}-D','{company}','Debtors',{amount},0,0)")
						rows.append(f"('GLE-{n}-C','{company}','Sales',0,{amount},0)")
					emit(_insert(table, rows, counts))
			elif table == "tabVersion":
				n = 0
				while written < sql_bytes:
					rows = []
					for _ in range(400):
						text = " ".join(rng.choices(WORDS, k=rng.randint(30, 90)))
						data = '{"changed": [["description", "' + text + '", "' + text[::-1] + '"]]}'
						rows.append(f"('VER-{n:09d}','Item','ITEM-{n % 5000:05d}',{_sql_str(data)})")
						n += 1
					emit(_insert(table, rows, counts))
			emit(f"/*!40000 ALTER TABLE `{table}` ENABLE KEYS */;\nUNLOCK TABLES;\n".encode())
		emit(b"/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;\n-- Dump completed\n")
		out.write(compressor.flush())
	return written, counts


def plain_restore(client: MariaDBClient, dump: str) -> float:
	"""`gunzip -c dump | mariadb db` into a database created and dropped here; seconds."""
	name = f"erp_ops_bench_plain_{secrets.token_hex(4)}"
	client.query(f"CREATE DATABASE {quote_ident(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
	try:
		started = time.monotonic()
		command = f"set -o pipefail; gunzip -c {shlex.quote(dump)} | {shlex.join(client.argv(name))}"
		subprocess.run(["bash", "-c", command], check=True, env=client.env())
		return time.monotonic() - started
	finally:
		client.query(f"DROP DATABASE IF EXISTS {quote_ident(name)}")


def main() -> int:
	parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	parser.add_argument(
		"--size-mb", type=float, default=100, help="uncompressed SQL size (default 100; the issue: 500)"
	)
	parser.add_argument("--workdir", help="where to write the dump (default: a temporary folder, removed)")
	args = parser.parse_args()
	url = os.environ.get("ERP_OPS_TEST_MARIADB")
	if not url:
		print(
			"ERP_OPS_TEST_MARIADB is not set: point it at a MariaDB that may create and drop databases, "
			"e.g. ERP_OPS_TEST_MARIADB=mysql://root:@127.0.0.1:3306",
			file=sys.stderr,
		)
		return 64
	client = MariaDBClient(MariaDBTarget.from_url(url))
	workdir = tempfile.mkdtemp(prefix="erp_ops_drill_bench_", dir=args.workdir)
	try:
		folder = os.path.join(workdir, SITE, "private", "backups")
		os.makedirs(folder)
		stamp = time.strftime("%Y%m%d_%H%M%S")
		dump = os.path.join(folder, f"{stamp}-{SITE.replace('.', '_')}-database.sql.gz")
		t0 = time.monotonic()
		sql_bytes, counts = write_dump(dump, int(args.size_mb * 1e6), "_benchsite0000000")
		print(
			f"generated {sql_bytes / 1e6:.0f} MB of SQL ({os.path.getsize(dump) / 1e6:.0f} MB gzip) in {time.monotonic() - t0:.0f}s",
			file=sys.stderr,
		)
		# plain, drill, plain: whichever restore comes second runs while InnoDB still purges the
		# first one's dropped tables, so the drill is compared with the mean of both plain runs.
		plain_before = plain_restore(client, dump)
		print(f"plain gunzip | mariadb: {plain_before:.1f}s", file=sys.stderr)
		t1 = time.monotonic()
		# Every check on: the trailer, the identity, and the row counts (what the dump holds is known
		# here, as `--expect-counts` tells the CLI), so the verdict is PASSED, not "not verified".
		result = run_drill(
			client,
			latest_backup_set(folder, SITE),
			SiteFacts(site=SITE),
			DrillOptions(require_files=False, expected_counts=counts),
		)
		drill_s = time.monotonic() - t1
		plain_after = plain_restore(client, dump)
		print(f"drill: {drill_s:.1f}s; plain again: {plain_after:.1f}s", file=sys.stderr)
		plain_s = (plain_before + plain_after) / 2
		print(f"drill: {result.outcome.value}: {result.reason}", file=sys.stderr)
		if result.outcome.value != "passed":
			for check in result.failed_checks:
				print(f"  {check.code}: {check.reason}", file=sys.stderr)
			return 2
		overhead = (drill_s - plain_s) / plain_s * 100
		print(
			f"sql_mb={sql_bytes / 1e6:.0f} gz_mb={os.path.getsize(dump) / 1e6:.1f} rows={result.rows} "
			f"rto_s={result.rto_s:.1f} verify_s={result.verify_s:.2f} "
			f"plain1_s={plain_before:.1f} plain2_s={plain_after:.1f} "
			f"drill_s={drill_s:.1f} plain_s={plain_s:.1f} overhead_pct={overhead:.1f}"
		)
		return 0
	finally:
		shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
	sys.exit(main())

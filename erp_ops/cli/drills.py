"""`erp-ops drill`: a restore drill of a Frappe backup without Frappe.

    erp-ops drill --backup sites/SITE/private/backups --mariadb mysql://root:pw@127.0.0.1:3306 [--json]

`--backup` is a backup file (its set is drilled) or a backups folder (its newest set, of `--site`
when given). Exit codes: 0 the drill passed, 2 it failed (or no backup was found), 64 bad usage.
The lead wires `add_parser`/`run` into `erp_ops.cli`; `python -m erp_ops.cli.drills` runs it alone.
"""

import argparse
import os
import sys
from collections.abc import Sequence

from erp_ops.core.bounds import argtype

EXIT_OK = 0
EXIT_FAILED = 2
EXIT_USAGE = 64


def add_parser(subparsers) -> None:
	"""Add the `drill` command to an argparse subparsers object."""
	drill = subparsers.add_parser(
		"drill",
		help="restore the latest backup into a scratch database, verify it, drop it; exit 2 on failure",
	)
	drill.add_argument("--backup", required=True, help="a backup file of the set, or a backups folder")
	drill.add_argument(
		"--mariadb",
		default=os.environ.get("ERP_OPS_MARIADB"),
		help="server for the scratch database, mysql://user:password@host:port (or ERP_OPS_MARIADB)",
	)
	drill.add_argument("--site", help="site name (picks its sets in a shared folder; checks the file names)")
	drill.add_argument(
		"--site-db",
		action="append",
		default=[],
		metavar="NAME",
		help="a site's database name: never a restore target; the first is checked against the dump (repeatable)",
	)
	drill.add_argument(
		"--encryption-key",
		default=os.environ.get("ERP_OPS_BACKUP_ENCRYPTION_KEY"),
		help="backup_encryption_key for -enc backups (or ERP_OPS_BACKUP_ENCRYPTION_KEY; else the set's site config)",
	)
	drill.add_argument("--no-files", action="store_true", help="do not require the files archives")
	drill.add_argument(
		"--time-zone", help="the site's time zone (backup names are local time), e.g. Asia/Kolkata"
	)
	drill.add_argument(
		"--tolerance",
		type=argtype("tolerance"),
		default=0.02,
		help="relative row-count tolerance (default 0.02)",
	)
	drill.add_argument("--json", action="store_true", help="print the drill result as JSON")


def run(args: argparse.Namespace) -> int:
	"""Run the drill the arguments describe; the exit code."""
	from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

	from erp_ops.core.drills import DrillOptions, SiteFacts, latest_backup_set, run_drill
	from erp_ops.core.drills.client import MariaDBClient, MariaDBTarget
	from erp_ops.core.drills.discovery import backup_set_of
	from erp_ops.core.drills.errors import BackupNotFound, UnsafeScratchTarget
	from erp_ops.core.errors import ErpOpsError, InvalidInput

	if not args.mariadb:
		return _usage("--mariadb is required: mysql://user:password@host:port (or set ERP_OPS_MARIADB)")
	if not os.path.exists(args.backup):
		return _usage(f"--backup {args.backup!r} does not exist")
	if args.time_zone:
		try:
			ZoneInfo(args.time_zone)
		except (ZoneInfoNotFoundError, ValueError):
			return _usage(f"--time-zone {args.time_zone!r} is not a time zone name")
	try:
		target = MariaDBTarget.from_url(args.mariadb)
	except InvalidInput as exc:
		return _usage(str(exc))
	try:
		if os.path.isdir(args.backup):
			backup = latest_backup_set(args.backup, args.site)
		else:
			backup = backup_set_of(args.backup)
	except BackupNotFound as exc:
		print(f"erp-ops drill: FAILED: {exc}", file=sys.stderr)
		return EXIT_FAILED
	site = SiteFacts(
		site=args.site, db_name=args.site_db[0] if args.site_db else None, site_databases=args.site_db
	)
	options = DrillOptions(
		require_files=not args.no_files,
		encryption_key=args.encryption_key,
		time_zone=args.time_zone,
		tolerance_rel=args.tolerance,
	)
	try:
		result = run_drill(MariaDBClient(target), backup, site, options)
	except UnsafeScratchTarget as exc:
		return _usage(str(exc))
	except ErpOpsError as exc:
		print(f"erp-ops drill: FAILED: {exc}", file=sys.stderr)
		return EXIT_FAILED
	print(result.model_dump_json(indent=2) if args.json else render(result))
	return EXIT_OK if result.outcome.value == "passed" else EXIT_FAILED


def render(result) -> str:
	"""The drill as plain text for a terminal or a cron mail."""
	lines = [
		f"drill of {result.backup_stamp} ({result.backup_folder}): {result.outcome.value.upper()}",
		f"  {result.reason}",
		"  RPO {} · RTO {} · verify {} · scratch {} ({})".format(
			_duration(result.rpo_s),
			_duration(result.rto_s),
			_duration(result.verify_s),
			result.scratch_database,
			"dropped"
			if result.scratch_dropped
			else "NOT dropped"
			if result.rto_s is not None
			else "not created",
		),
		"",
	]
	for f in result.files:
		lines.append(f"  {f.kind.value:<14} {f.size:>14,d} B  sha256 {f.sha256[:16]}…  {f.name}")
	lines.append("")
	for check in result.checks:
		lines.append(f"  {check.status.value.upper():<5} {check.code:<22} {check.reason}")
	return "\n".join(lines)


def _duration(seconds: float | None) -> str:
	if seconds is None:
		return "-"
	if seconds < 120:
		return f"{seconds:.1f}s"
	if seconds < 7200:
		return f"{seconds / 60:.1f}min"
	return f"{seconds / 3600:.1f}h"


def _usage(message: str) -> int:
	print(f"erp-ops drill: error: {message}", file=sys.stderr)
	return EXIT_USAGE

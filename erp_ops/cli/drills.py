"""`erp-ops drill`: a restore drill of a Frappe backup without Frappe.

    erp-ops drill --backup sites/SITE/private/backups --mariadb mysql://root:pw@127.0.0.1:3306 [--json]
    erp-ops drill --sweep --mariadb mysql://root:pw@127.0.0.1:3306

`--backup` is a backup file (its set is drilled) or a backups folder (its newest set, of `--site`
when given). When the folder is a site's own (`<sites>/<site>/private/backups` beside the site's
`site_config.json`), the site, its database and, when that database is on the server, its apps,
patch log and fingerprint are the live facts the backup is judged against.

Exit codes, one rule: 64 when the command line itself is wrong (a missing or malformed option, an
unknown time zone, an unreadable or malformed `--expect-counts` file); 2 for everything about the
backup, which is what a drill exists to catch: no such path, an empty folder, no set of the site,
another site's set, a failed check, or another drill running on this host; 3 restored but not
verified (nothing said what the backup should hold); 0 passed.
The lead wires `add_parser`/`run` into `erp_ops.cli`; `python -m erp_ops.cli.drills` runs it alone.
"""

import argparse
import json
import os
import sys

from erp_ops.core.bounds import argtype

EXIT_OK = 0
EXIT_FAILED = 2
EXIT_NOT_VERIFIED = 3
EXIT_USAGE = 64


def add_parser(subparsers) -> None:
	"""Add the `drill` command to an argparse subparsers object."""
	drill = subparsers.add_parser(
		"drill",
		help="restore the latest backup into a scratch database, verify it, drop it; exit 2 on failure",
	)
	drill.add_argument(
		"--backup", help="a backup file of the set, or a backups folder (required unless --sweep)"
	)
	drill.add_argument(
		"--mariadb",
		default=os.environ.get("ERP_OPS_MARIADB"),
		help="server for the scratch database, mysql://user:password@host:port (or ERP_OPS_MARIADB)",
	)
	drill.add_argument(
		"--site", help="site name (picks its sets in a shared folder; checks whose backup it is)"
	)
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
	drill.add_argument(
		"--expect-counts",
		metavar="FILE",
		help='JSON {"table": rows, …}: what the set should hold when it has no erp_ops manifest',
	)
	drill.add_argument(
		"--owner",
		help="whose scratch databases these are (marked in them; only these are swept); "
		"default $ERP_OPS_DRILL_OWNER or erp-ops:<user>@<host>",
	)
	drill.add_argument(
		"--sweep",
		action="store_true",
		help="only drop this owner's scratch databases whose drill is gone (killed) and report them",
	)
	drill.add_argument(
		"--wait",
		type=float,
		default=0.0,
		metavar="SECONDS",
		help="wait this long for another drill on this host to finish (default 0: refuse at once)",
	)
	drill.add_argument(
		"--lock-file", help="the host's drill lock (default $ERP_OPS_DRILL_LOCK or <tmp>/erp_ops_drill.lock)"
	)
	drill.add_argument("--json", action="store_true", help="print the drill result as JSON")


def run(args: argparse.Namespace) -> int:
	"""Run the drill the arguments describe; the exit code."""
	from zoneinfo import ZoneInfoNotFoundError

	from erp_ops.cli import render
	from erp_ops.core.clock import zone
	from erp_ops.core.drills import DrillOptions, SiteFacts, latest_backup_set, run_drill
	from erp_ops.core.drills.client import MariaDBClient, MariaDBTarget
	from erp_ops.core.drills.discovery import backup_set_of
	from erp_ops.core.drills.errors import BackupNotFound, UnsafeScratchTarget
	from erp_ops.core.errors import ErpOpsError, InvalidInput

	if not args.mariadb:
		return _usage("--mariadb is required: mysql://user:password@host:port (or set ERP_OPS_MARIADB)")
	try:
		target = MariaDBTarget.from_url(args.mariadb)
	except InvalidInput as exc:
		return _usage(str(exc))
	if args.sweep:
		return _sweep(args, MariaDBClient(target))
	if not args.backup:
		return _usage("--backup is required: a backups folder or a backup file (or --sweep)")
	if args.time_zone:
		try:
			zone(args.time_zone)
		except (ZoneInfoNotFoundError, ValueError):
			return _usage(f"--time-zone {args.time_zone!r} is not a time zone name")
	if not 0 <= args.tolerance < 1:
		return _usage("--tolerance is a fraction between 0 and 1")
	if args.wait < 0:
		return _usage("--wait is a number of seconds, 0 or more")
	expected = None
	if args.expect_counts:
		expected = _expected_counts(args.expect_counts)
		if isinstance(expected, str):
			return _usage(expected)
	if not os.path.exists(args.backup):
		return _failed(f"--backup {args.backup!r} does not exist")
	site_name, live_db = _live_site(args.backup, args.site)
	client = MariaDBClient(target)
	try:
		if os.path.isdir(args.backup):
			backup = latest_backup_set(args.backup, site_name)
		else:
			backup = backup_set_of(args.backup)
		site_dbs = list(dict.fromkeys([*args.site_db, *([live_db] if live_db else [])]))
		site = SiteFacts(site=site_name, db_name=site_dbs[0] if site_dbs else None, site_databases=site_dbs)
		if site.db_name and site.db_name in client.databases(site.db_name):
			site = _with_live_identity(client, site)
		options = DrillOptions(
			require_files=not args.no_files,
			encryption_key=args.encryption_key,
			time_zone=args.time_zone,
			tolerance_rel=args.tolerance,
			expected_counts=expected,
			owner=args.owner,
			lock_path=args.lock_file,
			lock_wait_s=args.wait,
		)
		result = run_drill(client, backup, site, options)
	except BackupNotFound as exc:
		return _failed(str(exc))
	except UnsafeScratchTarget as exc:
		return _usage(str(exc))
	except ErpOpsError as exc:
		return _failed(str(exc))
	print(result.model_dump_json(indent=2) if args.json else render.drill_text(result))
	return {"passed": EXIT_OK, "not_verified": EXIT_NOT_VERIFIED}.get(result.outcome.value, EXIT_FAILED)


def _expected_counts(path: str) -> dict[str, int] | str:
	"""The table → rows mapping of an --expect-counts file, or why it is not one."""
	try:
		with open(path) as f:
			data = json.load(f)
	except OSError as exc:
		return f"--expect-counts {path!r}: {exc.strerror or exc}"
	except ValueError as exc:
		return f"--expect-counts {path!r} is not JSON: {exc}"
	if (
		not isinstance(data, dict)
		or not data
		or not all(isinstance(k, str) and type(v) is int and v >= 0 for k, v in data.items())
	):
		return f'--expect-counts {path!r} must be a JSON object of table → row count, e.g. {{"tabUser": 12}}'
	return data


def _live_site(backup: str, site: str | None) -> tuple[str | None, str | None]:
	"""(site, its db_name) when the backups folder is a site's own, beside its site_config.json."""
	folder = os.path.abspath(backup if os.path.isdir(backup) else os.path.dirname(backup))
	parent, backups = os.path.split(folder)
	site_dir, private = os.path.split(parent)
	if (backups, private) != ("backups", "private"):
		return site, None
	name = os.path.basename(site_dir)
	if site and site != name:
		return site, None
	try:
		with open(os.path.join(site_dir, "site_config.json")) as f:
			db_name = json.load(f).get("db_name")
	except (OSError, ValueError, AttributeError):
		return site, None
	return name, db_name if isinstance(db_name, str) and db_name else None


def _with_live_identity(client, site):
	from erp_ops.core.drills.facts import live_identity

	live = live_identity(client, site.db_name)
	return site.model_copy(
		update={"installed_apps": live.apps, "patches": live.patches, "fingerprint": live.fingerprint}
	)


def _sweep(args: argparse.Namespace, client) -> int:
	from erp_ops.core.drills import default_owner, sweep_scratch
	from erp_ops.core.errors import ErpOpsError

	owner = args.owner or default_owner()
	try:
		entries = sweep_scratch(client, owner)
	except ErpOpsError as exc:
		return _failed(str(exc))
	mine = [e for e in entries if e.owner == owner or e.owner is None]
	if args.json:
		print(json.dumps({"owner": owner, "scratch": [e.model_dump() for e in mine]}, indent=2))
		return EXIT_OK
	dropped = [e for e in mine if e.dropped]
	print(f"sweep of {owner}'s scratch databases: dropped {len(dropped)}")
	for e in mine:
		print(f"  {'dropped' if e.dropped else 'kept':<8} {e.name}: {e.why}")
	others = len(entries) - len(mine)
	if others:
		print(f"  ({others} scratch database(s) of other owners left alone)")
	return EXIT_OK


def _usage(message: str) -> int:
	print(f"erp-ops drill: error: {message}", file=sys.stderr)
	return EXIT_USAGE


def _failed(message: str) -> int:
	print(f"erp-ops drill: FAILED: {message}", file=sys.stderr)
	return EXIT_FAILED

"""`erp-ops preflight`: the upgrade preflight of a bench, without Frappe and without a running site.

    erp-ops preflight --bench PATH --target 16 [--site NAME] [--app APP] [--json | --markdown]
                      [--redis URL --bench-id ID]

Prints plain text (a terminal), Markdown (`--markdown`) or JSON (`--json`). With `--site`, reads the
site's site_config.json and, read-only, its database (Patch Log, server version, size), and checks
the bench's queues on the redis_queue of common_site_config.json unless `--redis` says otherwise.
Exit codes: 0 proceed (with or without care), 2 do not proceed (a blocker was found), 64 bad usage.
Reads only: the bench folder is byte-identical afterwards.
"""

import argparse
import json
import os
import sys

from erp_ops.cli import redis_option
from erp_ops.core.bounds import argtype

EXIT_OK = 0
EXIT_BLOCKED = 2
EXIT_USAGE = 64


def add_parser(subparsers) -> None:
	"""Register `preflight` on the `erp-ops` sub-command parser."""
	parser = subparsers.add_parser(
		"preflight", help="read-only upgrade preflight of a bench; exit 2 when a blocker is found"
	)
	configure(parser)


def configure(parser: argparse.ArgumentParser) -> None:
	parser.add_argument("--bench", required=True, help="bench folder (holds apps/ and sites/)")
	parser.add_argument(
		"--target", required=True, type=argtype("target"), help="target Frappe major version, e.g. 16"
	)
	fmt = parser.add_mutually_exclusive_group()
	fmt.add_argument("--json", action="store_true", help="print the report as JSON")
	fmt.add_argument(
		"--markdown", action="store_true", help="print the report as Markdown (default: plain text)"
	)
	parser.add_argument(
		"--site", help="site folder under sites/: its database is read (read-only) for pending patches"
	)
	redis_option(parser, "redis_queue URL: checks jobs in flight")
	parser.add_argument(
		"--bench-id", default=os.environ.get("ERP_OPS_BENCH_ID"), help="queue-name prefix (with --redis)"
	)
	parser.add_argument(
		"--site-facts", metavar="FILE", help="JSON SiteFacts (pending patches, customizations, ...)"
	)
	parser.add_argument(
		"--db-size-mb", type=argtype("db_size_mb"), help="database size, for the disk headroom check"
	)
	parser.add_argument(
		"--db-path", help="MariaDB data folder: free space (and size when --db-size-mb is absent)"
	)
	parser.add_argument("--backup-path", help="backup folder (default: the bench's sites/)")
	parser.add_argument(
		"--python-version", help="the Python the upgrade will run with (default: the bench's env)"
	)
	parser.add_argument("--node-version", help="the Node the upgrade will run with (default: node on PATH)")
	parser.add_argument(
		"--app",
		action="append",
		dest="apps",
		help="limit every app-level check (code, git, pins, patches) to this app (repeatable)",
	)
	parser.add_argument(
		"--scan-official", action="store_true", help="also scan apps whose remote is github.com/frappe"
	)


def run(args: argparse.Namespace) -> int:
	"""Run the preflight for parsed arguments; print the report; return the exit code."""
	from pathlib import Path

	from erp_ops.core.preflight import SiteFacts, run_preflight, to_json, to_markdown, to_text
	from erp_ops.core.preflight.errors import BenchNotFound, UnknownTarget
	from erp_ops.core.preflight.models import RuntimeVersions
	from erp_ops.core.preflight.sitedb import read_site_config, site_names

	if args.redis and not args.bench_id:
		return _usage("--bench-id is required with --redis: Frappe names queues <bench id>:<queue>")
	site_facts = None
	if args.site_facts:
		try:
			with open(args.site_facts, encoding="utf-8") as fh:
				site_facts = SiteFacts.model_validate(json.load(fh))
		except (OSError, ValueError) as exc:
			return _usage(f"--site-facts: {exc}")
	if args.site:
		known = site_names(Path(args.bench))
		if args.site not in known:
			return _usage(
				f"--site {args.site}: no sites/{args.site}/site_config.json (sites: {', '.join(known) or 'none'})"
			)
	redis_url, bench_id, redis_error = args.redis, args.bench_id, None
	if args.site and not redis_url:
		config = read_site_config(Path(args.bench), args.site)
		redis_url, bench_id = config.redis_queue, bench_id or config.bench_id
		if not redis_url:
			redis_error = "common_site_config.json has no redis_queue"
	conn = None
	if redis_url:
		from redis import Redis
		from redis.exceptions import RedisError

		conn = Redis.from_url(redis_url, socket_connect_timeout=5, socket_timeout=10)
		try:
			conn.ping()
		except RedisError as exc:
			redis_error = f"{redis_url} did not answer: {exc}"
			conn.close()
			conn = None
	try:
		report = run_preflight(
			args.bench,
			args.target,
			site_facts=site_facts,
			site=args.site,
			redis_conn=conn,
			redis_url=redis_url,
			redis_error=redis_error,
			bench_id=bench_id,
			db_path=args.db_path,
			backup_path=args.backup_path,
			db_size_bytes=int(args.db_size_mb * 1024 * 1024) if args.db_size_mb is not None else None,
			scan_apps=args.apps,
			scan_official_apps=args.scan_official,
			runtimes=RuntimeVersions(python=args.python_version, node=args.node_version),
		)
	except (BenchNotFound, UnknownTarget) as exc:
		return _usage(str(exc))
	finally:
		if conn is not None:
			conn.close()
	print(to_json(report) if args.json else to_markdown(report) if args.markdown else to_text(report))
	return EXIT_BLOCKED if report.verdict.value == "do_not_proceed" else EXIT_OK


def _usage(message: str) -> int:
	print(f"erp-ops preflight: error: {message}", file=sys.stderr)
	return EXIT_USAGE

"""`erp-ops`: the core without Frappe, for cron jobs, monitoring systems and a quick look.

    erp-ops status --redis redis://127.0.0.1:11000 --bench-id frappe-bench [--json]
    erp-ops jobs requeue JOB_ID --reason "..." --redis URL --bench-id ID   (see `erp-ops jobs -h`)
    erp-ops preflight --bench PATH --target 16 [--json | --markdown]
    erp-ops runbooks search "queue backlog"
    erp-ops drill --backup PATH --mariadb mysql://root:@127.0.0.1:3306 [--json]
    erp-ops exporter --redis URL --bench-id ID [--listen 127.0.0.1:9726] [--bench-path PATH]

Exit codes: 0 nothing critical, 2 something critical (dead worker, unserved or stale queue, Redis
unreachable, scheduler down) or an action refused, 64 bad usage. Any error is one line on stderr;
`--debug` (anywhere on the line) shows its traceback instead.
"""

import argparse
import os
import sys
from collections.abc import Sequence
from urllib.parse import parse_qsl, urlparse

from erp_ops import __version__
from erp_ops.core.bounds import argtype

EXIT_OK = 0
EXIT_CRITICAL = 2
EXIT_USAGE = 64


class _Parser(argparse.ArgumentParser):
	"""argparse with exit 64 for bad usage and `--debug` on every (sub-)command."""

	def __init__(self, *args, **kwargs):
		super().__init__(*args, **kwargs)
		# SUPPRESS: a sub-command that is not given --debug leaves the top level's answer alone.
		self.add_argument(
			"--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback of an error"
		)

	def error(self, message: str):  # argparse exits 2, which here means "critical"
		self.print_usage(sys.stderr)
		self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def redis_url(text: str) -> str:
	"""argparse type of `--redis`: a URL redis-py reads as written (port and db are numbers).

	redis-py reads `redis://host/abc` as db 0 and fails late on a port that is not a number.
	"""
	parsed = urlparse(text)
	if parsed.scheme not in ("redis", "rediss", "unix"):
		raise argparse.ArgumentTypeError(f"needs a redis:// URL (the bench's redis_queue), got {text!r}")
	try:
		parsed.port  # noqa: B018 (urllib checks the port when it is read)
	except ValueError:
		raise argparse.ArgumentTypeError(f"{text!r}: the port must be a number from 0 to 65535") from None
	if parsed.scheme != "unix" and not parsed.hostname:
		raise argparse.ArgumentTypeError(f"{text!r} names no host")
	dbs = [] if parsed.scheme == "unix" else [parsed.path.strip("/")]
	dbs += [v for k, v in parse_qsl(parsed.query, keep_blank_values=True) if k == "db"]
	for db in dbs:
		if db and not (db.isascii() and db.isdigit()):
			raise argparse.ArgumentTypeError(
				f"{text!r}: the database must be a number (redis://host:port/13)"
			)
	return text


def redis_option(parser: argparse.ArgumentParser, help: str = "redis_queue URL (or ERP_OPS_REDIS)") -> None:
	parser.add_argument("--redis", type=redis_url, default=os.environ.get("ERP_OPS_REDIS"), help=help)


def build_parser() -> argparse.ArgumentParser:
	parser = _Parser(prog="erp-ops", description="Operations signals for a Frappe bench, without Frappe.")
	parser.set_defaults(debug=False)
	parser.add_argument("--version", action="version", version=f"erp-ops {__version__}")
	commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
	status = commands.add_parser("status", help="print the snapshot; exit 2 when something is critical")
	redis_option(status)
	status.add_argument(
		"--bench-id",
		default=os.environ.get("ERP_OPS_BENCH_ID"),
		help="Frappe's bench id: the queue-name prefix (or ERP_OPS_BENCH_ID)",
	)
	status.add_argument("--bench-path", help="bench folder: adds disk headroom and the sites' file locks")
	status.add_argument("--site", help="show this site's own figures beside the bench totals")
	status.add_argument("--json", action="store_true", help="print the snapshot as JSON")
	status.add_argument(
		"--oldest-job-critical",
		type=argtype("oldest_job_critical_s"),
		metavar="SECONDS",
		help="oldest queued job age that is critical (default 1800)",
	)
	status.add_argument(
		"--cache-seconds",
		type=argtype("cache_seconds"),
		default=0,
		help="reuse a snapshot this recent (default 0: read now)",
	)
	for module in _capabilities().values():
		module.add_parser(commands)
	return parser


def main(argv: Sequence[str] | None = None) -> int:
	try:
		parser = build_parser()  # imports the core: an unsupported rq is refused here
	except Exception as exc:
		if "--debug" in (sys.argv[1:] if argv is None else argv):
			raise
		code, message = explain(exc)
		print(f"erp-ops: error: {message}", file=sys.stderr)
		return code
	args = parser.parse_args(argv)
	try:
		if args.command == "status":
			return status(args)
		return _capabilities()[args.command].run(args)
	except Exception as exc:
		if args.debug:
			raise
		code, message = explain(exc)
		print(f"erp-ops {args.command}: error: {message}", file=sys.stderr)
		return code


def explain(exc: BaseException) -> tuple[int, str]:
	"""(exit code, one line) for an error no command handled itself: never a traceback."""
	from redis.exceptions import ConnectionError as RedisConnectionError
	from redis.exceptions import RedisError
	from redis.exceptions import TimeoutError as RedisTimeoutError

	from erp_ops.core.errors import ErpOpsError, InvalidInput

	text = " ".join(str(exc).split()) or type(exc).__name__
	if isinstance(exc, InvalidInput):
		return EXIT_USAGE, text
	if isinstance(exc, ErpOpsError):
		return EXIT_CRITICAL, text
	if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
		return EXIT_CRITICAL, f"Redis did not answer: {text}"
	if isinstance(exc, RedisError):
		return (
			EXIT_CRITICAL,
			f"Redis refused a read ({type(exc).__name__}: {text}); a key is not what RQ writes",
		)
	if isinstance(exc, OSError):
		return EXIT_CRITICAL, f"{type(exc).__name__}: {text}"
	return EXIT_CRITICAL, f"{type(exc).__name__}: {text} (--debug shows where)"


def _capabilities() -> dict:
	"""Sub-command name → module with `add_parser(subparsers)` and `run(args) -> int`."""
	from erp_ops.cli import control as cli_control
	from erp_ops.cli import drills as cli_drills
	from erp_ops.cli import exporter as cli_exporter
	from erp_ops.cli import preflight as cli_preflight
	from erp_ops.cli import runbooks as cli_runbooks

	return {
		"jobs": cli_control,
		"drill": cli_drills,
		"preflight": cli_preflight,
		"runbooks": cli_runbooks,
		"exporter": cli_exporter,
	}


def status(args: argparse.Namespace) -> int:
	from redis import Redis

	from erp_ops.cli import render
	from erp_ops.core.signals import Thresholds, snapshot

	if not args.redis:
		return _usage("--redis needs a redis:// URL (the bench's redis_queue), e.g. redis://127.0.0.1:11000")
	if not args.bench_id:
		return _usage(
			"--bench-id is required: Frappe names queues <bench id>:<queue> (see `bench --site S execute frappe.utils.get_bench_id`)"
		)
	thresholds = Thresholds()
	if args.oldest_job_critical is not None:
		thresholds = thresholds.model_copy(
			update={
				"oldest_job_critical_s": args.oldest_job_critical,
				"oldest_job_warning_s": min(thresholds.oldest_job_warning_s, args.oldest_job_critical),
			}
		)
	bench_path = args.bench_path
	if bench_path and not os.path.isdir(bench_path):
		return _usage(f"--bench-path {bench_path!r} is not a folder")
	disk = {"bench": bench_path, "sites": os.path.join(bench_path, "sites")} if bench_path else {}
	conn = Redis.from_url(args.redis, socket_connect_timeout=5, socket_timeout=10)
	snap = snapshot(
		conn,
		args.bench_id,
		sites_path=os.path.join(bench_path, "sites") if bench_path else None,
		disk_paths=disk,
		thresholds=thresholds,
		cache_seconds=args.cache_seconds,
		cache_scope=f"cli:{args.site}" if args.site else "cli",
		site=args.site,
	)
	print(snap.model_dump_json(indent=2) if args.json else render.status_text(snap))
	return EXIT_CRITICAL if snap.critical else EXIT_OK


def _usage(message: str) -> int:
	print(f"erp-ops: error: {message}", file=sys.stderr)
	return EXIT_USAGE

"""`erp-ops`: the core without Frappe, for cron jobs, monitoring systems and a quick look.

    erp-ops status --redis redis://127.0.0.1:11000 --bench-id frappe-bench [--json]
    erp-ops jobs requeue JOB_ID --reason "..." --redis URL --bench-id ID   (see `erp-ops jobs -h`)
    erp-ops preflight --bench PATH --target 16 [--json | --markdown]
    erp-ops runbooks search "queue backlog"
    erp-ops drill --backup PATH --mariadb mysql://root:@127.0.0.1:3306 [--json]

Exit codes: 0 nothing critical, 2 something critical (dead worker, unserved or stale queue, Redis
unreachable, scheduler down) or an action refused, 64 bad usage.
"""

import argparse
import os
import sys
from collections.abc import Sequence
from urllib.parse import urlparse

from erp_ops import __version__

EXIT_OK = 0
EXIT_CRITICAL = 2
EXIT_USAGE = 64


class _Parser(argparse.ArgumentParser):
	def error(self, message: str):  # argparse exits 2, which here means "critical"
		self.print_usage(sys.stderr)
		self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
	parser = _Parser(prog="erp-ops", description="Operations signals for a Frappe bench, without Frappe.")
	parser.add_argument("--version", action="version", version=f"erp-ops {__version__}")
	commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
	status = commands.add_parser("status", help="print the snapshot; exit 2 when something is critical")
	status.add_argument(
		"--redis", default=os.environ.get("ERP_OPS_REDIS"), help="redis_queue URL (or ERP_OPS_REDIS)"
	)
	status.add_argument(
		"--bench-id",
		default=os.environ.get("ERP_OPS_BENCH_ID"),
		help="Frappe's bench id: the queue-name prefix (or ERP_OPS_BENCH_ID)",
	)
	status.add_argument("--bench-path", help="bench folder: adds disk headroom and the sites' file locks")
	status.add_argument("--json", action="store_true", help="print the snapshot as JSON")
	status.add_argument(
		"--oldest-job-critical",
		type=float,
		metavar="SECONDS",
		help="oldest queued job age that is critical (default 1800)",
	)
	status.add_argument(
		"--cache-seconds", type=float, default=0, help="reuse a snapshot this recent (default 0: read now)"
	)
	for module in _capabilities().values():
		module.add_parser(commands)
	return parser


def main(argv: Sequence[str] | None = None) -> int:
	args = build_parser().parse_args(argv)
	if args.command == "status":
		return status(args)
	return _capabilities()[args.command].run(args)


def _capabilities() -> dict:
	"""Sub-command name → module with `add_parser(subparsers)` and `run(args) -> int`."""
	from erp_ops.cli import (
		control as cli_control,
		drills as cli_drills,
		preflight as cli_preflight,
		runbooks as cli_runbooks,
	)

	return {"jobs": cli_control, "drill": cli_drills, "preflight": cli_preflight, "runbooks": cli_runbooks}


def status(args: argparse.Namespace) -> int:
	from redis import Redis

	from erp_ops.core.signals import Thresholds, snapshot

	if not args.redis or urlparse(args.redis).scheme not in ("redis", "rediss", "unix"):
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
		cache_scope="cli",
	)
	print(snap.model_dump_json(indent=2) if args.json else render_table(snap))
	return EXIT_CRITICAL if snap.critical else EXIT_OK


def render_table(snap) -> str:
	"""A plain-text view of the snapshot for a terminal or a cron mail."""
	lines = [f"bench {snap.bench_id} at {snap.taken_at:%Y-%m-%d %H:%M:%S} UTC ({snap.read_ms:.1f} ms)"]
	if not snap.redis_ok:
		lines.append(f"REDIS UNREACHABLE: {snap.redis_error}")
	lines += [
		"",
		_table(
			[
				"queue",
				"queued",
				"started",
				"failed",
				"deferred",
				"scheduled",
				"finished",
				"oldest",
				"workers",
			],
			[
				[
					q.short_name,
					q.queued,
					q.started,
					q.failed,
					q.deferred,
					q.scheduled,
					q.finished,
					_age(q.oldest_queued_age_s),
					q.workers,
				]
				for q in snap.queues
			],
		),
	]
	if snap.workers:
		lines += [
			"",
			_table(
				["worker", "status", "state", "current job", "heartbeat", "ok", "failed", "rss"],
				[
					[
						w.name,
						w.status.value,
						w.state or "",
						w.current_job or "",
						_age(w.heartbeat_age_s),
						w.successful_jobs,
						w.failed_jobs,
						_bytes(w.rss_bytes),
					]
					for w in snap.workers
				],
			),
		]
	else:
		lines += ["", "no workers registered"]
	failing = [r for r in snap.failure_rates if r.failed_1h]
	if failing:
		lines += [
			"",
			_table(
				["method", "failed 5m", "failed 1h", "rate 1h"],
				[
					[
						r.method,
						f"{r.failed_5m}/{r.total_5m}",
						f"{r.failed_1h}/{r.total_1h}",
						f"{r.rate_1h:.0%}",
					]
					for r in failing[:10]
				],
			),
		]
	if snap.host:
		for d in snap.host.disks:
			lines.append(f"disk {d.label}: {_bytes(d.free_bytes)} free ({d.free_pct}%) at {d.path}")
	lines.append("")
	if snap.findings:
		lines += [f"{f.severity.value.upper():8} {f.message}" for f in snap.findings]
	else:
		lines.append("OK       nothing to report")
	return "\n".join(lines)


def _table(header: list[str], rows: list[list]) -> str:
	cells = [header] + [[str(c) for c in row] for row in rows]
	widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
	return "\n".join(
		"  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
	)


def _age(seconds: float | None) -> str:
	if seconds is None:
		return "-"
	seconds = int(seconds)
	if seconds < 120:
		return f"{seconds}s"
	if seconds < 7200:
		return f"{seconds // 60}m"
	return f"{seconds // 3600}h"


def _bytes(n: int | None) -> str:
	if n is None:
		return "-"
	for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
		if n < 1024 or unit == "TiB":
			return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
		n /= 1024
	return str(n)


def _usage(message: str) -> int:
	print(f"erp-ops: error: {message}", file=sys.stderr)
	return EXIT_USAGE

"""`erp-ops jobs …`: the control actions against a bench's Redis, without Frappe.

    erp-ops jobs state      JOB_ID
    erp-ops jobs requeue    JOB_ID --reason "ledger lock released"
    erp-ops jobs retry      JOB_ID --reason …
    erp-ops jobs cancel     JOB_ID --reason … [--wait 10]
    erp-ops jobs quarantine JOB_ID --reason … [--raw]
    erp-ops jobs release    JOB_ID --reason …
    erp-ops jobs purge      --older-than-days 30 [--registry failed] [--execute]      (dry run by default)
    erp-ops jobs bulk requeue --method M --exc-type T --since 2026-01-01T00:00 --reason … --by NAME
                                                                  (dry run: prints a confirmation token)
    erp-ops jobs bulk --approve TOKEN --by OTHER                   (above --approval-above jobs)
    erp-ops jobs bulk --execute TOKEN

Bench-wide: these commands run with the bench's own access to its Redis and act on every site's
jobs (purge and bulk previews cover all sites' queues; `bulk --site S` narrows a preview). Site
users act through `erp_ops.api.jobs` and `bench --site S ops jobs …`, which see only their site.

Every command takes `--redis URL --bench-id ID` (or ERP_OPS_REDIS / ERP_OPS_BENCH_ID) and `--json`.
Exit codes: 0 done, 2 refused (the job changed state, approval missing, Redis down), 64 bad usage.
Payloads are printed redacted unless `--raw` is given.
"""

import argparse
import getpass
import os
import socket
import sys
from datetime import datetime

from erp_ops.cli import redis_option, render
from erp_ops.core.bounds import argtype, retention
from erp_ops.core.clock import as_utc
from erp_ops.core.control.jobs import ACCEPTS

EXIT_OK = 0
EXIT_REFUSED = 2
EXIT_USAGE = 64

SINGLE = ("requeue", "retry", "cancel", "quarantine", "release")
# The states an operator can have seen a job in (what `--expected` names).
STATES = tuple(sorted({s.value for states in ACCEPTS.values() for s in states}))


BENCH_WIDE = render.Scope("erp-ops jobs", "bench-wide (every site's jobs in the bench's queues)")


def add_parser(subparsers) -> None:
	"""Add `jobs` and its subcommands to the `erp-ops` parser."""
	jobs = subparsers.add_parser(
		"jobs",
		help="retry, requeue, cancel, quarantine, release, purge jobs (bench-wide: every site's jobs)",
		description="Bench-wide: acts on every site's jobs in the bench's queues, with the bench's access.",
	)
	actions = jobs.add_subparsers(dest="jobs_command", required=True, parser_class=type(jobs))

	def common(p: argparse.ArgumentParser) -> None:
		redis_option(p)
		p.add_argument(
			"--bench-id",
			default=os.environ.get("ERP_OPS_BENCH_ID"),
			help="queue-name prefix (or ERP_OPS_BENCH_ID)",
		)
		p.add_argument("--json", action="store_true", help="print the result as JSON")

	state = actions.add_parser("state", help="where a job is now")
	state.add_argument("job_id")
	common(state)
	for name in SINGLE:
		p = actions.add_parser(name, help=f"{name} one job")
		p.add_argument("job_id")
		p.add_argument("--reason", required=True, help="why (kept with the action)")
		p.add_argument(
			"--expected",
			choices=STATES,
			help="the state you saw (failed, queued, …): act only if it still is",
		)
		common(p)
		if name == "cancel":
			p.add_argument(
				"--wait", type=argtype("wait"), default=10.0, help="seconds to wait for a started job to stop"
			)
		if name == "quarantine":
			p.add_argument("--raw", action="store_true", help="print the payload unredacted")
	purge = actions.add_parser(
		"purge", help="delete finished/failed jobs of every site older than a retention (dry run)"
	)
	purge.add_argument("--older-than-days", type=argtype("older_than_days"), required=True)
	purge.add_argument("--registry", action="append", choices=["finished", "failed"], help="default: both")
	purge.add_argument("--queue", action="append", help="short queue name (default: all of the bench's)")
	purge.add_argument("--execute", action="store_true", help="delete for real (default: dry run)")
	common(purge)
	bulk = actions.add_parser("bulk", help="preview a bulk action (dry run), approve or execute its token")
	bulk.add_argument("action", nargs="?", choices=["requeue", "retry", "quarantine", "cancel", "release"])
	bulk.add_argument("--queue", action="append", default=[], help="short queue name")
	bulk.add_argument("--site", action="append", default=[])
	bulk.add_argument("--method", action="append", default=[])
	bulk.add_argument("--exc-type", action="append", default=[])
	bulk.add_argument("--since", type=_when, help="ISO time (UTC if no zone)")
	bulk.add_argument("--until", type=_when, help="ISO time (UTC if no zone)")
	bulk.add_argument("--reason")
	bulk.add_argument("--by", default=_me(), help="who asks or approves (default: user@host)")
	bulk.add_argument(
		"--approval-above",
		type=argtype("approval_above"),
		default=500,
		help="four eyes above this many jobs (-1: off)",
	)
	bulk.add_argument("--execute", metavar="TOKEN", help="act on a previewed token")
	bulk.add_argument("--approve", metavar="TOKEN", help="approve someone else's token")
	bulk.add_argument("--batch", type=argtype("batch"), default=500)
	common(bulk)


def run(args: argparse.Namespace) -> int:
	"""Run a `jobs` subcommand; returns the exit code."""
	from redis import Redis
	from redis.exceptions import ConnectionError as RedisConnectionError
	from redis.exceptions import TimeoutError as RedisTimeoutError

	from erp_ops.core.errors import ErpOpsError, InvalidInput

	if not args.redis:
		return _usage("--redis needs a redis:// URL (the bench's redis_queue)")
	if not args.bench_id:
		return _usage("--bench-id is required: Frappe names queues <bench id>:<queue>")
	conn = Redis.from_url(args.redis, socket_connect_timeout=5, socket_timeout=30)
	try:
		result = _dispatch(conn, args)
	except InvalidInput as exc:
		return _usage(str(exc))
	except ErpOpsError as exc:
		print(f"refused ({exc.http_status}): {exc}", file=sys.stderr)
		return EXIT_REFUSED
	except (RedisConnectionError, RedisTimeoutError) as exc:
		print(f"Redis did not answer at {args.redis}: {exc}", file=sys.stderr)
		return EXIT_REFUSED
	finally:
		conn.close()
	if isinstance(result, int):
		return result
	print(render.as_json(result) if args.json else render.action_text(result, BENCH_WIDE))
	return EXIT_OK


def _dispatch(conn, args: argparse.Namespace):
	from erp_ops.core.control import bulk, jobs
	from erp_ops.core.control.models import Action, BulkFilter, JobState
	from erp_ops.core.control.redaction import redact
	from erp_ops.core.errors import InvalidInput

	command, bench = args.jobs_command, args.bench_id
	if command == "state":
		return {"job_id": args.job_id, "state": jobs.job_state(conn, bench, args.job_id).value}
	if command in SINGLE:
		if not args.reason.strip():
			raise InvalidInput("--reason must say why")
		expected = JobState(args.expected) if args.expected else None
		if command == "release":
			return jobs.release(conn, bench, args.job_id)
		if command == "cancel":
			return jobs.cancel(conn, bench, args.job_id, expected=expected, wait_s=args.wait)
		if command == "quarantine":
			outcome = jobs.quarantine(conn, bench, args.job_id, expected=expected)
			data = outcome.model_dump(mode="json")
			if not args.raw:
				data["payload"] = redact(data["payload"])
			return data
		return getattr(jobs, command)(conn, bench, args.job_id, expected=expected)
	if command == "purge":
		registries = [JobState(r) for r in (args.registry or ["finished", "failed"])]
		return jobs.purge(
			conn,
			bench,
			older_than=retention("older_than_days", args.older_than_days),
			registries=registries,
			queues=args.queue,
			dry_run=not args.execute,
		)
	# bulk
	if args.execute:
		return bulk.execute(conn, bench, args.execute, batch=args.batch)
	if args.approve:
		return bulk.approve(conn, bench, args.approve, approver=args.by)
	if not args.action:
		raise InvalidInput("bulk needs an action to preview, or --execute TOKEN / --approve TOKEN")
	if not args.reason or not args.reason.strip():
		raise InvalidInput("--reason must say why")
	flt = BulkFilter(
		queues=args.queue,
		sites=args.site,
		methods=args.method,
		exc_types=args.exc_type,
		since=args.since,
		until=args.until,
	)
	return bulk.preview(
		conn,
		bench,
		Action(args.action),
		flt,
		requested_by=args.by,
		reason=args.reason,
		approval_above=None if args.approval_above < 0 else args.approval_above,
	)


def _when(text: str) -> datetime:
	try:
		moment = datetime.fromisoformat(text)
	except ValueError as exc:
		raise argparse.ArgumentTypeError(f"not an ISO time: {text!r}") from exc
	return as_utc(moment)


def _me() -> str:
	try:
		return f"{getpass.getuser()}@{socket.gethostname()}"
	except Exception:
		return "unknown"


def _usage(message: str) -> int:
	print(f"erp-ops jobs: error: {message}", file=sys.stderr)
	return EXIT_USAGE

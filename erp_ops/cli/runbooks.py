"""`erp-ops runbooks ...`: search the runbooks, list reviews due, evaluate alert rules — without Frappe.

    erp-ops runbooks search "worker oom" [--file runbooks.json] [--limit 5] [--json]
    erp-ops runbooks review [--file runbooks.json] [--today 2026-06-01] [--json]
    erp-ops runbooks alerts --redis redis://127.0.0.1:11000 --bench-id frappe-bench
        [--rules rules.json] [--fact drill.site1.local.age_hours=30 ...] [--bench-path PATH]
        [--drain] [--json]

Exit codes: 0 ok; 2 a critical alert is firing (alerts) or a runbook is past its review
(review); 64 bad usage. `alerts` keeps its state in Redis like the Frappe task does, so a cron job
running it every minute gets for-durations, resolution and damping; `--drain` sends notifying
transitions to the rules' webhooks once each and empties the outbox (only when no Frappe site
drains it: one drainer per bench).

The lead wires `add_parser` into `erp_ops.cli`; `run` returns the exit code.
"""

import argparse
import json
import os
import sys
from datetime import date

from erp_ops.cli import redis_option
from erp_ops.core.bounds import argtype, checked

EXIT_OK = 0
EXIT_CRITICAL = 2
EXIT_USAGE = 64


def add_parser(subparsers: argparse._SubParsersAction) -> None:
	"""Add `runbooks` and its sub-commands to the `erp-ops` parser."""
	parser = subparsers.add_parser("runbooks", help="search runbooks, list reviews due, evaluate alert rules")
	commands = parser.add_subparsers(dest="runbooks_command", required=True, parser_class=type(parser))

	search = commands.add_parser("search", help="ranked search over the runbooks")
	search.add_argument("query")
	search.add_argument("--file", help="a runbook seed file (default: the runbooks shipped with erp_ops)")
	search.add_argument("--limit", type=argtype("limit"), default=5)
	search.add_argument("--json", action="store_true")

	review = commands.add_parser("review", help="runbooks past their review date; exit 2 when any")
	review.add_argument("--file", help="a runbook seed file (default: the runbooks shipped with erp_ops)")
	review.add_argument("--today", help="YYYY-MM-DD (default: today)")
	review.add_argument("--json", action="store_true")

	alerts = commands.add_parser(
		"alerts", help="evaluate alert rules on a fresh snapshot; exit 2 when critical"
	)
	redis_option(alerts)
	alerts.add_argument("--bench-id", default=os.environ.get("ERP_OPS_BENCH_ID"), help="queue-name prefix")
	alerts.add_argument("--rules", help="an alert rules file (default: the rules shipped with erp_ops)")
	alerts.add_argument(
		"--fact", action="append", default=[], metavar="NAME=VALUE", help="an external figure"
	)
	alerts.add_argument(
		"--bench-path", help="bench folder: adds disk headroom figures (disk.bench, disk.sites)"
	)
	alerts.add_argument(
		"--drain", action="store_true", help="send notifying transitions to webhooks, then drop them"
	)
	alerts.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
	"""Run the chosen sub-command; returns the exit code."""
	from erp_ops.core.errors import InvalidInput

	try:
		if args.runbooks_command == "search":
			return _search(args)
		if args.runbooks_command == "review":
			return _review(args)
		return _alerts(args)
	except InvalidInput as e:
		return _usage(str(e))


def _search(args: argparse.Namespace) -> int:
	from erp_ops.core.runbooks.search import SearchIndex

	hits = SearchIndex.build(_runbooks(args.file)).search(args.query, args.limit)
	if args.json:
		print(json.dumps([h.model_dump(mode="json") for h in hits], indent=2))
	else:
		for h in hits:
			print(f"{h.score:8.3f}  {h.name:28} {h.title}")
		if not hits:
			print("no runbook matches")
	return EXIT_OK


def _review(args: argparse.Namespace) -> int:
	from erp_ops.core.runbooks.review import as_date, reviews_due

	today = as_date(args.today) if args.today else date.today()
	due = reviews_due(_runbooks(args.file), today)
	if args.json:
		print(json.dumps([d.model_dump(mode="json") for d in due], indent=2))
	else:
		for d in due:
			print(f"{d.name:28} due {d.next_review_due} ({d.days_overdue} days ago)  owner {d.owner or '-'}")
		if not due:
			print("every active runbook is within its review cadence")
	return EXIT_CRITICAL if due else EXIT_OK


def _alerts(args: argparse.Namespace) -> int:
	from redis import Redis

	from erp_ops.core.alerts import store
	from erp_ops.core.alerts.defaults import load_rules
	from erp_ops.core.alerts.errors import EvaluationBusy
	from erp_ops.core.alerts.models import AlertSeverity, AlertStatus
	from erp_ops.core.signals import read

	if not args.redis:
		return _usage("--redis needs a redis:// URL (the bench's redis_queue), e.g. redis://127.0.0.1:11000")
	if not args.bench_id:
		return _usage("--bench-id is required: Frappe names queues <bench id>:<queue>")
	facts = {}
	for item in args.fact:
		name, sep, value = item.partition("=")
		if not sep or not name.strip():
			return _usage(f"--fact {item!r}: write NAME=NUMBER")
		facts[name.strip()] = checked("fact", value, f"--fact {name.strip()}")
	if args.bench_path and not os.path.isdir(args.bench_path):
		return _usage(f"--bench-path {args.bench_path!r} is not a folder")
	rules = load_rules(args.rules) if args.rules else load_rules()
	disks = (
		{"bench": args.bench_path, "sites": os.path.join(args.bench_path, "sites")} if args.bench_path else {}
	)
	conn = Redis.from_url(args.redis, socket_connect_timeout=5, socket_timeout=10)
	snap = read(conn, args.bench_id, disk_paths=disks)
	try:
		result = store.evaluate(conn, args.bench_id, rules, snap, facts=facts)
	except EvaluationBusy as e:
		print(f"skipped: {e}", file=sys.stderr)
		return EXIT_OK
	sent = _drain(conn, args.bench_id, rules) if args.drain else []
	firing = [a for a in result.alerts if a.status is AlertStatus.FIRING]
	if args.json:
		print(
			json.dumps(
				{
					"evaluation": result.model_dump(mode="json"),
					"webhooks": [r.model_dump(mode="json") for r in sent],
				},
				indent=2,
			)
		)
	else:
		for t in result.transitions:
			print(f"{t.kind.value:12} {t.alert.rule} {t.alert.subject} value={t.alert.value}")
		for a in firing:
			print(
				f"FIRING  {a.severity.value:8} {a.rule} {a.subject} value={a.value} runbook={a.runbook or '-'}"
			)
		for rule, reason in result.skipped.items():
			print(f"SKIPPED {rule}: {reason}")
		if not firing:
			print("OK      no alert firing")
	return EXIT_CRITICAL if any(a.severity is AlertSeverity.CRITICAL for a in firing) else EXIT_OK


def _drain(conn, bench_id: str, rules) -> list:
	from erp_ops.core.alerts import store
	from erp_ops.core.alerts.notify import build_payload, send_webhook
	from erp_ops.core.runbooks.seed import load_runbooks

	by_rule = {r.name: r for r in rules}
	runbooks = {rb.name: rb for rb in load_runbooks()}
	results = []

	def handle(transitions) -> None:
		for t in transitions:
			rule = by_rule.get(t.alert.rule)
			if not t.notify or rule is None:
				continue
			payload = build_payload(t, rule, runbooks.get(rule.runbook or ""))
			for url in rule.notify.webhooks:
				if not store.webhook_allowed(conn, bench_id, url):
					continue
				result = send_webhook(url, payload)
				if not result.ok:
					store.webhook_failed(conn, bench_id, url)
				results.append(result)

	store.drain(conn, bench_id, handle)
	return results


def _runbooks(path: str | None):
	from erp_ops.core.runbooks.seed import load_runbooks

	return load_runbooks(path) if path else load_runbooks()


def _usage(message: str) -> int:
	print(f"erp-ops runbooks: error: {message}", file=sys.stderr)
	return EXIT_USAGE

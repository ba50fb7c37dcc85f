"""`erp-ops exporter`: serve the bench's metrics to Prometheus (long-running, read-only).

    erp-ops exporter --redis redis://127.0.0.1:11000 --bench-id frappe-bench \
        [--listen 127.0.0.1:9726] [--bench-path /home/frappe/frappe-bench]

`/metrics` for Prometheus, `/health` (200 when Redis answers, 503 otherwise). Runs until SIGINT or
SIGTERM (exit 0). Exit codes: 64 bad usage, 2 the address cannot be bound. docs/monitoring.md.
"""

import argparse
import os
import signal
import sys
from urllib.parse import urlparse

EXIT_OK = 0
EXIT_FAILED = 2
EXIT_USAGE = 64


def add_parser(subparsers) -> None:
	exporter = subparsers.add_parser(
		"exporter", help="serve the bench's metrics to Prometheus on /metrics (and /health)"
	)
	exporter.add_argument(
		"--redis", default=os.environ.get("ERP_OPS_REDIS"), help="redis_queue URL (or ERP_OPS_REDIS)"
	)
	exporter.add_argument(
		"--bench-id",
		default=os.environ.get("ERP_OPS_BENCH_ID"),
		help="Frappe's bench id: the queue-name prefix (or ERP_OPS_BENCH_ID)",
	)
	exporter.add_argument(
		"--listen", default="127.0.0.1:9726", help="HOST:PORT to serve on (default 127.0.0.1:9726)"
	)
	exporter.add_argument(
		"--bench-path",
		help="bench folder: adds disk headroom, file locks, sites' backups and scheduler switches",
	)
	exporter.add_argument(
		"--cache-seconds", type=float, default=5, help="serve a reading this recent from memory (default 5)"
	)
	exporter.add_argument(
		"--top-methods",
		type=int,
		default=10,
		help="methods named in failure metrics; the rest are `other` (default 10)",
	)


def run(args: argparse.Namespace) -> int:
	from redis import Redis

	from erp_ops.core.signals.exporter import BenchReader, make_app, make_http_server, parse_listen

	if not args.redis or urlparse(args.redis).scheme not in ("redis", "rediss", "unix"):
		return _fail(
			EXIT_USAGE, "--redis needs a redis:// URL (the bench's redis_queue), e.g. redis://127.0.0.1:11000"
		)
	if not args.bench_id:
		return _fail(EXIT_USAGE, "--bench-id is required: Frappe names queues <bench id>:<queue>")
	if args.bench_path and not os.path.isdir(os.path.join(args.bench_path, "sites")):
		return _fail(EXIT_USAGE, f"--bench-path {args.bench_path!r} is not a bench folder (no sites/ in it)")
	if args.cache_seconds < 0 or args.top_methods < 1:
		return _fail(EXIT_USAGE, "--cache-seconds must be >= 0 and --top-methods >= 1")
	try:
		host, port = parse_listen(args.listen)
	except ValueError as e:
		return _fail(EXIT_USAGE, str(e))
	conn = Redis.from_url(args.redis, socket_connect_timeout=5, socket_timeout=10)
	reader = BenchReader(conn, args.bench_id, bench_path=args.bench_path, cache_seconds=args.cache_seconds)
	try:
		server = make_http_server(host, port, make_app(reader, top_methods=args.top_methods))
	except OSError as e:
		return _fail(EXIT_FAILED, f"cannot listen on {args.listen}: {e.strerror or e}")

	def stop(_signum, _frame):
		raise KeyboardInterrupt

	signal.signal(signal.SIGTERM, stop)
	print(
		f"erp-ops exporter: bench {args.bench_id} on http://{args.listen}/metrics",
		file=sys.stderr,
		flush=True,
	)
	try:
		server.serve_forever()
	except KeyboardInterrupt:
		pass
	finally:
		server.server_close()
	return EXIT_OK


def _fail(code: int, message: str) -> int:
	print(f"erp-ops exporter: error: {message}", file=sys.stderr)
	return code

"""Runbook search latency over 10,000 generated runbooks.

    python benchmarks/runbook_search.py [--runbooks 10000] [--queries 500]

Builds the index from plain dicts (as the Frappe layer does from Runbook rows), round-trips it
through JSON (the Redis cache), then times queries of one to three words, prefixes and code-ish
terms (`bench --site`, `frappe.enqueue`, queue names). Needs no services. Ends with one line:
`runbooks=… build_s=… index_mb=… load_s=… queries=… p50_ms=… max_ms=… p95_ms=…`.
"""

import argparse
import itertools
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from erp_ops.core.runbooks.search import SearchIndex

OPS_WORDS = (
	"queue worker scheduler redis mariadb backup restore drill migrate patch timeout memory oom disk "
	"space headroom failure retry requeue cancel quarantine release purge job jobs backlog latency "
	"email report import export integration webhook conflict event payload stale duplicate lock "
	"deadlock transaction index column doctype site bench supervisor nginx gunicorn socketio cron "
	"overdue dormant maintenance mode upgrade version rollback snapshot evidence alert runbook owner "
	"review escalation impact symptom diagnosis verify expected command action invoice order payment "
	"stock ledger gl entry sales purchase item customer supplier warehouse batch serial"
).split()
CODE_TERMS = [
	"bench --site {site} doctor",
	"bench --site {site} enable-scheduler",
	"bench worker --queue {queue}",
	"bench --site {site} migrate",
	"frappe.enqueue",
	"erp-ops status",
	"frappe.utils.background_jobs.execute_job",
	"JobTimeoutException",
	"{bench}:{queue}",
	"sudo supervisorctl restart frappe-bench-workers:",
]
AREAS = ["Queues", "Scheduler", "Workers", "Upgrades", "Recovery", "Integrations", "Infrastructure"]


def vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
	syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "si", "de", "po", "an", "er", "ix", "um", "ol"]
	words = set()
	while len(words) < size:
		words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
	return OPS_WORDS + sorted(words)


def sentence(rng: random.Random, vocab: list[str], cum: list[float], n: int) -> str:
	words = rng.choices(vocab, cum_weights=cum, k=n)
	if rng.random() < 0.3:
		words.append(code_term(rng))
	return " ".join(words)


def code_term(rng: random.Random) -> str:
	return rng.choice(CODE_TERMS).format(
		site=f"site{rng.randint(1, 40)}.example.com",
		queue=rng.choice(["short", "default", "long", "integrations"]),
		bench="frappe-bench",
	)


def generate(n: int, seed: int = 7) -> tuple[list[dict], list[str], list[float]]:
	rng = random.Random(seed)
	vocab = vocabulary(rng)
	cum = list(itertools.accumulate(1.0 / (rank + 1) ** 0.9 for rank in range(len(vocab))))  # Zipf-like
	runbooks = []
	for i in range(n):
		runbooks.append(
			{
				"name": f"RB-{i:05d}",
				"title": sentence(rng, vocab, cum, rng.randint(3, 8)),
				"area": rng.choice(AREAS),
				"severity": rng.choice(["Low", "Medium", "High", "Critical"]),
				"symptoms": sentence(rng, vocab, cum, rng.randint(15, 40)),
				"impact": sentence(rng, vocab, cum, rng.randint(10, 25)),
				"diagnosis": sentence(rng, vocab, cum, rng.randint(20, 50)),
				"steps": [
					{
						"action": sentence(rng, vocab, cum, rng.randint(6, 15)),
						"command": code_term(rng),
						"expected_result": sentence(rng, vocab, cum, rng.randint(4, 10)),
						"verify": sentence(rng, vocab, cum, rng.randint(4, 10)),
					}
					for _ in range(rng.randint(2, 6))
				],
				"escalation": sentence(rng, vocab, cum, rng.randint(5, 15)),
				"rollback": sentence(rng, vocab, cum, rng.randint(5, 15)),
				"tags": rng.choices(vocab[:200], k=rng.randint(2, 6)),
			}
		)
	return runbooks, vocab, cum


def queries(n: int, vocab: list[str], cum: list[float], seed: int = 11) -> list[str]:
	rng = random.Random(seed)
	out = []
	for _ in range(n):
		kind = rng.random()
		if kind < 0.5:
			out.append(" ".join(rng.choices(vocab, cum_weights=cum, k=rng.randint(1, 3))))
		elif kind < 0.75:  # typing: the last word is a prefix
			words = rng.choices(vocab, cum_weights=cum, k=rng.randint(1, 3))
			words[-1] = words[-1][: rng.randint(2, max(2, len(words[-1]) - 1))]
			out.append(" ".join(words))
		else:
			out.append(code_term(rng))
	return out


def main() -> int:
	parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
	parser.add_argument("--runbooks", type=int, default=10_000)
	parser.add_argument("--queries", type=int, default=500)
	args = parser.parse_args()

	runbooks, vocab, cum = generate(args.runbooks)
	started = time.perf_counter()
	index = SearchIndex.build(runbooks)
	build_s = time.perf_counter() - started
	text = index.to_json()
	started = time.perf_counter()
	index = SearchIndex.from_json(text)
	load_s = time.perf_counter() - started

	batch = queries(args.queries, vocab, cum)
	for q in batch[:20]:  # warm the sorted vocabulary as a live index would be
		index.search(q)
	times, empty = [], 0
	for q in batch:
		started = time.perf_counter()
		hits = index.search(q, 20)
		times.append((time.perf_counter() - started) * 1000)
		empty += not hits
	times.sort()
	p95 = times[min(len(times) - 1, round(0.95 * len(times)) - 1)]
	print(
		f"# {len(batch)} queries, {empty} without results; slowest: {times[-3:]}", file=sys.stderr, flush=True
	)
	print(
		f"runbooks={len(index)} build_s={build_s:.2f} index_mb={len(text) / 1e6:.1f} load_s={load_s:.2f} "
		f"queries={len(batch)} p50_ms={statistics.median(times):.2f} max_ms={times[-1]:.2f} p95_ms={p95:.2f}"
	)
	return 0


if __name__ == "__main__":
	sys.exit(main())

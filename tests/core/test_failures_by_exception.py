"""Failures by exception, from the worker's counters to `erp_ops_job_failures{exception}`.

Real RQ workers run jobs the test makes fail with exceptions it chose (with erp_ops's hooks and
without them), so every expected count is known from the seed, and RQ's own failed registry
confirms it; counters left by the capture before it split failures by exception fold to `unknown`.
"""

import time
from collections import Counter

from prometheus_client.parser import text_string_to_metric_families
from rq.job import Job
from rq.registry import FailedJobRegistry

from erp_ops.core.evidence import stream
from erp_ops.core.signals import prometheus, read
from tests.support.rq_helpers import WorkerProcess, enqueue, qname

BENCH = "bench-exc"
METHOD = "tests.support.frappe_like.raise_named"
TIMEOUT = "JobTimeoutException"  # rq.timeouts' class: the record's exc_type is the class name


def run_burst(redis_url: str) -> None:
	worker = WorkerProcess(redis_url, [qname(BENCH, "default")], burst=True)
	assert worker.wait(120) == 0, worker.output()


def metric(snap, name: str) -> dict[tuple, float]:
	"""{(method, exception, window) or (method, window): value} of one family, as Prometheus reads it."""
	out = {}
	for family in text_string_to_metric_families(prometheus.render(snap)):
		for sample in family.samples:
			if sample.name == name:
				labels = sample.labels
				key = (
					(labels["method"], labels["exception"]) if "exception" in labels else (labels["method"],)
				)
				out[(*key, labels["window"])] = sample.value
	return out


def rq_failed_by_exception(conn) -> Counter:
	"""What RQ's API says the failed jobs raised (the class name of the traceback's last line)."""
	ids = FailedJobRegistry(qname(BENCH, "default"), connection=conn).get_job_ids()
	return Counter(
		j.latest_result().exc_string.strip().splitlines()[-1].partition(":")[0].rpartition(".")[2]
		for j in Job.fetch_many(ids, connection=conn)
	)


def test_failures_are_split_by_exception_from_worker_to_metric(redis_conn, redis_url):
	hooked = Counter({"ValueError": 3, "KeyError": 2, "LedgerLocked": 1})
	# in a worker without erp_ops's hooks: only RQ's failed registry knows them
	rq_only = Counter({"ValueError": 1, "TypeError": 1, "LedgerLocked": 1})
	for exception, n in hooked.items():
		for _ in range(n):
			enqueue(redis_conn, BENCH, "default", METHOD, exception=exception)
	enqueue(redis_conn, BENCH, "default", METHOD, seconds=30, timeout=1)
	enqueue(redis_conn, BENCH, "default", METHOD)  # the one success
	for exception, n in rq_only.items():
		for _ in range(n):
			enqueue(redis_conn, BENCH, "default", METHOD, exception=exception, hooks=False)
	run_burst(redis_url)

	expected = hooked + rq_only + Counter({TIMEOUT: 1})
	assert expected == {"ValueError": 4, "KeyError": 2, "LedgerLocked": 2, "TypeError": 1, TIMEOUT: 1}
	assert rq_failed_by_exception(redis_conn) == expected  # RQ agrees with what the test made happen

	snap = read(redis_conn, BENCH)
	assert not snap.unreadable
	(rate,) = [r for r in snap.failure_rates if r.method == METHOD]
	# 8 runs with hooks (6 raised, 1 timed out, 1 succeeded), 3 only in RQ
	assert (rate.total_1h, rate.failed_1h, rate.rq_only_failed_1h) == (11, 10, 3)
	assert (rate.total_5m, rate.failed_5m, rate.rq_only_failed_5m) == (11, 10, 3)
	# LedgerLocked once from the record, once from RQ's traceback (tests.support.frappe_like.LedgerLocked)
	assert rate.failed_by_exception_1h == rate.failed_by_exception_5m == dict(expected)

	failures = metric(snap, "erp_ops_job_failures")
	for window in ("5m", "1h"):
		for exception, n in expected.items():
			assert failures[(METHOD, exception, window)] == n
		assert (METHOD, "unknown", window) not in failures
		assert sum(v for (m, _e, w), v in failures.items() if m == METHOD and w == window) == 10
	runs = metric(snap, "erp_ops_job_runs")
	assert runs[(METHOD, "5m")] == runs[(METHOD, "1h")] == 11


def test_counters_from_before_the_split_fold_to_unknown(redis_conn, redis_url):
	"""Buckets the capture wrote before it counted exceptions (`<method>|total`/`|failed` only)
	beside the upgraded worker's, a method only such buckets know, and a garbled exception count."""
	minute = int(time.time() // 60)
	old_hour = stream.OUTCOMES.format(bench=BENCH, minute=minute - 30)  # in the hour, not the 5 minutes
	old_recent = stream.OUTCOMES.format(bench=BENCH, minute=minute - 2)
	redis_conn.hset(old_hour, mapping={f"{METHOD}|total": 4, f"{METHOD}|failed": 1})
	redis_conn.hset(old_recent, mapping={f"{METHOD}|total": 5, f"{METHOD}|failed": 3})
	redis_conn.hset(old_recent, mapping={"app.old|total": 2, "app.old|failed": 2})
	redis_conn.hset(
		old_recent,
		mapping={
			"app.garbled|total": 3,
			"app.garbled|failed": 1,
			"app.garbled|failed|KeyError": "lots",
			"app.garbled|retried": 9,  # no field the capture writes
		},
	)
	for _ in range(2):
		enqueue(redis_conn, BENCH, "default", METHOD, exception="ValueError")
	enqueue(redis_conn, BENCH, "default", METHOD)
	run_burst(redis_url)

	snap = read(redis_conn, BENCH)
	assert [(u.key, u.why) for u in snap.unreadable] == [
		(old_recent, "app.garbled|failed|KeyError is not a count")
	]
	rates = {r.method: r for r in snap.failure_rates}
	assert set(rates) == {METHOD, "app.old", "app.garbled"}
	rate = rates[METHOD]
	assert (rate.total_1h, rate.failed_1h, rate.total_5m, rate.failed_5m) == (12, 6, 8, 5)
	assert rate.failed_by_exception_1h == rate.failed_by_exception_5m == {"ValueError": 2}
	assert rates["app.old"].failed_by_exception_1h == {} and rates["app.old"].failed_1h == 2
	garbled = rates["app.garbled"]
	assert (garbled.total_1h, garbled.failed_1h, garbled.failed_by_exception_1h) == (3, 1, {})

	failures = metric(snap, "erp_ops_job_failures")
	assert failures[(METHOD, "ValueError", "5m")] == failures[(METHOD, "ValueError", "1h")] == 2
	assert failures[(METHOD, "unknown", "5m")] == 3
	assert failures[(METHOD, "unknown", "1h")] == 4
	assert failures[("app.old", "unknown", "5m")] == failures[("app.old", "unknown", "1h")] == 2
	assert failures[("app.garbled", "unknown", "1h")] == 1

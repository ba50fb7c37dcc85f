"""Jobs in flight before a v16 switch, read from a real Redis with real RQ queues."""

from datetime import datetime, timedelta, timezone

from rq import Queue
from rq.version import VERSION as RQ_VERSION

from erp_ops.core.preflight import run_preflight
from erp_ops.core.preflight.checks import check_queues
from erp_ops.core.preflight.queues import gather_queue_facts
from erp_ops.core.preflight.rules import load_rule_set
from tests.support.preflight_bench import make_bench
from tests.support.redis_probe import dump_db
from tests.support.rq_helpers import WorkerProcess, enqueue, qname, wait_for

BENCH = "bench-preflight"
SEP = "::" if int(RQ_VERSION.split(".")[0]) < 2 else "||"  # Frappe v15 / v16 job id separators
M = "tests.support.frappe_like"


def test_empty_queues_are_no_finding(redis_conn):
	facts = gather_queue_facts(redis_conn, BENCH)
	assert facts.in_flight == 0 and facts.error is None
	assert check_queues(facts, load_rule_set(16)) == []


def test_queued_deferred_and_scheduled_jobs_block_a_v16_switch(redis_conn, tmp_path):
	parent = enqueue(redis_conn, BENCH, "default", f"{M}.work", site="site1.local")
	queue = Queue(qname(BENCH, "long"), connection=redis_conn)
	queue.enqueue_call(f"{M}.work", depends_on=parent, job_id=f"site1.local{SEP}{'d' * 8}")
	queue.enqueue_at(
		datetime.now(timezone.utc) + timedelta(hours=1), f"{M}.work", job_id=f"site1.local{SEP}{'s' * 8}"
	)
	# another bench's jobs on the same Redis are not ours to block on
	enqueue(redis_conn, "other-bench", "default", f"{M}.work")
	before = dump_db(redis_conn)

	facts = gather_queue_facts(redis_conn, BENCH)
	assert facts.queues == {"default": {"queued": 1}, "long": {"deferred": 1, "scheduled": 1}}
	bench = make_bench(tmp_path)
	report = run_preflight(bench, 16, redis_conn=redis_conn, bench_id=BENCH)
	finding = next(f for f in report.findings if f.check == "queues-in-flight")
	assert finding.severity.value == "blocker" and finding.evidence.values["in_flight"] == 3
	assert "<site>::<id>" in finding.fix and finding.phase.value == "upgrade"
	assert finding.evidence.text == "default: queued=1, long: deferred=1 scheduled=1"
	# reading changed nothing in Redis
	assert dump_db(redis_conn) == before

	v15 = check_queues(facts, load_rule_set(15))
	assert [f.severity.value for f in v15] == ["high"]  # same jobs, no id-format change: not a blocker


def test_unreachable_redis_is_not_checked_with_why_not_a_crash(tmp_path):
	from redis import Redis

	conn = Redis.from_url("redis://127.0.0.1:1/5", socket_connect_timeout=1)
	report = run_preflight(make_bench(tmp_path), 16, redis_conn=conn, bench_id=BENCH)
	[skipped] = [n for n in report.not_checked if n.check == "queues-in-flight"]
	assert "ConnectionError" in skipped.why and "--redis" in skipped.how
	assert not any(f.check.startswith("queues-") for f in report.findings)


def test_a_started_job_blocks_too(redis_conn, redis_url, tmp_path):
	marker = tmp_path / "started"
	worker = WorkerProcess(redis_url, [qname(BENCH, "short")])
	try:
		job = enqueue(redis_conn, BENCH, "short", f"{M}.hang", seconds=30, marker=str(marker))
		wait_for(marker.exists, what="the job to start")
		facts = gather_queue_facts(redis_conn, BENCH)
		assert facts.queues == {"short": {"started": 1}}
		assert facts.started_job_ids == [job.id]
		[finding] = check_queues(facts, load_rule_set(16))
		assert finding.severity.value == "blocker" and finding.evidence.values["started_jobs"] == 1
	finally:
		worker.kill()


def test_the_job_running_the_preflight_is_not_in_the_way(redis_conn, redis_url, tmp_path):
	marker = tmp_path / "started"
	worker = WorkerProcess(redis_url, [qname(BENCH, "long")])
	try:
		job = enqueue(redis_conn, BENCH, "long", f"{M}.hang", seconds=30, marker=str(marker))
		wait_for(marker.exists, what="the job to start")
		facts = gather_queue_facts(redis_conn, BENCH, ignore_job_ids=(job.id,))
		assert facts.queues == {} and facts.started_job_ids == []
		assert check_queues(facts, load_rule_set(16)) == []
		# anyone else's started job still counts
		assert gather_queue_facts(redis_conn, BENCH, ignore_job_ids=("other",)).queues == {
			"long": {"started": 1}
		}
	finally:
		worker.kill()

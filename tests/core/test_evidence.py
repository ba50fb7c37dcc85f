"""Job Evidence end to end: real RQ workers append, a real MariaDB receives, crashes lose nothing."""

import os
import subprocess
import sys
import time

import pytest
from redis import Redis
from rq.job import Job

from erp_ops.core.evidence import records as flush_mod
from erp_ops.core.evidence import stream
from erp_ops.core.evidence.capture import Outcome, evidence_name, kwargs_digest
from erp_ops.core.evidence.records import EvidenceRecord
from erp_ops.core.signals import read
from tests.support.mariadb_sink import MariaDBSink
from tests.support.rq_helpers import ROOT, WorkerProcess, enqueue, qname, wait_for

BENCH = "bench-ev"
SITE = "site1.local"
M = "tests.support.frappe_like"


def run_burst(redis_url: str, *shorts: str) -> None:
	worker = WorkerProcess(redis_url, [qname(BENCH, s) for s in shorts], burst=True)
	assert worker.wait(120) == 0, worker.output()


def stream_records(conn: Redis) -> list[EvidenceRecord]:
	return [
		EvidenceRecord.from_fields({k.decode(): v.decode() for k, v in fields.items()})
		for _id, fields in conn.xrange(stream.stream_key(BENCH, SITE))
	]


def test_outcomes_are_captured_by_real_workers(redis_conn, redis_url, tmp_path):
	ok = enqueue(redis_conn, BENCH, "default", f"{M}.work", ms=20, doctype="Sales Invoice", name="SINV-0001")
	bad = enqueue(redis_conn, BENCH, "default", f"{M}.fail", message="ledger locked\nsecond line")
	slow = enqueue(redis_conn, BENCH, "default", f"{M}.hang", seconds=30, timeout=1)
	flaky = enqueue(redis_conn, BENCH, "default", f"{M}.flaky_once", marker=str(tmp_path / "flaky"))
	run_burst(redis_url, "default")

	by_job = {r.job_id: r for r in stream_records(redis_conn)}
	assert set(by_job) == {ok.id, bad.id, slow.id, flaky.id}

	r = by_job[ok.id]
	assert (r.outcome, r.attempt, r.site, r.method, r.queue) == (
		Outcome.SUCCESS,
		1,
		"site1.local",
		f"{M}.work",
		qname(BENCH, "default"),
	)
	assert r.duration_ms >= 20 and r.queue_wait_ms >= 0 and r.user == "Administrator"
	assert (r.ref_doctype, r.ref_name) == ("Sales Invoice", "SINV-0001")
	assert r.kwargs_digest == kwargs_digest({"ms": 20, "doctype": "Sales Invoice", "name": "SINV-0001"})
	assert r.worker and r.ended_at >= r.started_at

	r = by_job[bad.id]
	assert (r.outcome, r.exc_type, r.exc_message) == (Outcome.FAILED, "ValueError", "ledger locked")

	assert by_job[slow.id].outcome is Outcome.TIMED_OUT
	assert by_job[slow.id].exc_type == "JobTimeoutException"

	# Frappe's nested retry is one execution with one record, not two.
	assert by_job[flaky.id].outcome is Outcome.SUCCESS and by_job[flaky.id].frappe_retries == 1

	rates = {f.method: f for f in read(redis_conn, BENCH).failure_rates}
	assert (rates[f"{M}.fail"].failed_5m, rates[f"{M}.fail"].total_5m, rates[f"{M}.fail"].rate_1h) == (
		1,
		1,
		1.0,
	)
	assert (rates[f"{M}.work"].failed_1h, rates[f"{M}.work"].total_1h) == (0, 1)
	assert rates[f"{M}.hang"].failed_5m == 1  # a timeout counts as a failure


def test_requeued_job_gets_a_new_attempt(redis_conn, redis_url):
	job = enqueue(redis_conn, BENCH, "short", f"{M}.fail")
	run_burst(redis_url, "short")
	Job.fetch(job.id, connection=redis_conn).requeue()
	run_burst(redis_url, "short")
	records = sorted(stream_records(redis_conn), key=lambda r: r.attempt)
	assert [(r.job_id, r.attempt) for r in records] == [(job.id, 1), (job.id, 2)]
	assert records[0].name != records[1].name


def test_flush_is_idempotent_and_empties_the_stream(redis_conn, redis_url, mariadb_db):
	kwargs, _name = mariadb_db
	for i in range(25):
		enqueue(redis_conn, BENCH, "default", f"{M}.work", n=i)
	run_burst(redis_url, "default")
	records = stream_records(redis_conn)
	sink = MariaDBSink(kwargs)
	result = flush_mod.flush(redis_conn, BENCH, SITE, sink, batch=10)
	assert (result.read, result.inserted, result.duplicates, result.backlog) == (25, 25, 0, 0)
	assert len(sink.rows()) == 25
	# Storing the same records again (as after a lost ack) changes nothing.
	assert sink.upsert(records) == 0 and len(sink.rows()) == 25
	assert flush_mod.flush(redis_conn, BENCH, SITE, sink).read == 0


def test_the_apps_own_ticks_are_counted_not_stored(redis_conn, redis_url, mariadb_db):
	"""The flush leaves out records of the skipped methods (erp_ops's own ticks, in the site):
	acknowledged and counted, so the stream empties and the operator's list shows the business's
	jobs; the worker's outcome counters still count every job."""
	kwargs, _db = mariadb_db
	for i in range(3):
		enqueue(redis_conn, BENCH, "default", f"{M}.work", n=i)
	enqueue(redis_conn, BENCH, "default", f"{M}.fail")
	run_burst(redis_url, "default")
	methods = sorted(r.method for r in stream_records(redis_conn))
	assert methods == [f"{M}.fail"] + [f"{M}.work"] * 3
	sink = MariaDBSink(kwargs)
	result = flush_mod.flush(redis_conn, BENCH, SITE, sink, skip_methods=(f"{M}.fail",))
	assert (result.read, result.inserted, result.skipped, result.backlog) == (3, 3, 1, 0)
	assert sorted(r["method"] for r in sink.rows()) == [f"{M}.work"] * 3
	rates = {r.method: r for r in read(redis_conn, BENCH).failure_rates}
	assert (rates[f"{M}.fail"].total_1h, rates[f"{M}.fail"].failed_1h) == (1, 1)


def test_each_site_has_its_own_stream(redis_conn, redis_url, mariadb_db):
	kwargs, _db = mariadb_db
	enqueue(redis_conn, BENCH, "default", f"{M}.work", site="a.local")
	enqueue(redis_conn, BENCH, "default", f"{M}.work", site="b.local")
	run_burst(redis_url, "default")
	assert stream.backlog_by_site(redis_conn, BENCH) == {"a.local": 1, "b.local": 1}
	assert read(redis_conn, BENCH).evidence_backlog == 2
	sink = MariaDBSink(kwargs)
	assert flush_mod.flush(redis_conn, BENCH, "a.local", sink).inserted == 1
	assert [r["site"] for r in sink.rows()] == ["a.local"]
	assert stream.backlog_by_site(redis_conn, BENCH) == {"a.local": 0, "b.local": 1}


def test_flusher_killed_after_write_before_ack_loses_and_doubles_nothing(
	redis_conn, redis_url, mariadb_db, tmp_path
):
	kwargs, db = mariadb_db
	for i in range(40):
		enqueue(redis_conn, BENCH, "default", f"{M}.work", n=i)
	run_burst(redis_url, "default")
	assert redis_conn.xlen(stream.stream_key(BENCH, SITE)) == 40

	marker = tmp_path / "inserted"
	env = {**os.environ, "PYTHONPATH": str(ROOT)}
	proc = subprocess.Popen(
		[
			sys.executable,
			"-m",
			"tests.support.mariadb_sink",
			redis_url,
			BENCH,
			SITE,
			kwargs["host"],
			str(kwargs["port"]),
			kwargs["user"],
			kwargs["password"],
			db,
			str(marker),
		],
		cwd=ROOT,
		env=env,
	)
	try:
		wait_for(marker.exists, timeout=60, what="the flusher to write its batch")
	finally:
		proc.kill()
		proc.wait()
	sink = MariaDBSink(kwargs)
	assert len(sink.rows()) == 40  # written, but never acknowledged
	assert redis_conn.xlen(stream.stream_key(BENCH, SITE)) == 40

	result = flush_mod.flush(redis_conn, BENCH, SITE, sink)
	assert (result.read, result.inserted, result.duplicates) == (40, 0, 40)
	rows = sink.rows()
	assert len(rows) == 40 and len({r["name"] for r in rows}) == 40
	assert redis_conn.xlen(stream.stream_key(BENCH, SITE)) == 0
	assert redis_conn.xpending(stream.stream_key(BENCH, SITE), flush_mod.GROUP)["pending"] == 0


def test_killed_worker_leaves_an_abandoned_record_once(redis_conn, redis_url, mariadb_db, tmp_path):
	kwargs, _db = mariadb_db
	marker = tmp_path / "started"
	worker = WorkerProcess(redis_url, [qname(BENCH, "long")])
	job = enqueue(redis_conn, BENCH, "long", f"{M}.hang", seconds=120, marker=str(marker))
	wait_for(marker.exists, what="the job to start")
	wait_for(lambda: read(redis_conn, BENCH).started_jobs, what="the started registry entry")
	worker.kill()

	snap = read(redis_conn, BENCH)
	first = flush_mod.record_abandoned(redis_conn, BENCH, snap.started_jobs)
	assert [(r.job_id, r.outcome, r.exc_type) for r in first] == [(job.id, Outcome.ABANDONED, "WorkerDied")]
	assert flush_mod.record_abandoned(redis_conn, BENCH, read(redis_conn, BENCH).started_jobs) == []

	sink = MariaDBSink(kwargs)
	flush_mod.flush(redis_conn, BENCH, SITE, sink)
	(row,) = sink.rows()
	assert (row["job_id"], row["outcome"], row["method"]) == (job.id, "abandoned", f"{M}.hang")


def test_names_fit_frappe_and_stay_distinct():
	long_id = "site.example.com::" + "x" * 300
	a, b = evidence_name(long_id, 1), evidence_name(long_id + "y", 1)
	assert len(a) <= 140 and len(b) <= 140 and a != b
	assert evidence_name("s::j", 2) == "s::j#2"


def test_malformed_entries_are_counted_not_fatal(redis_conn, mariadb_db):
	kwargs, _db = mariadb_db
	redis_conn.xadd(stream.stream_key(BENCH, SITE), {"job_id": "x", "outcome": "exploded"})
	result = flush_mod.flush(redis_conn, BENCH, SITE, MariaDBSink(kwargs))
	assert result.malformed == 1 and result.read == 0 and redis_conn.xlen(stream.stream_key(BENCH, SITE)) == 0

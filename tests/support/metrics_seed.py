"""A bench whose every exported figure has something to say, built through RQ's API and real workers.

    default   501 queued jobs, the oldest enqueued 1,900 s ago (hand-set), no worker: backlog,
              oldest-job age, unserved
    short     6 failing and 2 working jobs run by a burst worker: failures by method, finished and
              failed registries, Job Evidence waiting in the stream
    long      a live worker running a job whose start is hand-set to 2020: past its timeout
    reports   a worker killed (SIGKILL, as the OOM killer would) under a running job: a dead
              worker and an abandoned job
then the alert rules erp_ops ships evaluated once over the snapshot (the firing ones land in the
alert state hash) and one tick of the app recorded, and a bench folder with a site in maintenance
mode and a backup. `Seeded.stop()` ends every process it started.
"""

import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis

from erp_ops.core import rq_keys
from erp_ops.core.alerts import store
from erp_ops.core.alerts.defaults import load_rules
from erp_ops.core.signals import read, ticks
from tests.support.rq_helpers import WorkerProcess, enqueue, qname, wait_for

M = "tests.support.frappe_like"
SITE = "one.localhost"
BACKUP_STAMP = "20260101_120000"


@dataclass
class Seeded:
	bench: str
	bench_path: Path
	workers: list[WorkerProcess] = field(default_factory=list)
	horse_marker: Path | None = None

	def stop(self) -> None:
		for worker in self.workers:
			worker.stop()
		# rq's work horse runs in its own session: killing the worker's group orphans it.
		if self.horse_marker and self.horse_marker.exists():
			try:
				os.kill(int(self.horse_marker.read_text()), signal.SIGKILL)
			except (ProcessLookupError, ValueError):
				pass


def make_bench_folder(path: Path) -> Path:
	"""sites/one.localhost in maintenance mode with one full backup set; sites/two.localhost plain."""
	sites = path / "sites"
	(sites / SITE / "private" / "backups").mkdir(parents=True)
	(sites / SITE / "site_config.json").write_text(json.dumps({"db_name": "x", "maintenance_mode": 1}))
	(sites / "two.localhost").mkdir()
	(sites / "two.localhost" / "site_config.json").write_text(json.dumps({"db_name": "y"}))
	(sites / "common_site_config.json").write_text(json.dumps({"redis_queue": "redis://127.0.0.1:11000"}))
	slug = SITE.replace(".", "_")
	backups = sites / SITE / "private" / "backups"
	(backups / f"{BACKUP_STAMP}-{slug}-database.sql.gz").write_bytes(b"\x1f\x8b")
	(backups / f"{BACKUP_STAMP}-{slug}-site_config_backup.json").write_text("{}")
	return path


def seed_bench(conn: Redis, redis_url: str, bench: str, bench_path: Path, tmp_path: Path) -> Seeded:
	seeded = Seeded(bench=bench, bench_path=make_bench_folder(bench_path))
	try:
		_seed(conn, redis_url, seeded, tmp_path)
	except BaseException:
		seeded.stop()
		raise
	return seeded


def _seed(conn: Redis, redis_url: str, seeded: Seeded, tmp_path: Path) -> None:
	bench = seeded.bench
	jobs = [enqueue(conn, bench, "default", f"{M}.work", n=i) for i in range(501)]
	conn.hset(rq_keys.job_key(jobs[0].id), "enqueued_at", _rq_time(time.time() - 1900))

	for i in range(6):
		enqueue(conn, bench, "short", f"{M}.fail", message=f"bad {i}")
	for i in range(2):
		enqueue(conn, bench, "short", f"{M}.work", n=i)
	burst = WorkerProcess(redis_url, [qname(bench, "short")], burst=True)
	assert burst.wait(60) == 0, burst.output()

	marker = tmp_path / "long-started"
	seeded.workers.append(WorkerProcess(redis_url, [qname(bench, "long")], name="seed-long"))
	late = enqueue(conn, bench, "long", f"{M}.hang", seconds=600, marker=str(marker), timeout=300)
	wait_for(marker.exists, timeout=60, what="the long job to start")
	conn.hset(rq_keys.job_key(late.id), "started_at", "2020-01-01T00:00:00.000000Z")

	seeded.horse_marker = tmp_path / "reports-horse"
	victim = WorkerProcess(redis_url, [qname(bench, "reports")], name="seed-victim")
	seeded.workers.append(victim)
	enqueue(
		conn,
		bench,
		"reports",
		"tests.support.alert_jobs.hang_and_tell",
		seconds=600,
		marker=str(seeded.horse_marker),
	)
	wait_for(seeded.horse_marker.exists, timeout=60, what="the reports job to start")
	victim.kill()

	store.evaluate(conn, bench, load_rules(), read(conn, bench))
	ticks.record(conn, bench, SITE, "evaluate_alerts", 0.25)


def _rq_time(ts: float) -> str:
	return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(ts))

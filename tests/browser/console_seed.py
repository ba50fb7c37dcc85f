"""Seed (and clean) what the Ops Console browser test looks at, on a real bench site.

Run with the bench's Python from its sites folder (console_browser.py does it):

    cd BENCH/sites && ../env/bin/python PATH/tests/browser/console_seed.py seed|clean SITE

Everything it creates is named with TAG (Redis keys, job ids, the worker, the drill's reason) so
that `clean` removes exactly that and nothing else of a shared bench:
- a backlog: 40 jobs queued two hours ago on `<bench>:erp_ops_console_test_<time>`, a queue no worker
  serves (RQ's own Job/Queue API; enqueued_at set back);
- a dead worker that held a job: a real `rq worker` process takes a `time.sleep` job from
  `<bench>:erp_ops_console_test_held` and is SIGKILLed with its work horse (its key and the job
  in the started registry stay behind, as after an OOM kill);
- a failed job of this site (RQ's failed registry) with a long method name, for the Failed Jobs page;
- a failed Restore Drill five minutes old;
- test users with Ops Viewer / Ops Operator;
- a development site whose setup wizard never ran sends every user but Administrator to it: the
  seed marks System Settings' setup complete for the run and `clean` puts the old value back;
- then one evaluation of the site's alert rules (what the per-minute tick does), which fires real
  Ops Alerts from that state (drill failed, oldest queued job).
Prints one JSON line: what was seeded.
"""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import frappe

TAG = "erp-ops-console-test"
QUEUE_PREFIX = "erp_ops_console_test"  # every queue the seed makes starts so; clean removes them all
HELD_QUEUE = f"{QUEUE_PREFIX}_held"
BACKLOG = 40
USERS = {"ops-viewer@console.test": "Ops Viewer", "ops-operator@console.test": "Ops Operator"}
SITE_OWNER = "site-owner@console.test"  # only made on a site that has no System Manager user
PASSWORD = "Console-Test-Pw-17"
LONG_METHOD = "erp_ops.tests.console.a_long_method_name_that_a_1280_px_screen_has_to_cut_somewhere"
PID_FILE = f"/tmp/{TAG}-worker.pid"
SETUP_FILE = f"/tmp/{TAG}-setup-complete"


def main() -> None:
	if len(sys.argv) != 3 or sys.argv[1] not in ("seed", "clean"):
		print("usage: console_seed.py seed|clean SITE", file=sys.stderr)
		sys.exit(64)
	frappe.init(site=sys.argv[2], sites_path=os.getcwd())
	frappe.connect()
	try:
		result = seed() if sys.argv[1] == "seed" else clean()
		frappe.db.commit()
		print(json.dumps(result, default=str))
	finally:
		frappe.destroy()


def redis_and_bench():
	from frappe.utils import get_bench_id
	from frappe.utils.background_jobs import get_redis_conn

	return get_redis_conn(), get_bench_id()


def ensure_users() -> None:
	from frappe.utils.password import update_password

	# Every set-up site has a System Manager besides Administrator (the setup wizard's user). A site
	# without one (set up by hand) would get Frappe to make each user saved here a System Manager
	# (User.add_system_manager_role), turning the viewer into a manager: give it one, kept.
	others = frappe.get_all(
		"Has Role",
		filters={
			"role": "System Manager",
			"parenttype": "User",
			"parent": ("not in", ["Administrator", *USERS]),
		},
		limit=1,
	)
	if not others:
		frappe.get_doc(
			{
				"doctype": "User",
				"email": SITE_OWNER,
				"first_name": "Site owner",
				"send_welcome_email": 0,
				"user_type": "System User",
				"roles": [{"role": "System Manager"}],
			}
		).insert(ignore_permissions=True)
	for email, role in USERS.items():
		if not frappe.db.exists("User", email):
			user = frappe.get_doc(
				{
					"doctype": "User",
					"email": email,
					"first_name": role,
					"send_welcome_email": 0,
					"user_type": "System User",
					"roles": [{"role": role}],
				}
			)
			user.insert(ignore_permissions=True)
		user = frappe.get_doc("User", email)  # exactly its role, whatever an earlier run left
		user.remove_roles(*[r.role for r in user.roles if r.role != role])
		user.add_roles(role)
		update_password(email, PASSWORD)


def setup_complete(seeding: bool) -> None:
	"""Mark the site set up for the run (seeding), or put back the value it had (cleaning)."""
	if seeding:
		before = frappe.db.get_single_value("System Settings", "setup_complete")
		with open(SETUP_FILE, "w") as f:
			f.write(str(frappe.utils.cint(before)))
		value = 1
	elif os.path.exists(SETUP_FILE):
		with open(SETUP_FILE) as f:
			value = frappe.utils.cint(f.read().strip())
		os.remove(SETUP_FILE)
	else:
		return
	frappe.db.set_single_value("System Settings", "setup_complete", value)
	frappe.clear_document_cache("System Settings", "System Settings")


def seed() -> dict:
	from rq import Queue
	from rq.job import Job
	from rq.registry import FailedJobRegistry

	clean()
	ensure_users()
	setup_complete(True)
	conn, bench = redis_and_bench()
	site = frappe.local.site
	# The backlog, queued two hours ago on a queue nobody serves. A new queue each run: an earlier
	# run's alert on it may still be firing (acknowledged) until its resolve delay has passed.
	queue = Queue(f"{bench}:{QUEUE_PREFIX}_{int(time.time())}", connection=conn)
	then = datetime.now(timezone.utc) - timedelta(hours=2)
	pipe = conn.pipeline(transaction=False)
	for i in range(BACKLOG):
		job = Job.create("time.sleep", args=(1,), connection=conn, origin=queue.name, id=f"{TAG}-queued-{i}")
		job.enqueued_at = then.replace(tzinfo=None) + timedelta(seconds=i)
		job.set_status("queued", pipeline=pipe)
		job.save(pipeline=pipe)
		pipe.rpush(queue.key, job.id)
	pipe.sadd("rq:queues", queue.key)
	pipe.execute()
	# A failed job of this site, named as Frappe names them, for the Failed Jobs page.
	sep = "::" if int(__import__("rq").__version__.split(".")[0]) < 2 else "||"
	failed = Job.create(
		"frappe.utils.background_jobs.execute_job",
		kwargs={
			"site": site,
			"user": "Administrator",
			"method": LONG_METHOD,
			"event": None,
			"job_name": LONG_METHOD,
			"is_async": True,
			"kwargs": {"doctype": "Sales Invoice", "name": "SINV-CONSOLE-" + "X" * 60},
		},
		connection=conn,
		origin=queue.name,
		id=f"{site}{sep}{TAG}-failed-0",
	)
	failed.set_status("failed")
	failed.save()
	FailedJobRegistry(queue.name, connection=conn).add(
		failed, ttl=3600, exc_string="Traceback (most recent call last):\nRuntimeError: console test failure"
	)
	# A dead worker that held a job: a real worker, SIGKILLed while running it.
	held = Queue(f"{bench}:{HELD_QUEUE}", connection=conn)
	held_job = held.enqueue("time.sleep", 3600, job_id=f"{TAG}-held-0", job_timeout=7200)
	worker_name = f"{TAG}-worker"
	rq_cli = os.path.join(os.path.dirname(sys.executable), "rq")
	url = frappe.conf.redis_queue
	proc = subprocess.Popen(
		[rq_cli, "worker", "--url", url, "--name", worker_name, held.name],
		stdout=subprocess.DEVNULL,
		stderr=subprocess.DEVNULL,
		start_new_session=True,
	)
	with open(PID_FILE, "w") as f:
		f.write(str(proc.pid))
	deadline = time.monotonic() + 60
	while time.monotonic() < deadline:
		held_job.refresh()
		if held_job.get_status() == "started":
			break
		time.sleep(0.3)
	else:
		raise SystemExit(f"the worker never started {held_job.id}")
	# Kill the whole session: the work horse (the job) and the worker, as the OOM killer would.
	os.killpg(proc.pid, signal.SIGKILL)
	proc.wait()
	# Its key lives on until its TTL runs out (minutes); the snapshot finds the process gone.
	# (Expiring the key by hand is not stable here: anything on the bench that lists workers
	# through RQ, e.g. a worker's maintenance, drops a name whose key is gone from rq:workers.)
	# A failed drill, five minutes old.
	now = frappe.utils.now_datetime()
	drill = frappe.get_doc(
		{
			"doctype": "Restore Drill",
			"outcome": "Failed",
			"reason": f"{TAG}: gzip stream truncated at 12 MB (backup unreadable)",
			"site": site,
			"triggered_by": "Bench",
			"started_at": now - timedelta(minutes=5),
			"finished_at": now - timedelta(minutes=4),
		}
	).insert(ignore_permissions=True)
	frappe.db.commit()
	# What the tick does every minute: alert rules over the fresh snapshot, the outbox drained.
	from erp_ops.site.alerts import evaluate_site
	from erp_ops.site.signals import site_snapshot

	evaluate_site(snapshot=site_snapshot(cache_seconds=0))
	frappe.db.commit()
	return {
		"backlog": BACKLOG,
		"queue": queue.name,
		"dead_worker": worker_name,
		"held_job": held_job.id,
		"failed_job": failed.id,
		"drill": drill.name,
		"firing": frappe.get_all("Ops Alert", filters={"status": "Firing"}, pluck="name"),
		"users": list(USERS),
		"password": PASSWORD,
	}


def clean() -> dict:
	conn, bench = redis_and_bench()
	setup_complete(False)
	if os.path.exists(PID_FILE):
		try:
			os.killpg(int(open(PID_FILE).read()), signal.SIGKILL)
		except (ProcessLookupError, ValueError):
			pass
		os.remove(PID_FILE)
	keys = []
	ours = f"rq:queue:{bench}:{QUEUE_PREFIX}"
	from erp_ops.core.rq_keys import as_text

	names = {
		as_text(k)[len("rq:queue:") :] for k in conn.smembers("rq:queues") if as_text(k).startswith(ours)
	}
	for name in sorted(names | {f"{bench}:{HELD_QUEUE}"}):
		conn.srem("rq:queues", f"rq:queue:{name}")
		for prefix in (
			"rq:queue:",
			"rq:wip:",
			"rq:failed:",
			"rq:finished:",
			"rq:deferred:",
			"rq:scheduled:",
			"rq:canceled:",
		):
			keys.append(prefix + name)
		keys.append(f"rq:queue:{name}:intermediate")
		keys.append(f"rq:workers:{name}")
	keys += [k for k in conn.scan_iter(match=f"rq:job:*{TAG}*", count=1000)]
	keys += [k for k in conn.scan_iter(match=f"rq:results:*{TAG}*", count=1000)]
	worker_key = f"rq:worker:{TAG}-worker"
	conn.srem("rq:workers", worker_key)
	keys.append(worker_key)
	removed = conn.delete(*keys) if keys else 0
	drills = frappe.get_all("Restore Drill", filters={"reason": ("like", f"{TAG}%")}, pluck="name")
	for name in drills:
		frappe.delete_doc("Restore Drill", name, ignore_permissions=True, force=True)
	frappe.db.commit()
	return {"removed_keys": removed, "removed_drills": drills}


if __name__ == "__main__":
	main()

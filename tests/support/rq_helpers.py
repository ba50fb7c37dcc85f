"""Enqueue Frappe-shaped jobs and run real RQ workers in their own processes."""

import atexit
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import ClassVar

import psutil
from redis import Redis
from rq import Queue

ROOT = Path(__file__).resolve().parents[2]
EXECUTE_JOB = "tests.support.frappe_like.execute_job"
# the same call in a worker that does not run erp_ops's hooks
EXECUTE_JOB_WITHOUT_HOOKS = "tests.support.frappe_like.execute_job_without_hooks"


def execute_job_kwargs(site: str, method: str, kwargs: dict) -> dict:
	"""The arguments frappe.enqueue gives Frappe's execute_job."""
	return {
		"site": site,
		"user": "Administrator",
		"method": method,
		"event": None,
		"job_name": method,
		"is_async": True,
		"kwargs": kwargs,
	}


def qname(bench_id: str, short: str) -> str:
	return f"{bench_id}:{short}"


def enqueue(
	conn: Redis,
	bench_id: str,
	short: str,
	method: str,
	*,
	site: str = "site1.local",
	job_id: str | None = None,
	timeout: int = 300,
	at_front: bool = False,
	hooks: bool = True,
	**kwargs,
):
	"""Enqueue like frappe.enqueue does: `<site>::<id>` job ids (`<site>||<id>` with rq 2, as
	Frappe v16 does), execute_job with Frappe's kwargs."""
	queue = Queue(qname(bench_id, short), connection=conn)
	sep = "::" if _rq_major() < 2 else "||"
	return queue.enqueue_call(
		EXECUTE_JOB if hooks else EXECUTE_JOB_WITHOUT_HOOKS,
		kwargs=execute_job_kwargs(site, method, kwargs),
		timeout=timeout,
		job_id=f"{site}{sep}{job_id or uuid.uuid4()}",
		result_ttl=600,
		failure_ttl=7 * 86400,
		at_front=at_front,
	)


def _rq_major() -> int:
	from rq.version import VERSION

	return int(VERSION.split(".")[0])


class WorkerProcess:
	"""A real `rq` worker in its own process group, killable like a crashed worker.

	Every one started is stopped at the end of its test at the latest (`stop_all`, an autouse
	fixture in tests/conftest.py), even when the test failed before its own `finally`.
	"""

	live: ClassVar[set["WorkerProcess"]] = set()

	def __init__(self, redis_url: str, queues: list[str], *, burst: bool = False, name: str | None = None):
		self.name = name or f"w-{uuid.uuid4().hex[:8]}"
		env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
		args = [sys.executable, "-m", "tests.support.worker_main", redis_url, self.name, ",".join(queues)]
		if burst:
			args.append("--burst")
		self.proc = subprocess.Popen(
			args, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
		)
		WorkerProcess.live.add(self)

	@classmethod
	def stop_all(cls) -> int:
		"""Stop every worker a test started and left running; how many there were."""
		running = [w for w in cls.live if w.proc.poll() is None]
		for worker in running:
			worker.stop()
		cls.live.clear()
		return len(running)

	@property
	def pid(self) -> int:
		return self.proc.pid

	def wait(self, timeout: float = 60) -> int:
		return self.proc.wait(timeout=timeout)

	def output(self) -> str:
		if self.proc.poll() is None:
			return ""
		return self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""

	def kill(self) -> None:
		"""SIGKILL the worker and its work horse, as the OOM killer would.

		RQ's work horse calls setsid(), so it leaves the worker's process group: it is found
		among the worker's children and killed too, or it would sleep on after the test. The
		worker dies first, so it cannot see its horse die and tidy up the job as a live one would.
		"""
		horses = self._horses()
		try:
			os.killpg(self.proc.pid, signal.SIGKILL)
		except ProcessLookupError:
			pass
		self.proc.wait(timeout=10)
		self._kill(horses)

	def _horses(self) -> list[psutil.Process]:
		try:
			return psutil.Process(self.proc.pid).children(recursive=True)
		except psutil.NoSuchProcess:
			return []

	@staticmethod
	def _kill(processes: list[psutil.Process]) -> None:
		for process in processes:
			try:
				process.kill()
			except psutil.NoSuchProcess:
				pass

	def stop(self) -> None:
		"""End the test's worker now: a running job is killed, not waited for."""
		if self.proc.poll() is None:
			self._kill(self._horses())
			try:
				os.killpg(self.proc.pid, signal.SIGTERM)
				self.proc.wait(timeout=15)
			except (ProcessLookupError, subprocess.TimeoutExpired):
				self.kill()


atexit.register(WorkerProcess.stop_all)


def wait_for(predicate, timeout: float = 30, interval: float = 0.05, what: str = "condition"):
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		value = predicate()
		if value:
			return value
		time.sleep(interval)
	raise AssertionError(f"timed out after {timeout}s waiting for {what}")

"""Bench tests remove what they create: records, quarantined jobs, failed test jobs, test queues.

A test module that writes into the site calls `setUpModule, tearDownModule = cleanup_hooks()`:
before its first test the names of the records and Redis members it may create are noted; after
its last one, whatever appeared since is removed. The `Ops Action Log` is the exception: its rows
are immutable evidence and stay (run the bench tests on a throwaway site: README, "Tests").

On a development bench the scheduler and workers keep running, so what they add meanwhile (an
evidence row of another job, say) is removed too: only run the tests on a site kept for that.
"""

from collections.abc import Callable

import frappe
from frappe.utils import get_bench_id
from frappe.utils.background_jobs import get_redis_conn

from erp_ops.core import rq_keys
from erp_ops.core.control import jobs as core_jobs
from erp_ops.core.control import keys as control_keys
from erp_ops.core.rq_keys import Registry, as_text

# What the bench tests create, child tables going with their parents (delete_doc).
DOCTYPES = (
	"Quarantine",
	"Restore Drill",
	"Upgrade Preflight",
	"Integration Event",
	"Integration Event Replay",
	"Integration Event Order",
	"Job Evidence",
	"Ops Alert",
	"Backup Retention Log",
)


class Snapshot:
	"""What the site held before: record names per DocType, queues, quarantined and failed jobs."""

	def __init__(self) -> None:
		self.records = {doctype: set(frappe.get_all(doctype, pluck="name")) for doctype in DOCTYPES}
		self.conn, self.bench_id = get_redis_conn(), get_bench_id()
		self.queues = self._queues()
		self.quarantined = set(core_jobs.quarantined_ids(self.conn, self.bench_id))
		self.failed = self._failed()

	def _queues(self) -> set[str]:
		return {as_text(q) for q in self.conn.smembers(rq_keys.QUEUES_SET)}

	def _failed(self) -> set[tuple[str, str]]:
		found = set()
		for queue in core_jobs.bench_queues(self.conn, self.bench_id):
			for member in self.conn.zrange(Registry.FAILED.key(queue), 0, -1):
				found.add((queue, as_text(member)))
		return found

	def remove_what_appeared(self) -> dict[str, int]:
		"""Delete every record, quarantined job, failed job and queue that was not there before."""
		removed: dict[str, int] = {}
		for doctype, before in self.records.items():
			new = set(frappe.get_all(doctype, pluck="name")) - before
			for name in new:
				# force: rows link to each other and to the log; ignore_on_trash: a Quarantine is kept
				# while quarantined by design, a test's is not.
				frappe.delete_doc(
					doctype,
					name,
					force=True,
					ignore_permissions=True,
					ignore_on_trash=True,
					delete_permanently=True,
				)
			removed[doctype] = len(new)
		pipe = self.conn.pipeline(transaction=False)
		new_quarantined = set(core_jobs.quarantined_ids(self.conn, self.bench_id)) - self.quarantined
		for job_id in new_quarantined:
			pipe.zrem(control_keys.quarantine_key(self.bench_id), job_id)
			pipe.delete(control_keys.quarantined_job_key(self.bench_id, job_id))
		new_failed = self._failed() - self.failed
		for queue, job_id in new_failed:
			pipe.zrem(Registry.FAILED.key(queue), job_id)
			pipe.delete(rq_keys.job_key(job_id), f"rq:results:{job_id}")
		new_queues = self._queues() - self.queues
		for queue_key in new_queues:
			queue = queue_key[len(rq_keys.QUEUE_PREFIX) :]
			pipe.srem(rq_keys.QUEUES_SET, queue_key)
			pipe.delete(queue_key, *(r.key(queue) for r in Registry))
		pipe.execute()
		removed.update(quarantined=len(new_quarantined), failed_jobs=len(new_failed), queues=len(new_queues))
		frappe.db.commit()  # Redis is cleaned already: the rows go with it
		return removed


def cleanup_hooks() -> tuple[Callable[[], None], Callable[[], None]]:
	"""unittest's `setUpModule` and `tearDownModule` for a test module that writes into the site."""
	state: dict[str, Snapshot] = {}

	def set_up_module() -> None:
		state["before"] = Snapshot()

	def tear_down_module() -> None:
		frappe.set_user("Administrator")
		frappe.db.rollback()
		if "before" in state:
			state.pop("before").remove_what_appeared()

	return set_up_module, tear_down_module

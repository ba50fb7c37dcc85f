"""RQ's Redis key layout and Frappe's naming conventions, read without importing RQ's classes.

RQ's own accessors (`Queue.count`, `Registry.get_job_ids()`, `rq info`) run a cleanup that moves
jobs and fires failure callbacks in the caller's process. Everything in erp_ops that only observes
reads the keys named here directly.
"""

import re
from datetime import datetime
from enum import Enum

from rq.version import VERSION as RQ_VERSION

from erp_ops.core.clock import as_utc, naive_utc
from erp_ops.core.errors import ErpOpsError

# The rq releases erp_ops is tested with: Frappe v15 pins rq ~=1.15.1, v16 rq 2.6.1; CI also runs
# the core with the newest rq below 2.8. rq 2.1 refuses ":" in a job id (Frappe v16 writes
# "<site>||<id>"), rq 2.8 refuses anything but letters, digits, "_" and "-": "||" too.
RQ_SUPPORTED = (1, 15, 1), (2, 8, 0)  # from, up to (excluded); pyproject.toml says the same
RQ_SUPPORTED_TEXT = "rq>=1.15.1,<2.8"


class UnsupportedDependency(ErpOpsError):
	"""An installed library outside the range erp_ops works with: refused at import."""


def check_rq_version(version: str) -> tuple[int, int, int]:
	"""The version as a tuple, or UnsupportedDependency naming the range and why."""
	parts = [int(p) for p in re.findall(r"\d+", version)[:3]]
	found = tuple(parts + [0] * (3 - len(parts)))
	low, high = RQ_SUPPORTED
	if not low <= found < high:
		raise UnsupportedDependency(
			f"erp_ops needs {RQ_SUPPORTED_TEXT}, but rq {version} is installed"
			+ (" (rq 2.8 and later refuse Frappe's job ids, <site>||<id>)" if found >= high else "")
			+ f": pip install '{RQ_SUPPORTED_TEXT}' (a bench has the rq its Frappe pins)"
		)
	return found


RQ_MAJOR = check_rq_version(RQ_VERSION)[0]
RQ_STARTED_MEMBERS_ARE_COMPOSITE = RQ_MAJOR >= 2

QUEUES_SET = "rq:queues"
QUEUE = "rq:queue:{queue}"
INTERMEDIATE = "rq:queue:{queue}:intermediate"  # rq >= 2: jobs popped but not yet started
JOB = "rq:job:{job_id}"
WORKERS_SET = "rq:workers"
WORKERS_BY_QUEUE = "rq:workers:{queue}"
WORKER = "rq:worker:{name}"
WORKER_PREFIX = "rq:worker:"
QUEUE_PREFIX = "rq:queue:"
JOB_PREFIX = "rq:job:"
RESULTS_PREFIX = "rq:results:"  # rq >= 1.12: a job's results stream; a failure's `exc_string` is here


class Registry(str, Enum):
	"""RQ's per-queue sorted sets, with the key prefix RQ gives each."""

	STARTED = "rq:wip:{queue}"
	FINISHED = "rq:finished:{queue}"
	FAILED = "rq:failed:{queue}"
	DEFERRED = "rq:deferred:{queue}"
	SCHEDULED = "rq:scheduled:{queue}"
	CANCELED = "rq:canceled:{queue}"

	def key(self, queue: str) -> str:
		return self.value.format(queue=queue)


# Registries whose score is an expiry time: members below "now" are gone as far as RQ is
# concerned and would be removed by its cleanup, so they are not counted as present. The
# canceled registry is never cleaned; the deferred one only from rq 2 on.
EXPIRING_REGISTRIES = (Registry.FINISHED, Registry.FAILED) + ((Registry.DEFERRED,) if RQ_MAJOR >= 2 else ())


def queue_key(queue: str) -> str:
	return QUEUE.format(queue=queue)


def job_key(job_id: str) -> str:
	return JOB.format(job_id=job_id)


def worker_key(name: str) -> str:
	return WORKER.format(name=name)


def started_member_job_id(member: str, composite: bool | None = None) -> str:
	"""Job id of a started-registry member.

	rq 1.x stores the bare job id; rq 2.x stores `job_id:execution_id`. `composite` defaults to
	what the installed rq writes, since a bench's readers and workers share one rq.
	"""
	if composite is None:
		composite = RQ_STARTED_MEMBERS_ARE_COMPOSITE
	if not composite:
		return member
	head, sep, _execution_id = member.rpartition(":")
	return head if sep and head else member


def split_frappe_job_id(job_id: str) -> tuple[str | None, str]:
	"""Split a Frappe job id into (site, id): v15 writes `<site>::<id>`, v16 `<site>||<id>`."""
	for separator in ("::", "||"):
		site, sep, rest = job_id.partition(separator)
		if sep and site:
			return site, rest
	return None, job_id


def queue_short_name(queue: str, bench_id: str) -> str:
	"""`<bench_id>:long` → `long`; a queue outside the bench prefix is returned unchanged."""
	prefix = f"{bench_id}:"
	return queue[len(prefix) :] if queue.startswith(prefix) else queue


def as_text(value: bytes | str) -> str:
	"""Redis replies are bytes unless the connection decodes them; accept both.

	Bytes that are not UTF-8 (RQ never writes them; a broken key may hold them) keep their escapes
	(`\\xff`) rather than failing the whole read.
	"""
	return value.decode(errors="backslashreplace") if isinstance(value, bytes) else str(value)


RQ_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def rq_time(moment: datetime) -> str:
	"""A datetime as RQ writes it (UTC, microseconds, trailing Z); such strings sort by time."""
	return naive_utc(moment).strftime(RQ_TIME_FORMAT)


def parse_rq_time(raw: bytes | str | None) -> datetime | None:
	"""An aware UTC datetime from RQ's format (older RQ wrote no microseconds; ISO is accepted)."""
	text = as_text(raw) if raw is not None else ""
	if not text:
		return None
	try:
		# RQ's own format minus the Z is ISO 8601, which fromisoformat reads many times faster
		# than strptime (the snapshot parses hundreds of these)
		parsed = datetime.fromisoformat(text[:-1] if text.endswith("Z") else text)
	except ValueError:
		try:
			parsed = datetime.strptime(text, RQ_TIME_FORMAT)
		except ValueError:
			return None
	return as_utc(parsed)

"""What an evidence record says, computed without pydantic.

This module and `append.py` are all a work horse imports for evidence: Frappe v15 forks a horse
per job and imports hook modules inside it, so anything imported here is paid on every job.
(Building the pydantic models costs about 90 ms; `benchmarks/evidence_overhead.py` measures.)
"""

import hashlib
import json
from enum import Enum
from typing import Any

NAME_MAX = 140  # Frappe's `name` column
MESSAGE_MAX = 240


class Outcome(str, Enum):
	SUCCESS = "success"
	FAILED = "failed"
	TIMED_OUT = "timed out"
	ABANDONED = "abandoned"
	CANCELED = "canceled"


FAILED_OUTCOMES = frozenset({Outcome.FAILED, Outcome.TIMED_OUT, Outcome.ABANDONED})


def evidence_name(job_id: str, attempt: int) -> str:
	"""`<job id>#<attempt>`, shortened with a digest when it would not fit Frappe's name column."""
	name = f"{job_id}#{attempt}"
	if len(name) <= NAME_MAX:
		return name
	digest = hashlib.sha256(job_id.encode()).hexdigest()[:24]
	return f"{job_id[: NAME_MAX - len(digest) - 12]}~{digest}#{attempt}"


def kwargs_digest(kwargs: Any) -> str:
	"""A stable digest of job arguments: equal arguments, equal digest; the values never leave."""
	canonical = json.dumps(kwargs, sort_keys=True, separators=(",", ":"), default=repr)
	return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def short_message(exc: BaseException | None) -> str | None:
	if exc is None:
		return None
	text = str(exc).strip()
	return text.splitlines()[0][:MESSAGE_MAX] if text else None


def referenced_document(method: str | None, kwargs: dict | None) -> tuple[str | None, str | None]:
	"""The business document a job names: `enqueue_doc`/`run_doc_method`, `queue_action`, or
	doctype/name keyword arguments."""
	if not isinstance(kwargs, dict):
		return None, None
	doctype = kwargs.get("doctype") or kwargs.get("__doctype") or kwargs.get("reference_doctype")
	name = kwargs.get("name") or kwargs.get("docname") or kwargs.get("reference_name")
	if isinstance(doctype, str) and isinstance(name, (str, int)) and doctype:
		return doctype, str(name)
	return None, None

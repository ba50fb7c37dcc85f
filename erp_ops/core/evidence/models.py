"""The evidence record and how it is named, digested and encoded for the stream."""

import hashlib
import json
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict

NAME_MAX = 140  # Frappe's `name` column
MESSAGE_MAX = 240


class Outcome(str, Enum):
	SUCCESS = "success"
	FAILED = "failed"
	TIMED_OUT = "timed out"
	ABANDONED = "abandoned"
	CANCELED = "canceled"


FAILED_OUTCOMES = frozenset({Outcome.FAILED, Outcome.TIMED_OUT, Outcome.ABANDONED})


class EvidenceRecord(BaseModel):
	"""One execution of one job. `name` is stable for the same job and attempt."""

	model_config = ConfigDict(frozen=True)

	job_id: str
	attempt: int = 1
	site: str | None = None
	method: str | None = None
	queue: str | None = None
	user: str | None = None
	enqueued_at: datetime | None = None
	started_at: datetime | None = None
	ended_at: datetime | None = None
	queue_wait_ms: float | None = None
	duration_ms: float | None = None
	outcome: Outcome
	exc_type: str | None = None
	exc_message: str | None = None
	worker: str | None = None
	kwargs_digest: str | None = None
	retry_of: str | None = None
	frappe_retries: int = 0
	ref_doctype: str | None = None
	ref_name: str | None = None

	@property
	def name(self) -> str:
		return evidence_name(self.job_id, self.attempt)

	def to_fields(self) -> dict[str, str]:
		"""Flat string fields for XADD; empty values are left out to keep entries small."""
		data = self.model_dump(mode="json", exclude={"attempt"})
		return {k: str(v) for k, v in data.items() if v not in (None, "")}

	@classmethod
	def from_fields(cls, fields: dict[str, str]) -> "EvidenceRecord":
		return cls.model_validate({k: v for k, v in fields.items() if v != ""})


def evidence_name(job_id: str, attempt: int) -> str:
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
	text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
	return text[:MESSAGE_MAX] or None


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

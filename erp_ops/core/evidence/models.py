"""The evidence record as a model, for the flush, the sweep and the Frappe layer (not the worker)."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from erp_ops.core.evidence.fields import (
	FAILED_OUTCOMES,
	MESSAGE_MAX,
	NAME_MAX,
	Outcome,
	evidence_name,
	kwargs_digest,
	referenced_document,
	short_message,
)

__all__ = [
	"FAILED_OUTCOMES",
	"MESSAGE_MAX",
	"NAME_MAX",
	"EvidenceRecord",
	"Outcome",
	"evidence_name",
	"kwargs_digest",
	"referenced_document",
	"short_message",
]


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

"""Runbooks as plain value objects: what the seed file holds and what the Frappe layer passes in."""

from datetime import date
from enum import Enum

from pydantic import Field, field_validator

from erp_ops.core.models import Strict


class Area(str, Enum):
	QUEUES = "Queues"
	SCHEDULER = "Scheduler"
	WORKERS = "Workers"
	UPGRADES = "Upgrades"
	RECOVERY = "Recovery"
	INTEGRATIONS = "Integrations"
	INFRASTRUCTURE = "Infrastructure"


class RunbookSeverity(str, Enum):
	LOW = "Low"
	MEDIUM = "Medium"
	HIGH = "High"
	CRITICAL = "Critical"


class RunbookStatus(str, Enum):
	DRAFT = "Draft"
	ACTIVE = "Active"
	NEEDS_REVIEW = "Needs Review"
	RETIRED = "Retired"


class RunbookStep(Strict):
	"""One step: what to do, the exact command or erp_ops action, what should happen, how to check."""

	action: str = Field(min_length=3)
	command: str | None = None
	erp_ops_action: str | None = Field(
		None, description="retry, requeue, cancel, quarantine, release or purge (the control core)"
	)
	expected_result: str = Field(min_length=3)
	verify: str = Field(min_length=3)


class FailureSignature(Strict):
	"""A failure a runbook answers: a method (fnmatch pattern) and optionally an exception type."""

	method: str = "*"
	exc_type: str | None = None


class Runbook(Strict):
	"""A runbook as the `Runbook` DocType holds it, without Frappe's bookkeeping."""

	name: str = Field(min_length=1, max_length=140)
	title: str = Field(min_length=3, max_length=140)
	area: Area
	severity: RunbookSeverity = RunbookSeverity.MEDIUM
	status: RunbookStatus = RunbookStatus.ACTIVE
	symptoms: str = ""
	impact: str = ""
	diagnosis: str = ""
	steps: list[RunbookStep] = []
	escalation: str = ""
	rollback: str = ""
	tags: list[str] = []
	owner: str | None = None
	review_cadence_days: int = Field(90, ge=1, le=3650)
	last_reviewed: date | None = None
	signatures: list[FailureSignature] = []

	@field_validator("tags")
	@classmethod
	def _clean_tags(cls, tags: list[str]) -> list[str]:
		return sorted({t.strip().lower() for t in tags if t.strip()})

	def search_fields(self) -> dict[str, str]:
		"""The text the search index weighs, field by field."""
		steps = "\n".join(
			" ".join(filter(None, (s.action, s.command, s.erp_ops_action, s.expected_result, s.verify)))
			for s in self.steps
		)
		return {
			"title": self.title,
			"symptoms": self.symptoms,
			"tags": " ".join(self.tags),
			"steps": steps,
			"rest": "\n".join(
				filter(None, (self.area.value, self.impact, self.diagnosis, self.escalation, self.rollback))
			),
		}

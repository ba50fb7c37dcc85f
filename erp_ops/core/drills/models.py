"""The drill's inputs from the site and its result: value objects that cross into the Frappe layer."""

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict

from erp_ops.core.drills.discovery import FileKind


class Frozen(BaseModel):
	model_config = ConfigDict(frozen=True)


class CheckStatus(str, Enum):
	PASS = "pass"
	WARN = "warn"
	FAIL = "fail"
	SKIP = "skip"


class DrillOutcome(str, Enum):
	PASSED = "passed"
	FAILED = "failed"


class Check(Frozen):
	"""One judgement with the exact reason: what was expected, what was found."""

	code: str
	status: CheckStatus
	reason: str
	details: dict[str, Any] = {}


class SiteFacts(Frozen):
	"""What the Frappe layer knows about the live site (the standalone CLI may know none of it)."""

	site: str | None = None
	db_name: str | None = None
	# Every site database on the server: a restore target equal to one of them is refused.
	site_databases: list[str] = []
	installed_apps: dict[str, str] | None = None
	patches: list[str] | None = None


class FileReport(Frozen):
	kind: FileKind
	name: str
	size: int
	sha256: str
	encrypted: bool = False
	archive_files: int | None = None


class DrillResult(Frozen):
	"""The record of one drill: what `Restore Drill` stores."""

	site: str | None = None
	backup_stamp: str | None = None
	backup_folder: str | None = None
	files: list[FileReport] = []
	manifest: str | None = None
	scratch_database: str | None = None
	scratch_dropped: bool = False
	started_at: datetime
	finished_at: datetime
	backup_taken_at: datetime | None = None
	rpo_s: float | None = None
	rto_s: float | None = None
	verify_s: float | None = None
	sql_bytes: int | None = None
	tables: int | None = None
	rows: int | None = None
	table_counts: dict[str, int] = {}
	checks: list[Check] = []
	outcome: DrillOutcome
	reason: str
	interrupted: bool = False

	@property
	def failed_checks(self) -> list[Check]:
		return [c for c in self.checks if c.status == CheckStatus.FAIL]

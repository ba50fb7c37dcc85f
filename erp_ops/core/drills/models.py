"""The drill's inputs from the site and its result: value objects that cross into the Frappe layer."""

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import model_validator

from erp_ops.core.drills.discovery import FileKind
from erp_ops.core.models import Frozen


class CheckStatus(str, Enum):
	PASS = "pass"
	WARN = "warn"
	FAIL = "fail"
	SKIP = "skip"


class DrillOutcome(str, Enum):
	PASSED = "passed"
	# Restored and structurally sound, but nothing independent said what it should hold (no
	# manifest, no live site counts, no --expect-counts): not proof that the backup is complete.
	NOT_VERIFIED = "not_verified"
	FAILED = "failed"


REASON_MAX = 200


def one_line(text: str, limit: int = REASON_MAX) -> str:
	"""`text` on one line, at most `limit` characters (an ellipsis marks a cut)."""
	flat = " ".join(str(text).split())
	return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


class Check(Frozen):
	"""One judgement with the exact reason: what was expected, what was found.

	The reason is one line of at most REASON_MAX characters; a longer text is kept whole in
	`details["full_reason"]` (the record shows both)."""

	code: str
	status: CheckStatus
	reason: str
	details: dict[str, Any] = {}

	@model_validator(mode="before")
	@classmethod
	def _short_reason(cls, data: Any) -> Any:
		if isinstance(data, dict) and isinstance(data.get("reason"), str):
			short = one_line(data["reason"])
			if short != data["reason"]:
				details = dict(data.get("details") or {})
				if short != " ".join(data["reason"].split()):
					details.setdefault("full_reason", data["reason"])
				data = {**data, "reason": short, "details": details}
		return data


class SiteFacts(Frozen):
	"""What the Frappe layer knows about the live site (the standalone CLI may know none of it)."""

	site: str | None = None
	db_name: str | None = None
	# Every site database on the server: a restore target equal to one of them is refused.
	site_databases: list[str] = []
	installed_apps: dict[str, str] | None = None
	patches: list[str] | None = None
	# Rows that identify the live site (facts.site_identity): compared with the restored copy.
	fingerprint: dict[str, str] | None = None
	# The live site's exact row counts: what a backup of it should roughly hold (when no manifest).
	expected_counts: dict[str, int] | None = None


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
	# Why this set was drilled (the newest by file time, the stamp as tiebreak) and what was swept.
	chosen_because: str | None = None
	swept: list[str] = []

	@property
	def failed_checks(self) -> list[Check]:
		return [c for c in self.checks if c.status == CheckStatus.FAIL]

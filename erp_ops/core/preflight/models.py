"""Value objects of the upgrade preflight. They cross the core/Frappe boundary as JSON."""

from datetime import datetime
from enum import Enum

from pydantic import Field

from erp_ops.core.models import Frozen


class Severity(str, Enum):
	INFO = "info"
	WARNING = "warning"
	HIGH = "high"
	BLOCKER = "blocker"

	@property
	def rank(self) -> int:
		return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.HIGH: 2, Severity.BLOCKER: 3}


class Verdict(str, Enum):
	PROCEED = "proceed"
	PROCEED_WITH_CARE = "proceed_with_care"
	DO_NOT_PROCEED = "do_not_proceed"


class Band(str, Enum):
	LOW = "low"
	MODERATE = "moderate"
	HIGH = "high"
	CRITICAL = "critical"


class Phase(str, Enum):
	"""When the fix belongs: the order an operator works through the fix list."""

	PREPARE = "prepare"  # blocks even starting: app repos clean, pending patches run, disk, a fresh backup
	CODE = "code"  # code fixes, per app: removed APIs, pins, declared ranges
	RUNTIME = "runtime"  # runtime changes the target needs: Python, Node
	UPGRADE = "upgrade"  # the window itself: scheduler paused, queues drained, the switch
	VERIFY = "verify"  # after migrate: the verification plan


# ---- facts -----------------------------------------------------------------------------------


class GitState(Frozen):
	"""What git says about an app checkout, read with `git --no-optional-locks`."""

	is_repo: bool = False
	branch: str | None = None
	head: str | None = None
	upstream: str | None = None
	ahead: int | None = Field(
		None, description="local commits not on the upstream; None when no upstream is known"
	)
	behind: int | None = None
	changed: list[str] = Field(default_factory=list, description="porcelain lines of uncommitted changes")
	error: str | None = None


class AppFacts(Frozen):
	name: str
	path: str
	in_apps_txt: bool = True
	version: str | None = None
	version_source: str | None = None
	frappe_dependency: str | None = Field(None, description="[tool.bench.frappe-dependencies] frappe range")
	requires_python: str | None = None
	requires_python_source: str | None = Field(None, description="pyproject.toml or setup.py")
	requirements: list[str] = Field(default_factory=list)
	requirements_source: str | None = None
	lines: dict[str, int] = Field(
		default_factory=dict, description="line of frappe_dependency / requires_python in its file"
	)
	git: GitState = GitState()


class RuntimeVersions(Frozen):
	python: str | None = None
	node: str | None = None
	mariadb: str | None = Field(None, description="the server's SELECT VERSION(), never a client's --version")
	redis: str | None = None
	sources: dict[str, str] = Field(
		default_factory=dict, description="where each version was read: a command, a file, the server"
	)


class DiskFacts(Frozen):
	"""Free space on each path that matters, and what the upgrade needs there."""

	path: str
	role: str  # bench, database, backup
	device: int | None = None
	free_bytes: int | None = None
	error: str | None = None


class QueueFacts(Frozen):
	"""Jobs that would be in flight at switch time, per queue (only the non-empty ones)."""

	bench_id: str
	queues: dict[str, dict[str, int]] = Field(default_factory=dict)
	started_job_ids: list[str] = Field(default_factory=list)
	error: str | None = None

	@property
	def in_flight(self) -> int:
		return sum(sum(v.values()) for v in self.queues.values())


class PendingPatch(Frozen):
	app: str
	patch: str


class Customization(Frozen):
	"""A site customization the Frappe layer found: Custom Field, Property Setter, scripts, customised DocType."""

	kind: str  # "Custom Field", "Property Setter", "Server Script", "Client Script", "Customize Form"
	doctype: str
	name: str


class BackupInfo(Frozen):
	path: str
	size_bytes: int | None = None
	taken_at: datetime | None = None
	files: list[str] = Field(default_factory=list, description="public/private file archives of the same set")


class SiteScript(Frozen):
	"""A Client Script (JavaScript) or Server Script (Python) stored in the site's database."""

	kind: str  # "Client Script" or "Server Script"
	name: str
	code: str


class SiteFacts(Frozen):
	"""What only the Frappe layer can read, passed in as plain data."""

	site: str
	pending_patches: list[PendingPatch] = Field(default_factory=list)
	customizations: list[Customization] = Field(default_factory=list)
	scheduler_paused: bool | None = None
	pending_jobs: int | None = None
	last_restore_drill_at: datetime | None = None
	drills_exist: bool = False
	db_size_bytes: int | None = None
	mariadb_version: str | None = None
	last_backup: BackupInfo | None = None
	scripts: list[SiteScript] = Field(default_factory=list, description="scanned like app code")


class SiteConfig(Frozen):
	"""What a site's `site_config.json` and the bench's `common_site_config.json` say (no secrets kept)."""

	site: str
	url: str | None = Field(None, description="where the site answers: host_name, or the webserver port")
	redis_queue: str | None = None
	bench_id: str | None = None
	error: str | None = None


class BenchFacts(Frozen):
	bench_path: str
	apps: list[AppFacts] = Field(default_factory=list)
	runtimes: RuntimeVersions = RuntimeVersions()
	disks: list[DiskFacts] = Field(default_factory=list)
	db_size_bytes: int | None = None
	backup_size_bytes: int | None = None
	latest_backup: BackupInfo | None = None


# ---- findings, score, plans ---------------------------------------------------------------------


class Evidence(Frozen):
	file: str | None = Field(None, description="path relative to the bench")
	line: int | None = None
	text: str | None = Field(None, description="the source line, or a value, as found")
	values: dict[str, str | int | float | None] = Field(default_factory=dict)


class Finding(Frozen):
	check: str
	severity: Severity
	title: str
	app: str | None = None
	evidence: Evidence = Evidence()
	fix: str
	phase: Phase = Phase.CODE
	source: list[str] = Field(default_factory=list, description="public references the rule is based on")
	command: str | None = Field(None, description="the command that does, or checks, the fix")
	step: bool = Field(
		False, description="an upgrade step (new runtime, fresh backup): listed in the fix list, not scored"
	)
	context: str | None = Field(
		None, description="where the code runs: pending patch, patch, hooks, scheduled job, page, module"
	)


class RiskScore(Frozen):
	score: int = Field(ge=0, le=100)
	band: Band
	counts: dict[str, int]
	components: dict[str, int] = Field(
		default_factory=dict,
		description="points per area (code, dependencies, repositories, site, operations)",
	)
	steps: list[str] = Field(
		default_factory=list, description="checks that are upgrade steps: listed, not scored"
	)


class NotChecked(Frozen):
	"""A check that could not run, and why: silence never reads as fine."""

	check: str
	why: str
	how: str | None = Field(None, description="what would let it run")


class FixItem(Frozen):
	order: int
	check: str
	severity: Severity
	phase: Phase
	title: str
	fix: str
	occurrences: int
	where: list[str] = Field(default_factory=list, description="the first few locations")
	app: str | None = None
	command: str | None = None


class PlanStep(Frozen):
	step: str
	command: str | None = None
	expect: str | None = None


class RollbackPlan(Frozen):
	backup: str | None = Field(None, description="the backup set to restore; None means take one first")
	app_refs: dict[str, str] = Field(default_factory=dict, description="app → commit to return to")
	steps: list[PlanStep] = Field(default_factory=list)


class ScanStats(Frozen):
	files: int = 0
	lines: int = 0
	parsed_files: int = 0
	guarded: int = Field(0, description="matches skipped because a version guard protects them")
	test_files: int = Field(0, description="test and benchmark files: checked for test APIs only")
	syntax_errors: list[str] = Field(default_factory=list)
	too_large: list[str] = Field(
		default_factory=list, description="files over 2 MiB: generated bundles, not read"
	)
	seconds: float = 0.0
	scanned_apps: list[str] = Field(default_factory=list)
	skipped_apps: list[str] = Field(
		default_factory=list, description="frappe and official apps: upstream's to fix"
	)


class PreflightReport(Frozen):
	bench_path: str
	target: int
	jump: str
	generated_at: datetime
	verdict: Verdict
	risk: RiskScore
	findings: list[Finding]
	fix_list: list[FixItem]
	verification_plan: list[PlanStep]
	rollback_plan: RollbackPlan
	facts: BenchFacts
	site: SiteFacts | None = None
	queues: QueueFacts | None = None
	scan: ScanStats = ScanStats()
	rule_set: str
	not_checked: list[NotChecked] = Field(default_factory=list)
	site_config: SiteConfig | None = None

"""Value objects of the operations snapshot. They cross the core/Frappe boundary as JSON."""

from datetime import datetime
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
	model_config = ConfigDict(frozen=True)


class Severity(str, Enum):
	OK = "ok"
	WARNING = "warning"
	CRITICAL = "critical"


class StartedJob(Frozen):
	"""A job in a started registry: running, overdue, or left behind by a dead worker."""

	job_id: str
	queue: str
	worker: str | None = None
	site: str | None = None
	method: str | None = None
	started_at: datetime | None = None
	elapsed_s: float | None = None
	timeout_s: float | None = None
	overdue: bool = False
	abandoned: bool = False
	abandoned_reason: str | None = None


class QueueStats(Frozen):
	name: str
	short_name: str
	queued: int = 0
	intermediate: int = 0
	started: int = 0
	failed: int = 0
	deferred: int = 0
	scheduled: int = 0
	finished: int = 0
	canceled: int = 0
	expired_started: int = Field(0, description="started-registry entries past their expiry: abandoned")
	oldest_queued_job_id: str | None = None
	oldest_queued_age_s: float | None = None
	workers: int = 0
	running_past_timeout: int = 0


class WorkerStatus(str, Enum):
	ALIVE = "alive"
	DEAD = "dead"


class WorkerInfo(Frozen):
	name: str
	queues: list[str] = []
	state: str | None = None
	current_job: str | None = None
	hostname: str | None = None
	pid: int | None = None
	birth: datetime | None = None
	last_heartbeat: datetime | None = None
	heartbeat_age_s: float | None = None
	ttl_s: int | None = Field(None, description="seconds left on the worker key; liveness is judged by it")
	successful_jobs: int = 0
	failed_jobs: int = 0
	total_working_time_s: float = 0.0
	status: WorkerStatus = WorkerStatus.ALIVE
	dead_reason: str | None = None
	rss_bytes: int | None = None
	cpu_percent: float | None = None


class FailureRate(Frozen):
	method: str
	total_5m: int = 0
	failed_5m: int = 0
	rate_5m: float = 0.0
	total_1h: int = 0
	failed_1h: int = 0
	rate_1h: float = 0.0


class ScheduledJobRow(Frozen):
	"""A `Scheduled Job Type` row as the Frappe layer reads it (naive datetimes in site time)."""

	name: str
	method: str
	frequency: str
	cron_format: str | None = None
	last_execution: datetime | None = None
	creation: datetime | None = None
	stopped: bool = False


class SiteSchedulerFacts(Frozen):
	"""What the Frappe layer knows about one site's scheduler, passed in as plain data."""

	site: str
	now: datetime
	enable_scheduler: bool = True
	pause_scheduler: bool = False
	disable_scheduler: bool = False
	maintenance_mode: bool = False
	dormant: bool = False
	scheduler_interval_s: int = 240
	jobs: list[ScheduledJobRow] = []


class OverdueJob(Frozen):
	name: str
	method: str
	frequency: str
	last_execution: datetime | None
	next_due: datetime
	overdue_s: float
	stuck_in_queue: bool = False


class SchedulerStatus(str, Enum):
	RUNNING = "running"
	INACTIVE = "inactive"
	DEGRADED = "degraded"
	UNKNOWN = "unknown"


class SiteScheduler(Frozen):
	site: str
	status: SchedulerStatus
	severity: Severity = Severity.OK
	reason: str | None = Field(None, description="the one answer to 'why is the scheduler not running?'")
	reasons: list[str] = []
	last_tick: datetime | None = None
	overdue: list[OverdueJob] = []


class FileLock(Frozen):
	site: str
	name: str
	path: str
	kind: str = Field(description="document (Document.lock) or process (synchronization.filelock)")
	held: bool | None = Field(None, description="None where the OS lock table cannot be read")
	age_s: float
	stale: bool


class DbTransaction(Frozen):
	"""A long transaction or lock wait, as the Frappe layer reads it from information_schema."""

	id: str
	user: str | None = None
	state: str | None = None
	age_s: float
	waiting_for_lock: bool = False
	query: str | None = None


class DiskUsage(Frozen):
	label: str
	path: str
	total_bytes: int
	free_bytes: int
	free_pct: float


class HostInfo(Frozen):
	hostname: str
	cpu_count: int | None = None
	load_1m: float | None = None
	load_5m: float | None = None
	load_15m: float | None = None
	memory_total_bytes: int | None = None
	memory_available_bytes: int | None = None
	memory_used_pct: float | None = None
	disks: list[DiskUsage] = []


class Finding(Frozen):
	"""One thing an operator should know, with the figure that raised it."""

	code: str
	severity: Severity
	message: str
	subject: str | None = None
	value: float | None = None


class Snapshot(Frozen):
	taken_at: datetime
	bench_id: str
	redis_ok: bool = True
	redis_error: str | None = None
	read_ms: float = 0.0
	cached: bool = False
	queues: list[QueueStats] = []
	workers: list[WorkerInfo] = []
	started_jobs: list[StartedJob] = []
	failure_rates: list[FailureRate] = []
	evidence_backlog: int = 0
	schedulers: list[SiteScheduler] = []
	locks: list[FileLock] = []
	db_transactions: list[DbTransaction] = []
	host: HostInfo | None = None
	findings: list[Finding] = []

	@property
	def critical(self) -> bool:
		return any(f.severity is Severity.CRITICAL for f in self.findings)

	def queue(self, short_name: str) -> QueueStats | None:
		return next((q for q in self.queues if q.short_name == short_name), None)

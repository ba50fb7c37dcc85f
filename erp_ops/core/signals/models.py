"""Value objects of the operations snapshot. They cross the core/Frappe boundary as JSON."""

from datetime import datetime
from enum import Enum

from pydantic import Field

from erp_ops.core.models import Frozen


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
	entry_expired: bool = Field(False, description="its started-registry entry is past its expiry")
	last_heartbeat: datetime | None = Field(
		None, description="the job's own heartbeat, written by its worker"
	)
	heartbeat_age_s: float | None = None


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
	running: int = Field(0, description="started jobs whose entry is current and whose worker is alive")
	abandoned: int = Field(
		0,
		description="expired started entries plus current ones whose worker is dead; running + abandoned = started + expired_started",
	)
	oldest_queued_job_id: str | None = Field(
		None, description="the job that has waited longest (by enqueued_at)"
	)
	oldest_queued_age_s: float | None = None
	oldest_queued_exact: bool = Field(
		True, description="False when the age is a lower bound (more at_front jobs than the read window)"
	)
	head_job_id: str | None = Field(None, description="the job a worker takes next (at_front jobs sit here)")
	head_age_s: float | None = None
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
	jobs_held: list[str] = Field([], description="started jobs of this bench that name this worker")
	known_from: list[str] = Field(
		[], description="where the worker was found: rq:workers, a rq:workers:<queue> set, a started job"
	)


class FailureRate(Frozen):
	"""Runs and failures of one method. Evidence counts every run its hooks saw; a failure that only
	RQ's failed registry holds (a worker without erp_ops's hooks) adds one run and one failure."""

	method: str
	total_5m: int = 0
	failed_5m: int = 0
	rate_5m: float = 0.0
	total_1h: int = 0
	failed_1h: int = 0
	rate_1h: float = 0.0
	rq_only_failed_5m: int = Field(0, description="failures found only in RQ's failed registries")
	rq_only_failed_1h: int = 0
	sources: list[str] = Field(
		[], description="evidence (erp_ops's outcome counters), rq (failed registries)"
	)
	failed_by_exception_5m: dict[str, int] = Field(
		{},
		description="failed_5m by exception class name (the record's exc_type; for rq-only failures "
		"the class RQ's traceback ends with); sums to less than failed_5m only for failures counted "
		"before erp_ops split them",
	)
	failed_by_exception_1h: dict[str, int] = Field(
		{}, description="failed_1h by exception class name, as above"
	)


class FailureCount(Frozen):
	"""Failures in RQ's failed registries by the job's ended_at, for one queue, exception type or site."""

	key: str
	failed_5m: int = 0
	failed_1h: int = 0
	rq_only_5m: int = Field(0, description="of these, failures the evidence stream never saw")
	rq_only_1h: int = 0


class RqFailures(Frozen):
	"""What RQ's failed registries say about the last hour, read bounded (see `scan_limit`)."""

	source: str = "rq failed registries, by the job's ended_at"
	scan_limit: int = Field(0, description="most recent entries read per failed registry")
	scanned: int = Field(0, description="entries whose ended_at was read")
	bounded: bool = Field(
		False,
		description="a registry's window ended before its entries left the hour: counts are lower bounds",
	)
	by_queue: list[FailureCount] = []
	by_exception: list[FailureCount] = []
	by_site: list[FailureCount] = []


class SiteQueueCounts(Frozen):
	queue: str
	queued: int = 0
	started: int = 0
	abandoned: int = 0
	failed: int = 0


class SiteCounts(Frozen):
	"""One site's jobs, from Frappe's job-id prefix (`<site>::` on v15, `<site>||` on v16)."""

	site: str
	queued: int = 0
	started: int = Field(0, description="running: current started entries with a live worker")
	abandoned: int = 0
	failed: int = 0
	exact: bool = Field(
		True,
		description="False when a queue or registry was longer than the read window: the figures are lower bounds",
	)
	queues: list[SiteQueueCounts] = []


class Unreadable(Frozen):
	"""A key in RQ's key space that could not be read as RQ writes it; the snapshot went on without it."""

	key: str
	type: str
	why: str


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
	rq_failures: RqFailures | None = None
	sites: list[SiteCounts] = Field([], description="per-site figures beside the bench totals")
	site: str | None = Field(None, description="the site a site-scoped snapshot was read for")
	site_figures: SiteCounts | None = Field(None, description="that site's own figures")
	unreadable: list[Unreadable] = []
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

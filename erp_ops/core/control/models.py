"""Value objects that cross the core's boundary: action results, payloads, bulk plans, verdicts."""

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import Field

from erp_ops.core.models import Frozen


class Action(str, Enum):
	RETRY = "retry"
	REQUEUE = "requeue"
	CANCEL = "cancel"
	QUARANTINE = "quarantine"
	RELEASE = "release"
	PURGE = "purge"
	PREFLIGHT = "preflight"  # not a job action: an upgrade preflight run, logged like one
	DRILL = "drill"  # a restore drill started from Desk or bench
	RETENTION = "retention"  # backup files deleted by the GFS retention
	REPLAY = "replay"  # integration events replayed (or a dry run of it)
	ACKNOWLEDGE = "acknowledge"  # an operator acknowledged an Ops Alert
	REVIEW = "review"  # an Ops Manager recorded a runbook review
	VIEW = "view"  # a read of a job; logged only when refused (another site's job)
	GENESIS = "genesis"  # the first row of a new log: why it starts (install, reinstall)
	RESTORE = "restore"  # the site's database was restored: the log continues from the restored row
	SETTINGS = "settings"  # a System Manager changed where restore drills restore, or their account


class JobState(str, Enum):
	"""Where a job is, judged by the queue or registry that holds it (not by its status field)."""

	QUEUED = "queued"
	INTERMEDIATE = "intermediate"  # rq >= 2: popped by a worker, not yet in the started registry
	STARTED = "started"
	FAILED = "failed"
	FINISHED = "finished"
	DEFERRED = "deferred"
	SCHEDULED = "scheduled"
	CANCELED = "canceled"
	QUARANTINED = "quarantined"
	STOPPING = "stopping"  # a stop was sent to its worker; it becomes canceled when the worker lets go
	RETRIED = "retried"  # replaced by a new attempt; the old hash stays until its failure TTL
	ORPHAN = "orphan"  # a job hash that no queue or registry holds
	MISSING = "missing"
	PURGED = "purged"


class ActionResult(Frozen):
	"""What one action did to one job."""

	action: Action
	job_id: str
	queue: str | None = None
	state_before: JobState
	state_after: JobState
	new_job_id: str | None = None  # retry: the new attempt
	attempt_base: int | None = None  # retry: the attempt number of the job it retries
	detail: str | None = None


class UnreadableField(Frozen):
	"""A field of the job hash that could not be decoded: kept as evidence by digest and size."""

	field: str  # "data" (function and arguments) or "meta"
	sha256: str  # of the raw bytes in Redis
	size: int
	error: str


class JobPayload(Frozen):
	"""Everything needed to run a job again, as RQ stored it (values decoded, not redacted).

	A field that cannot be decoded (not a pickle, or one that fails to load) is listed in
	`unreadable` with its digest, and the decoded values it would have given stay empty.
	"""

	job_id: str
	queue: str | None = None
	site: str | None = None
	function: str | None = None
	method: str | None = None  # Frappe's `method` kwarg when the function is execute_job
	args: list[Any] = Field(default_factory=list)
	kwargs: dict[str, Any] = Field(default_factory=dict)
	meta: dict[str, Any] = Field(default_factory=dict)
	exc_info: str | None = None
	status: str | None = None
	enqueued_at: datetime | None = None
	ended_at: datetime | None = None
	timeout: int | None = None
	unreadable: list[UnreadableField] = Field(default_factory=list)


class QuarantineResult(Frozen):
	result: ActionResult
	payload: JobPayload


class PurgeResult(Frozen):
	dry_run: bool
	matched: int
	deleted: int
	by_registry: dict[str, int] = Field(default_factory=dict)
	sample: list[str] = Field(default_factory=list)
	cutoff: datetime
	kept_undated: int = 0  # jobs with no time known at all: kept, never judged old
	undated_sample: list[str] = Field(default_factory=list)


class BulkFilter(Frozen):
	"""Which jobs a bulk action targets. Empty lists mean "any"; times compare with `ended_at`
	for failed jobs and `enqueued_at` for queued ones."""

	queues: list[str] = Field(default_factory=list)  # short names: default, short, long
	sites: list[str] = Field(default_factory=list)
	methods: list[str] = Field(default_factory=list)
	exc_types: list[str] = Field(default_factory=list)  # `ValidationError` or its dotted name
	kwargs_digests: list[str] = Field(default_factory=list)  # evidence's digest of the job's kwargs
	since: datetime | None = None
	until: datetime | None = None


class BulkState(str, Enum):
	PENDING_APPROVAL = "pending approval"
	READY = "ready"
	EXECUTING = "executing"
	DONE = "done"


class BulkPreview(Frozen):
	"""What a confirmed bulk action would touch. `token` confirms exactly these jobs."""

	token: str
	action: Action
	count: int
	methods: dict[str, int] = Field(default_factory=dict)
	queues: dict[str, int] = Field(default_factory=dict)
	sample: list[str] = Field(default_factory=list)
	requested_by: str
	reason: str
	expires_at: datetime
	approval_required: bool
	state: BulkState
	approved_by: str | None = None


class BulkResult(Frozen):
	"""What a confirmed bulk action did: `moved + skipped == planned` once it is done."""

	token: str
	action: Action
	state: BulkState
	planned: int
	moved: int
	skipped: int  # changed state since the preview: left where they were
	batches: int
	requested_by: str
	approved_by: str | None = None
	new_job_ids: list[str] = Field(default_factory=list)
	# True when this call acted on nothing and answered an earlier execution's stored result.
	replayed: bool = False


class PoisonVerdict(Frozen):
	method: str
	kwargs_digest: str
	failures: int
	job_ids: list[str] = Field(default_factory=list)
	first_at: datetime | None = None
	last_at: datetime | None = None


class RetryRule(Frozen):
	"""Automatic retries for a method (exact or `prefix.*`) or an exception type; `None` matches any."""

	method: str | None = None
	exc_type: str | None = None
	max_attempts: int = 3
	base_delay_s: float = 30.0
	factor: float = 2.0
	max_delay_s: float = 3600.0
	jitter: float = 0.5  # fraction of the delay drawn at random, so retries of a burst spread out
	quarantine_after: bool = True


class RetryDecisionKind(str, Enum):
	RETRY = "retry"
	QUARANTINE = "quarantine"
	NONE = "none"  # no rule matches, or the rule gives up without quarantining


class RetryDecision(Frozen):
	decision: RetryDecisionKind
	delay_s: float = 0.0
	attempt: int
	rule: RetryRule | None = None


class ChainVerdict(Frozen):
	ok: bool
	checked: int
	first_broken: int | None = None  # index into the rows given
	first_broken_name: str | None = None
	reason: str | None = None
	anchor: str | None = None  # the anchor outside the log the chain was compared with


class ActionOutcome(str, Enum):
	DONE = "done"
	CONFLICT = "conflict"
	DENIED = "denied"
	FAILED = "failed"
	STARTED = "started"  # an intent, written before the action's Redis step; a later row completes it
	UNKNOWN = "unknown"  # the actor died after its intent: the sweep recorded the job's state it found


class ActionLogEntry(Frozen):
	"""One row of the `Ops Action Log`: exactly the fields its hash covers."""

	name: str
	at: datetime
	user: str
	action: Action
	targets: list[str] = Field(default_factory=list)  # job ids, or the bulk token
	reason: str = ""
	dry_run: bool = False
	state_before: str | None = None
	state_after: str | None = None
	outcome: ActionOutcome
	error: str | None = None
	request_id: str | None = None
	approved_by: str | None = None
	completes: str | None = None  # the name of the `started` row (the intent) this row completes


class AnchorKind(str, Enum):
	HEAD = "head"  # the chain's head after an append
	GENESIS = "genesis"  # a new, empty log started a new chain
	RESTORE = "restore"  # the database was restored: the chain goes on from an older row


class ChainAnchor(Frozen):
	"""A chain's head as written outside the log (a file, a backup manifest, a webhook).

	`chain` names the chain by its first row's hash, `seq` is the head row's position (its `seq`
	column, 0 for an empty log) and `head` its hash. A later verification finds the log shorter
	than an anchor (rows dropped from its end) or the anchored row with another hash (the chain
	rewritten with every hash recomputed).
	"""

	chain: str
	seq: int = Field(ge=0)
	head: str
	at: datetime
	kind: AnchorKind = AnchorKind.HEAD
	site: str | None = None
	user: str | None = None
	reason: str | None = None

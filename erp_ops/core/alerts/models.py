"""Alert rules, alert state and the transitions an evaluation produces, as plain value objects."""

import operator
import re
from datetime import datetime
from enum import Enum

from pydantic import Field, field_validator, model_validator

from erp_ops.core.alerts.errors import InvalidRule
from erp_ops.core.alerts.paths import parse
from erp_ops.core.models import Strict

RULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,139}$")


class Comparison(str, Enum):
	GT = ">"
	GE = ">="
	LT = "<"
	LE = "<="
	EQ = "=="
	NE = "!="

	def holds(self, value: float, threshold: float) -> bool:
		return _OPS[self](value, threshold)

	@property
	def rising(self) -> bool:
		"""True when a bigger value is the bad side (so hysteresis clears below the threshold)."""
		return self in (Comparison.GT, Comparison.GE)


_OPS = {
	Comparison.GT: operator.gt,
	Comparison.GE: operator.ge,
	Comparison.LT: operator.lt,
	Comparison.LE: operator.le,
	Comparison.EQ: operator.eq,
	Comparison.NE: operator.ne,
}


class Aggregate(str, Enum):
	MAX = "max"
	MIN = "min"
	SUM = "sum"
	AVG = "avg"
	COUNT = "count"


class AlertSeverity(str, Enum):
	INFO = "info"
	WARNING = "warning"
	CRITICAL = "critical"


class NotifyTargets(Strict):
	"""Who hears about an alert. Roles, users and emails are resolved by the Frappe layer."""

	roles: list[str] = []
	users: list[str] = []
	emails: list[str] = []
	webhooks: list[str] = []


class Guard(Strict):
	"""A second figure that must hold for the same subject, e.g. enough runs for a failure rate."""

	signal: str
	comparison: Comparison = Comparison.GE
	threshold: float

	@field_validator("signal")
	@classmethod
	def _valid_path(cls, v: str) -> str:
		parse(v)
		return v


class AlertRule(Strict):
	"""`Ops Alert Rule` without Frappe: a figure, a comparison, a threshold and the damping."""

	name: str
	signal: str
	comparison: Comparison = Comparison.GT
	threshold: float
	aggregate: Aggregate | None = None
	clear_threshold: float | None = Field(
		None,
		description="hysteresis: a firing alert resolves only once the value is past this, on the safe side",
	)
	for_s: float = Field(0, ge=0, le=7 * 86400, description="the condition must hold this long before firing")
	resolve_after_s: float = Field(
		0, ge=0, le=86400, description="the value must stay clear this long to resolve"
	)
	renotify_s: float = Field(0, ge=0, description="repeat an unacknowledged firing notification; 0 never")
	flap_window_s: float = Field(3600, ge=0, le=7 * 86400)
	flap_limit: int = Field(
		3, ge=1, le=100, description="firings within the window beyond which it is flapping"
	)
	severity: AlertSeverity = AlertSeverity.WARNING
	runbook: str | None = None
	notify: NotifyTargets = NotifyTargets()
	guard: Guard | None = None
	enabled: bool = True
	description: str = ""

	@field_validator("name")
	@classmethod
	def _valid_name(cls, v: str) -> str:
		if not RULE_NAME.match(v):
			raise InvalidRule(f"rule name {v!r}: letters, digits, space and _ . : - only, up to 140")
		return v

	@field_validator("signal")
	@classmethod
	def _valid_path(cls, v: str) -> str:
		parse(v)
		return v

	@model_validator(mode="after")
	def _valid_hysteresis(self) -> "AlertRule":
		c = self.clear_threshold
		if c is None:
			return self
		if self.comparison in (Comparison.EQ, Comparison.NE):
			raise InvalidRule(f"rule {self.name}: a clear threshold needs <, <=, > or >=")
		if (self.comparison.rising and c > self.threshold) or (
			not self.comparison.rising and c < self.threshold
		):
			raise InvalidRule(
				f"rule {self.name}: the clear threshold must lie on the safe side of the threshold"
			)
		return self

	def fires(self, value: float) -> bool:
		return self.comparison.holds(value, self.threshold)

	def clears(self, value: float | None) -> bool:
		"""No value, or a value past the clear threshold (the threshold itself without hysteresis)."""
		if value is None:
			return True
		if self.clear_threshold is None:
			return not self.fires(value)
		return not self.comparison.holds(value, self.clear_threshold)


class AlertStatus(str, Enum):
	PENDING = "pending"
	FIRING = "firing"
	RESOLVED = "resolved"


class Alert(Strict):
	"""The state of one rule for one subject (a queue, a disk, a method; "" bench-wide)."""

	rule: str
	subject: str = ""
	status: AlertStatus
	severity: AlertSeverity
	incident: str = Field(description="stable id of this firing; a flapping re-fire keeps it")
	value: float | None = None
	trigger_value: float | None = None
	threshold: float
	pending_since: datetime
	fired_at: datetime | None = None
	resolved_at: datetime | None = None
	clear_since: datetime | None = None
	last_seen: datetime
	evaluations: int = Field(1, description="evaluations that found the condition true: duplicates folded")
	fire_times: list[datetime] = []
	flapping: bool = False
	acknowledged_by: str | None = None
	acknowledged_at: datetime | None = None
	ack_note: str | None = None
	notified_at: datetime | None = None
	runbook: str | None = None

	@property
	def key(self) -> str:
		return alert_key(self.rule, self.subject)


def alert_key(rule: str, subject: str) -> str:
	# Rule names cannot contain "|"; subjects (methods, sites) are free text after it.
	return f"{rule}|{subject}"


class TransitionKind(str, Enum):
	PENDING = "pending"
	FIRED = "fired"
	RENOTIFY = "renotify"
	FLAPPING = "flapping"
	RESOLVED = "resolved"
	CANCELED = "canceled"  # pending that did not last for-duration: nobody was told
	ACKNOWLEDGED = "acknowledged"


class Transition(Strict):
	"""Something that happened to an alert: what the Frappe layer stores on `Ops Alert` and sends."""

	id: str = Field(description="unique and stable: a redelivered transition is recognised")
	kind: TransitionKind
	at: datetime
	notify: bool
	alert: Alert
	reason: str | None = None


class Evaluation(Strict):
	evaluated_at: datetime
	alerts: list[Alert]
	transitions: list[Transition]
	skipped: dict[str, str] = Field({}, description="rule -> why it was not evaluated this round")

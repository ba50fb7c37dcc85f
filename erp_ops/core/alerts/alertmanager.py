"""Alertmanager's webhook (payload version 4) as alert transitions, so a fleet's Prometheus alerts
are recorded in the site where people work, once each.

Alertmanager posts one group per request and repeats it every `repeat_interval` (and after its
own restarts): one firing of one series is its `fingerprint` + `startsAt`, which makes the
incident; a transition's id is the incident and its kind, so a repeated notification is the same
transition and is stored once. `status: resolved` resolves the incident. The labels the shipped
rules carry (deploy/prometheus/erp_ops.rules.yml) map it to erp_ops: `erp_ops_rule` to the Ops
Alert Rule, `runbook` to the Runbook, `severity`; the other labels (queue, site, state…) are the
subject.
"""

import hashlib
from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from erp_ops.core.alerts.models import Alert, AlertSeverity, AlertStatus, Transition, TransitionKind
from erp_ops.core.clock import as_utc
from erp_ops.core.errors import InvalidInput

# Labels that say what the alert is or where it came from, not which thing it is about.
NOT_SUBJECT = frozenset(
	{"alertname", "alertstate", "severity", "erp_ops_rule", "runbook", "site_url", "job", "instance"}
)
MAX_ALERTS = 1000  # Alertmanager's own default max_alerts is 0 (all): bound what one request may do
SOURCE = "prometheus"


class WebhookAlert(BaseModel):
	model_config = ConfigDict(extra="ignore")

	status: Literal["firing", "resolved"]
	labels: dict[str, str] = Field(default_factory=dict)
	annotations: dict[str, str] = Field(default_factory=dict)
	startsAt: datetime
	endsAt: datetime | None = None
	fingerprint: str = Field(min_length=1, max_length=64)
	generatorURL: str = ""


class Webhook(BaseModel):
	"""Alertmanager's webhook body: only what the receiver uses is required."""

	model_config = ConfigDict(extra="ignore")

	version: Literal["4"]
	status: Literal["firing", "resolved"]
	receiver: str = ""
	groupKey: str = ""
	alerts: list[WebhookAlert] = Field(max_length=MAX_ALERTS)


def parse(body: dict) -> Webhook:
	"""The webhook body, or the core's InvalidInput (a 422) naming what is wrong."""
	try:
		return Webhook.model_validate(body)
	except ValidationError as e:
		first = e.errors()[0]
		where = ".".join(str(p) for p in first["loc"]) or "body"
		raise InvalidInput(f"not an Alertmanager webhook (version 4): {where}: {first['msg']}") from None


def transitions(webhook: Webhook, now: datetime | None = None) -> list[Transition]:
	"""One transition per alert of the group: fired, or resolved; stable ids for repeats."""
	now = now or datetime.now(timezone.utc)
	return [_transition(alert, now) for alert in webhook.alerts]


def _transition(a: WebhookAlert, now: datetime) -> Transition:
	labels = a.labels
	rule = labels.get("erp_ops_rule") or labels.get("alertname") or SOURCE
	subject = ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in NOT_SUBJECT)
	started = as_utc(a.startsAt)
	incident = f"{SOURCE}|{a.fingerprint}@{started.isoformat()}"
	resolved = a.status == "resolved"
	ended = as_utc(a.endsAt) if resolved and a.endsAt and a.endsAt.year > 1 else (now if resolved else None)
	kind = TransitionKind.RESOLVED if resolved else TransitionKind.FIRED
	alert = Alert(
		rule=rule,
		subject=subject,
		status=AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
		severity=_severity(labels.get("severity")),
		incident=incident,
		threshold=0.0,
		pending_since=started,
		fired_at=started,
		resolved_at=ended,
		last_seen=now,
		runbook=labels.get("runbook") or None,
	)
	summary = a.annotations.get("summary") or a.annotations.get("description") or labels.get("alertname")
	return Transition(
		id=hashlib.sha1(f"{incident}|{kind.value}".encode()).hexdigest(),
		kind=kind,
		at=ended if resolved else started,
		notify=not resolved,
		alert=alert,
		reason=f"Alertmanager: {summary}" if summary else "Alertmanager",
	)


def _severity(label: str | None) -> AlertSeverity:
	try:
		return AlertSeverity((label or "").lower())
	except ValueError:
		return AlertSeverity.WARNING

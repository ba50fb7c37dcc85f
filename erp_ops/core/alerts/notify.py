"""Notifications: a payload with the current values and the runbook, and a plain webhook sender.

The sender makes ONE attempt with a timeout and reports the outcome; it never retries. A failed
receiver is put on a cooldown by the caller (`store.webhook_failed`), and the next transition
(or the rule's renotify interval) is the next attempt: a dead receiver costs one timeout per
cooldown, not a storm. Emails, users and roles are the Frappe layer's (sendmail, ToDo).
"""

import json
import time
import urllib.error
import urllib.request
from datetime import datetime
from urllib.parse import urlparse

from pydantic import BaseModel

from erp_ops.core.alerts.errors import InvalidWebhook
from erp_ops.core.alerts.models import AlertRule, Transition, TransitionKind
from erp_ops.core.models import Frozen
from erp_ops.core.runbooks.models import Runbook

USER_AGENT = "erp_ops-alerts/1"
MAX_RESPONSE_BYTES = 4096


class RunbookRef(Frozen):
	name: str
	title: str
	url: str | None = None
	first_steps: list[str] = []


class NotificationPayload(Frozen):
	"""What a webhook receives (and what the email body is made from)."""

	event: TransitionKind
	transition_id: str
	incident: str
	at: datetime
	rule: str
	subject: str
	status: str
	severity: str
	signal: str | None = None
	comparison: str | None = None
	value: float | None = None
	trigger_value: float | None = None
	threshold: float
	fired_at: datetime | None = None
	resolved_at: datetime | None = None
	acknowledged_by: str | None = None
	flapping: bool = False
	runbook: RunbookRef | None = None
	reason: str | None = None
	text: str


class WebhookResult(Frozen):
	url: str
	ok: bool
	status: int | None = None
	error: str | None = None
	elapsed_ms: float


def build_payload(
	transition: Transition,
	rule: AlertRule | None = None,
	runbook: Runbook | None = None,
	*,
	runbook_url: str | None = None,
	steps: int = 3,
) -> NotificationPayload:
	"""The notification for a transition: current values, the rule's figure and the runbook to follow."""
	a = transition.alert
	ref = None
	if runbook is not None:
		ref = RunbookRef(
			name=runbook.name,
			title=runbook.title,
			url=runbook_url,
			first_steps=[s.action for s in runbook.steps[:steps]],
		)
	elif a.runbook:
		ref = RunbookRef(name=a.runbook, title=a.runbook, url=runbook_url)
	return NotificationPayload(
		event=transition.kind,
		transition_id=transition.id,
		incident=a.incident,
		at=transition.at,
		rule=a.rule,
		subject=a.subject,
		status=a.status.value,
		severity=a.severity.value,
		signal=rule.signal if rule else None,
		comparison=rule.comparison.value if rule else None,
		value=a.value,
		trigger_value=a.trigger_value,
		threshold=a.threshold,
		fired_at=a.fired_at,
		resolved_at=a.resolved_at,
		acknowledged_by=a.acknowledged_by,
		flapping=a.flapping,
		runbook=ref,
		reason=transition.reason,
		text=summary(transition, rule, ref),
	)


def summary(transition: Transition, rule: AlertRule | None = None, runbook: RunbookRef | None = None) -> str:
	"""One line for chat and email subjects: `[CRITICAL] FIRED queue-backlog (long): 250 > 100 — runbook: …`."""
	a = transition.alert
	what = f"{a.rule} ({a.subject})" if a.subject else a.rule
	figure = rule.signal if rule else "value"
	op = rule.comparison.value if rule else "vs"
	value = "no data" if a.value is None else f"{a.value:g}"
	line = f"[{a.severity.value.upper()}] {transition.kind.value.upper()} {what}: {figure} = {value} ({op} {a.threshold:g})"
	if runbook:
		line += f" — runbook: {runbook.title}" + (f" {runbook.url}" if runbook.url else "")
	if transition.reason:
		line += f" — {transition.reason}"
	return line


def validate_webhook_url(url: str) -> str:
	parsed = urlparse(url or "")
	if parsed.scheme not in ("http", "https") or not parsed.hostname:
		raise InvalidWebhook(f"a webhook URL must be http(s)://host/...: {url!r}")
	return url


def send_webhook(url: str, payload: NotificationPayload | dict, *, timeout: float = 5.0) -> WebhookResult:
	"""POST the payload as JSON once; any answer but 2xx, a timeout or a refused connection is a failure."""
	validate_webhook_url(url)
	body = payload.model_dump_json() if isinstance(payload, BaseModel) else json.dumps(payload, default=str)
	request = urllib.request.Request(
		url,
		data=body.encode(),
		method="POST",
		headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
	)
	started = time.perf_counter()
	status, error = None, None
	try:
		with _OPENER.open(request, timeout=timeout) as response:
			status = response.status
			response.read(MAX_RESPONSE_BYTES)
	except urllib.error.HTTPError as e:
		status, error = e.code, f"HTTP {e.code}"
	except (urllib.error.URLError, OSError, ValueError) as e:
		reason = getattr(e, "reason", e)
		error = f"{type(reason).__name__}: {reason}"
	elapsed = round((time.perf_counter() - started) * 1000, 1)
	ok = status is not None and 200 <= status < 300
	return WebhookResult(
		url=_redact(url),
		ok=ok,
		status=status,
		error=None if ok else error or f"HTTP {status}",
		elapsed_ms=elapsed,
	)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
	# A receiver that redirects is misconfigured; following it could post alerts somewhere else.
	def redirect_request(self, req, fp, code, msg, headers, newurl):
		return None


_OPENER = urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({}))


def _redact(url: str) -> str:
	"""Webhook URLs often carry a secret token in the path or query: keep only scheme and host."""
	parsed = urlparse(url)
	port = f":{parsed.port}" if parsed.port else ""
	return f"{parsed.scheme}://{parsed.hostname}{port}/…"

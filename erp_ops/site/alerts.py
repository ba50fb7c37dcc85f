"""Alert rules on a site: evaluated every minute over the cached snapshot, stored as Ops Alert, sent.

The core (`erp_ops.core.alerts`) owns the state machine and keeps its state in the bench's Redis;
here the site's `Ops Alert Rule` rows become core rules, the state is scoped to the site (rules
are per site, so two sites of a bench must not close each other's alerts), and the outbox is
drained into `Ops Alert` rows, Notification Logs, emails and webhooks.

Delivery is at least once: the drain commits the rows, then trims the outbox; a crash in between
redelivers, and a transition id already on the `Ops Alert` is skipped (no second notification).
Webhooks go out before that commit, so a receiver may see a transition twice: it carries
`transition_id` to drop repeats.
"""

import hashlib
import html
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import frappe
from frappe.utils import cint, flt, get_bench_id, get_system_timezone, get_url_to_form
from frappe.utils.background_jobs import get_redis_conn

from erp_ops.core.alerts import store
from erp_ops.core.alerts.errors import EvaluationBusy
from erp_ops.core.alerts.models import AlertRule, Evaluation, Guard, NotifyTargets, Transition, TransitionKind
from erp_ops.core.alerts.notify import NotificationPayload, build_payload, send_webhook
from erp_ops.core.clock import to_site_time
from erp_ops.core.errors import ErpOpsError
from erp_ops.core.runbooks.models import Runbook as CoreRunbook
from erp_ops.core.signals.models import Snapshot
from erp_ops.site.notifications import enabled_users, log_notifications

RULE_DOCTYPE = "Ops Alert Rule"
ALERT_DOCTYPE = "Ops Alert"
WEBHOOK_TIMEOUT_S = 5.0
WEBHOOK_COOLDOWN_S = 300
# Other capabilities may add figures the snapshot lacks (drill age, migrate failures): a hook
# returning {path: value}, e.g. {"drill.site1.local.age_hours": 30}.
FACTS_HOOK = "erp_ops_alert_facts"


def state_scope(site: str | None = None) -> str:
	"""The core store's key scope: the bench and the site (`erp_ops:<bench>:<site>:alerts`)."""
	return f"{get_bench_id()}:{site or frappe.local.site}"


def lines(text: str | None, *, commas: bool = True) -> list[str]:
	"""One entry a line (or comma-separated, except URLs: a query string may hold commas)."""
	text = (text or "").replace(",", "\n") if commas else text or ""
	return [line.strip() for line in text.splitlines() if line.strip()]


def core_rule(doc: Any) -> AlertRule:
	"""An `Ops Alert Rule` row or document as the core's rule; raises the core's InvalidRule."""
	get = doc.get
	guard = None
	if (get("guard_signal") or "").strip():
		guard = Guard(
			signal=get("guard_signal").strip(),
			comparison=get("guard_comparison") or ">=",
			threshold=flt(get("guard_threshold")),
		)
	return AlertRule(
		name=get("name") or get("rule_name"),
		signal=(get("signal") or "").strip(),
		comparison=get("comparison") or ">",
		threshold=flt(get("threshold")),
		aggregate=get("aggregate") or None,
		clear_threshold=flt(get("clear_threshold")) if cint(get("use_clear_threshold")) else None,
		for_s=cint(get("for_s")),
		resolve_after_s=cint(get("resolve_after_s")),
		renotify_s=cint(get("renotify_s")),
		flap_window_s=cint(get("flap_window_s")),
		flap_limit=cint(get("flap_limit")),
		severity=get("severity") or "warning",
		runbook=get("runbook") or None,
		notify=NotifyTargets(
			roles=lines(get("notify_roles")),
			users=lines(get("notify_users")),
			emails=lines(get("notify_emails")),
			webhooks=lines(get("webhook_urls"), commas=False),
		),
		guard=guard,
		enabled=bool(cint(get("enabled"))),
		description=get("description") or "",
	)


def load_rules() -> list[AlertRule]:
	"""Every rule of the site; a row the core refuses is logged and left out, not fatal."""
	out = []
	for row in frappe.get_all(RULE_DOCTYPE, fields=["*"], order_by="name asc"):
		try:
			out.append(core_rule(row))
		except (ErpOpsError, ValueError):
			frappe.logger("erp_ops").warning(f"Ops Alert Rule {row.name} is invalid", exc_info=True)
	return out


def collect_facts() -> dict[str, float]:
	facts: dict[str, float] = {}
	for method in frappe.get_hooks(FACTS_HOOK):
		try:
			facts.update({str(k): float(v) for k, v in (frappe.get_attr(method)() or {}).items()})
		except Exception:
			frappe.logger("erp_ops").warning(f"alert facts from {method} failed", exc_info=True)
	return facts


def evaluate_site(
	*,
	snapshot: Snapshot | None = None,
	now: datetime | None = None,
	facts: Mapping[str, float] | None = None,
	rules: list[AlertRule] | None = None,
	drain: bool = True,
) -> Evaluation | None:
	"""One evaluation of the site's rules (or `rules`), then the outbox drained; None if another runs.

	The snapshot is the cached one the workspace also reads (no extra reads when it is fresh).
	"""
	from erp_ops.site.signals import site_snapshot

	conn = get_redis_conn()
	rules = load_rules() if rules is None else rules
	snap = snapshot or site_snapshot()
	try:
		result = store.evaluate(
			conn,
			state_scope(),
			rules,
			snap,
			facts={**collect_facts(), **(facts or {})},
			now=now or datetime.now(timezone.utc),
		)
	except EvaluationBusy:
		frappe.logger("erp_ops").info("alert evaluation skipped: another one is running")
		return None
	if drain:
		drain_outbox(rules)
	return result


def drain_outbox(rules: list[AlertRule] | None = None) -> int:
	"""Store and send the transitions waiting in the site's outbox; returns how many were drained."""
	by_name = {r.name: r for r in (load_rules() if rules is None else rules)}

	def handle(transitions: list[Transition]) -> None:
		for transition in transitions:
			record_transition(transition, by_name.get(transition.alert.rule))
		frappe.db.commit()  # before the outbox is trimmed: a crash now redelivers, never loses

	try:
		return store.drain(get_redis_conn(), state_scope(), handle)
	except EvaluationBusy:
		return 0


def alert_name(incident: str) -> str:
	# Incidents are `<rule>|<subject>@<time>`: too long and too free for a document name.
	return "ALERT-" + hashlib.sha1(incident.encode()).hexdigest()[:16]


def record_transition(transition: Transition, rule: AlertRule | None) -> str | None:
	"""Fold a transition into its incident's `Ops Alert` (and notify); None if it was stored before."""
	a = transition.alert
	name = alert_name(a.incident)
	exists = frappe.db.exists(ALERT_DOCTYPE, name)
	doc = frappe.get_doc(ALERT_DOCTYPE, name) if exists else frappe.new_doc(ALERT_DOCTYPE)
	if any(row.transition_id == transition.id for row in doc.transitions):
		return None
	tz = get_system_timezone()
	before = doc.status if exists else None
	after = "Canceled" if transition.kind is TransitionKind.CANCELED else a.status.value.title()
	doc.update(
		{
			"rule": a.rule if frappe.db.exists(RULE_DOCTYPE, a.rule) else None,
			"subject": a.subject,
			"incident": a.incident,
			"status": after,
			"severity": a.severity.value,
			"flapping": int(a.flapping),
			"runbook": a.runbook if a.runbook and frappe.db.exists("Runbook", a.runbook) else None,
			"value": a.value,
			"trigger_value": a.trigger_value,
			"threshold": a.threshold,
			"evaluations": a.evaluations,
			"pending_since": to_site_time(a.pending_since, tz),
			"fired_at": to_site_time(a.fired_at, tz),
			"resolved_at": to_site_time(a.resolved_at, tz),
			"last_seen": to_site_time(a.last_seen, tz),
			"acknowledged_by": a.acknowledged_by,
			"acknowledged_at": to_site_time(a.acknowledged_at, tz),
			"ack_note": a.ack_note,
		}
	)
	if rule is not None:
		doc.signal, doc.comparison = rule.signal, rule.comparison.value
	doc.append(
		"transitions",
		{
			"event": transition.kind.value,
			"at": to_site_time(transition.at, tz),
			"from_status": before,
			"to_status": after,
			"value": a.value,
			"notified": int(transition.notify),
			"reason": transition.reason,
			"transition_id": transition.id,
		},
	)
	doc.flags.ignore_permissions = True
	if exists:
		doc.save()
	else:
		doc.insert(set_name=name)
	if transition.notify:
		notify(doc, transition, rule)
	return doc.name


def payload_for(transition: Transition, rule: AlertRule | None) -> NotificationPayload:
	"""The notification with the rule's figure and the runbook: title, link and first steps."""
	runbook, url = None, None
	name = transition.alert.runbook
	if name and frappe.db.exists("Runbook", name):
		from erp_ops.site.runbooks import as_core

		data = as_core(frappe.get_doc("Runbook", name))
		runbook = CoreRunbook.model_validate(data) if data else None
		url = get_url_to_form("Runbook", name)
	return build_payload(transition, rule, runbook, runbook_url=url)


def notify(doc: Any, transition: Transition, rule: AlertRule | None) -> None:
	"""Notification Log for the rule's users and roles, email to its addresses, POST to its webhooks."""
	if rule is None:
		return
	payload = payload_for(transition, rule)
	body = email_body(payload, get_url_to_form(ALERT_DOCTYPE, doc.name))
	log_notifications(
		enabled_users(rule.notify.roles, rule.notify.users),
		html.escape(payload.text),
		body,
		ALERT_DOCTYPE,
		doc.name,
	)
	if rule.notify.emails:
		try:
			frappe.sendmail(
				recipients=rule.notify.emails,
				subject=payload.text,
				message=body,
				reference_doctype=ALERT_DOCTYPE,
				reference_name=doc.name,
			)
		except frappe.OutgoingEmailError:
			# No outgoing account: the other channels must still go out and the outbox drain on.
			frappe.logger("erp_ops").warning(f"alert email for {doc.name} not queued", exc_info=True)
	conn, scope = get_redis_conn(), state_scope()
	for url in rule.notify.webhooks:
		if not store.webhook_allowed(conn, scope, url):
			continue
		result = send_webhook(url, payload, timeout=WEBHOOK_TIMEOUT_S)
		if not result.ok:
			store.webhook_failed(conn, scope, url, WEBHOOK_COOLDOWN_S)
			frappe.logger("erp_ops").warning(f"alert webhook {result.url} failed: {result.error}")


def email_body(payload: NotificationPayload, alert_url: str) -> str:
	e = html.escape
	rows = [
		("Rule", payload.rule),
		("Subject", payload.subject or "bench"),
		("Event", payload.event.value),
		("Severity", payload.severity),
		("Signal", f"{payload.signal or ''} {payload.comparison or ''} {payload.threshold:g}"),
		("Current value", "no data" if payload.value is None else f"{payload.value:g}"),
		("Value when it fired", "" if payload.trigger_value is None else f"{payload.trigger_value:g}"),
	]
	out = [f"<p>{e(payload.text)}</p><table>"]
	out += [f"<tr><th align='left'>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in rows]
	out.append("</table>")
	if payload.runbook:
		rb = payload.runbook
		link = f"<a href='{e(rb.url)}'>{e(rb.name)}: {e(rb.title)}</a>" if rb.url else e(rb.name)
		out.append(f"<p>Runbook: {link}</p>")
		if rb.first_steps:
			out.append("<ol>" + "".join(f"<li>{e(s)}</li>" for s in rb.first_steps) + "</ol>")
	out.append(f"<p><a href='{e(alert_url)}'>Open the alert</a></p>")
	return "".join(out)

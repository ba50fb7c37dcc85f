"""Alerts: an operator acknowledges an open one (audited in the Ops Action Log); Alertmanager's
webhook records a fleet's Prometheus alerts as Ops Alerts."""

from datetime import datetime, timezone
from typing import Any

import frappe
from frappe import _
from frappe.utils.background_jobs import get_redis_conn

from erp_ops.api import Attempt, OpsInvalidInput, core_errors, require_permission, require_roles
from erp_ops.core.alerts import alertmanager as am
from erp_ops.core.alerts import store
from erp_ops.core.control.models import Action, ActionOutcome
from erp_ops.core.errors import ErpOpsError
from erp_ops.site.alerts import ALERT_DOCTYPE, RULE_DOCTYPE, core_rule, record_transition, state_scope
from erp_ops.site.audit import append_entry, new_entry

OPEN = ("Pending", "Firing")
# The API-key user Alertmanager posts as holds this role (and nothing else it needs).
ALERT_RECEIVER = "Ops Alert Receiver"


@frappe.whitelist(methods=["POST"])
def acknowledge(name: str, note: str | None = None) -> dict:
	"""Acknowledge a pending or firing `Ops Alert`: no repeat notifications for this incident.

	The acknowledgement is kept in the alert state on Redis (so the evaluator stops renotifying),
	shown on the alert, and written to the Ops Action Log, whoever asks and whatever the outcome.
	"""
	require_permission("acknowledge", Attempt(Action.ACKNOWLEDGE.value, [name], note))
	if not frappe.db.exists(ALERT_DOCTYPE, name):
		frappe.throw(_("Ops Alert {0} not found").format(name), frappe.DoesNotExistError)
	doc = frappe.get_doc(ALERT_DOCTYPE, name)
	note = (note or "").strip() or None
	if doc.status not in OPEN:
		_log(name, ActionOutcome.FAILED, note, doc.status, error=f"the alert is {doc.status}")
		frappe.db.commit()  # the error rolls the request back: keep the evidence
		frappe.throw(_("Only a pending or firing alert can be acknowledged."), OpsInvalidInput)
	try:
		transition = store.acknowledge(
			get_redis_conn(),
			state_scope(),
			doc.rule or "",
			doc.subject or "",
			frappe.session.user,
			note=note,
			now=datetime.now(timezone.utc),
		)
	except ErpOpsError as e:
		_log(name, ActionOutcome.FAILED, note, doc.status, error=str(e))
		frappe.db.commit()  # the error rolls the request back: keep the evidence
		with core_errors():
			raise
	# The same transition also waits in the outbox; the drain will find it stored and skip it.
	record_transition(transition, None)
	log = _log(name, ActionOutcome.DONE, note, doc.status, state_after="acknowledged")
	return {"name": name, "acknowledged_by": frappe.session.user, "log": log}


def _log(
	name: str,
	outcome: ActionOutcome,
	note: str | None,
	before: str | None,
	*,
	state_after: str | None = None,
	error: str | None = None,
) -> str:
	return append_entry(
		new_entry(
			Action.ACKNOWLEDGE,
			[name],
			note,
			outcome,
			state_before=(before or "").lower() or None,
			state_after=state_after,
			error=error,
		)
	)


@frappe.whitelist(methods=["POST"])
def alertmanager(
	version: Any = None,
	status: Any = None,
	alerts: Any = None,
	receiver: Any = None,
	groupKey: Any = None,
	groupLabels: Any = None,
	commonLabels: Any = None,
	commonAnnotations: Any = None,
	externalURL: Any = None,
	truncatedAlerts: Any = None,
) -> dict:
	"""Alertmanager's webhook (`webhook_configs: url: …/api/method/erp_ops.api.alerts.alertmanager`,
	with an API key of a user holding Ops Alert Receiver): each alert becomes or resolves an Ops
	Alert with its rule and runbook; Alertmanager's repeats are recognised and stored once."""
	require_roles(ALERT_RECEIVER, "System Manager")
	with core_errors():
		webhook = am.parse(
			{
				"version": version,
				"status": status,
				"alerts": alerts,
				"receiver": receiver or "",
				"groupKey": groupKey or "",
			}
		)
	recorded = []
	for transition in am.transitions(webhook):
		rule_name = transition.alert.rule
		rule = (
			core_rule(frappe.get_doc(RULE_DOCTYPE, rule_name))
			if frappe.db.exists(RULE_DOCTYPE, rule_name)
			else None
		)
		name = record_transition(transition, rule)
		if name:
			recorded.append(name)
	return {"received": len(webhook.alerts), "recorded": recorded}

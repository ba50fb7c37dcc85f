"""Integration events: ingest a delivery, replay stored events, the number cards.

Ingest: POST the payload as the raw request body with the identity in headers
(`X-Event-Source`, `X-Event-Type`, `Idempotency-Key`, optional `X-Event-Sequence` and
`X-Event-Occurred-At`; query-string arguments of the same names work too), or as form fields
(`source`, `event_type`, `idempotency_key`, `payload`, `sequence`, `occurred_at`). Answers 200 with
the event's status and result (`duplicate: true` for a key seen before with the same payload), 202
when it was queued, 500 when the handler failed (retry the delivery), and 400/409/413/422 for a
refused request, whose record is named in `event`. See docs/events.md.
"""

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import frappe
from frappe import _
from frappe.utils import now_datetime

from erp_ops.api import (
	OPERATORS,
	Attempt,
	OpsInvalidInput,
	core_errors,
	desk_time,
	require_permission,
	require_roles,
)
from erp_ops.core.clock import as_utc
from erp_ops.core.control.models import Action, ActionOutcome
from erp_ops.core.errors import ErpOpsError
from erp_ops.core.events import EventQuery, EventStatus, IngestRequest
from erp_ops.core.events.checks import refusal_record
from erp_ops.core.events.errors import EventRefused, InProgress, InvalidPayload
from erp_ops.site import events as site_events
from erp_ops.site.audit import append_entry, new_entry

INTEGRATION_USER = "Integration User"
INGESTERS = (INTEGRATION_USER, *OPERATORS)
EVENT_DOCTYPE = "Integration Event"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
REPLAY_LIMIT = 500


@frappe.whitelist(methods=["POST"])
def ingest(
	# Any: Frappe spreads a JSON body's top-level keys into these arguments, and a payload may have
	# a `source` object or a numeric `payload`; for a raw body they are payload, never read here.
	source: Any = None,
	event_type: Any = None,
	idempotency_key: Any = None,
	payload: Any = None,
	sequence: Any = None,
	occurred_at: Any = None,
) -> dict:
	"""Accept one delivery of an event; each key's effect happens once however often it is sent."""
	require_roles(*INGESTERS)
	if _raw_body_request():
		# The body is the payload; the identity comes from headers (or the query string).
		source, event_type, idempotency_key, sequence, occurred_at = (
			_header_or_arg("X-Event-Source", "source"),
			_header_or_arg("X-Event-Type", "event_type"),
			_header_or_arg("Idempotency-Key", "idempotency_key"),
			_header_or_arg("X-Event-Sequence", "sequence"),
			_header_or_arg("X-Event-Occurred-At", "occurred_at"),
		)
		body: bytes | str = frappe.request.get_data()
	else:
		source, event_type, idempotency_key, sequence, occurred_at = (
			_text(v) for v in (source, event_type, idempotency_key, sequence, occurred_at)
		)
		body = payload if isinstance(payload, str) else json.dumps(payload)
	request = IngestRequest(
		source=source or "", event_type=event_type or "", idempotency_key=idempotency_key or "", body=body
	)
	try:
		request = request.model_copy(
			update={"sequence": _sequence(sequence), "occurred_at": _occurred_at(occurred_at)}
		)
		result = site_events.ingest(request)
	except EventRefused as refusal:
		_refused(request, refusal)
	except ErpOpsError:
		with core_errors():  # e.g. 503 when the database kept deadlocking
			raise
	if result.status == EventStatus.FAILED:
		frappe.local.response["http_status_code"] = 500  # the sender should deliver it again
	elif result.enqueue:
		frappe.local.response["http_status_code"] = 202
	return result.model_dump(mode="json", exclude={"enqueue"})


@frappe.whitelist(methods=["POST"])
def replay(filters: str | dict, reason: str, dry_run: int | str | bool = 1) -> dict:
	"""Replay stored events (a dry run unless `dry_run=0`), logged in the Ops Action Log.

	`filters`: `{"name": …}` or `{"names": […]}`, or a range by `source`, `event_type`,
	`received_from`/`received_to` (site time) and `status` (one or a list). One named event needs
	Ops Operator; a range or several events need Ops Manager.
	"""
	require_permission("replay", _attempt(filters, reason, dry_run))
	query = _query(filters)
	if not (len(query.names) == 1 and query == EventQuery(names=query.names, limit=query.limit)):
		require_permission("replay_range", _attempt(filters, reason, dry_run))
	dry = frappe.utils.cint(dry_run) != 0
	with core_errors():
		report = site_events.replay(query, reason=reason, dry_run=dry)
	counts = report.counts
	changed = sum(1 for item in report.items if item.changed)
	state = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no events matched"
	failed = [item for item in report.items if item.error and not dry]
	log = append_entry(
		new_entry(
			Action.REPLAY,
			[report.replay_id, *(item.name for item in report.items[:50])],
			reason,
			ActionOutcome.FAILED if failed else ActionOutcome.DONE,
			dry_run=dry,
			state_after=f"{state}; changed {changed}"[:140],
			error="; ".join(f"{item.name}: {item.error}" for item in failed) or None,
		)
	)
	frappe.db.commit()  # the replayed events are committed already: so must their log be
	return {
		"replay_id": report.replay_id,
		"dry_run": dry,
		"counts": counts,
		"changed": changed,
		"items": [item.model_dump(mode="json") for item in report.items],
		"log": log,
	}


@frappe.whitelist(methods=["GET", "POST"])
def failed_last_24h(filters: str | dict | list | None = None) -> dict:
	"""Number card: events that failed (handler error, retryable) in the last 24 hours."""
	require_permission("events")
	return _card(EventStatus.FAILED)


@frappe.whitelist(methods=["GET", "POST"])
def conflicts_last_24h(filters: str | dict | list | None = None) -> dict:
	"""Number card: keys reused with another payload in the last 24 hours."""
	require_permission("events")
	return _card(EventStatus.CONFLICT)


@frappe.whitelist(methods=["GET", "POST"])
def superseded_last_24h(filters: str | dict | list | None = None) -> dict:
	"""Number card: events the conflict policy set aside (older, stale) in the last 24 hours."""
	require_permission("events")
	return _card(EventStatus.SUPERSEDED)


def _card(status: EventStatus) -> dict:
	since = str(now_datetime() - timedelta(hours=24))
	return {
		"value": frappe.db.count(EVENT_DOCTYPE, {"status": status.value, "received_at": (">=", since)}),
		"fieldtype": "Int",
		"route": ["List", EVENT_DOCTYPE],
		"route_options": {"status": status.value, "received_at": [">=", since]},
	}


def _raw_body_request() -> bool:
	request = getattr(frappe.local, "request", None)
	return request is not None and request.mimetype not in FORM_TYPES


def _text(value: Any) -> str | None:
	return None if value in (None, "") else str(value)


def _header_or_arg(header: str, arg: str) -> str | None:
	return frappe.get_request_header(header) or frappe.request.args.get(arg) or None


def _sequence(value: str | int | None) -> int | None:
	if value in (None, ""):
		return None
	try:
		return int(value)
	except (TypeError, ValueError):
		raise InvalidPayload(
			"the sequence must be an integer",
			field_errors=[{"loc": "sequence", "msg": "not an integer", "type": "int_parsing"}],
		) from None


def _occurred_at(value: str | None) -> datetime | None:
	"""ISO 8601; without an offset it is read as UTC."""
	if value in (None, ""):
		return None
	try:
		parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
	except ValueError:
		raise InvalidPayload(
			"occurred_at must be an ISO 8601 date and time",
			field_errors=[{"loc": "occurred_at", "msg": "not ISO 8601", "type": "datetime_parsing"}],
		) from None
	return as_utc(parsed)


def _refused(request: IngestRequest, refusal: EventRefused) -> None:
	"""Answer a refusal with its status, naming the record kept of it (recorded here if not yet)."""
	if refusal.event_name is None:  # refused by this module before the core saw it
		store = site_events.store()
		settings = site_events.settings()
		refusal.event_name = store.add(refusal_record(request, refusal, settings, now_utc())).name
	frappe.local.response["event"] = refusal.event_name
	if isinstance(refusal, InvalidPayload):
		frappe.local.response["field_errors"] = refusal.field_errors
	if isinstance(refusal, InProgress):
		refusal = InProgress(f"in progress: {refusal}; deliver it again later", event_name=refusal.event_name)
	existing = getattr(refusal, "existing", None)
	if existing:
		frappe.local.response["existing"] = existing
	with core_errors():
		raise refusal


def now_utc() -> datetime:
	return datetime.now(timezone.utc)


def _attempt(filters: str | dict, reason: str, dry_run: int | str | bool) -> Attempt:
	names = _as_dict(filters).get("names") or [_as_dict(filters).get("name")]
	return Attempt(
		Action.REPLAY.value,
		[str(n) for n in names if n][:50] or [json.dumps(_as_dict(filters), sort_keys=True)[:140]],
		reason,
		dry_run=frappe.utils.cint(dry_run) != 0,
	)


def _as_dict(filters: str | dict) -> dict:
	if isinstance(filters, str):
		try:
			filters = json.loads(filters or "{}")
		except ValueError:
			return {}
	return filters if isinstance(filters, dict) else {}


def _query(filters: str | dict) -> EventQuery:
	data = _as_dict(filters)
	if not data:
		frappe.throw(_("Replay needs filters: a name, names, or a range"), OpsInvalidInput)
	unknown = set(data) - {"name", "names", "source", "event_type", "received_from", "received_to", "status"}
	if unknown:
		frappe.throw(_("Unknown replay filters: {0}").format(", ".join(sorted(unknown))), OpsInvalidInput)
	statuses = data.get("status") or []
	statuses = [statuses] if isinstance(statuses, str) else statuses
	names = data.get("names") or ([data["name"]] if data.get("name") else [])
	with core_errors():
		try:
			return EventQuery(
				source=data.get("source") or None,
				event_type=data.get("event_type") or None,
				received_from=desk_time(data.get("received_from")),
				received_to=desk_time(data.get("received_to")),
				statuses=[EventStatus(s) for s in statuses],
				names=[str(n) for n in names],
				limit=REPLAY_LIMIT,
			)
		except ValueError as e:
			frappe.throw(_("Invalid replay filters: {0}").format(e), OpsInvalidInput)

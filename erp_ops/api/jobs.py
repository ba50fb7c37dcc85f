"""Job control: retry, requeue, cancel, quarantine, release, purge and bulk actions.

Each action: role check (a denial is logged, then 403) → reason required → a committed `started`
row (the intent) → the core's atomic action, once per `request_id` → one `Ops Action Log` row
whatever the outcome, completing the intent (a process killed in between leaves the intent, which
the per-minute sweep completes as "unknown" with the job's actual state). Pass `expected`
(the state you saw, e.g. "failed") so a job that moved meanwhile is a 409, not a surprise.
"""

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import frappe
from frappe import _
from frappe.utils import get_bench_id, get_system_timezone
from frappe.utils.background_jobs import get_redis_conn
from pydantic import BaseModel, ValidationError
from redis import Redis
from redis.exceptions import RedisError

from erp_ops.api import (
	MANAGERS,
	OPERATORS,
	READERS,
	Attempt,
	OpsInvalidInput,
	OpsServiceUnavailable,
	core_errors,
	require_roles,
)
from erp_ops.core import rq_keys
from erp_ops.core.control import bulk, idempotency, jobs
from erp_ops.core.control.errors import JobConflict, JobNotFound
from erp_ops.core.control.models import Action, ActionOutcome, BulkFilter, JobState
from erp_ops.core.control.payload import exc_from_result_entries, exc_type_of, payload_from_hash
from erp_ops.core.control.redaction import redact
from erp_ops.core.errors import ErpOpsError, InvalidInput
from erp_ops.site.audit import append_entry, new_entry, start_intent, verify_log
from erp_ops.erp_ops.doctype.ops_settings.ops_settings import get_control_settings
from erp_ops.erp_ops.doctype.quarantine import quarantine as quarantine_records

CANCEL_WAIT_MAX_S = 10.0
FAILED_JOBS_MAX = 500

# A logger the action calls once its effect is known: returns the log row's name.
LogDone = Callable[..., str]


class ActionResponse(BaseModel):
	"""What an action answers, and what a repeated `request_id` gets back."""

	log: str
	result: dict[str, Any]


# Single-job actions ------------------------------------------------------------------------------


@frappe.whitelist(methods=["POST"])
def requeue(job_id: str, reason: str, request_id: str | None = None, expected: str | None = None) -> dict:
	"""Put a failed job back on its queue."""
	require_roles(*OPERATORS, attempt=Attempt("requeue", [job_id], reason, request_id))
	return _single(Action.REQUEUE, job_id, reason, request_id, expected)


@frappe.whitelist(methods=["POST"])
def retry(job_id: str, reason: str, request_id: str | None = None, expected: str | None = None) -> dict:
	"""Run a failed job again as a new attempt linked to it."""
	require_roles(*OPERATORS, attempt=Attempt("retry", [job_id], reason, request_id))
	return _single(Action.RETRY, job_id, reason, request_id, expected)


@frappe.whitelist(methods=["POST"])
def cancel(
	job_id: str,
	reason: str,
	request_id: str | None = None,
	expected: str | None = None,
	wait_s: float = 2.0,
) -> dict:
	"""Cancel a queued, deferred or scheduled job; stop a started one (`stopping` until it has)."""
	require_roles(*OPERATORS, attempt=Attempt("cancel", [job_id], reason, request_id))
	wait = min(max(wait_s, 0.0), CANCEL_WAIT_MAX_S)
	return _single(Action.CANCEL, job_id, reason, request_id, expected, wait_s=wait)


@frappe.whitelist(methods=["POST"])
def quarantine(job_id: str, reason: str, request_id: str | None = None, expected: str | None = None) -> dict:
	"""Take a job out of every queue and registry; keep its payload in a Quarantine record."""
	require_roles(*OPERATORS, attempt=Attempt("quarantine", [job_id], reason, request_id))
	return _single(Action.QUARANTINE, job_id, reason, request_id, expected)


@frappe.whitelist(methods=["POST"])
def release(job_id: str, reason: str, request_id: str | None = None) -> dict:
	"""Enqueue a quarantined job again under its id; its Quarantine record becomes Released."""
	require_roles(*MANAGERS, attempt=Attempt("release", [job_id], reason, request_id))
	return _single(Action.RELEASE, job_id, reason, request_id, None)


@frappe.whitelist(methods=["POST"])
def purge(
	reason: str,
	older_than_days: float | None = None,
	registries: list[str] | str | None = None,
	queues: list[str] | str | None = None,
	dry_run: bool = True,
	request_id: str | None = None,
) -> dict:
	"""Delete finished/failed jobs older than a retention (Ops Settings by default); dry run unless told."""
	require_roles(*MANAGERS, attempt=Attempt("purge", [], reason, request_id, dry_run=bool(dry_run)))
	settings = get_control_settings()
	days = settings.purge_retention_days if older_than_days is None else older_than_days
	names = _str_list(registries) or [JobState.FINISHED.value, JobState.FAILED.value]
	attempt = Attempt(
		"purge", [f"older than {days:g} day(s): {', '.join(names)}"], reason, request_id, bool(dry_run)
	)

	def act(conn: Redis, bench_id: str, log: LogDone) -> tuple[dict, str]:
		with _invalid_input():
			wanted = [JobState(n) for n in names]
		outcome = jobs.purge(
			conn,
			bench_id,
			older_than=timedelta(days=days),
			registries=wanted,
			queues=_str_list(queues) or None,
			dry_run=bool(dry_run),
		)
		name = log(state_after=f"matched {outcome.matched}, deleted {outcome.deleted}")
		return outcome.model_dump(mode="json"), name

	return _act(
		attempt,
		{"days": days, "registries": names, "queues": _str_list(queues), "dry_run": bool(dry_run)},
		act,
	)


# Bulk --------------------------------------------------------------------------------------------


@frappe.whitelist(methods=["POST"])
def bulk_preview(
	action: str, reason: str, filters: dict | str | None = None, request_id: str | None = None
) -> dict:
	"""Count and sample the jobs a bulk action would touch; nothing moves. Returns the token."""
	require_roles(*MANAGERS, attempt=(attempt := Attempt(_action_name(action), [], reason, request_id, True)))
	settings = get_control_settings()

	def act(conn: Redis, bench_id: str, log: LogDone) -> tuple[dict, str]:
		flt = _bulk_filter(filters)
		preview = bulk.preview(
			conn,
			bench_id,
			Action(attempt.action),
			flt,
			requested_by=frappe.session.user,
			reason=reason,
			approval_above=settings.approval_above,
			ttl_s=settings.token_ttl_s,
		)
		name = log(targets=[preview.token], state_after=f"{preview.state.value}: {preview.count} job(s)")
		return preview.model_dump(mode="json"), name

	return _act(attempt, {"filters": filters}, act)


@frappe.whitelist(methods=["POST"])
def bulk_approve(token: str, reason: str, request_id: str | None = None) -> dict:
	"""The second Ops Manager's approval of a large bulk action (not the requester's own)."""
	require_roles(*MANAGERS, attempt=(attempt := Attempt(_token_action(token), [token], reason, request_id)))

	def act(conn: Redis, bench_id: str, log: LogDone) -> tuple[dict, str]:
		preview = bulk.approve(conn, bench_id, token, approver=frappe.session.user)
		name = log(
			state_before="pending approval", state_after=preview.state.value, approved_by=frappe.session.user
		)
		return preview.model_dump(mode="json"), name

	return _act(attempt, {"token": token, "step": "approve"}, act)


@frappe.whitelist(methods=["POST"])
def bulk_execute(token: str, reason: str, request_id: str | None = None) -> dict:
	"""Act on a previewed (and, above the four-eyes size, approved) token, in bounded batches."""
	require_roles(*MANAGERS, attempt=(attempt := Attempt(_token_action(token), [token], reason, request_id)))
	settings = get_control_settings()

	def act(conn: Redis, bench_id: str, log: LogDone) -> tuple[dict, str]:
		outcome = bulk.execute(conn, bench_id, token, batch=settings.batch)
		name = log(
			state_after=f"{outcome.state.value}: moved {outcome.moved}, skipped {outcome.skipped} of {outcome.planned}",
			approved_by=outcome.approved_by,
		)
		return outcome.model_dump(mode="json"), name

	return _act(attempt, {"token": token, "step": "execute"}, act)


@frappe.whitelist(methods=["GET"])
def bulk_status(token: str) -> dict:
	"""Where a confirmed bulk action stands (moved, skipped, batches)."""
	require_roles(*MANAGERS)
	conn, bench_id = _redis()
	with core_errors():
		return bulk.status(conn, bench_id, token).model_dump(mode="json")


# Reads -------------------------------------------------------------------------------------------


@frappe.whitelist(methods=["GET"])
def job_state(job_id: str) -> dict:
	"""Where a job is now, judged by the queue or registry that holds it."""
	require_roles(*READERS)
	conn, bench_id = _redis()
	with core_errors():
		return {"job_id": job_id, "state": jobs.job_state(conn, bench_id, job_id).value}


@frappe.whitelist(methods=["GET"])
def failed_jobs(
	queue: str | None = None, method: str | None = None, exc_type: str | None = None, limit: int = 100
) -> list[dict]:
	"""This site's failed jobs, oldest first, with redacted arguments and the exception type."""
	require_roles(*READERS)
	conn, bench_id = _redis()
	flt = BulkFilter(
		sites=[frappe.local.site],
		queues=[queue] if queue else [],
		methods=[method] if method else [],
		exc_types=[exc_type] if exc_type else [],
	)
	with core_errors():
		matched = bulk.select(conn, bench_id, JobState.FAILED, flt)[: max(1, min(limit, FAILED_JOBS_MAX))]
	pipe = conn.pipeline(transaction=False)
	for m in matched:
		pipe.hgetall(rq_keys.job_key(m["job_id"]))
		pipe.xrevrange(f"rq:results:{m['job_id']}", "+", "-", count=1)
	replies = pipe.execute()
	extra = get_control_settings().extra_secret_keys
	rows = []
	for m, raw, results in zip(matched, replies[::2], replies[1::2], strict=True):
		exc_info = exc_from_result_entries(conn, m["job_id"], results)
		payload = payload_from_hash(m["job_id"], raw, exc_info) if raw else None
		rows.append(
			{
				"job_id": m["job_id"],
				"queue": m["queue"],
				"method": m["method"],
				"ended_at": m["when"].isoformat() if m["when"] else None,
				"kwargs_digest": m["digest"],
				"kwargs": redact(payload.kwargs, extra) if payload else None,
				"exc_type": exc_type_of(payload.exc_info) if payload else None,
			}
		)
	return rows


@frappe.whitelist(methods=["GET"])
def verify_log_chain() -> dict:
	"""Check the Ops Action Log's hash chain; names the first row that was edited or removed."""
	require_roles(*READERS)
	return verify_log().model_dump(mode="json")


# Helpers -----------------------------------------------------------------------------------------


def _single(
	action: Action, job_id: str, reason: str, request_id: str | None, expected: str | None, **options
) -> dict:
	attempt = Attempt(action.value, [job_id], reason, request_id)

	def act(conn: Redis, bench_id: str, log: LogDone) -> tuple[dict, str]:
		with _invalid_input():
			seen = JobState(expected) if expected else None
		if action is Action.QUARANTINE:
			return _quarantine(conn, bench_id, job_id, seen, reason, log)
		if action is Action.RELEASE:
			return _release(conn, bench_id, job_id, log)
		if action is Action.CANCEL:
			result = jobs.cancel(conn, bench_id, job_id, expected=seen, wait_s=options["wait_s"])
		else:
			result = getattr(jobs, action.value)(conn, bench_id, job_id, expected=seen)
		name = log(state_before=result.state_before.value, state_after=result.state_after.value)
		return result.model_dump(mode="json"), name

	return _act(attempt, {"job_id": job_id, "expected": expected}, act)


def _quarantine(
	conn: Redis, bench_id: str, job_id: str, seen: JobState | None, reason: str, log: LogDone
) -> tuple[dict, str]:
	outcome = jobs.quarantine(conn, bench_id, job_id, expected=seen)
	name = log(state_before=outcome.result.state_before.value, state_after=outcome.result.state_after.value)
	record = quarantine_records.create_record(
		outcome.payload,
		reason=reason,
		user=frappe.session.user,
		log_name=name,
		state_before=outcome.result.state_before.value,
		extra_keys=get_control_settings().extra_secret_keys,
	)
	return {**outcome.result.model_dump(mode="json"), "quarantine": record}, name


def _release(conn: Redis, bench_id: str, job_id: str, log: LogDone) -> tuple[dict, str]:
	record = quarantine_records.open_record(job_id)
	try:
		result = jobs.release(conn, bench_id, job_id)
	except JobNotFound:
		# Redis lost its copy (a restart without persistence): the record's raw payload remains.
		if not record:
			raise
		result = jobs.release_payload(conn, bench_id, quarantine_records.stored_payload(record))
	name = log(state_before=result.state_before.value, state_after=result.state_after.value)
	if record:
		quarantine_records.mark_released(record, user=frappe.session.user, log_name=name)
	return {**result.model_dump(mode="json"), "quarantine": record}, name


def _act(attempt: Attempt, params: dict, act: Callable[[Redis, str, LogDone], tuple[dict, str]]) -> dict:
	"""Run `act` once per request id and log the outcome; errors are logged, committed, then raised."""
	if not (attempt.reason or "").strip():
		_log_failure(attempt, ActionOutcome.FAILED, "a reason is required")
		frappe.throw(_("Every action needs a reason."), OpsInvalidInput, title=_("Reason required"))
	conn, bench_id = _redis()
	intent: list[str] = []  # the `started` row written before the Redis step (none for a dry run)

	def run() -> ActionResponse:
		if not attempt.dry_run:
			intent.append(
				start_intent(attempt.action, attempt.targets, attempt.reason, request_id=attempt.request_id)
			)

		def log(**fields) -> str:
			return append_entry(
				new_entry(
					attempt.action,
					fields.pop("targets", attempt.targets),
					attempt.reason,
					ActionOutcome.DONE,
					dry_run=attempt.dry_run,
					request_id=attempt.request_id,
					completes=intent[0] if intent else None,
					**fields,
				)
			)

		result, name = act(conn, bench_id, log)
		frappe.db.commit()  # the action happened in Redis: its evidence must outlive this request
		return ActionResponse(log=name, result=result)

	try:
		if attempt.request_id:
			fingerprint = idempotency.fingerprint(attempt.action, user=frappe.session.user, **params)
			response = idempotency.once(conn, bench_id, attempt.request_id, fingerprint, ActionResponse, run)
		else:
			response = run()
	except ErpOpsError as e:
		outcome = ActionOutcome.CONFLICT if e.http_status == 409 else ActionOutcome.FAILED
		if e.http_status == 403:
			outcome = ActionOutcome.DENIED
		state = e.state if isinstance(e, JobConflict) else None
		_log_failure(attempt, outcome, str(e) or type(e).__name__, state_before=state, completes=intent)
		with core_errors():
			raise
	except RedisError as e:
		_log_failure(attempt, ActionOutcome.FAILED, f"Redis: {e}", completes=intent)
		frappe.throw(_("Redis did not answer: {0}").format(e), OpsServiceUnavailable)
	except Exception as e:
		_log_failure(attempt, ActionOutcome.FAILED, f"{type(e).__name__}: {e}", completes=intent)
		raise
	return response.model_dump(mode="json")


def _log_failure(
	attempt: Attempt,
	outcome: ActionOutcome,
	error: str,
	state_before: str | None = None,
	completes: list[str] | None = None,
) -> None:
	frappe.db.rollback()
	append_entry(
		new_entry(
			attempt.action,
			attempt.targets,
			attempt.reason,
			outcome,
			dry_run=attempt.dry_run,
			request_id=attempt.request_id,
			error=error,
			state_before=state_before,
			completes=completes[0] if completes else None,
		)
	)
	frappe.db.commit()  # the error response rolls the request back: keep the evidence first


def _redis() -> tuple[Redis, str]:
	return get_redis_conn(), get_bench_id()


@contextmanager
def _invalid_input() -> Iterator[None]:
	"""Turn a bad enum or filter value into the core's InvalidInput (422)."""
	try:
		yield
	except (ValueError, ValidationError) as e:
		raise InvalidInput(str(e)) from e


def _bulk_filter(filters: dict | str | None) -> BulkFilter:
	with _invalid_input():
		data = json.loads(filters) if isinstance(filters, str) and filters.strip() else (filters or {})
		if not isinstance(data, dict):
			raise ValueError("filters must be an object")
		data = {k: v for k, v in data.items() if v not in (None, "", [])}
		for key in ("queues", "sites", "methods", "exc_types", "kwargs_digests"):
			if isinstance(data.get(key), str):
				data[key] = [data[key]]
		for key in ("since", "until"):
			if key in data:
				data[key] = _utc(data[key])
		return BulkFilter.model_validate(data)


def _utc(value: str | datetime) -> datetime:
	"""Desk sends naive site-time datetimes; RQ keeps UTC."""
	moment = frappe.utils.get_datetime(value)
	if moment.tzinfo is None:
		from zoneinfo import ZoneInfo

		moment = moment.replace(tzinfo=ZoneInfo(get_system_timezone()))
	return moment.astimezone(timezone.utc)


def _action_name(action: str) -> str:
	# The log's action column is a Select: an unknown action is logged as what it claims to preview.
	try:
		return Action(action).value
	except ValueError:
		frappe.throw(_("Unknown action {0}").format(action), OpsInvalidInput)


def _token_action(token: str) -> str:
	"""The action a bulk token confirms (its plan says), for the log row of an approve/execute."""
	from erp_ops.core.control import keys

	raw = get_redis_conn().hget(keys.bulk_key(get_bench_id(), token), "plan") if token else None
	try:
		return Action(json.loads(raw)["action"]).value if raw else Action.REQUEUE.value
	except (ValueError, KeyError):
		return Action.REQUEUE.value


def _str_list(value: list[str] | str | None) -> list[str]:
	if value is None or value == "":
		return []
	if isinstance(value, str):
		try:
			parsed = json.loads(value)
		except ValueError:
			parsed = value.split(",")
		value = parsed if isinstance(parsed, list) else [str(parsed)]
	return [str(v).strip() for v in value if str(v).strip()]


# Number cards (type Custom) ------------------------------------------------------------------------


@frappe.whitelist(methods=["GET", "POST"])
def quarantined_jobs(filters: str | dict | list | None = None) -> dict:
	require_roles(*READERS)
	return {
		"value": frappe.db.count("Quarantine", {"status": "Quarantined"}),
		"fieldtype": "Int",
		"route": ["List", "Quarantine"],
		"route_options": {"status": "Quarantined"},
	}


@frappe.whitelist(methods=["GET", "POST"])
def actions_today(filters: str | dict | list | None = None) -> dict:
	require_roles(*READERS)
	today = str(frappe.utils.getdate())
	return {
		"value": frappe.db.count("Ops Action Log", {"acted_at": (">=", today)}),
		"fieldtype": "Int",
		"route": ["List", "Ops Action Log"],
		"route_options": {"acted_at": [">=", today]},
	}

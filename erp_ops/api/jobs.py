"""Job control: retry, requeue, cancel, quarantine, release, purge and bulk actions.

Each action: permission check (a denial is logged, then 403) → required parameters (a missing
or empty one is a 422, not logged: nothing was attempted) → a committed `started` row (the intent)
→ the core's atomic action on this site's jobs only, once per `request_id` → one `Ops Action Log`
row completing the intent, whatever the outcome (a process killed in between leaves the intent,
which the per-minute sweep completes as "unknown" with the job's actual state). Pass `expected`
(the state you saw, e.g. "failed") so a job that moved meanwhile is a 409, not a surprise.

Every read and action is scoped to the current site (`frappe.local.site`) on the server: a job
or bulk token of another site of the bench answers exactly like one that does not exist (404,
or 422 for a token) and the attempt is logged as denied. Bench-wide purges exist only in the
bench CLI (`bench --site S ops jobs purge --all-sites`) and the standalone `erp-ops jobs`.
"""

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import frappe
from frappe import _
from frappe.utils import get_bench_id
from frappe.utils.background_jobs import get_redis_conn
from pydantic import BaseModel, ValidationError
from redis import Redis
from redis.exceptions import RedisError

from erp_ops.api import (
	Attempt,
	OpsInvalidInput,
	OpsServiceUnavailable,
	core_errors,
	desk_time,
	require_permission,
)
from erp_ops.core import rq_keys
from erp_ops.core.bounds import checked
from erp_ops.core.control import bulk, idempotency, jobs
from erp_ops.core.control.errors import ForeignJob, ForeignToken, JobConflict, JobNotFound
from erp_ops.core.control.models import Action, ActionOutcome, BulkFilter, JobState
from erp_ops.core.control.payload import exc_from_result_entries, exc_type_of, payload_from_hash
from erp_ops.core.control.redaction import redact
from erp_ops.core.errors import ErpOpsError, InvalidInput
from erp_ops.erp_ops.doctype.ops_settings.ops_settings import get_control_settings
from erp_ops.site import control as site_control
from erp_ops.site.audit import append_entry, new_entry, start_intent, verify_log

CANCEL_WAIT_MAX_S = 10.0
FAILED_JOBS_MAX = 500

# A logger the action calls once its effect is known: returns the log row's name.
LogDone = Callable[..., str]


class ActionResponse(BaseModel):
	"""What an action answers, and what a repeated `request_id` gets back."""

	log: str | None  # None only for a repeat whose first execution's row is not found
	result: dict[str, Any]


# Single-job actions ------------------------------------------------------------------------------


@frappe.whitelist(methods=["POST"])
def requeue(
	job_id: str | None = None,
	reason: str | None = None,
	request_id: str | None = None,
	expected: str | None = None,
) -> dict:
	"""Put a failed job back on its queue."""
	require_permission("requeue", attempt=Attempt("requeue", [job_id or ""], reason, request_id))
	return _single(Action.REQUEUE, job_id, reason, request_id, expected)


@frappe.whitelist(methods=["POST"])
def retry(
	job_id: str | None = None,
	reason: str | None = None,
	request_id: str | None = None,
	expected: str | None = None,
) -> dict:
	"""Run a failed job again as a new attempt linked to it."""
	require_permission("retry", attempt=Attempt("retry", [job_id or ""], reason, request_id))
	return _single(Action.RETRY, job_id, reason, request_id, expected)


@frappe.whitelist(methods=["POST"])
def cancel(
	job_id: str | None = None,
	reason: str | None = None,
	request_id: str | None = None,
	expected: str | None = None,
	wait_s: float = 2.0,
) -> dict:
	"""Cancel a queued, deferred or scheduled job; stop a started one (`stopping` until it has)."""
	require_permission("cancel", attempt=Attempt("cancel", [job_id or ""], reason, request_id))
	wait = min(max(wait_s, 0.0), CANCEL_WAIT_MAX_S)
	return _single(Action.CANCEL, job_id, reason, request_id, expected, wait_s=wait)


@frappe.whitelist(methods=["POST"])
def quarantine(
	job_id: str | None = None,
	reason: str | None = None,
	request_id: str | None = None,
	expected: str | None = None,
) -> dict:
	"""Take a job out of every queue and registry; keep its payload in a Quarantine record."""
	require_permission("quarantine", attempt=Attempt("quarantine", [job_id or ""], reason, request_id))
	return _single(Action.QUARANTINE, job_id, reason, request_id, expected)


@frappe.whitelist(methods=["POST"])
def release(job_id: str | None = None, reason: str | None = None, request_id: str | None = None) -> dict:
	"""Enqueue a quarantined job again under its id; its Quarantine record becomes Released."""
	require_permission("release", attempt=Attempt("release", [job_id or ""], reason, request_id))
	return _single(Action.RELEASE, job_id, reason, request_id, None)


@frappe.whitelist(methods=["POST"])
def purge(
	reason: str | None = None,
	older_than_days: float | None = None,
	registries: list[str] | str | None = None,
	queues: list[str] | str | None = None,
	dry_run: bool = True,
	request_id: str | None = None,
) -> dict:
	"""Delete this site's finished/failed jobs older than a retention (Ops Settings by default);
	a dry run unless told."""
	require_permission("purge", attempt=Attempt("purge", [], reason, request_id, dry_run=bool(dry_run)))
	return purge_jobs(reason, older_than_days, registries, queues, dry_run, request_id, frappe.local.site)


def purge_jobs(
	reason: str | None,
	older_than_days: float | None,
	registries: list[str] | str | None,
	queues: list[str] | str | None,
	dry_run: bool,
	request_id: str | None,
	site: str | None,
) -> dict:
	"""`purge` for `site`, or with `site=None` for every site of the bench: only the bench CLI
	(`--all-sites`) calls it that way, never an endpoint."""
	settings = get_control_settings()
	days = settings.purge_retention_days if older_than_days is None else older_than_days
	with core_errors():  # a 422 naming the range, before anything is logged
		days = checked("older_than_days", days)
	names = _str_list(registries) or [JobState.FINISHED.value, JobState.FAILED.value]
	scope = "" if site else " (bench-wide: every site's jobs)"
	attempt = Attempt(
		"purge",
		[f"older than {days:g} day(s): {', '.join(names)}{scope}"],
		reason,
		request_id,
		bool(dry_run),
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
			site=site,
		)
		name = log(state_after=f"matched {outcome.matched}, deleted {outcome.deleted}{scope}")
		return {**outcome.model_dump(mode="json"), "scope": site or "bench"}, name

	params = {"days": days, "registries": names, "queues": _str_list(queues), "dry_run": bool(dry_run)}
	return _act(attempt, {**params, "scope": site or "bench"}, act, required={"reason": reason})


# Bulk --------------------------------------------------------------------------------------------


@frappe.whitelist(methods=["POST"])
def bulk_preview(
	action: str | None = None,
	reason: str | None = None,
	filters: dict | str | None = None,
	request_id: str | None = None,
) -> dict:
	"""Count and sample this site's jobs a bulk action would touch; nothing moves. Returns the token."""
	require_permission("bulk", attempt=Attempt(_action_or_requeue(action), [], reason, request_id, True))
	_require({"action": action})
	attempt = Attempt(_action_name(action), [], reason, request_id, True)
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
			site=frappe.local.site,
		)
		name = log(targets=[preview.token], state_after=f"{preview.state.value}: {preview.count} job(s)")
		return preview.model_dump(mode="json"), name

	return _act(attempt, {"filters": filters}, act, required={"reason": reason})


@frappe.whitelist(methods=["POST"])
def bulk_approve(token: str | None = None, reason: str | None = None, request_id: str | None = None) -> dict:
	"""The second Ops Manager's approval of a large bulk action (not the requester's own)."""
	# The permission first, before anything reads Redis (the token's action is for the log row).
	require_permission("bulk", attempt=Attempt(Action.REQUEUE.value, [token or ""], reason, request_id))
	_require({"token": token})
	attempt = Attempt(_token_action(token), [token], reason, request_id)

	def act(conn: Redis, bench_id: str, log: LogDone) -> tuple[dict, str]:
		preview = bulk.approve(conn, bench_id, token, approver=frappe.session.user, site=frappe.local.site)
		name = log(
			state_before="pending approval", state_after=preview.state.value, approved_by=frappe.session.user
		)
		return preview.model_dump(mode="json"), name

	return _act(attempt, {"token": token, "step": "approve"}, act, required={"reason": reason})


@frappe.whitelist(methods=["POST"])
def bulk_execute(token: str | None = None, reason: str | None = None, request_id: str | None = None) -> dict:
	"""Act on a previewed (and, above the four-eyes size, approved) token, in bounded batches.

	A token already executed answers its stored result and the log row of the execution that
	acted: one effect, one row.
	"""
	require_permission("bulk", attempt=Attempt(Action.REQUEUE.value, [token or ""], reason, request_id))
	_require({"token": token})
	attempt = Attempt(_token_action(token), [token], reason, request_id)
	settings = get_control_settings()

	def act(conn: Redis, bench_id: str, log: LogDone) -> tuple[dict, str]:
		outcome = bulk.execute(conn, bench_id, token, batch=settings.batch, site=frappe.local.site)
		if outcome.replayed:
			return outcome.model_dump(mode="json"), _done_row(attempt.action, token)
		name = log(
			state_after=f"{outcome.state.value}: moved {outcome.moved}, skipped {outcome.skipped} of {outcome.planned}",
			approved_by=outcome.approved_by,
		)
		return outcome.model_dump(mode="json"), name

	return _act(attempt, {"token": token, "step": "execute"}, act, required={"reason": reason})


@frappe.whitelist(methods=["GET"])
def bulk_status(token: str | None = None) -> dict:
	"""Where a confirmed bulk action of this site stands (moved, skipped, batches)."""
	require_permission("bulk")
	_require({"token": token})
	conn, bench_id = _redis()
	return _read(
		Attempt(Action.VIEW.value, [token], "bulk status"),
		lambda: bulk.status(conn, bench_id, token, site=frappe.local.site).model_dump(mode="json"),
	)


# Reads -------------------------------------------------------------------------------------------


@frappe.whitelist(methods=["GET"])
def job_state(job_id: str | None = None) -> dict:
	"""Where one of this site's jobs is now, judged by the queue or registry that holds it; 404
	for a job that does not exist or is another site's."""
	require_permission("view")
	_require({"job_id": job_id})
	conn, bench_id = _redis()
	site = frappe.local.site

	def read() -> dict:
		state = jobs.job_state(conn, bench_id, job_id, site=site)
		if state is JobState.MISSING:
			raise JobNotFound(jobs.not_found_message(bench_id, job_id, site))
		return {"job_id": job_id, "state": state.value}

	return _read(Attempt(Action.VIEW.value, [job_id], "job state"), read)


@frappe.whitelist(methods=["GET"])
def failed_jobs(
	queue: str | None = None, method: str | None = None, exc_type: str | None = None, limit: int = 100
) -> list[dict]:
	"""This site's failed jobs, oldest first, with redacted arguments and the exception type."""
	require_permission("view")
	conn, bench_id = _redis()
	flt = BulkFilter(
		queues=[queue] if queue else [],
		methods=[method] if method else [],
		exc_types=[exc_type] if exc_type else [],
	)
	with core_errors():
		matched = bulk.select(conn, bench_id, JobState.FAILED, flt, site=frappe.local.site)
		matched = matched[: max(1, min(limit, FAILED_JOBS_MAX))]
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
	require_permission("verify_log")
	return verify_log().model_dump(mode="json")


# Helpers -----------------------------------------------------------------------------------------


def _single(
	action: Action,
	job_id: str | None,
	reason: str | None,
	request_id: str | None,
	expected: str | None,
	**options,
) -> dict:
	_require({"job_id": job_id})
	attempt = Attempt(action.value, [job_id], reason, request_id)
	site = frappe.local.site

	def act(conn: Redis, bench_id: str, log: LogDone) -> tuple[dict, str]:
		with _invalid_input():
			seen = JobState(expected) if expected else None
		if action is Action.QUARANTINE:
			return _quarantine(conn, bench_id, job_id, seen, reason, log)
		if action is Action.RELEASE:
			return _release(conn, bench_id, job_id, log)
		if action is Action.CANCEL:
			result = jobs.cancel(conn, bench_id, job_id, expected=seen, wait_s=options["wait_s"], site=site)
		else:
			result = getattr(jobs, action.value)(conn, bench_id, job_id, expected=seen, site=site)
		name = log(state_before=result.state_before.value, state_after=result.state_after.value)
		return result.model_dump(mode="json"), name

	return _act(attempt, {"job_id": job_id, "expected": expected}, act, required={"reason": reason})


def _quarantine(
	conn: Redis, bench_id: str, job_id: str, seen: JobState | None, reason: str, log: LogDone
) -> tuple[dict, str]:
	outcome = jobs.quarantine(conn, bench_id, job_id, expected=seen, site=frappe.local.site)
	name = log(state_before=outcome.result.state_before.value, state_after=outcome.result.state_after.value)
	record = site_control.create_record(
		outcome.payload,
		reason=reason,
		user=frappe.session.user,
		log_name=name,
		state_before=outcome.result.state_before.value,
		extra_keys=get_control_settings().extra_secret_keys,
	)
	return {**outcome.result.model_dump(mode="json"), "quarantine": record}, name


def _release(conn: Redis, bench_id: str, job_id: str, log: LogDone) -> tuple[dict, str]:
	site = frappe.local.site
	record = site_control.open_record(job_id)
	try:
		result = jobs.release(conn, bench_id, job_id, site=site)
	except ForeignJob:
		raise
	except JobNotFound:
		# Redis lost its copy (a restart without persistence): the record's raw payload remains.
		if not record:
			raise
		payload = site_control.stored_payload(record)
		result = jobs.release_payload(conn, bench_id, payload, site=site)
	name = log(state_before=result.state_before.value, state_after=result.state_after.value)
	if record:
		site_control.mark_released(record, user=frappe.session.user, log_name=name)
	return {**result.model_dump(mode="json"), "quarantine": record}, name


def _act(
	attempt: Attempt,
	params: dict,
	act: Callable[[Redis, str, LogDone], tuple[dict, str]],
	required: dict[str, str | None] | None = None,
) -> dict:
	"""Run `act` once per request id and log the outcome; errors are logged, committed, then raised.

	`required` parameters missing or empty are a 422 before anything happens or is logged.
	"""
	_require(required or {})
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
			# Request ids are per site: another site's id neither answers nor blocks this one.
			response = idempotency.once(
				conn, bench_id, attempt.request_id, fingerprint, ActionResponse, run, site=frappe.local.site
			)
		else:
			response = run()
	except ErpOpsError as e:
		outcome = ActionOutcome.CONFLICT if e.http_status == 409 else ActionOutcome.FAILED
		if e.http_status == 403:
			outcome = ActionOutcome.DENIED
		error = str(e) or type(e).__name__
		if isinstance(e, ForeignJob | ForeignToken):
			outcome, error = ActionOutcome.DENIED, FOREIGN.format(error=error)
		state = e.state if isinstance(e, JobConflict) else None
		_log_failure(attempt, outcome, error, state_before=state, completes=intent)
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


def _read(attempt: Attempt, read: Callable[[], dict]) -> dict:
	"""A read of one job or token: another site's is answered as missing and its attempt logged."""
	with core_errors():
		try:
			return read()
		except (ForeignJob, ForeignToken) as e:
			_log_failure(attempt, ActionOutcome.DENIED, FOREIGN.format(error=str(e)))
			raise


# What a refused attempt on another site's job or token says in the log (the caller got a 404 or
# 422 worded as for one that does not exist).
FOREIGN = "another site's job or token: answered as not found ({error})"


def _require(values: dict[str, str | None]) -> None:
	"""A missing or empty required parameter is a 422 naming it; nothing is attempted or logged."""
	for name, value in values.items():
		if value is None or (isinstance(value, str) and not value.strip()):
			frappe.throw(
				_("{0} is required and must not be empty.").format(name),
				OpsInvalidInput,
				title=_("Missing parameter"),
			)


def _done_row(action: str, token: str) -> str | None:
	"""The log row of the execution that acted on a token (a repeat answers it, adds none)."""
	rows = frappe.get_all(
		"Ops Action Log",
		filters={"action": action, "outcome": "done", "targets": token, "state_after": ("like", "done:%")},
		pluck="name",
		order_by="seq asc",
		limit=1,
	)
	return rows[0] if rows else None


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
				data[key] = desk_time(data[key])
		return BulkFilter.model_validate(data)


def _action_name(action: str) -> str:
	# The log's action column is a Select: an unknown action is logged as what it claims to preview.
	try:
		return Action(action).value
	except ValueError:
		frappe.throw(_("Unknown action {0}").format(action), OpsInvalidInput)


def _action_or_requeue(action: str | None) -> str:
	"""The action named, for a denial's log row (the Select column takes only known actions)."""
	try:
		return Action(action).value
	except ValueError:
		return Action.REQUEUE.value


def _token_action(token: str) -> str:
	"""The action a bulk token of this site confirms (its plan says), for the log row of an
	approve/execute; another site's token is logged as what it claims by default (requeue)."""
	action, site = bulk.plan_site(get_redis_conn(), get_bench_id(), token)
	try:
		return Action(action).value if action and site == frappe.local.site else Action.REQUEUE.value
	except ValueError:
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
	require_permission("view")
	return {
		"value": frappe.db.count("Quarantine", {"status": "Quarantined"}),
		"fieldtype": "Int",
		"route": ["List", "Quarantine"],
		"route_options": {"status": "Quarantined"},
	}


@frappe.whitelist(methods=["GET", "POST"])
def actions_today(filters: str | dict | list | None = None) -> dict:
	require_permission("verify_log")
	today = str(frappe.utils.getdate())
	return {
		"value": frappe.db.count("Ops Action Log", {"acted_at": (">=", today)}),
		"fieldtype": "Int",
		"route": ["List", "Ops Action Log"],
		"route_options": {"acted_at": [">=", today]},
	}

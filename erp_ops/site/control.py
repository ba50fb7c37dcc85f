"""The control core run for this site by the scheduler: automatic retries, poison jobs, cancels
that finished stopping, Quarantine records for jobs quarantined without one; and the Quarantine
records themselves (raw payload for release, redacted for everyone else), which api/jobs writes too.

The worker's `after_job` hook only appends evidence (no pydantic in the work horse); the retry
policy and the poison rule are applied here, every minute, to the evidence the flush just stored.

Every site's scheduler runs these for its own site only (`site=frappe.local.site` in each core
call): its due retries, its stopped cancels, its quarantined jobs, its poison verdicts.
"""

import json
import logging

import frappe
from frappe.utils import add_to_date, get_bench_id, now_datetime
from frappe.utils.background_jobs import get_redis_conn
from redis import Redis

from erp_ops.core.control import autoretry, bulk, jobs, poison, policy
from erp_ops.core.control.errors import JobConflict, JobNotFound, TokenInvalid
from erp_ops.core.control.models import (
	Action,
	ActionOutcome,
	ActionResult,
	BulkFilter,
	JobPayload,
	JobState,
	PoisonVerdict,
	QuarantineResult,
	RetryDecisionKind,
)
from erp_ops.core.control.payload import exc_type_of
from erp_ops.core.control.redaction import redact
from erp_ops.core.errors import ErpOpsError
from erp_ops.core.evidence.capture import FAILED_OUTCOMES
from erp_ops.core.evidence.records import EvidenceRecord
from erp_ops.erp_ops.doctype.ops_settings.ops_settings import ControlSettings, get_control_settings
from erp_ops.erp_ops.doctype.quarantine.quarantine import QUARANTINED, RELEASED
from erp_ops.site.audit import append_entry, new_entry, start_intent, sweep_intents
from erp_ops.site.notifications import notify_managers

log = logging.getLogger(__name__)

SYSTEM_USER = "Administrator"  # scheduler jobs run as Administrator; the reason says it was automatic
POLICY_LOOKBACK_MIN = 10  # failures flushed this recently get a retry decision
DECIDED_KEY = "erp_ops:{bench}:policy-decided:{name}"  # one decision per evidence record


AUTO_RETRY = "automatic retry (Ops Settings retry rule)"


def run_due_retries(conn: Redis | None = None) -> list[ActionResult]:
	"""Retry the failed jobs whose automatic retry is due; an intent before each, its completion after."""
	conn = conn or get_redis_conn()
	intents: dict[str, str] = {}

	def intend(job_id: str) -> None:
		intents[job_id] = start_intent(Action.RETRY, [job_id], AUTO_RETRY, user=SYSTEM_USER)

	done = autoretry.run_due(conn, get_bench_id(), site=frappe.local.site, before=intend)
	for result in done:
		_log(
			Action.RETRY,
			[result.job_id, result.new_job_id or ""],
			AUTO_RETRY,
			state_before=result.state_before.value,
			state_after=result.state_after.value,
			completes=intents.pop(result.job_id, None),
		)
	for job_id, intent in intents.items():  # no longer failed (requeued, quarantined): not retried
		_log(
			Action.RETRY,
			[job_id],
			AUTO_RETRY,
			ActionOutcome.CONFLICT,
			completes=intent,
			error="no longer failed",
		)
	if done or intents:
		frappe.db.commit()  # Redis moved these jobs: their rows must not roll back with the rest of the step
	return done


def sweep_action_intents(conn: Redis | None = None) -> list[str]:
	"""Complete, as "unknown" with the job's actual state, the intents whose actor died."""
	conn = conn or get_redis_conn()
	bench_id = get_bench_id()

	def actual_state(target: str) -> str:
		try:
			try:
				found = bulk.status(conn, bench_id, target)
				return f"bulk {found.state.value}, moved {found.moved} of {found.planned}"
			except TokenInvalid:
				return jobs.job_state(conn, bench_id, target).value
		except (ErpOpsError, ValueError) as exc:
			return f"not readable ({exc})"

	return sweep_intents(actual_state)


def finish_stopped_cancels(conn: Redis | None = None) -> list[ActionResult]:
	"""Move canceled started jobs whose worker has now stopped them to the canceled registry."""
	return jobs.finish_stopped(conn or get_redis_conn(), get_bench_id(), site=frappe.local.site)


def sync_quarantine(conn: Redis | None = None) -> list[str]:
	"""A Quarantine record for every quarantined job that has none (a crash, or the CLI)."""
	conn = conn or get_redis_conn()
	bench_id = get_bench_id()
	settings = get_control_settings()
	created = []
	site = frappe.local.site
	for job_id in jobs.quarantined_ids(conn, bench_id, site=site):  # another site's: its own scheduler
		if open_record(job_id):
			continue
		try:
			payload = jobs.quarantined_payload(conn, bench_id, job_id, site=site)
		except JobNotFound:
			continue
		created.append(
			create_record(
				payload,
				reason="quarantined outside Desk (no record yet)",
				user=SYSTEM_USER,
				log_name=None,
				state_before=None,
				extra_keys=settings.extra_secret_keys,
			)
		)
	return created


def apply_failure_policy(conn: Redis | None = None, settings: ControlSettings | None = None) -> dict:
	"""After the evidence flush: quarantine poison jobs, then schedule retries or quarantine per rule."""
	conn = conn or get_redis_conn()
	settings = settings or get_control_settings()
	poisoned = check_poison(conn, settings)
	retries, quarantined = decide_retries(conn, settings)
	if poisoned or retries or quarantined:
		frappe.db.commit()  # Redis moved these jobs: their rows must not roll back with the rest of the step
	return {"poison": len(poisoned), "retries": retries, "quarantined": quarantined}


def check_poison(conn: Redis, settings: ControlSettings) -> list[QuarantineResult]:
	"""Quarantine the failed jobs of each method + kwargs digest failing N times in the window."""
	now = now_datetime()  # naive site time, as Job Evidence stores it
	records = [
		EvidenceRecord.model_validate(row)
		for row in frappe.get_all(
			"Job Evidence",
			filters={
				"outcome": ("in", [o.value for o in FAILED_OUTCOMES]),
				"ended_at": (">=", now - settings.poison_window),
				"kwargs_digest": ("is", "set"),
			},
			fields=["job_id", "attempt", "method", "kwargs_digest", "outcome", "ended_at", "started_at"],
			limit=10000,
		)
	]
	verdicts = poison.find_poison(
		records, threshold=settings.poison_threshold, window=settings.poison_window, now=now
	)
	done: list[QuarantineResult] = []
	for verdict in verdicts:
		reason = _poison_reason(verdict, settings)
		moved = quarantine_site_poison(conn, get_bench_id(), verdict, reason)
		if moved:
			_record_quarantines(moved, reason, settings)
			done.extend(outcome for outcome, _intent in moved)
			notify_managers(
				f"Poison job quarantined: {verdict.method}",
				reason + f"; job(s): {', '.join(r.result.job_id for r, _intent in moved)}",
				"Quarantine",
				open_record(moved[0][0].result.job_id),
			)
	return done


def quarantine_site_poison(
	conn: Redis, bench_id: str, verdict: PoisonVerdict, reason: str
) -> list[tuple[QuarantineResult, str]]:
	"""`poison.quarantine_poison` limited to this site's jobs: the verdict comes from this site's
	evidence, and another site's job with the same method and arguments is not ours to judge.
	Each job moved, with its intent."""
	flt = BulkFilter(
		methods=[verdict.method], kwargs_digests=[verdict.kwargs_digest], sites=[frappe.local.site]
	)
	moved = []
	for match in bulk.select(conn, bench_id, JobState.FAILED, flt, site=frappe.local.site):
		done = _quarantine_with_intent(conn, bench_id, match["job_id"], reason)
		if done:
			moved.append(done)
	return moved


def _quarantine_with_intent(
	conn: Redis, bench_id: str, job_id: str, reason: str
) -> tuple[QuarantineResult, str] | None:
	"""Quarantine a failed job after a committed intent: (its result, the intent), or None (the
	intent completed as a conflict) when the job moved meanwhile."""
	intent = start_intent(Action.QUARANTINE, [job_id], reason, user=SYSTEM_USER)
	try:
		return jobs.quarantine(
			conn, bench_id, job_id, expected=JobState.FAILED, site=frappe.local.site
		), intent
	except (JobConflict, JobNotFound) as exc:
		_log(
			Action.QUARANTINE,
			[job_id],
			reason,
			outcome=ActionOutcome.CONFLICT,
			completes=intent,
			error=str(exc),
		)
		frappe.db.commit()  # completes a committed intent: else the sweep would call it "unknown"
		return None


def decide_retries(conn: Redis, settings: ControlSettings) -> tuple[int, int]:
	"""`policy.decide` for each recent failure not decided yet: schedule its retry or quarantine it."""
	if not settings.retry_rules:
		return 0, 0
	bench_id = get_bench_id()
	rows = frappe.get_all(
		"Job Evidence",
		filters={
			"outcome": ("in", [o.value for o in FAILED_OUTCOMES]),
			"ended_at": (">=", add_to_date(now_datetime(), minutes=-POLICY_LOOKBACK_MIN)),
		},
		fields=["name", "job_id", "attempt", "method", "exc_type"],
		order_by="ended_at asc",
		limit=2000,
	)
	if not rows:
		return 0, 0
	# Claim each record's decision once (SET NX), so a rerun or a second scheduler does not decide twice.
	pipe = conn.pipeline(transaction=False)
	for row in rows:
		pipe.set(DECIDED_KEY.format(bench=bench_id, name=row.name), 1, nx=True, ex=24 * 3600)
	fresh = [row for row, claimed in zip(rows, pipe.execute(), strict=True) if claimed]
	retries = quarantined = 0
	for row in fresh:
		decision = policy.decide(settings.retry_rules, row.method, row.exc_type, row.attempt or 1)
		if decision.decision is RetryDecisionKind.RETRY:
			retries += autoretry.schedule_retry(
				conn, bench_id, row.job_id, decision.delay_s, site=frappe.local.site
			)
		elif decision.decision is RetryDecisionKind.QUARANTINE:
			reason = f"retries exhausted: attempt {decision.attempt} of {decision.rule.max_attempts} failed"
			moved = _quarantine_with_intent(conn, bench_id, row.job_id, reason)
			if moved is None:
				continue
			_record_quarantines([moved], reason, settings)
			quarantined += 1
	return retries, quarantined


def _record_quarantines(
	moved: list[tuple[QuarantineResult, str]], reason: str, settings: ControlSettings
) -> None:
	for outcome, intent in moved:
		name = _log(
			Action.QUARANTINE,
			[outcome.result.job_id],
			reason,
			state_before=outcome.result.state_before.value,
			state_after=outcome.result.state_after.value,
			completes=intent,
		)
		create_record(
			outcome.payload,
			reason=reason,
			user=SYSTEM_USER,
			log_name=name,
			state_before=outcome.result.state_before.value,
			extra_keys=settings.extra_secret_keys,
		)


def _poison_reason(verdict: PoisonVerdict, settings: ControlSettings) -> str:
	minutes = int(settings.poison_window.total_seconds() // 60)
	return (
		f"poison: {verdict.failures} failures of {verdict.method} with the same arguments "
		f"(digest {verdict.kwargs_digest[:12]}) within {minutes} min"
	)


def _log(
	action: Action, targets: list[str], reason: str, outcome: ActionOutcome = ActionOutcome.DONE, **fields
) -> str:
	return append_entry(
		new_entry(action, [t for t in targets if t], reason, outcome, user=SYSTEM_USER, **fields)
	)


# Quarantine records: a quarantined job's payload, raw (for release) and redacted ---------------


def create_record(
	payload: JobPayload,
	*,
	reason: str,
	user: str,
	log_name: str | None,
	state_before: str | None,
	extra_keys: list[str] | tuple[str, ...] = (),
) -> str:
	"""Store a quarantined job's payload: raw (for release) and redacted (for everyone else).

	A job whose data did not decode is stored as unreadable: the digest and size of its bytes.
	"""
	raw = payload.model_dump(mode="json")
	data = next((u for u in payload.unreadable if u.field == "data"), None)
	doc = frappe.get_doc(
		{
			"doctype": "Quarantine",
			"job_id": payload.job_id,
			"status": QUARANTINED,
			"method": payload.method or payload.function,
			"queue": payload.queue,
			"site": payload.site,
			"quarantined_at": frappe.utils.now_datetime(),
			"quarantined_by": user,
			"state_before": state_before,
			"reason": reason,
			"quarantine_log": log_name,
			"exc_type": exc_type_of(payload.exc_info),
			"exc_info": redact(payload.exc_info or "", extra_keys) or None,
			"payload_redacted": json.dumps(redact(raw, extra_keys), indent=1, default=str),
			"payload_raw": json.dumps(raw, indent=1, default=str),
			"payload_unreadable": 1 if data else 0,
			"payload_sha256": data.sha256 if data else None,
			"payload_size": data.size if data else 0,
		}
	)
	doc.insert(ignore_permissions=True)
	return doc.name


def open_record(job_id: str) -> str | None:
	"""The job's quarantine record still waiting for release, if any."""
	return frappe.db.get_value("Quarantine", {"job_id": job_id, "status": QUARANTINED}, "name")


def mark_released(name: str, *, user: str, log_name: str) -> None:
	frappe.db.set_value(
		"Quarantine",
		name,
		{
			"status": RELEASED,
			"released_at": frappe.utils.now_datetime(),
			"released_by": user,
			"release_log": log_name,
		},
	)


def stored_payload(name: str) -> JobPayload:
	return JobPayload.model_validate_json(frappe.db.get_value("Quarantine", name, "payload_raw"))

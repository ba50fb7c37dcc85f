"""The control core run for this site by the scheduler: automatic retries, poison jobs, cancels
that finished stopping, Quarantine records for jobs quarantined without one.

The worker's `after_job` hook only appends evidence (no pydantic in the work horse); the retry
policy and the poison rule are applied here, every minute, to the evidence the flush just stored.

Every site's scheduler runs these for its own site only (`site=frappe.local.site` in each core
call): its due retries, its stopped cancels, its quarantined jobs, its poison verdicts.
"""

import logging

import frappe
from frappe.utils import add_to_date, get_bench_id, now_datetime
from frappe.utils.background_jobs import get_redis_conn
from redis import Redis

from erp_ops.core.control import autoretry, jobs, poison, policy
from erp_ops.core.control.errors import JobConflict, JobNotFound
from erp_ops.core.control.models import (
	Action,
	ActionOutcome,
	ActionResult,
	JobState,
	PoisonVerdict,
	QuarantineResult,
	RetryDecisionKind,
)
from erp_ops.core.evidence.capture import FAILED_OUTCOMES
from erp_ops.core.evidence.records import EvidenceRecord
from erp_ops.erp_ops.doctype.ops_settings.ops_settings import ControlSettings, get_control_settings
from erp_ops.erp_ops.doctype.quarantine import quarantine as quarantine_records
from erp_ops.site.audit import append_entry, new_entry
from erp_ops.site.notifications import notify_managers

log = logging.getLogger(__name__)

SYSTEM_USER = "Administrator"  # scheduler jobs run as Administrator; the reason says it was automatic
POLICY_LOOKBACK_MIN = 10  # failures flushed this recently get a retry decision
DECIDED_KEY = "erp_ops:{bench}:policy-decided:{name}"  # one decision per evidence record


def run_due_retries(conn: Redis | None = None) -> list[ActionResult]:
	"""Retry the failed jobs whose automatic retry is due; one log row each."""
	conn = conn or get_redis_conn()
	done = autoretry.run_due(conn, get_bench_id(), site=frappe.local.site)
	for result in done:
		_log(
			Action.RETRY,
			[result.job_id, result.new_job_id or ""],
			"automatic retry (Ops Settings retry rule)",
			state_before=result.state_before.value,
			state_after=result.state_after.value,
		)
	if done:
		frappe.db.commit()
	return done


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
		if quarantine_records.open_record(job_id):
			continue
		try:
			payload = jobs.quarantined_payload(conn, bench_id, job_id, site=site)
		except JobNotFound:
			continue
		created.append(
			quarantine_records.create_record(
				payload,
				reason="quarantined outside Desk (no record yet)",
				user=SYSTEM_USER,
				log_name=None,
				state_before=None,
				extra_keys=settings.extra_secret_keys,
			)
		)
	if created:
		frappe.db.commit()
	return created


def apply_failure_policy(conn: Redis | None = None, settings: ControlSettings | None = None) -> dict:
	"""After the evidence flush: quarantine poison jobs, then schedule retries or quarantine per rule."""
	conn = conn or get_redis_conn()
	settings = settings or get_control_settings()
	poisoned = check_poison(conn, settings)
	retries, quarantined = decide_retries(conn, settings)
	if poisoned or retries or quarantined:
		frappe.db.commit()
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
		moved = quarantine_site_poison(conn, get_bench_id(), verdict)
		if moved:
			_record_quarantines(moved, _poison_reason(verdict, settings), settings)
			done.extend(moved)
			notify_managers(
				f"Poison job quarantined: {verdict.method}",
				_poison_reason(verdict, settings) + f"; job(s): {', '.join(r.result.job_id for r in moved)}",
				"Quarantine",
				quarantine_records.open_record(moved[0].result.job_id),
			)
	return done


def quarantine_site_poison(conn: Redis, bench_id: str, verdict: PoisonVerdict) -> list[QuarantineResult]:
	"""`poison.quarantine_poison` limited to this site's jobs: the verdict comes from this site's
	evidence, and another site's job with the same method and arguments is not ours to judge."""
	return poison.quarantine_poison(conn, bench_id, [verdict], site=frappe.local.site)


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
			try:
				moved = jobs.quarantine(
					conn, bench_id, row.job_id, expected=JobState.FAILED, site=frappe.local.site
				)
			except (JobConflict, JobNotFound):
				continue
			reason = f"retries exhausted: attempt {decision.attempt} of {decision.rule.max_attempts} failed"
			_record_quarantines([moved], reason, settings)
			quarantined += 1
	return retries, quarantined


def _record_quarantines(moved: list[QuarantineResult], reason: str, settings: ControlSettings) -> None:
	for outcome in moved:
		name = _log(
			Action.QUARANTINE,
			[outcome.result.job_id],
			reason,
			state_before=outcome.result.state_before.value,
			state_after=outcome.result.state_after.value,
		)
		quarantine_records.create_record(
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


def _log(action: Action, targets: list[str], reason: str, **fields) -> str:
	return append_entry(
		new_entry(action, [t for t in targets if t], reason, ActionOutcome.DONE, user=SYSTEM_USER, **fields)
	)

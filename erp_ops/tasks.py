"""Scheduler entry points (see `scheduler_events` in hooks.py): thin calls into the app.

Every minute the site runs ONE erp_ops job, `tick`: it does the per-minute work that is due, each
step in its own transaction (a failing step is logged and rolled back, the others still run), and
the bench-wide part (reading RQ's started registries for abandoned jobs) once per bench per minute,
by whichever site's tick claims that minute first. The daily and hourly tasks stay separate jobs.
"""

import time
from collections.abc import Callable
from datetime import datetime

import frappe

from erp_ops.core.signals import ticks
from erp_ops.erp_ops.doctype.ops_settings.ops_settings import get_retention_days
from erp_ops.site.evidence import flush_evidence, purge_evidence

# The tick's steps, in order: the failure policy reads what the flush stored. Each is (name, every
# how many minutes, function).
TICK_STEPS: tuple[tuple[str, int, str], ...] = (
	("evidence", 1, "flush_job_evidence"),
	("retries", 1, "run_due_retries"),
	# Intents whose actor died (a killed request or worker): completed as "unknown".
	("intents", 1, "sweep_action_intents"),
	("cancels", 1, "finish_stopped_cancels"),
	("quarantine", 1, "sync_quarantine_records"),
	("alerts", 1, "evaluate_alerts"),
	("drills", 1, "maybe_start_restore_drill"),
	# Events never picked up or whose worker died: every 5 minutes (docs/events.md).
	("integrations", 5, "recover_integration_events"),
	# Denials by users without an Ops role: each closed 10-minute window summarised in one row.
	("denials", 5, "summarise_denials"),
)
# The bench-wide part of a minute is claimed by one site's tick (SET NX, kept past the minute).
BENCH_MINUTE_KEY = "erp_ops:{bench}:tick:{minute}"


def tick(now: datetime | None = None) -> dict[str, float]:
	"""Every minute, the site's one erp_ops job: each due step, timed; returns seconds per step."""
	from frappe.utils.background_jobs import get_redis_conn

	now = now or frappe.utils.now_datetime()
	conn = get_redis_conn()
	bench_id = frappe.utils.get_bench_id()
	minute = now.strftime("%Y%m%d%H%M")
	bench_turn = bool(
		conn.set(BENCH_MINUTE_KEY.format(bench=bench_id, minute=minute), frappe.local.site, nx=True, ex=180)
	)
	timings: dict[str, float] = {}
	failed: list[str] = []
	started = time.monotonic()
	for name, every, function in TICK_STEPS:
		if now.minute % every:
			continue
		step: Callable = globals()[function]
		t0 = time.monotonic()
		try:
			step(sweep_bench=bench_turn) if name == "evidence" else step()
			frappe.db.commit()  # each step its own transaction: a later step's failure keeps it
		except Exception:
			frappe.db.rollback()
			failed.append(name)
			frappe.log_error(title=f"erp_ops tick: {name} failed")
		timings[name] = round(time.monotonic() - t0, 4)
	timings["tick"] = round(time.monotonic() - started, 4)
	# erp_ops_tick_duration_seconds{task=<step>|tick} (core/signals/ticks.py), one round trip.
	ticks.record_many(conn, bench_id, frappe.local.site, timings)
	if failed:
		frappe.logger("erp_ops").warning(f"erp_ops tick: failed steps {failed}")
	return timings


def flush_job_evidence(sweep_bench: bool = True) -> None:
	"""Move Job Evidence from the bench's Redis stream into the database (with `sweep_bench`, first
	record the bench's abandoned jobs), then apply the poison rule and the retry policy to the
	failures it brought in."""
	from erp_ops.site.control import apply_failure_policy

	result = flush_evidence(sweep_bench=sweep_bench)
	if result and (result.inserted or result.malformed):
		frappe.logger("erp_ops").info(f"Job Evidence flush: {result.model_dump_json()}")
	applied = apply_failure_policy()
	if any(applied.values()):
		frappe.logger("erp_ops").info(f"Failure policy: {applied}")


def run_due_retries() -> None:
	"""Retry the failed jobs whose automatic retry is due."""
	from erp_ops.site.control import run_due_retries as run

	run()


def sweep_action_intents() -> None:
	"""Every minute: intents (`started` log rows) whose actor died get their completion, "unknown",
	with the job's actual state."""
	from erp_ops.site.control import sweep_action_intents as sweep

	swept = sweep()
	if swept:
		frappe.logger("erp_ops").warning(f"Ops Action Log: {len(swept)} intent(s) completed as unknown")


def finish_stopped_cancels() -> None:
	"""Complete cancels of started jobs that their worker has now stopped."""
	from erp_ops.site.control import finish_stopped_cancels as finish

	finish()


def sync_quarantine_records() -> None:
	"""A Quarantine record for every quarantined job that has none."""
	from erp_ops.site.control import sync_quarantine

	sync_quarantine()


def summarise_denials() -> None:
	"""One Ops Action Log row per user without an Ops role for each closed window in which they
	were denied more than once (their first denial has its own row)."""
	from erp_ops.site.audit import summarise_denials as summarise

	summarise()


def purge_job_evidence() -> int:
	"""Daily: delete Job Evidence older than Ops Settings' retention; return how many rows."""
	days = get_retention_days()
	removed = purge_evidence(days)
	frappe.logger("erp_ops").info(f"Job Evidence purge: removed {removed} row(s) older than {days} day(s)")
	return removed


def verify_action_log() -> bool:
	"""Daily: check the Ops Action Log's hash chain; an Error Log and a notification if it broke."""
	from erp_ops.site.audit import report_broken_chain, verify_log

	verdict = verify_log()
	if not verdict.ok:
		report_broken_chain(verdict)
	return verdict.ok


def mark_runbooks_for_review() -> int:
	"""Daily: Active runbooks past their review date turn Needs Review, with a ToDo for their owner."""
	from erp_ops.site.runbooks import mark_for_review

	marked = mark_for_review()
	if marked:
		frappe.logger("erp_ops").info(f"Runbooks marked Needs Review: {', '.join(marked)}")
	return len(marked)


# Restore drills (issue 6) ---------------------------------------------------------------------------


def maybe_start_restore_drill(now=None) -> str | None:
	"""Settle drills that were lost (their job or worker gone), then queue a
	drill when Ops Settings' cron is due (system time zone) and no drill of the site holds its
	lock; the Restore Drill queued, else None."""
	from croniter import croniter

	from erp_ops.core.drills import drill_due
	from erp_ops.site.drills import DRILL_DOCTYPE, drill_settings, lock_held, queue_drill, settle_lost_drills

	lost = settle_lost_drills(now)
	if lost:
		frappe.logger("erp_ops").warning(f"Restore drills lost and marked Failed: {', '.join(lost)}")
	settings = drill_settings()
	if not settings.enabled or not croniter.is_valid(settings.cron):
		return None
	last = frappe.db.get_value(
		DRILL_DOCTYPE, {"triggered_by": "Scheduler"}, "creation", order_by="creation desc"
	)
	now = now or frappe.utils.now_datetime()
	if not drill_due(settings.cron, frappe.utils.get_datetime(last) if last else None, now):
		return None
	if lock_held():
		frappe.logger("erp_ops").info("restore drill due, but one is running: not queued")
		return None
	name, job_id = queue_drill("Scheduler", "Administrator")
	return name if job_id else None


def record_backup_manifests() -> list[str]:
	"""Hourly: a manifest (checksums, counts, hash-chain link) for every new backup set."""
	from erp_ops.site.backups import record_new_manifests

	return record_new_manifests()


def restore_drill_daily() -> dict:
	"""Daily: alert the Ops Managers when no drill passed within the limit; retention; chain check."""
	from erp_ops.site.backups import alert_if_stale, daily_retention_and_chain

	told = alert_if_stale()
	return {"alerted": told, **daily_retention_and_chain()}


# Integration events ------------------------------------------------------------------------------


def process_integration_event(name: str) -> dict | None:
	"""Background job (job id = the event's name): process one stored event, at most once."""
	from erp_ops.site.events import process

	result = process(name)
	return result.model_dump(mode="json") if result else None


def recover_integration_events() -> int:
	"""Enqueue events never picked up and those whose worker died mid-way."""
	from erp_ops.site.events import recover

	names = recover()
	if names:
		frappe.logger("erp_ops").info(f"Integration events re-enqueued: {', '.join(names)}")
	return len(names)


def purge_integration_events() -> int:
	"""Daily: delete integration events past Ops Settings' retention; their keys may be used again."""
	from erp_ops.site.events import purge

	result = purge()
	frappe.logger("erp_ops").info(
		f"Integration event purge: removed {result.deleted} event(s) received before {result.cutoff}"
	)
	return result.deleted


def evaluate_alerts() -> int:
	"""The site's alert rules over the cached snapshot; transitions become Ops Alerts
	and notifications. Returns how many alerts are firing."""
	from erp_ops.site.alerts import evaluate_site

	result = evaluate_site()
	if result is None:
		return 0
	if result.skipped:
		frappe.logger("erp_ops").info(f"Alert rules skipped: {result.skipped}")
	return sum(1 for a in result.alerts if a.status.value == "firing")

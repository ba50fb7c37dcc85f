"""The Ops Console's view: everything the page shows, built for one GET (api/console.state).

Built from the cached snapshot (`site.signals.site_snapshot`, a few seconds old) and a handful of
indexed queries (firing alerts, the newest Action Log rows, failures of the last hour, the last
drill and preflight). It reads only: nothing is enqueued, nothing is written to the database; the
only write is the small Redis hash that remembers since when each finding has been seen.

The snapshot's fields are read in ONE place, the `*_rows` functions below ("mapping"): when the
snapshot gains a field (per-site queue figures, the true oldest job, dead workers' jobs), wire it
there and the page follows.
"""

from datetime import datetime, timezone

import frappe
from frappe import _
from frappe.utils import add_to_date, get_bench_id, now_datetime
from frappe.utils.background_jobs import get_redis_conn
from redis.exceptions import RedisError

from erp_ops.core import rq_keys
from erp_ops.core.evidence.capture import FAILED_OUTCOMES
from erp_ops.core.signals.models import Severity, Snapshot, WorkerStatus
from erp_ops.site.signals import site_snapshot

ALERT_DOCTYPE = "Ops Alert"
LOG_DOCTYPE = "Ops Action Log"
EVIDENCE_DOCTYPE = "Job Evidence"
PREFLIGHT_DOCTYPE = "Upgrade Preflight"
DRILL_DOCTYPE = "Restore Drill"
LOG_ROWS = 10
FAILURE_ROWS = 10
ALERT_ROWS = 50
SEEN_KEY = "erp_ops:{bench}:console:seen:{site}"
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2, "ok": 3}

# Which runbook answers a snapshot finding (the seeded runbooks, docs/runbooks.md).
FINDING_RUNBOOKS = {
	"redis_unreachable": "RB-WORKER-DOWN",
	"worker_dead": "RB-WORKER-DOWN",
	"queue_unserved": "RB-WORKER-DOWN",
	"oldest_job_age": "RB-QUEUE-BACKLOG",
	"job_past_timeout": "RB-JOB-TIMEOUT",
	"job_abandoned": "RB-WORKER-DOWN",
	"failure_rate": "RB-POISON-JOB",
	"scheduler": "RB-SCHEDULER-INACTIVE",
	"evidence_backlog": "RB-SCHEDULER-INACTIVE",
	"disk_headroom": "RB-DISK-HEADROOM",
	"drill": "RB-RESTORE-DRILL-FAILED",
	"preflight": "RB-MIGRATE-FAILED",
}


def build(snap: Snapshot | None = None) -> dict:
	"""The console for the current site, without what the caller may do (the endpoint adds that;
	the benchmark times this)."""
	site = frappe.local.site
	snap = snap or site_snapshot()
	failed_1h = failed_last_hour_by_queue()
	alerts = alert_rows()
	recovery = recovery_rows()
	findings = finding_rows(snap, site) + alert_findings(alerts, site) + recovery_findings(recovery, site)
	stamp_ages(findings, site)
	findings.sort(key=lambda f: (SEVERITY_ORDER.get(f["severity"], 9), -(f["age_s"] or 0)))
	worst = findings[0]["severity"] if findings else "ok"
	return {
		"site": site,
		"taken_at": snap.taken_at.isoformat(),
		"snapshot_age_s": round(max(0.0, (datetime.now(timezone.utc) - snap.taken_at).total_seconds()), 1),
		"redis_ok": snap.redis_ok,
		"verdict": worst if worst in ("critical", "warning") else "ok",
		"findings": findings,
		"queues": queue_rows(snap, site, failed_1h),
		"workers": worker_rows(snap),
		"running": started_rows(snap, site),
		"schedulers": scheduler_rows(snap, site),
		"alerts": alerts,
		"failures": failure_rows(),
		"log": log_rows(),
		"recovery": recovery,
	}


# Mapping: the snapshot's fields → the page's rows -----------------------------------------------


def queue_rows(snap: Snapshot, site: str, failed_1h: dict[str, int]) -> list[dict]:
	"""One row per queue; `site` None where the figure is the bench's (all sites together).

	Rows of this site come first once the snapshot has per-site figures.
	"""
	bench = snap.bench_id
	rows = [
		{
			"queue": q.short_name,
			"rq_name": q.name,
			"site": None,
			"queued": q.queued,
			"oldest_age_s": q.oldest_queued_age_s,
			"oldest_job_id": q.oldest_queued_job_id,
			"started": max(0, q.started - q.expired_started),
			"abandoned": q.expired_started,
			"failed": q.failed,
			"failed_1h": failed_1h.get(q.name, 0) + failed_1h.get(q.short_name, 0),
			"workers": q.workers,
			"running_past_timeout": q.running_past_timeout,
		}
		for q in snap.queues
		if q.name.startswith(f"{bench}:") or q.name == q.short_name
	]
	rows.sort(key=lambda r: (r["site"] != site, r["site"] or "", r["queue"]))
	return rows


def worker_rows(snap: Snapshot) -> list[dict]:
	"""Workers, dead ones first, each with the job it is running (or held when it died)."""
	held: dict[str, list[dict]] = {}
	for job in snap.started_jobs:
		if job.worker:
			held.setdefault(job.worker, []).append(
				{"job_id": job.job_id, "method": job.method, "site": job.site, "elapsed_s": job.elapsed_s}
			)
	rows = []
	for w in snap.workers:
		jobs = held.get(w.name, [])
		current = next((j for j in jobs if j["job_id"] == w.current_job), None)
		dead = w.status is WorkerStatus.DEAD
		rows.append(
			{
				"name": w.name,
				"status": w.status.value,
				"state": w.state,
				"queues": [rq_keys.queue_short_name(q, snap.bench_id) for q in w.queues],
				"hostname": w.hostname,
				"pid": w.pid,
				"current_job": w.current_job,
				"current_method": current["method"] if current else None,
				"running_s": current["elapsed_s"] if current else None,
				"heartbeat_age_s": w.heartbeat_age_s,
				"rss_bytes": w.rss_bytes,
				"cpu_percent": w.cpu_percent,
				"dead_reason": w.dead_reason,
				"held": jobs if dead else [],
			}
		)
	rows.sort(key=lambda r: (r["status"] != WorkerStatus.DEAD.value, r["name"]))
	return rows


def started_rows(snap: Snapshot, site: str) -> list[dict]:
	"""Jobs in a started registry (running, overdue or abandoned), this site's first."""
	rows = [
		{
			"job_id": j.job_id,
			"queue": rq_keys.queue_short_name(j.queue, snap.bench_id),
			"site": j.site,
			"method": j.method,
			"worker": j.worker,
			"elapsed_s": j.elapsed_s,
			"timeout_s": j.timeout_s,
			"overdue": j.overdue,
			"abandoned": j.abandoned,
			"abandoned_reason": j.abandoned_reason,
			"own_site": j.site == site,
		}
		for j in snap.started_jobs
	]
	rows.sort(key=lambda r: (not r["own_site"], not r["abandoned"], -(r["elapsed_s"] or 0)))
	return rows


def scheduler_rows(snap: Snapshot, site: str) -> list[dict]:
	rows = [
		{
			"site": s.site,
			"status": s.status.value,
			"severity": s.severity.value,
			"reason": s.reason,
			"last_tick": s.last_tick.isoformat() if s.last_tick else None,
			"overdue": len(s.overdue),
		}
		for s in snap.schedulers
	]
	rows.sort(key=lambda r: (r["site"] != site, r["site"]))
	return rows


def finding_rows(snap: Snapshot, site: str) -> list[dict]:
	"""The snapshot's findings in words; a scheduler finding concerns a site, the rest the bench."""
	return [
		{
			"key": f"{f.code}|{f.subject or ''}",
			"code": f.code,
			"severity": f.severity.value,
			"message": f.message,
			"subject": f.subject,
			"site": site if f.code == "scheduler" else None,
			"runbook": FINDING_RUNBOOKS.get(f.code),
			"age_s": None,
		}
		for f in snap.findings
		if f.severity is not Severity.OK
	]


# Queries (each on an indexed column, bounded) ----------------------------------------------------


def failed_last_hour_by_queue() -> dict[str, int]:
	"""This site's failed, timed-out and abandoned executions of the last hour, per queue."""
	since = add_to_date(now_datetime(), hours=-1)
	from frappe.query_builder.functions import Count

	evidence = frappe.qb.DocType(EVIDENCE_DOCTYPE)
	rows = (
		frappe.qb.from_(evidence)
		.select(evidence.queue, Count(evidence.name).as_("n"))
		.where(evidence.ended_at >= since)
		.where(evidence.outcome.isin(sorted(o.value for o in FAILED_OUTCOMES)))
		.groupby(evidence.queue)
	).run(as_dict=True)  # the query builder: v16 refuses SQL functions written in get_all's fields
	return {r.queue or "": r.n for r in rows}


def failure_rows() -> list[dict]:
	"""The newest failures of the last hour (Job Evidence), the jobs the page offers actions on."""
	since = add_to_date(now_datetime(), hours=-1)
	return [
		{**r, "ended_at": str(r.ended_at) if r.ended_at else None}
		for r in frappe.get_all(
			EVIDENCE_DOCTYPE,
			filters={"ended_at": (">=", since), "outcome": ("in", sorted(o.value for o in FAILED_OUTCOMES))},
			fields=["name", "job_id", "method", "queue", "outcome", "exc_type", "ended_at"],
			order_by="ended_at desc",
			limit=FAILURE_ROWS,
		)
	]


def alert_rows() -> list[dict]:
	rows = frappe.get_all(
		ALERT_DOCTYPE,
		filters={"status": ("in", ("Pending", "Firing"))},
		fields=[
			"name",
			"rule",
			"subject",
			"status",
			"severity",
			"runbook",
			"value",
			"threshold",
			"comparison",
			"signal",
			"fired_at",
			"pending_since",
			"acknowledged_by",
			"acknowledged_at",
		],
		order_by="modified desc",
		limit=ALERT_ROWS,
	)
	for r in rows:
		for field in ("fired_at", "pending_since", "acknowledged_at"):
			r[field] = str(r[field]) if r[field] else None
	return rows


def log_rows() -> list[dict]:
	rows = frappe.get_all(
		LOG_DOCTYPE,
		fields=[
			"name",
			"acted_at",
			"user",
			"action",
			"outcome",
			"dry_run",
			"targets",
			"reason",
			"state_after",
		],
		order_by="acted_at desc",
		limit=LOG_ROWS,
	)
	for r in rows:
		r["acted_at"] = str(r.acted_at) if r.acted_at else None
		r["targets"] = (r.targets or "")[:200]
		r["reason"] = (r.reason or "")[:200]
	return rows


def recovery_rows() -> dict:
	"""Last drill (with its verdict's colour), RPO/RTO, backups proven, last preflight."""
	from erp_ops.site.backups import health
	from erp_ops.site.drills import drill_history
	from erp_ops.site.preflight import latest

	drills = drill_history()
	state = health()
	last = drills["last"]
	preflight = latest()
	return {
		"drill": {
			"name": last.name if last else None,
			"outcome": last.outcome if last else None,
			"reason": last.reason if last else None,
			"started_at": str(last.started_at) if last and last.started_at else None,
			"age_s": _age(state.last_drill_at),
		},
		"rpo_s": state.rpo_s,
		"rto_s": state.rto_s,
		"backups": {"severity": state.severity.value, "message": state.message},
		"preflight": {
			"name": preflight.name,
			"verdict": preflight.verdict,
			"risk_score": preflight.risk_score,
		}
		if preflight
		else None,
	}


def alert_findings(alerts: list[dict], site: str) -> list[dict]:
	return [
		{
			"key": f"alert|{a['name']}",
			"code": "alert",
			"severity": a["severity"] if a["severity"] in ("critical", "warning") else "info",
			"message": _("Alert {0} is {1}: {2}").format(
				a["rule"], _(a["status"]).lower(), a["subject"] or a["signal"] or ""
			),
			"subject": a["name"],
			"site": site,
			"runbook": a["runbook"],
			"age_s": _site_age(a["fired_at"] or a["pending_since"]),
		}
		for a in alerts
		if not a["acknowledged_by"]
	]


def recovery_findings(recovery: dict, site: str) -> list[dict]:
	out = []
	backups = recovery["backups"]
	if backups["severity"] != "ok":
		out.append(
			{
				"key": "drill",
				"code": "drill",
				"severity": backups["severity"],
				"message": backups["message"],
				"subject": recovery["drill"]["name"],
				"site": site,
				"runbook": FINDING_RUNBOOKS["drill"],
				"age_s": recovery["drill"]["age_s"],
			}
		)
	preflight = recovery["preflight"]
	if preflight and preflight["verdict"] == "do_not_proceed":
		out.append(
			{
				"key": "preflight",
				"code": "preflight",
				"severity": "warning",
				"message": _("The last upgrade preflight says do not proceed (risk {0}).").format(
					preflight["risk_score"]
				),
				"subject": preflight["name"],
				"site": site,
				"runbook": FINDING_RUNBOOKS["preflight"],
				"age_s": None,
			}
		)
	return out


def stamp_ages(findings: list[dict], site: str) -> None:
	"""Fill `age_s` where none is known: how long the console has seen the finding (Redis hash).

	One round trip to read, one to add new findings and drop those that went away.
	"""
	now = datetime.now(timezone.utc).timestamp()
	key = SEEN_KEY.format(bench=get_bench_id(), site=site)
	try:
		conn = get_redis_conn()
		seen = {rq_keys.as_text(k): float(v) for k, v in conn.hgetall(key).items()}
		current = {f["key"] for f in findings}
		new = {k: now for k in current if k not in seen}
		gone = [k for k in seen if k not in current]
		if new or gone:
			pipe = conn.pipeline(transaction=False)
			if new:
				pipe.hset(key, mapping=new)
			if gone:
				pipe.hdel(key, *gone)
			pipe.expire(key, 7 * 86400)
			pipe.execute()
	except RedisError:
		return
	for f in findings:
		if f["age_s"] is None and f["key"] in seen:
			f["age_s"] = round(now - seen[f["key"]], 1)
		elif f["age_s"] is None:
			f["age_s"] = 0.0


def _age(value: datetime | None) -> float | None:
	if value is None:
		return None
	return round(max(0.0, (datetime.now(timezone.utc) - value).total_seconds()), 1)


def _site_age(value: str | None) -> float | None:
	"""Age of a naive site-time datetime string, as Frappe stores them."""
	if not value:
		return None
	return round(max(0.0, (now_datetime() - frappe.utils.get_datetime(value)).total_seconds()), 1)

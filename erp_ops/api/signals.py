"""Signals: the bench's snapshot as JSON, as Prometheus metrics, and as workspace number cards.

A site's users see the bench's queues, workers and host as aggregates, and job-level details
(job ids, started jobs, abandoned-job findings, file locks) of their own site only (`site_view`).
"""

from datetime import datetime, timezone

import frappe
from frappe import _
from frappe.utils import add_to_date, format_duration, get_bench_id, get_system_timezone, now_datetime
from frappe.utils.background_jobs import get_redis_conn
from werkzeug.wrappers import Response

from erp_ops.api import require_permission, text_card
from erp_ops.core.clock import from_site_time
from erp_ops.core.evidence.capture import FAILED_OUTCOMES
from erp_ops.core.rq_keys import split_frappe_job_id
from erp_ops.core.signals import exporter, prometheus, ticks
from erp_ops.core.signals.models import Snapshot, WorkerStatus
from erp_ops.site.signals import site_snapshot


def site_view(snap: Snapshot, site: str | None = None) -> Snapshot:
	"""The snapshot as one site's users may see it: counts stay the bench's; job ids, started
	jobs, file locks and the findings naming them only where they are this site's."""
	site = site or frappe.local.site

	def ours(job_id: str | None) -> bool:
		return bool(job_id) and split_frappe_job_id(job_id)[0] == site

	started = [j for j in snap.started_jobs if j.site == site or (j.site is None and ours(j.job_id))]
	locks = [lock for lock in snap.locks if lock.site == site]
	hidden = {j.job_id for j in snap.started_jobs if j not in started}
	hidden |= {lock.path for lock in snap.locks if lock not in locks}
	return snap.model_copy(
		update={
			"queues": [
				q if ours(q.oldest_queued_job_id) else q.model_copy(update={"oldest_queued_job_id": None})
				for q in snap.queues
			],
			"workers": [
				w if not w.current_job or ours(w.current_job) else w.model_copy(update={"current_job": None})
				for w in snap.workers
			],
			"started_jobs": started,
			"locks": locks,
			"findings": [f for f in snap.findings if f.subject not in hidden],
		}
	)


@frappe.whitelist(methods=["GET"])
def snapshot(fresh: bool = False) -> dict:
	"""The bench's queues, workers, scheduler (this site), locks, host and findings.

	Served from a cache a few seconds old (Ops Settings) unless `fresh` is set.
	"""
	require_permission("view")
	return site_view(site_snapshot(cache_seconds=0 if fresh else None)).model_dump(mode="json")


@frappe.whitelist(methods=["GET"])
def metrics() -> Response:
	"""Prometheus text exposition: the collector of `erp-ops exporter` with this site's scope (its
	scheduler diagnosis, drills, preflight, integration events, migrate; job ids only of this site).
	Scrape with an API key of an Ops Viewer (docs/monitoring.md)."""
	require_permission("view")
	response = Response(prometheus.render(site_view(site_snapshot()), site_metric_facts()))
	response.headers["Content-Type"] = prometheus.CONTENT_TYPE
	return response


def site_metric_facts() -> prometheus.MetricFacts:
	"""What only this site's database knows, for the metrics (docs/monitoring.md has the table)."""
	from erp_ops.site.alert_facts import drill_facts, integration_facts, migrate_facts
	from erp_ops.site.drills import drill_history
	from erp_ops.site.preflight import backup_path

	site, now = frappe.local.site, datetime.now(timezone.utc)
	conn, bench = get_redis_conn(), get_bench_id()

	def age_s(value) -> float:
		return max(0.0, (now - from_site_time(value, get_system_timezone())).total_seconds())

	alert_facts = {**drill_facts(site, now), **integration_facts(site), **migrate_facts(site, now)}
	last = drill_history()["last"]
	drill = None
	if last:
		stale_h = alert_facts.get(f"drill.{site}.age_hours")  # only while drills are scheduled
		drill = prometheus.DrillFacts(
			verdict=last.outcome,
			age_s=age_s(last.finished_at or last.started_at),
			rpo_s=last.rpo_s,
			rto_s=last.rto_s,
			last_success_age_s=None if stale_h is None else stale_h * 3600,
		)
	preflight = frappe.get_all(
		"Upgrade Preflight",
		fields=["verdict", "risk_score", "target", "generated_at", "creation"],
		order_by="creation desc",
		limit=1,
	)
	events = frappe.db.sql("select status, count(*) from `tabIntegration Event` group by status")
	migrate = alert_facts.get(f"migrate.{site}.failed")
	facts = prometheus.SiteMetricFacts(
		site=site,
		backup_age_s=exporter.backup_age_s(backup_path(), site, now),
		drill=drill,
		preflight=prometheus.PreflightFacts(
			verdict=preflight[0].verdict,
			score=preflight[0].risk_score or 0,
			age_s=age_s(preflight[0].generated_at or preflight[0].creation),
			target=str(preflight[0].target or ""),
		)
		if preflight
		else None,
		integration_events={status: int(n) for status, n in events},
		integration_conflicts_5m=int(alert_facts.get(f"integrations.{site}.conflicts_5m", 0)),
		migrate_failed=None if migrate is None else bool(migrate),
	)
	return prometheus.MetricFacts(
		sites=[facts],
		alerts=exporter.firing_alerts(conn, bench),
		ticks=ticks.read(conn, bench),
		now=now,
	)


# Number cards (type Custom): Frappe calls these with the card's `filters` and shows a plain
# value as it is, or a dict's `value` with its `fieldtype` and a `route` to open on click.


@frappe.whitelist(methods=["GET", "POST"])
def queued_jobs(filters: str | dict | list | None = None) -> dict | str:
	"""This site's queued jobs beside the bench's (every site's), e.g. "12 here of 340"."""
	require_permission("view")
	snap = site_snapshot()
	total = sum(q.queued for q in snap.queues)
	own = snap.site_figures.queued if snap.site_figures is not None else None
	if own is None:
		return {
			"value": total,
			"fieldtype": "Int",
			"route": ["List", "RQ Job"],
			"route_options": {"status": "queued"},
		}
	return text_card(_("{0} here of {1}").format(own, total), ["List", "RQ Job"])


@frappe.whitelist(methods=["GET", "POST"])
def oldest_queued_job_age(filters: str | dict | list | None = None) -> str:
	require_permission("view")
	ages = [q.oldest_queued_age_s for q in site_snapshot().queues if q.oldest_queued_age_s is not None]
	if not ages:
		return _("None waiting")
	return format_duration(int(max(ages))) or "0s"


@frappe.whitelist(methods=["GET", "POST"])
def failed_jobs_last_hour(filters: str | dict | list | None = None) -> dict:
	require_permission("view")
	since = add_to_date(now_datetime(), hours=-1)
	outcomes = sorted(outcome.value for outcome in FAILED_OUTCOMES)
	count = frappe.db.count("Job Evidence", {"outcome": ("in", outcomes), "ended_at": (">=", since)})
	return {
		"value": count,
		"fieldtype": "Int",
		"route": ["List", "Job Evidence"],
		"route_options": {"outcome": ["in", outcomes], "ended_at": [">=", str(since)]},
	}


@frappe.whitelist(methods=["GET", "POST"])
def workers_alive(filters: str | dict | list | None = None) -> dict:
	require_permission("view")
	workers = site_snapshot().workers
	return {
		"value": sum(1 for w in workers if w.status is WorkerStatus.ALIVE),
		"fieldtype": "Int",
		"route": ["List", "RQ Worker"],
	}


@frappe.whitelist(methods=["GET", "POST"])
def scheduler_status(filters: str | dict | list | None = None) -> str:
	require_permission("view")
	site = frappe.local.site
	scheduler = next((s for s in site_snapshot().schedulers if s.site == site), None)
	return _(scheduler.status.value.title()) if scheduler else _("Unknown")

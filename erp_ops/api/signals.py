"""Signals: the bench's snapshot as JSON, as Prometheus metrics, and as workspace number cards.

A site's users see the bench's queues, workers and host as aggregates, and job-level details
(job ids, started jobs, abandoned-job findings, file locks) of their own site only
(`core.signals.snapshot.site_view`).
"""

import frappe
from frappe import _
from frappe.utils import add_to_date, format_duration, now_datetime
from werkzeug.wrappers import Response

from erp_ops.api import require_permission, text_card
from erp_ops.core.evidence.capture import FAILED_OUTCOMES
from erp_ops.core.signals import prometheus
from erp_ops.core.signals.models import WorkerStatus
from erp_ops.core.signals.snapshot import site_view
from erp_ops.site.signals import site_metric_facts, site_snapshot


@frappe.whitelist(methods=["GET"])
def snapshot(fresh: bool = False) -> dict:
	"""The bench's queues, workers, scheduler (this site), locks, host and findings.

	Served from a cache a few seconds old (Ops Settings) unless `fresh` is set.
	"""
	require_permission("view")
	return site_view(site_snapshot(cache_seconds=0 if fresh else None), frappe.local.site).model_dump(
		mode="json"
	)


@frappe.whitelist(methods=["GET"])
def metrics() -> Response:
	"""Prometheus text exposition: the collector of `erp-ops exporter` with this site's scope (its
	scheduler diagnosis, drills, preflight, integration events, migrate; job ids only of this site).
	Scrape with an API key of an Ops Viewer (docs/monitoring.md)."""
	require_permission("view")
	response = Response(prometheus.render(site_view(site_snapshot(), frappe.local.site), site_metric_facts()))
	response.headers["Content-Type"] = prometheus.CONTENT_TYPE
	return response


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

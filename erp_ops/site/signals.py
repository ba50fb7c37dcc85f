"""What the core needs from a site, read from Frappe and handed over as plain data.

The core cannot read `Scheduled Job Type`, System Settings, site config or the database's open
transactions itself; this module does, and composes the current site's snapshot. It also reads
what only the site's database knows for the metrics (`site_metric_facts`: drills, preflight,
integration events, a failed migrate).
"""

import logging
import os
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import frappe
from frappe.utils import cint, get_bench_id, get_bench_path, get_datetime, get_system_timezone, now_datetime
from frappe.utils.background_jobs import get_redis_conn
from frappe.utils.scheduler import is_dormant

from erp_ops.core import signals
from erp_ops.core.clock import from_site_time
from erp_ops.core.signals.models import DbTransaction, ScheduledJobRow, SiteSchedulerFacts, Snapshot
from erp_ops.erp_ops.doctype.ops_settings.ops_settings import get_snapshot_cache_seconds, get_thresholds

if TYPE_CHECKING:
	from erp_ops.core.signals.prometheus import MetricFacts

log = logging.getLogger(__name__)

DEFAULT_SCHEDULER_INTERVAL_S = 240  # Frappe v15's default for "All" jobs
DB_TRANSACTIONS_LIMIT = 20

# Read only the longest-running transactions; innodb_trx is an in-memory table, so this is cheap.
_INNODB_TRX_SQL = """
	select
		trx.trx_id,
		trx.trx_state,
		timestampdiff(second, trx.trx_started, now()) as age_s,
		trx.trx_wait_started is not null as waiting_for_lock,
		left(trx.trx_query, 500) as query,
		proc.user
	from information_schema.innodb_trx trx
	left join information_schema.processlist proc on proc.id = trx.trx_mysql_thread_id
	order by trx.trx_started asc
	limit %(limit)s
"""


def scheduler_facts() -> SiteSchedulerFacts:
	"""The current site's scheduler settings and `Scheduled Job Type` rows, in site time."""
	conf = frappe.conf
	rows = frappe.get_all(
		"Scheduled Job Type",
		fields=["name", "method", "frequency", "cron_format", "last_execution", "creation", "stopped"],
		order_by="name asc",
	)
	return SiteSchedulerFacts(
		site=frappe.local.site,
		now=now_datetime(),
		enable_scheduler=bool(cint(frappe.db.get_single_value("System Settings", "enable_scheduler"))),
		pause_scheduler=bool(cint(conf.get("pause_scheduler"))),
		disable_scheduler=bool(cint(conf.get("disable_scheduler"))),
		maintenance_mode=bool(cint(conf.get("maintenance_mode"))),
		dormant=bool(is_dormant()),
		scheduler_interval_s=cint(conf.get("scheduler_interval")) or DEFAULT_SCHEDULER_INTERVAL_S,
		jobs=[
			ScheduledJobRow(
				name=row.name,
				method=row.method,
				frequency=row.frequency,
				cron_format=row.cron_format or None,
				last_execution=get_datetime(row.last_execution) if row.last_execution else None,
				creation=get_datetime(row.creation) if row.creation else None,
				stopped=bool(cint(row.stopped)),
			)
			for row in rows
		],
	)


def db_transactions(limit: int = DB_TRANSACTIONS_LIMIT) -> list[DbTransaction]:
	"""The oldest open InnoDB transactions; empty when the site's user may not see them.

	Reading other sessions' transactions needs the PROCESS privilege, which a site's database
	user often lacks; that is not an error worth failing a dashboard for.
	"""
	if frappe.db.db_type != "mariadb":
		return []
	try:
		rows = frappe.db.sql(_INNODB_TRX_SQL, {"limit": limit}, as_dict=True)
	except Exception as e:
		log.debug("erp_ops: cannot read information_schema.innodb_trx: %s", e)
		return []
	return [
		DbTransaction(
			id=str(row.trx_id),
			user=row.user,
			state=row.trx_state,
			age_s=float(row.age_s or 0),
			waiting_for_lock=bool(row.waiting_for_lock),
			query=row.query,
		)
		for row in rows
	]


def disk_paths() -> dict[str, str]:
	"""Where running out of disk hurts a bench: its folder, its sites, this site's backups."""
	return {
		"bench": os.path.abspath(get_bench_path()),
		"sites": os.path.abspath(frappe.local.sites_path),
		"backups": os.path.abspath(frappe.get_site_path("private", "backups")),
	}


def site_snapshot(*, cache_seconds: float | None = None) -> Snapshot:
	"""The bench's snapshot with the current site's scheduler and own job figures, cached per site.

	Several number cards on one workspace ask within a second; they share one read.
	"""
	return signals.snapshot(
		get_redis_conn(),
		get_bench_id(),
		# Callables: a cache hit costs no database reads.
		sites=lambda: [scheduler_facts()],
		sites_path=os.path.abspath(frappe.local.sites_path),
		disk_paths=disk_paths(),
		db_transactions=db_transactions,
		thresholds=get_thresholds(),
		cache_seconds=get_snapshot_cache_seconds() if cache_seconds is None else cache_seconds,
		cache_scope=f"site:{frappe.local.site}",
		site=frappe.local.site,
	)


def site_metric_facts() -> "MetricFacts":
	"""What only this site's database knows, for the metrics (docs/monitoring.md has the table)."""
	# Imported here: prometheus_client and the exporter cost ~0.14 s, and every process that reads
	# the snapshot (the tick, `bench ops status`) imports this module; only the metrics need them.
	from erp_ops.core.signals import exporter, prometheus, ticks
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

"""Figures for alert rules that the signals snapshot does not carry (hook `erp_ops_alert_facts`).

Read every minute by the alert evaluation, so each is one small indexed query:
- `drill.<site>.age_hours`: hours since the last passing restore drill (since the first drill
  when none passed yet); only while drills are enabled in Ops Settings, so a site that has not
  scheduled them is not paged about their age.
- `drill.<site>.failed`: 1 when the newest finished drill failed (also a drill run by hand).
- `integrations.<site>.conflicts_5m`: integration events refused as Conflict in the last 5 minutes.
- `migrate.<site>.failed`: 1 when the last `bench migrate` stopped before its after_migrate hooks
  (erp_ops/site/migrate.py); absent until a migrate has run with erp_ops installed.
"""

from datetime import datetime, timedelta, timezone

import frappe
from frappe.utils import get_system_timezone, now_datetime

from erp_ops.core.clock import from_site_time
from erp_ops.site.drills import DRILL_DOCTYPE, drill_history, drill_settings
from erp_ops.site.migrate import migrate_failed, read_marker

EVENT_DOCTYPE = "Integration Event"


def site_alert_facts(now: datetime | None = None) -> dict[str, float]:
	site = frappe.local.site
	now = now or datetime.now(timezone.utc)
	return {**drill_facts(site, now), **integration_facts(site), **migrate_facts(site, now)}


def drill_facts(site: str, now: datetime) -> dict[str, float]:
	history = drill_history()
	facts: dict[str, float] = {}
	if history["last"] is not None:  # a failed drill matters even when run by hand
		facts[f"drill.{site}.failed"] = float(history["last"].outcome == "Failed")
	if not drill_settings().enabled:
		return facts  # a site that has not scheduled drills is not paged about their age
	since = history["passed"].started_at if history["passed"] else _first_drill_started()
	if since:
		facts[f"drill.{site}.age_hours"] = max(
			0.0, (now - from_site_time(since, get_system_timezone())).total_seconds() / 3600
		)
	return facts


def integration_facts(site: str) -> dict[str, float]:
	since = now_datetime() - timedelta(minutes=5)
	conflicts = frappe.db.count(EVENT_DOCTYPE, {"status": "Conflict", "received_at": (">=", since)})
	return {f"integrations.{site}.conflicts_5m": float(conflicts)}


def migrate_facts(site: str, now: datetime) -> dict[str, float]:
	failed = migrate_failed(read_marker(), now)
	return {} if failed is None else {f"migrate.{site}.failed": float(failed)}


def _first_drill_started() -> datetime | None:
	return frappe.db.get_value(
		DRILL_DOCTYPE, {"started_at": ("is", "set")}, "started_at", order_by="started_at asc"
	)

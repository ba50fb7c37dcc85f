"""Figures for alert rules that the signals snapshot does not carry (hook `erp_ops_alert_facts`).

Read every minute by the alert evaluation, so each is one small indexed query:
- `drill.<site>.age_hours`: hours since the last passing restore drill (since the first drill
  when none passed yet); only while drills are enabled or have run, so a site that never set them
  up is not paged every minute.
- `drill.<site>.failed`: 1 when the newest finished drill failed.
- `integrations.<site>.conflicts_5m`: integration events refused as Conflict in the last 5 minutes.
"""

from datetime import datetime, timedelta, timezone

import frappe
from frappe.utils import now_datetime

from erp_ops.drill_site import DRILL_DOCTYPE, drill_history, drill_settings, site_time_to_utc

EVENT_DOCTYPE = "Integration Event"


def site_alert_facts(now: datetime | None = None) -> dict[str, float]:
	site = frappe.local.site
	now = now or datetime.now(timezone.utc)
	return {**drill_facts(site, now), **integration_facts(site)}


def drill_facts(site: str, now: datetime) -> dict[str, float]:
	history = drill_history()
	if not drill_settings().enabled and history["last"] is None:
		return {}
	since = history["passed"].started_at if history["passed"] else _first_drill_started()
	facts = {f"drill.{site}.failed": float(bool(history["last"]) and history["last"].outcome == "Failed")}
	if since:
		facts[f"drill.{site}.age_hours"] = max(0.0, (now - site_time_to_utc(since)).total_seconds() / 3600)
	return facts


def integration_facts(site: str) -> dict[str, float]:
	since = now_datetime() - timedelta(minutes=5)
	conflicts = frappe.db.count(EVENT_DOCTYPE, {"status": "Conflict", "received_at": (">=", since)})
	return {f"integrations.{site}.conflicts_5m": float(conflicts)}


def _first_drill_started() -> datetime | None:
	return frappe.db.get_value(
		DRILL_DOCTYPE, {"started_at": ("is", "set")}, "started_at", order_by="started_at asc"
	)

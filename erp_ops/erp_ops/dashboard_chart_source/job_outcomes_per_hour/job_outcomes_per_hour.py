# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

from datetime import datetime, timedelta

import frappe
from frappe.utils import cint, get_datetime, now_datetime

from erp_ops.api import require_permission
from erp_ops.core.evidence.capture import Outcome

DEFAULT_HOURS = 24
MAX_HOURS = 24 * 14


@frappe.whitelist(methods=["GET", "POST"])
def get(chart_name: str | None = None, filters: str | dict | None = None) -> dict:
	"""Job Evidence counted per hour (by `ended_at`, site time) and outcome, one bar per hour."""
	require_permission("view")
	filters = frappe.parse_json(filters) or {}
	hours = min(max(cint(filters.get("hours")) or DEFAULT_HOURS, 1), MAX_HOURS)
	end = now_datetime().replace(minute=0, second=0, microsecond=0)
	buckets = [end - timedelta(hours=i) for i in reversed(range(hours))]
	counts = count_by_hour(buckets[0])
	return {
		"labels": [
			bucket.strftime("%d %H:00") if hours > 24 else bucket.strftime("%H:00") for bucket in buckets
		],
		"datasets": [
			{"name": outcome.value, "values": [counts.get((bucket, outcome.value), 0) for bucket in buckets]}
			for outcome in Outcome
		],
	}


def count_by_hour(since: datetime) -> dict[tuple[datetime, str], int]:
	"""{(hour, outcome): count} of Job Evidence that ended at or after `since`, aggregated in SQL."""
	if frappe.db.db_type == "postgres":
		hour = "date_trunc('hour', ended_at)"
	else:
		hour = "str_to_date(date_format(ended_at, '%%Y-%%m-%%d %%H:00:00'), '%%Y-%%m-%%d %%H:%%i:%%s')"
	rows = frappe.db.sql(
		f"""
		select {hour} as hour, outcome, count(*) as runs
		from `tabJob Evidence`
		where ended_at >= %(since)s
		group by hour, outcome
		""",
		{"since": since},
	)
	return {(get_datetime(hour), outcome): cint(runs) for hour, outcome, runs in rows}

"""UTC and site time: the one place erp_ops converts between them.

RQ, Redis and the core keep aware UTC datetimes. Frappe stores a Datetime field as a naive value
in the site's system time zone (System Settings), and Desk sends and shows that. The Frappe layer
passes `frappe.utils.get_system_timezone()` as `time_zone`; the core never asks Frappe.
"""

from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

UTC = timezone.utc


@lru_cache(maxsize=16)
def zone(time_zone: str) -> ZoneInfo:
	"""The zone named `time_zone` (an IANA name such as "Asia/Kolkata"); ZoneInfoNotFoundError if unknown."""
	return ZoneInfo(time_zone)


def as_utc(value: datetime | None) -> datetime | None:
	"""Aware UTC. A naive value is taken as UTC already (what RQ and the core write)."""
	if value is None:
		return None
	return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def naive_utc(value: datetime | None) -> datetime | None:
	"""Naive UTC, for a column that stores UTC without a zone. A naive value is returned as it is."""
	if value is None or value.tzinfo is None:
		return value
	return value.astimezone(UTC).replace(tzinfo=None)


def from_timestamp(seconds: float) -> datetime:
	"""Aware UTC from Unix seconds."""
	return datetime.fromtimestamp(seconds, UTC)


def to_site_time(value: datetime | None, time_zone: str) -> datetime | None:
	"""The naive site-time value Frappe stores. A naive `value` is taken as UTC."""
	if value is None:
		return None
	return as_utc(value).astimezone(zone(time_zone)).replace(tzinfo=None)


def from_site_time(value: datetime | None, time_zone: str) -> datetime | None:
	"""Aware UTC from a site-time value (a Frappe Datetime field, a Desk filter). A naive `value` is
	site time; an aware one is converted as it is."""
	if value is None:
		return None
	if value.tzinfo is None:
		value = value.replace(tzinfo=zone(time_zone))
	return value.astimezone(UTC)

"""core/clock: UTC ↔ site time, checked against offsets written down by hand (not computed by zoneinfo)."""

from datetime import datetime, timedelta, timezone

import pytest

from erp_ops.core import clock

IST = timezone(timedelta(hours=5, minutes=30))  # India has had no DST since 1945


def test_utc_to_site_time_and_back_in_a_fixed_offset_zone():
	utc = datetime(2026, 12, 7, 18, 45, 30, 123456, tzinfo=timezone.utc)
	local = clock.to_site_time(utc, "Asia/Kolkata")
	assert local == datetime(2026, 12, 8, 0, 15, 30, 123456)  # 18:45 + 5:30, next day
	assert local.tzinfo is None  # what Frappe stores
	assert clock.from_site_time(local, "Asia/Kolkata") == utc


def test_naive_values_mean_utc_going_out_and_site_time_coming_in():
	naive = datetime(2026, 1, 15, 12, 0)
	assert clock.to_site_time(naive, "America/New_York") == datetime(2026, 1, 15, 7, 0)  # EST, -5
	assert clock.from_site_time(naive, "America/New_York") == datetime(2026, 1, 15, 17, 0, tzinfo=timezone.utc)


def test_an_aware_value_keeps_its_own_offset_whatever_the_site_zone():
	moment = datetime(2026, 7, 1, 9, 0, tzinfo=IST)
	assert clock.from_site_time(moment, "America/New_York") == datetime(2026, 7, 1, 3, 30, tzinfo=timezone.utc)
	assert clock.to_site_time(moment, "America/New_York") == datetime(2026, 6, 30, 23, 30)  # EDT, -4


def test_daylight_saving_changes_the_offset():
	# New York: EST (-5) until 2026-03-08 02:00, EDT (-4) after.
	before = datetime(2026, 3, 8, 6, 59, tzinfo=timezone.utc)
	after = datetime(2026, 3, 8, 7, 1, tzinfo=timezone.utc)
	assert clock.to_site_time(before, "America/New_York") == datetime(2026, 3, 8, 1, 59)
	assert clock.to_site_time(after, "America/New_York") == datetime(2026, 3, 8, 3, 1)


def test_none_passes_through_and_utc_helpers_agree():
	assert clock.to_site_time(None, "UTC") is None
	assert clock.from_site_time(None, "UTC") is None
	assert clock.as_utc(None) is None
	assert clock.naive_utc(None) is None
	aware = datetime(2026, 2, 1, 10, 0, tzinfo=IST)
	assert clock.naive_utc(aware) == datetime(2026, 2, 1, 4, 30)
	assert clock.as_utc(datetime(2026, 2, 1, 4, 30)) == datetime(2026, 2, 1, 4, 30, tzinfo=timezone.utc)
	assert clock.from_timestamp(0) == datetime(1970, 1, 1, tzinfo=timezone.utc)


def test_an_unknown_zone_is_an_error_not_utc():
	from zoneinfo import ZoneInfoNotFoundError

	with pytest.raises(ZoneInfoNotFoundError):
		clock.to_site_time(datetime(2026, 1, 1, tzinfo=timezone.utc), "Mars/Olympus_Mons")

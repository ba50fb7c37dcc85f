"""Review cadence: due dates, the day a runbook turns Needs Review, and recording a review."""

from datetime import date, datetime, timedelta, timezone

import pytest

from erp_ops.core.runbooks.errors import InvalidRunbook
from erp_ops.core.runbooks.models import Runbook, RunbookStatus
from erp_ops.core.runbooks.review import (
	is_past_due,
	next_review_due,
	record_review,
	review_status,
	reviews_due,
)

ACTIVE, NEEDS, DRAFT, RETIRED = (
	RunbookStatus.ACTIVE,
	RunbookStatus.NEEDS_REVIEW,
	RunbookStatus.DRAFT,
	RunbookStatus.RETIRED,
)


def test_due_is_last_reviewed_plus_cadence_across_month_year_and_leap_day():
	assert next_review_due(date(2026, 3, 1), 30) == date(2026, 3, 31)
	assert next_review_due(date(2026, 12, 15), 30) == date(2027, 1, 14)
	assert next_review_due(date(2028, 2, 28), 1) == date(2028, 2, 29)  # leap year
	assert next_review_due(date(2027, 2, 28), 1) == date(2027, 3, 1)
	assert next_review_due(date(2026, 1, 31), 365) == date(2027, 1, 31)


def test_datetimes_and_iso_strings_count_by_their_calendar_day():
	late = datetime(2026, 3, 1, 23, 59, 59, tzinfo=timezone.utc)
	assert next_review_due(late, 30) == date(2026, 3, 31)
	assert next_review_due("2026-03-01", 30) == date(2026, 3, 31)
	assert next_review_due("2026-03-01 08:00:00", 30) == date(2026, 3, 31)
	with pytest.raises(InvalidRunbook):
		next_review_due("yesterday", 30)


def test_never_reviewed_counts_from_creation_and_without_either_is_due_now():
	assert next_review_due(None, 90, created=date(2026, 1, 1)) == date(2026, 4, 1)
	assert next_review_due(date(2026, 2, 1), 90, created=date(2026, 1, 1)) == date(2026, 5, 2)
	assert next_review_due(None, 90) is None
	assert is_past_due(None, date(2026, 1, 1)) is True


@pytest.mark.parametrize("cadence", [0, -5, 3651, 1.5, True, "30"])
def test_bad_cadence_is_rejected(cadence):
	with pytest.raises(InvalidRunbook):
		next_review_due(date(2026, 1, 1), cadence)
	assert InvalidRunbook.http_status == 422


def test_due_on_the_due_date_and_past_due_the_day_after():
	reviewed = date(2026, 3, 1)
	due = date(2026, 3, 31)
	assert review_status(ACTIVE, reviewed, 30, due - timedelta(days=1)) is ACTIVE
	assert review_status(ACTIVE, reviewed, 30, due) is ACTIVE
	assert review_status(ACTIVE, reviewed, 30, due + timedelta(days=1)) is NEEDS
	# A cadence of one day: reviewed today, due tomorrow, needs review the day after.
	assert review_status(ACTIVE, date(2026, 5, 5), 1, date(2026, 5, 6)) is ACTIVE
	assert review_status(ACTIVE, date(2026, 5, 5), 1, date(2026, 5, 7)) is NEEDS


def test_draft_retired_and_needs_review_are_left_alone():
	long_ago = date(2020, 1, 1)
	today = date(2026, 1, 1)
	assert review_status(DRAFT, long_ago, 30, today) is DRAFT
	assert review_status(RETIRED, long_ago, 30, today) is RETIRED
	assert review_status("Needs Review", today, 30, today) is NEEDS  # only a review clears it
	assert review_status("Active", None, 30, today) is NEEDS  # never reviewed, no creation date


def test_reviews_due_lists_active_overdue_runbooks_most_overdue_first():
	def rb(name, status, last, cadence=30, owner="ops@example.com"):
		return Runbook(
			name=name,
			title=f"Runbook {name}",
			area="Queues",
			status=status,
			last_reviewed=last,
			review_cadence_days=cadence,
			owner=owner,
		)

	today = date(2026, 6, 1)
	runbooks = [
		rb("fresh", ACTIVE, date(2026, 5, 20)),
		rb("due-today", ACTIVE, date(2026, 5, 2)),
		rb("a-day-late", ACTIVE, date(2026, 5, 1)),
		rb("very-late", ACTIVE, date(2025, 1, 1), owner=None),
		rb("draft", DRAFT, date(2020, 1, 1)),
		rb("already", NEEDS, date(2020, 1, 1)),
		rb("never", ACTIVE, None),
		rb("new", ACTIVE, None),
	]
	due = reviews_due(runbooks, today, created={"new": date(2026, 5, 15)})
	assert [d.name for d in due] == ["very-late", "a-day-late", "never"]
	assert due[0].days_overdue == (today - date(2025, 1, 31)).days and due[0].owner is None
	assert due[1].days_overdue == 1 and due[1].next_review_due == date(2026, 5, 31)
	assert due[2].days_overdue == 0 and due[2].next_review_due == today


def test_recording_a_review_resets_the_clock():
	outcome = record_review(NEEDS, 90, date(2026, 6, 1))
	assert outcome.status is ACTIVE
	assert outcome.last_reviewed == date(2026, 6, 1)
	assert outcome.next_review_due == date(2026, 8, 30)
	assert review_status(outcome.status, outcome.last_reviewed, 90, outcome.next_review_due) is ACTIVE
	assert record_review(DRAFT, 90, date(2026, 6, 1)).status is DRAFT
	with pytest.raises(InvalidRunbook):
		record_review(RETIRED, 90, date(2026, 6, 1))

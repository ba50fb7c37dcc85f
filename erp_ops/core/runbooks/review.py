"""Review cadence: when a runbook is next due for review, and which ones are past due.

Dates are calendar dates in the site's time zone: the Frappe layer passes `frappe.utils.getdate()`
as `today`. A runbook is due ON its due date and past due from the day after, so a 30-day cadence
reviewed on 1 March is due on 31 March and turns Needs Review on 1 April. A runbook never reviewed
counts from the day it was created; one with neither date is due at once.
"""

from datetime import date, datetime, timedelta

from erp_ops.core.models import Frozen
from erp_ops.core.runbooks.errors import InvalidRunbook
from erp_ops.core.runbooks.models import Runbook, RunbookStatus

MAX_CADENCE_DAYS = 3650


class ReviewDue(Frozen):
	"""A runbook past its review date: mark it Needs Review and tell its owner."""

	name: str
	title: str
	owner: str | None
	next_review_due: date
	days_overdue: int
	status_before: RunbookStatus


class ReviewOutcome(Frozen):
	"""What recording a review changes on the runbook."""

	last_reviewed: date
	next_review_due: date
	status: RunbookStatus


def as_date(value: date | datetime | str) -> date:
	"""A date from a date, a datetime (its calendar day as given) or an ISO string."""
	if isinstance(value, datetime):
		return value.date()
	if isinstance(value, date):
		return value
	if isinstance(value, str):
		try:
			return datetime.fromisoformat(value.strip()).date()
		except ValueError as e:
			raise InvalidRunbook(f"not a date: {value!r}") from e
	raise InvalidRunbook(f"not a date: {value!r}")


def next_review_due(
	last_reviewed: date | datetime | str | None,
	cadence_days: int,
	*,
	created: date | datetime | str | None = None,
) -> date | None:
	"""Last reviewed (or created) plus the cadence; None when there is neither date."""
	if isinstance(cadence_days, bool) or not isinstance(cadence_days, int):
		raise InvalidRunbook(f"review cadence must be a whole number of days, got {cadence_days!r}")
	if not 1 <= cadence_days <= MAX_CADENCE_DAYS:
		raise InvalidRunbook(f"review cadence must be 1..{MAX_CADENCE_DAYS} days, got {cadence_days}")
	start = last_reviewed if last_reviewed is not None else created
	if start is None:
		return None
	return as_date(start) + timedelta(days=cadence_days)


def is_past_due(due: date | None, today: date | datetime | str) -> bool:
	"""True from the day after `due`; a runbook without a due date is past due."""
	return due is None or as_date(today) > due


def review_status(
	status: RunbookStatus | str,
	last_reviewed: date | datetime | str | None,
	cadence_days: int,
	today: date | datetime | str,
	*,
	created: date | datetime | str | None = None,
) -> RunbookStatus:
	"""The status a runbook should have today: Active turns Needs Review when past due.

	Draft and Retired are people's decisions and never change here; Needs Review stays until a
	review is recorded, even if someone moves the last-reviewed date by hand.
	"""
	status = RunbookStatus(status)
	if status is not RunbookStatus.ACTIVE:
		return status
	due = next_review_due(last_reviewed, cadence_days, created=created)
	return RunbookStatus.NEEDS_REVIEW if is_past_due(due, today) else RunbookStatus.ACTIVE


def reviews_due(
	runbooks: list[Runbook],
	today: date | datetime | str,
	*,
	created: dict[str, date | datetime | str] | None = None,
) -> list[ReviewDue]:
	"""Active runbooks past their review date, the most overdue first (the daily task's work list)."""
	today = as_date(today)
	created = created or {}
	out = []
	for rb in runbooks:
		# Only Active ones: a runbook already Needs Review was reported the day it turned.
		if rb.status is not RunbookStatus.ACTIVE:
			continue
		due = next_review_due(rb.last_reviewed, rb.review_cadence_days, created=created.get(rb.name))
		if not is_past_due(due, today):
			continue
		due = due or today
		out.append(
			ReviewDue(
				name=rb.name,
				title=rb.title,
				owner=rb.owner,
				next_review_due=due,
				days_overdue=(today - due).days,
				status_before=rb.status,
			)
		)
	return sorted(out, key=lambda r: (-r.days_overdue, r.name))


def record_review(
	status: RunbookStatus | str, cadence_days: int, reviewed_on: date | datetime | str
) -> ReviewOutcome:
	"""A review resets the clock and makes a Needs Review runbook Active again.

	A Draft stays Draft (reviewing is not publishing); a Retired runbook cannot be reviewed.
	"""
	status = RunbookStatus(status)
	if status is RunbookStatus.RETIRED:
		raise InvalidRunbook("a retired runbook is not reviewed: reactivate it first")
	reviewed = as_date(reviewed_on)
	due = next_review_due(reviewed, cadence_days)
	assert due is not None
	new_status = RunbookStatus.DRAFT if status is RunbookStatus.DRAFT else RunbookStatus.ACTIVE
	return ReviewOutcome(last_reviewed=reviewed, next_review_due=due, status=new_status)

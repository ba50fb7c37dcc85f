"""The range of every number an operator can give erp_ops, and the one validator for all of them.

A CLI option (`argtype`), an API argument and an Ops Settings field (`checked`) with the same
name share one entry of `BOUNDS`: a negative retention, `nan`, `inf` or `1e12` is refused with a
message naming the field and its range (InvalidInput: HTTP 422, exit 64), never used.
The checks are pydantic's constrained numbers (finite, `ge`/`le`), built once per name.
"""

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from erp_ops.core.errors import InvalidInput

DAY_S = 86_400
YEAR_S = 365 * DAY_S


@dataclass(frozen=True)
class Bound:
	lo: float
	hi: float
	integer: bool = False

	def annotated(self) -> Any:
		"""The pydantic type of a value in range (usable as a model field's annotation)."""
		if self.integer:
			return Annotated[int, Field(ge=self.lo, le=self.hi)]
		return Annotated[float, Field(ge=self.lo, le=self.hi, allow_inf_nan=False)]

	def describe(self) -> str:
		kind = "a whole number" if self.integer else "a number"
		return f"{kind} from {_num(self.lo)} to {_num(self.hi)}"


BOUNDS: dict[str, Bound] = {
	# Job control (CLI, API, Ops Settings)
	"older_than_days": Bound(1, 36_500),
	"purge_retention_days": Bound(1, 36_500, integer=True),
	"wait": Bound(0, 3_600),
	"approval_above": Bound(-1, 1_000_000, integer=True),  # -1: four eyes off
	"four_eyes_threshold": Bound(0, 1_000_000, integer=True),
	"batch": Bound(1, 100_000, integer=True),
	"bulk_batch_size": Bound(1, 100_000, integer=True),
	"bulk_token_ttl_min": Bound(1, 1_440, integer=True),
	"poison_threshold": Bound(1, 1_000, integer=True),
	"poison_window_min": Bound(1, 10_080, integer=True),
	"max_attempts": Bound(0, 1_000, integer=True),
	"base_delay_s": Bound(0, YEAR_S),
	"factor": Bound(1, 100),
	"max_delay_s": Bound(0, YEAR_S),
	"jitter": Bound(0, 1),
	# Signals' thresholds
	"cache_seconds": Bound(0, 3_600),
	"snapshot_cache_seconds": Bound(0, 3_600),
	"evidence_retention_days": Bound(1, 36_500, integer=True),
	"oldest_job_warning_s": Bound(0, YEAR_S),
	"oldest_job_critical_s": Bound(0, YEAR_S),
	"long_transaction_s": Bound(1, YEAR_S),
	"failure_rate_warning": Bound(0, 1),
	"failure_rate_min_jobs": Bound(1, 1_000_000, integer=True),
	"evidence_backlog_warning": Bound(1, 1_000_000_000, integer=True),
	"disk_free_warning_pct": Bound(0, 100),
	"disk_free_critical_pct": Bound(0, 100),
	# Preflight, drills, runbooks, alerts
	"target": Bound(1, 999, integer=True),
	"db_size_mb": Bound(0, 1_000_000_000),
	"tolerance": Bound(0, 0.99),
	"drill_time_limit": Bound(0, 7 * DAY_S, integer=True),  # 0: the default
	"drill_max_age_days": Bound(1, 3_650, integer=True),
	"drill_tolerance_pct": Bound(0, 99),
	"drill_db_port": Bound(0, 65_535, integer=True),  # 0: the default port
	"retention_daily": Bound(0, 10_000, integer=True),
	"retention_weekly": Bound(0, 10_000, integer=True),
	"retention_monthly": Bound(0, 10_000, integer=True),
	"limit": Bound(1, 1_000, integer=True),
	"fact": Bound(-1e15, 1e15),
	# Integration events
	"event_payload_limit_kb": Bound(1, 102_400, integer=True),
	"event_claim_ttl_s": Bound(1, DAY_S, integer=True),
	"event_retention_days": Bound(1, 36_500, integer=True),
	"event_done_cache_s": Bound(0, DAY_S, integer=True),
}


def checked(name: str, value: Any, label: str | None = None) -> int | float:
	"""`value` as the number `BOUNDS[name]` allows; InvalidInput naming the field and the range."""
	bound = BOUNDS[name]
	try:
		return _adapter(name).validate_python(value.strip() if isinstance(value, str) else value)
	except ValidationError:
		raise InvalidInput(f"{label or name} must be {bound.describe()}, got {value!r}") from None


def retention(name: str, days: Any, label: str | None = None) -> timedelta:
	"""A retention given in days, checked, as a timedelta."""
	return timedelta(days=checked(name, days, label))


def argtype(name: str) -> Callable[[str], int | float]:
	"""An argparse `type=` for the option: a bad value is a usage error naming the range."""

	def parse(text: str) -> int | float:
		try:
			return checked(name, text, "the value")
		except InvalidInput as exc:
			raise argparse.ArgumentTypeError(str(exc)) from None

	parse.__name__ = BOUNDS[name].describe()
	return parse


def annotated(name: str) -> Any:
	return BOUNDS[name].annotated()


@cache
def _adapter(name: str) -> TypeAdapter:
	return TypeAdapter(BOUNDS[name].annotated())


def _num(value: float) -> str:
	return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)

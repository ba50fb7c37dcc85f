# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

from dataclasses import dataclass
from datetime import timedelta

import frappe
from frappe import _
from frappe.model.document import Document

from erp_ops.core.control.models import RetryRule
from erp_ops.core.signals import Thresholds

DEFAULT_SNAPSHOT_CACHE_SECONDS = 5.0
DEFAULT_RETENTION_DAYS = 30


@dataclass(frozen=True)
class ControlSettings:
	"""What the control API and tasks read from Ops Settings, defaults filled in."""

	approval_above: int | None  # None: four eyes off
	batch: int
	token_ttl_s: int
	poison_threshold: int
	poison_window: timedelta
	purge_retention_days: int
	extra_secret_keys: tuple[str, ...]
	retry_rules: tuple[RetryRule, ...]


class OpsSettings(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from erp_ops.erp_ops.doctype.ops_retry_rule.ops_retry_rule import OpsRetryRule

		bulk_batch_size: DF.Int
		bulk_token_ttl_min: DF.Int
		disk_free_critical_pct: DF.Percent
		disk_free_warning_pct: DF.Percent
		drill_cron: DF.Data | None
		drill_db_host: DF.Data | None
		drill_db_password: DF.Password | None
		drill_db_port: DF.Int
		drill_db_user: DF.Data | None
		drill_max_age_days: DF.Int
		drill_require_files: DF.Check
		drill_time_limit: DF.Int
		drill_tolerance_pct: DF.Float
		drills_enabled: DF.Check
		event_claim_ttl_s: DF.Int
		event_done_cache_s: DF.Int
		event_payload_limit_kb: DF.Int
		event_process_inline: DF.Check
		event_retention_days: DF.Int
		evidence_backlog_warning: DF.Int
		evidence_retention_days: DF.Int
		failure_rate_min_jobs: DF.Int
		failure_rate_warning: DF.Float
		four_eyes: DF.Check
		four_eyes_threshold: DF.Int
		immutable_backups: DF.Check
		keep_own_job_evidence: DF.Check
		long_transaction_s: DF.Float
		manifest_enabled: DF.Check
		oldest_job_critical_s: DF.Float
		oldest_job_warning_s: DF.Float
		poison_threshold: DF.Int
		poison_window_min: DF.Int
		purge_retention_days: DF.Int
		redaction_extra_keys: DF.SmallText | None
		retention_apply: DF.Check
		retention_daily: DF.Int
		retention_enabled: DF.Check
		retention_monthly: DF.Int
		retention_weekly: DF.Int
		retry_rules: DF.Table[OpsRetryRule]
		snapshot_cache_seconds: DF.Float
	# end: auto-generated types

	def validate(self) -> None:
		self.validate_numbers()
		if self.oldest_job_critical_s < self.oldest_job_warning_s:
			frappe.throw(_("The critical age of the oldest queued job must not be below its warning age."))
		if self.disk_free_critical_pct > self.disk_free_warning_pct:
			frappe.throw(_("The critical free-disk percentage must not be above the warning one."))
		if not 0 <= self.failure_rate_warning <= 1:
			frappe.throw(_("The failure-rate warning is a share of runs between 0 and 1."))
		if self.poison_threshold is not None and self.poison_threshold < 1:
			frappe.throw(_("A job is poison after at least one failure: set the threshold to 1 or more."))
		for rule in self.retry_rules:
			if not 0 <= (rule.jitter or 0) <= 1:
				frappe.throw(_("Retry rule {0}: jitter is a share between 0 and 1.").format(rule.idx))
		self.validate_restore_drills()
		from erp_ops.site.drills import check_drill_db_change

		self.flags.drill_db_changed = check_drill_db_change(self)

	def on_update(self) -> None:
		if self.flags.drill_db_changed:
			from erp_ops.site.drills import log_drill_db_change

			log_drill_db_change(self, self.flags.drill_db_changed)

	def validate_numbers(self) -> None:
		"""Every number within its range (erp_ops.core.bounds, as the CLI and API check them)."""
		from erp_ops.core.bounds import BOUNDS, checked
		from erp_ops.core.errors import InvalidInput

		rows = [(self, None)] + [(rule, rule.idx) for rule in self.retry_rules]
		for doc, row in rows:
			for df in doc.meta.fields:
				if df.fieldname not in BOUNDS or doc.get(df.fieldname) is None:
					continue
				label = _(df.label) if row is None else _("Retry rule {0}: {1}").format(row, _(df.label))
				try:
					checked(df.fieldname, doc.get(df.fieldname), label)
				except InvalidInput as exc:
					frappe.throw(str(exc), title=_("Value out of range"))

	def validate_restore_drills(self) -> None:
		from erp_ops.core.drills import drill_due
		from erp_ops.core.errors import InvalidInput

		if self.drills_enabled or self.drill_cron:
			try:
				drill_due(self.drill_cron or "", None, frappe.utils.now_datetime())
			except InvalidInput as exc:
				frappe.throw(_("Drill schedule: {0}").format(exc))
		if self.drill_time_limit and self.drill_time_limit < 60:
			frappe.throw(_("A restore drill needs a time limit of at least 60 seconds."))
		if not 0 <= (self.drill_tolerance_pct or 0) < 100:
			frappe.throw(_("The row count tolerance is a percentage below 100."))


def get_thresholds() -> Thresholds:
	"""The core's thresholds from Ops Settings; a value never saved keeps the core's default."""
	settings = frappe.get_cached_doc("Ops Settings")
	values = {name: settings.get(name) for name in Thresholds.model_fields}
	return Thresholds(**{name: value for name, value in values.items() if value is not None})


def get_snapshot_cache_seconds() -> float:
	value = frappe.get_cached_doc("Ops Settings").get("snapshot_cache_seconds")
	return DEFAULT_SNAPSHOT_CACHE_SECONDS if value is None else float(value)


def get_retention_days() -> int:
	value = frappe.get_cached_doc("Ops Settings").get("evidence_retention_days")
	return DEFAULT_RETENTION_DAYS if value is None else int(value)


def get_control_settings() -> ControlSettings:
	settings = frappe.get_cached_doc("Ops Settings")

	def number(field: str, default: int) -> int:
		value = settings.get(field)
		return default if value in (None, "") else int(value)

	four_eyes = settings.get("four_eyes")
	return ControlSettings(
		approval_above=number("four_eyes_threshold", 500) if four_eyes in (None, 1, "1") else None,
		batch=max(number("bulk_batch_size", 500), 1),
		token_ttl_s=max(number("bulk_token_ttl_min", 15), 1) * 60,
		poison_threshold=max(number("poison_threshold", 3), 1),
		poison_window=timedelta(minutes=max(number("poison_window_min", 60), 1)),
		purge_retention_days=number("purge_retention_days", 7),
		extra_secret_keys=tuple(
			k.strip() for k in (settings.get("redaction_extra_keys") or "").splitlines() if k.strip()
		),
		retry_rules=tuple(
			RetryRule(
				method=(r.method or "").strip() or None,
				exc_type=(r.exc_type or "").strip() or None,
				max_attempts=r.max_attempts if r.max_attempts is not None else 3,
				base_delay_s=r.base_delay_s if r.base_delay_s is not None else 30.0,
				factor=r.factor if r.factor is not None else 2.0,
				max_delay_s=r.max_delay_s if r.max_delay_s is not None else 3600.0,
				jitter=r.jitter if r.jitter is not None else 0.5,
				quarantine_after=bool(r.quarantine_after),
			)
			for r in settings.get("retry_rules") or []
		),
	)

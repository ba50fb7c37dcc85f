# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document

from erp_ops.core.signals import Thresholds

DEFAULT_SNAPSHOT_CACHE_SECONDS = 5.0
DEFAULT_RETENTION_DAYS = 30


class OpsSettings(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		disk_free_critical_pct: DF.Percent
		disk_free_warning_pct: DF.Percent
		evidence_backlog_warning: DF.Int
		evidence_retention_days: DF.Int
		failure_rate_min_jobs: DF.Int
		failure_rate_warning: DF.Float
		long_transaction_s: DF.Float
		oldest_job_critical_s: DF.Float
		oldest_job_warning_s: DF.Float
		snapshot_cache_seconds: DF.Float
	# end: auto-generated types

	def validate(self) -> None:
		if self.oldest_job_critical_s < self.oldest_job_warning_s:
			frappe.throw(_("The critical age of the oldest queued job must not be below its warning age."))
		if self.disk_free_critical_pct > self.disk_free_warning_pct:
			frappe.throw(_("The critical free-disk percentage must not be above the warning one."))
		if not 0 <= self.failure_rate_warning <= 1:
			frappe.throw(_("The failure-rate warning is a share of runs between 0 and 1."))


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

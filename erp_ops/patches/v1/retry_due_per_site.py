"""Retries scheduled before the due lists were per site (issue 19) wait in the bench-wide list,
which no site's tick reads any more: move this site's into its own list, with their times."""

import frappe
from frappe.utils import get_bench_id
from frappe.utils.background_jobs import get_redis_conn


def execute() -> None:
	from erp_ops.core.control.autoretry import adopt_bench_wide

	moved = adopt_bench_wide(get_redis_conn(), get_bench_id(), frappe.local.site)
	if moved:
		frappe.logger("erp_ops").info(f"retry schedule: {moved} retry(ies) moved to this site's list")

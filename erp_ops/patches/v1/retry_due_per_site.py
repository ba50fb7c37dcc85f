"""Retries scheduled before the due lists were per site (issue 19) wait in the bench-wide list,
which no site's tick reads any more: move this site's into its own list, with their times."""

import frappe
from frappe.utils import get_bench_id
from frappe.utils.background_jobs import get_redis_conn
from redis.exceptions import RedisError


def execute() -> None:
	from erp_ops.core.control.autoretry import adopt_bench_wide

	try:
		moved = adopt_bench_wide(get_redis_conn(), get_bench_id(), frappe.local.site)
	except RedisError:
		# A retry schedule must not stop a migrate: the jobs stay failed and visible, and the error
		# is kept for whoever looks (this site's own list holding something else, Redis gone).
		frappe.log_error(title="erp_ops: retry schedule not moved to this site's list")
		return
	if moved:
		frappe.logger("erp_ops").info(f"retry schedule: {moved} retry(ies) moved to this site's list")

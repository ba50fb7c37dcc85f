# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

"""An alert rule of the site: a snapshot figure, a threshold, damping, the runbook, who to notify.

`validate` builds the core rule, so what the evaluator would refuse is refused on save (422 with
the reason); the per-minute task reads the rules with one query (`site_alerts.load_rules`).
"""

import frappe
from frappe import _
from frappe.model.document import Document

from erp_ops.core.alerts.errors import InvalidRule
from erp_ops.core.alerts.notify import validate_webhook_url
from erp_ops.site.alerts import core_rule
from erp_ops.site.errors import OpsInvalidInput, core_errors


class OpsAlertRule(Document):
	# fmt: off
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		aggregate: DF.Literal["", "max", "min", "sum", "avg", "count"]
		clear_threshold: DF.Float
		comparison: DF.Literal[">", ">=", "<", "<=", "==", "!="]
		description: DF.SmallText | None
		enabled: DF.Check
		flap_limit: DF.Int
		flap_window_s: DF.Int
		for_s: DF.Int
		guard_comparison: DF.Literal[">", ">=", "<", "<=", "==", "!="]
		guard_signal: DF.Data | None
		guard_threshold: DF.Float
		notify_emails: DF.SmallText | None
		notify_roles: DF.SmallText | None
		notify_users: DF.SmallText | None
		renotify_s: DF.Int
		resolve_after_s: DF.Int
		rule_name: DF.Data
		runbook: DF.Link | None
		severity: DF.Literal["info", "warning", "critical"]
		signal: DF.Data
		threshold: DF.Float
		use_clear_threshold: DF.Check
		webhook_urls: DF.SmallText | None
	# end: auto-generated types
	# fmt: on

	def validate(self) -> None:
		with core_errors():
			try:
				rule = core_rule(self)
			except ValueError as e:  # pydantic's ValidationError: a figure out of its range
				raise InvalidRule(
					"; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
				) from e
			for url in rule.notify.webhooks:
				validate_webhook_url(url)
		for role in rule.notify.roles:
			if not frappe.db.exists("Role", role):
				frappe.throw(_("Role {0} does not exist").format(role), OpsInvalidInput)
		for user in rule.notify.users:
			if not frappe.db.exists("User", user):
				frappe.throw(_("User {0} does not exist").format(user), OpsInvalidInput)

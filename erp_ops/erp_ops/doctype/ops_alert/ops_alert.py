# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

"""One incident of an alert rule for one subject, as the evaluator saw it: the values that made it
fire, each transition (pending, fired, resolved, acknowledged, ...) and who acknowledged it.

Written only by `erp_ops.site.alerts` from the alert outbox; acknowledged through
`erp_ops.api.alerts.acknowledge`.
"""

from frappe.model.document import Document


class OpsAlert(Document):
	# fmt: off
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from erp_ops.erp_ops.doctype.ops_alert_transition.ops_alert_transition import OpsAlertTransition

		ack_note: DF.SmallText | None
		acknowledged_at: DF.Datetime | None
		acknowledged_by: DF.Link | None
		comparison: DF.Data | None
		evaluations: DF.Int
		fired_at: DF.Datetime | None
		flapping: DF.Check
		incident: DF.SmallText | None
		last_seen: DF.Datetime | None
		pending_since: DF.Datetime | None
		resolved_at: DF.Datetime | None
		rule: DF.Link | None
		runbook: DF.Link | None
		severity: DF.Literal["info", "warning", "critical"]
		signal: DF.Data | None
		status: DF.Literal["Pending", "Firing", "Resolved", "Canceled"]
		subject: DF.Data | None
		threshold: DF.Float
		transitions: DF.Table[OpsAlertTransition]
		trigger_value: DF.Float
		value: DF.Float
	# end: auto-generated types
	# fmt: on

	pass

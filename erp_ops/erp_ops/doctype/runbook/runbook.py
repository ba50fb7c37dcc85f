# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

"""A runbook: owned, reviewed on a cadence, searched through an index shared on the bench's Redis.

The core (`erp_ops.core.runbooks`) holds the rules: review dates, the search index and its Redis
cache. This controller maps the document to the core's `Runbook` shape and tells the cache about
changes once they are committed, so no process ever serves an index missing a committed change.
"""

import frappe
from frappe.model.document import Document
from frappe.utils import getdate

from erp_ops.core.runbooks.models import RunbookStatus
from erp_ops.core.runbooks.review import next_review_due, record_review
from erp_ops.site.errors import core_errors
from erp_ops.site.runbooks import SEARCHABLE, _after_commit, as_core


class Runbook(Document):
	# fmt: off
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from erp_ops.erp_ops.doctype.runbook_review.runbook_review import RunbookReview
		from erp_ops.erp_ops.doctype.runbook_signature.runbook_signature import RunbookSignature
		from erp_ops.erp_ops.doctype.runbook_step.runbook_step import RunbookStep

		area: DF.Literal["Queues", "Scheduler", "Workers", "Upgrades", "Recovery", "Integrations", "Infrastructure"]
		diagnosis: DF.Text | None
		escalation: DF.Text | None
		impact: DF.Text | None
		last_reviewed: DF.Date | None
		next_review_due: DF.Date | None
		review_cadence_days: DF.Int
		reviews: DF.Table[RunbookReview]
		rollback: DF.Text | None
		runbook_name: DF.Data
		runbook_owner: DF.Link | None
		severity: DF.Literal["Low", "Medium", "High", "Critical"]
		signatures: DF.Table[RunbookSignature]
		status: DF.Literal["Draft", "Active", "Needs Review", "Retired"]
		steps: DF.Table[RunbookStep]
		symptoms: DF.Text | None
		tags: DF.SmallText | None
		title: DF.Data
	# end: auto-generated types
	# fmt: on

	def validate(self) -> None:
		with core_errors():
			if (
				not self.is_new()
				and self.status == RunbookStatus.NEEDS_REVIEW.value
				and self.last_reviewed
				and self.has_value_changed("last_reviewed")
			):
				# A new review date is a recorded review: the runbook is current again.
				self.status = record_review(
					self.status, self.review_cadence_days, getdate(self.last_reviewed)
				).status.value
			due = next_review_due(
				getdate(self.last_reviewed) if self.last_reviewed else None,
				self.review_cadence_days,
				created=getdate(self.creation) if self.creation else getdate(),
			)
		self.next_review_due = due

	def on_update(self) -> None:
		upsert = as_core(self) if self.status in SEARCHABLE else None
		_after_commit(frappe.local.site, upsert=upsert, remove=None if upsert else self.name)

	def on_trash(self) -> None:
		_after_commit(frappe.local.site, upsert=None, remove=self.name)

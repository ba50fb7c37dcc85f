"""Runbooks: ranked search, review cadence, seeded runbooks and failure coverage, over plain data."""

from erp_ops.core.runbooks.models import Area, Runbook, RunbookSeverity, RunbookStatus, RunbookStep
from erp_ops.core.runbooks.review import next_review_due, record_review, review_status, reviews_due
from erp_ops.core.runbooks.search import SearchHit, SearchIndex, tokenize

__all__ = [
	"Area",
	"Runbook",
	"RunbookSeverity",
	"RunbookStatus",
	"RunbookStep",
	"SearchHit",
	"SearchIndex",
	"next_review_due",
	"record_review",
	"review_status",
	"reviews_due",
	"tokenize",
]

"""Recent failure signatures (method + exception type) that no runbook answers yet."""

from datetime import datetime, timedelta, timezone

from erp_ops.core.evidence.capture import Outcome
from erp_ops.core.evidence.records import EvidenceRecord
from erp_ops.core.runbooks.coverage import covers, failure_signatures
from erp_ops.core.runbooks.models import Runbook
from erp_ops.core.runbooks.seed import load_runbooks

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def record(n, method, outcome=Outcome.FAILED, exc=None, minutes_ago=1, site="a.local", message=None):
	return EvidenceRecord(
		job_id=f"{site}::{n}",
		site=site,
		method=method,
		outcome=outcome,
		exc_type=exc,
		exc_message=message,
		ended_at=NOW - timedelta(minutes=minutes_ago),
	)


def test_uncovered_signatures_are_grouped_counted_and_ordered():
	records = [
		record(1, "erpnext.stock.repost", exc="frappe.exceptions.ValidationError", message="old"),
		record(
			2,
			"erpnext.stock.repost",
			exc="frappe.exceptions.ValidationError",
			site="b.local",
			message="new",
			minutes_ago=0,
		),
		record(3, "erpnext.stock.repost", exc="frappe.exceptions.ValidationError", minutes_ago=5),
		record(4, "app.sync.pull", exc="requests.exceptions.ConnectionError"),
		record(5, "app.sync.pull", outcome=Outcome.SUCCESS),
		record(6, "app.report.build", outcome=Outcome.TIMED_OUT),  # seeded: JobTimeoutException
		record(7, "app.import.rows", outcome=Outcome.ABANDONED),  # seeded: worker down covers Abandoned
		record(8, "app.old.thing", exc="KeyError", minutes_ago=60 * 48),  # outside the window
	]
	found = failure_signatures(records, load_runbooks(), since=NOW - timedelta(hours=24))
	assert [(s.method, s.exc_type, s.count) for s in found] == [
		("erpnext.stock.repost", "frappe.exceptions.ValidationError", 3),
		("app.sync.pull", "requests.exceptions.ConnectionError", 1),
	]
	top = found[0]
	assert top.sites == ["a.local", "b.local"]
	assert top.sample_message == "new"
	assert top.first_seen == NOW - timedelta(minutes=5) and top.last_seen == NOW
	everything = failure_signatures(records, load_runbooks(), uncovered_only=False)
	covered = {(s.method, s.exc_type): s.runbooks for s in everything if s.runbooks}
	assert covered == {
		("app.report.build", "JobTimeoutException"): ["RB-JOB-TIMEOUT"],
		("app.import.rows", "Abandoned"): ["RB-WORKER-DOWN"],
	}


def test_method_patterns_short_exception_names_and_retired_runbooks():
	rb = Runbook(
		name="RB-X",
		title="Stock reposting",
		area="Queues",
		signatures=[{"method": "erpnext.stock.*", "exc_type": "ValidationError"}],
	)
	assert covers(rb, "erpnext.stock.repost", "frappe.exceptions.ValidationError")
	assert not covers(rb, "erpnext.accounts.post", "frappe.exceptions.ValidationError")
	assert not covers(rb, "erpnext.stock.repost", "KeyError")
	records = [record(1, "erpnext.stock.repost", exc="frappe.exceptions.ValidationError")]
	assert failure_signatures(records, [rb]) == []
	retired = Runbook.model_validate({**rb.model_dump(), "status": "Retired"})
	assert [s.method for s in failure_signatures(records, [retired])] == ["erpnext.stock.repost"]

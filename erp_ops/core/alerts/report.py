"""The coverage report: rules without a runbook, and recent failure signatures without one."""

from collections.abc import Iterable
from datetime import datetime

from erp_ops.core.alerts.models import AlertRule
from erp_ops.core.evidence.records import EvidenceRecord
from erp_ops.core.models import Frozen
from erp_ops.core.runbooks.coverage import FailureSignatureSummary, failure_signatures
from erp_ops.core.runbooks.models import Runbook, RunbookStatus


class RuleGap(Frozen):
	rule: str
	signal: str
	runbook: str | None
	problem: str


class CoverageReport(Frozen):
	rules: list[RuleGap]
	signatures: list[FailureSignatureSummary]


def coverage_report(
	rules: Iterable[AlertRule],
	runbooks: Iterable[Runbook],
	records: Iterable[EvidenceRecord],
	*,
	since: datetime | None = None,
) -> CoverageReport:
	"""Enabled rules whose runbook is missing, unknown or retired; failures no runbook answers."""
	runbooks = list(runbooks)
	by_name = {rb.name: rb for rb in runbooks}
	gaps = []
	for rule in rules:
		if not rule.enabled:
			continue
		if not rule.runbook:
			problem = "no runbook"
		elif rule.runbook not in by_name:
			problem = "runbook does not exist"
		elif by_name[rule.runbook].status is RunbookStatus.RETIRED:
			problem = "runbook is retired"
		else:
			continue
		gaps.append(RuleGap(rule=rule.name, signal=rule.signal, runbook=rule.runbook, problem=problem))
	return CoverageReport(rules=gaps, signatures=failure_signatures(records, runbooks, since=since))

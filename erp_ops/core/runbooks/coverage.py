"""Which recent failures have no runbook yet: signatures (method + exception type) from evidence."""

from collections.abc import Iterable
from datetime import datetime
from fnmatch import fnmatchcase

from erp_ops.core.evidence.capture import FAILED_OUTCOMES, Outcome
from erp_ops.core.evidence.records import EvidenceRecord
from erp_ops.core.models import Frozen
from erp_ops.core.runbooks.models import Runbook, RunbookStatus

NO_EXCEPTION = {Outcome.TIMED_OUT: "JobTimeoutException", Outcome.ABANDONED: "Abandoned"}


class FailureSignatureSummary(Frozen):
	method: str
	exc_type: str
	count: int
	sites: list[str]
	first_seen: datetime | None
	last_seen: datetime | None
	sample_message: str | None = None
	runbooks: list[str] = []


def signature_of(record: EvidenceRecord) -> tuple[str, str]:
	"""(method, exception type); a timeout or an abandoned job without exception gets a stand-in name."""
	exc = record.exc_type or NO_EXCEPTION.get(record.outcome) or "Unknown"
	return record.method or "?", exc


def covers(runbook: Runbook, method: str, exc_type: str) -> bool:
	"""True when one of the runbook's signatures matches; an exception type matches its last dotted
	part too, so `JobTimeoutException` covers `rq.timeouts.JobTimeoutException`."""
	short = exc_type.rpartition(".")[2]
	for sig in runbook.signatures:
		if not fnmatchcase(method, sig.method):
			continue
		if sig.exc_type is None or sig.exc_type in (exc_type, short):
			return True
	return False


def failure_signatures(
	records: Iterable[EvidenceRecord],
	runbooks: Iterable[Runbook],
	*,
	since: datetime | None = None,
	uncovered_only: bool = True,
) -> list[FailureSignatureSummary]:
	"""Failed, timed-out and abandoned executions grouped by signature, most frequent first.

	Retired runbooks do not count as coverage. `since` compares with `ended_at` (or `started_at`).
	"""
	live = [rb for rb in runbooks if rb.status is not RunbookStatus.RETIRED]
	groups: dict[tuple[str, str], list[EvidenceRecord]] = {}
	for record in records:
		if record.outcome not in FAILED_OUTCOMES:
			continue
		when = record.ended_at or record.started_at
		if since is not None and (when is None or when < since):
			continue
		groups.setdefault(signature_of(record), []).append(record)
	out = []
	for (method, exc), group in groups.items():
		names = sorted(rb.name for rb in live if covers(rb, method, exc))
		if uncovered_only and names:
			continue
		times = sorted(t for t in (r.ended_at or r.started_at for r in group) if t is not None)
		latest = max(group, key=_when)
		out.append(
			FailureSignatureSummary(
				method=method,
				exc_type=exc,
				count=len(group),
				sites=sorted({r.site for r in group if r.site}),
				first_seen=times[0] if times else None,
				last_seen=times[-1] if times else None,
				sample_message=latest.exc_message,
				runbooks=names,
			)
		)
	return sorted(out, key=lambda s: (-s.count, s.method, s.exc_type))


def _when(record: EvidenceRecord) -> float:
	when = record.ended_at or record.started_at
	return when.timestamp() if when else float("-inf")

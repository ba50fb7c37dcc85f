"""A report flattened into the rows of the `Upgrade Preflight` DocType and its findings table.

The Frappe layer does `frappe.get_doc({"doctype": "Upgrade Preflight", **record.model_dump()})`
and nothing else: field names, Select values and lengths are decided here, where they are tested
against a real MariaDB table with Frappe's column types.
"""

from erp_ops.core.clock import naive_utc
from erp_ops.core.models import Frozen
from erp_ops.core.preflight.models import PreflightReport
from erp_ops.core.preflight.render import to_json, to_markdown

DATA_LENGTH = 140  # Frappe's Data / Select / Link column: varchar(140)
SMALL_TEXT_LENGTH = 65_535  # Small Text / Text: MariaDB TEXT
FINDINGS_STORED = 2_000  # a bench with tens of thousands of matches keeps the first ones; the JSON keeps all


class PreflightFindingRow(Frozen):
	"""One row of `Upgrade Preflight Finding` (child table field `findings`)."""

	check_id: str
	severity: str
	title: str
	app: str | None
	file: str | None
	line: int | None
	evidence: str | None
	fix: str
	phase: str
	sources: str


class PreflightRecord(Frozen):
	"""The `Upgrade Preflight` document."""

	target: int
	jump: str
	rule_set: str
	verdict: str
	risk_score: int
	risk_band: str
	blockers: int
	high: int
	warnings: int
	bench_path: str
	site: str | None
	generated_at: str
	summary_md: str
	report_json: str
	findings: list[PreflightFindingRow]


def to_record(report: PreflightReport) -> PreflightRecord:
	"""Map a report onto the DocType's fields, cutting text to what each column holds."""
	ordered = sorted(
		report.findings,
		key=lambda f: (-f.severity.rank, f.check, f.evidence.file or "", f.evidence.line or 0),
	)
	rows = [
		PreflightFindingRow(
			check_id=_data(f.check),
			severity=f.severity.value,
			title=_text(f.title),
			app=_data(f.app) if f.app else None,
			file=_text(f.evidence.file) if f.evidence.file else None,
			line=f.evidence.line,
			evidence=_text(f.evidence.text or ", ".join(f"{k}={v}" for k, v in f.evidence.values.items()))
			or None,
			fix=_text(f.fix),
			phase=f.phase.value,
			sources=_text("\n".join(f.source)),
		)
		for f in ordered[:FINDINGS_STORED]
	]
	counts = report.risk.counts
	return PreflightRecord(
		target=report.target,
		jump=_data(report.jump),
		rule_set=_data(report.rule_set),
		verdict=report.verdict.value,
		risk_score=report.risk.score,
		risk_band=report.risk.band.value,
		blockers=counts.get("blocker", 0),
		high=counts.get("high", 0),
		warnings=counts.get("warning", 0),
		bench_path=_text(report.bench_path),
		site=_data(report.site.site) if report.site else None,
		# UTC, naive: the Frappe layer converts to the site's time zone (core/clock.to_site_time)
		generated_at=naive_utc(report.generated_at).isoformat(sep=" "),
		summary_md=to_markdown(report),
		report_json=to_json(report),
		findings=rows,
	)


def _data(text: str) -> str:
	return text if len(text) <= DATA_LENGTH else text[: DATA_LENGTH - 1] + "…"


def _text(text: str) -> str:
	# TEXT holds 65,535 bytes, not characters: cut by the UTF-8 length
	raw = text.encode("utf-8")
	return (
		text
		if len(raw) <= SMALL_TEXT_LENGTH
		else raw[: SMALL_TEXT_LENGTH - 3].decode("utf-8", "ignore") + "…"
	)

"""Renderings of a report: Markdown (Desk), plain text (a terminal) and JSON (scripts).

Markdown and text are one walk over the report (`_render`) with two small formatters, so the two
never disagree: the verdict first, then the score and its components, the fix list in the order an
operator works, what was not checked, the findings, then the verification and rollback plans.
"""

from erp_ops.core.preflight.models import PreflightReport, Severity, Verdict

_VERDICT_TEXT = {
	Verdict.PROCEED: "PROCEED",
	Verdict.PROCEED_WITH_CARE: "PROCEED WITH CARE",
	Verdict.DO_NOT_PROCEED: "DO NOT PROCEED",
}
_PHASE_TEXT = {
	"prepare": "before you start",
	"code": "code",
	"runtime": "runtime",
	"upgrade": "upgrade window",
	"verify": "after migrate",
}


def to_json(report: PreflightReport) -> str:
	return report.model_dump_json(indent=2)


class _Markdown:
	def h1(self, text: str) -> list[str]:
		return [f"# {text}"]

	def h2(self, text: str) -> list[str]:
		return ["", f"## {text}", ""]

	def code(self, text: str) -> str:
		return f"`{text}`"

	def bold(self, text: str) -> str:
		return f"**{text}**"

	def item(self, text: str) -> str:
		return f"- {text}"

	def table(self, headers: list[str], rows: list[list[str]]) -> list[str]:
		out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
		out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
		return out

	def line_break(self) -> str:
		return "  "


class _Text(_Markdown):
	"""Plain text for a terminal: no markup, no HTML entities; long values stay on their line."""

	def h1(self, text: str) -> list[str]:
		return [text, "=" * len(text)]

	def h2(self, text: str) -> list[str]:
		return ["", text, "-" * len(text)]

	def code(self, text: str) -> str:
		return text

	def bold(self, text: str) -> str:
		return text

	def table(self, headers: list[str], rows: list[list[str]]) -> list[str]:
		out = []
		for row in rows:
			severity, check, app, where, evidence = row
			head = f"[{severity}] {check}" + (f" ({app})" if app else "") + (f" at {where}" if where else "")
			out.append(head)
			if evidence:
				out.append(f"    {evidence[:200]}")
		return out

	def line_break(self) -> str:
		return ""


def to_markdown(report: PreflightReport, *, max_findings: int = 200) -> str:
	return _render(report, _Markdown(), max_findings)


def to_text(report: PreflightReport, *, max_findings: int = 200) -> str:
	return _render(report, _Text(), max_findings)


def _render(r: PreflightReport, fmt: _Markdown, max_findings: int) -> str:
	counts = ", ".join(f"{n} {s}" for s, n in r.risk.counts.items() if n)
	components = ", ".join(f"{k} {v}" for k, v in r.risk.components.items()) or "none"
	scan = r.scan
	out = fmt.h1(f"Upgrade preflight: {_VERDICT_TEXT[r.verdict]}")
	out += [
		"",
		fmt.item(f"Target: v{r.target} (from v{r.jump.split('->')[0]}), rule set {fmt.code(r.rule_set)}"),
		fmt.item(
			f"Risk: {fmt.bold(f'{r.risk.score}/100')} ({r.risk.band.value}); points by area: {components}; findings: {counts or 'none'}"
		),
	]
	if r.risk.steps:
		out.append(
			fmt.item(f"Upgrade steps (listed in the fix list, not scored as risk): {', '.join(r.risk.steps)}")
		)
	out += [
		fmt.item(
			f"Bench: {fmt.code(r.bench_path)}"
			+ (f", site {fmt.code(r.site_config.site)}" if r.site_config else "")
		),
		fmt.item(
			f"Scanned {scan.files} files, {scan.lines} lines in {scan.seconds:.2f}s"
			+ (f"; {scan.guarded} match(es) behind version guards" if scan.guarded else "")
			+ (f"; {scan.test_files} test file(s) checked for test APIs only" if scan.test_files else "")
			+ (f"; {len(scan.too_large)} file(s) over 2 MiB not read" if scan.too_large else "")
			+ (f"; {len(scan.syntax_errors)} file(s) with syntax errors" if scan.syntax_errors else "")
		),
		fmt.item(
			f"Apps scanned: {', '.join(scan.scanned_apps) or 'none'}"
			+ (
				f"; not scanned (upstream's to fix): {', '.join(scan.skipped_apps)}"
				if scan.skipped_apps
				else ""
			)
		),
	]
	runtimes = r.facts.runtimes
	versions = [
		f"{name} {value} ({runtimes.sources.get(name, '?')})"
		for name, value in (
			("python", runtimes.python),
			("node", runtimes.node),
			("mariadb", runtimes.mariadb),
			("redis", runtimes.redis),
		)
		if value
	]
	if versions:
		out.append(fmt.item("Versions: " + "; ".join(versions)))

	out += fmt.h2("Fix list (in this order)")
	phase = None
	for item in r.fix_list:
		if item.phase.value != phase:
			phase = item.phase.value
			out.append(fmt.bold(_PHASE_TEXT[phase].capitalize()) + fmt.line_break())
		where = f" at {', '.join(fmt.code(w) for w in item.where)}" if item.where else ""
		more = (
			f" (+{item.occurrences - len(item.where)} more)"
			if item.occurrences > len(item.where) and item.where
			else ""
		)
		app = f" [{item.app}]" if item.app and item.phase.value == "code" else ""
		out.append(
			f"{item.order}. {fmt.bold(f'[{item.severity.value}] {item.title}')}{app} (x{item.occurrences}){where}{more}{fmt.line_break()}"
		)
		out.append(f"   {item.fix}" + fmt.line_break())
		if item.command:
			out.append(f"   Command: {fmt.code(item.command)}")

	out += fmt.h2("Not checked")
	if not r.not_checked:
		out.append("Every check ran.")
	for nc in r.not_checked:
		out.append(
			fmt.item(f"{nc.check}: not checked ({nc.why})" + (f"; to check: {nc.how}" if nc.how else ""))
		)

	out += fmt.h2("Findings")
	ordered = sorted(
		r.findings, key=lambda f: (-f.severity.rank, f.check, f.evidence.file or "", f.evidence.line or 0)
	)
	rows = []
	for f in ordered[:max_findings]:
		where = f"{f.evidence.file}:{f.evidence.line}" if f.evidence.line else (f.evidence.file or "")
		evidence = f.evidence.text or ", ".join(f"{k}={v}" for k, v in f.evidence.values.items())
		rows.append([f.severity.value, f.check, f.app or "", where, evidence])
	if rows:
		out += fmt.table(["severity", "check", "app", "where", "evidence"], rows)
	else:
		out.append("None.")
	if len(ordered) > max_findings:
		out.append(f"... {len(ordered) - max_findings} more in the JSON report")

	out += fmt.h2("Verification plan (after migrate)")
	for i, step in enumerate(r.verification_plan, 1):
		out.append(
			f"{i}. {step.step}: {fmt.code(step.command)}" + (f" -> {step.expect}" if step.expect else "")
		)
	out += fmt.h2("Rollback plan")
	out.append(
		f"Backup to restore: {fmt.code(r.rollback_plan.backup or 'none found: take one before the switch')}"
	)
	out.append("")
	for app, ref in r.rollback_plan.app_refs.items():
		out.append(fmt.item(f"{app}: {fmt.code(ref)}"))
	out.append("")
	for i, step in enumerate(r.rollback_plan.steps, 1):
		out.append(f"{i}. {step.step}: {fmt.code(step.command)}")
	sources = sorted({s for f in r.findings for s in f.source})
	if sources:
		out += fmt.h2("Sources")
		out += [fmt.item(s) for s in sources]
	return "\n".join(out) + "\n"


def _cell(text: str) -> str:
	return "`" + text.replace("`", "'").replace("|", "\\|")[:160] + "`" if text else ""


def severity_exit_code(report: PreflightReport) -> int:
	"""0 proceed (with or without care), 2 do not proceed."""
	return 2 if report.verdict is Verdict.DO_NOT_PROCEED else 0


__all__ = ["Severity", "severity_exit_code", "to_json", "to_markdown", "to_text"]

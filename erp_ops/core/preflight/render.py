"""Markdown and JSON renderings of a report: the verdict first, then what to do, then the detail."""

from erp_ops.core.preflight.models import PreflightReport, Severity, Verdict

_VERDICT_TEXT = {
	Verdict.PROCEED: "PROCEED",
	Verdict.PROCEED_WITH_CARE: "PROCEED WITH CARE",
	Verdict.DO_NOT_PROCEED: "DO NOT PROCEED",
}


def to_json(report: PreflightReport) -> str:
	return report.model_dump_json(indent=2)


def to_markdown(report: PreflightReport, *, max_findings: int = 200) -> str:
	r = report
	counts = ", ".join(f"{n} {s}" for s, n in r.risk.counts.items() if n)
	out = [
		f"# Upgrade preflight: {_VERDICT_TEXT[r.verdict]}",
		"",
		f"- Target: v{r.target} ({r.jump}), rule set `{r.rule_set}`",
		f"- Risk: **{r.risk.score}/100** ({r.risk.band.value}); findings: {counts or 'none'}",
		f"- Bench: `{r.bench_path}`" + (f", site `{r.site.site}`" if r.site else ""),
		f"- Scanned {r.scan.files} files, {r.scan.lines} lines in {r.scan.seconds:.2f}s"
		+ (f"; {r.scan.guarded} match(es) behind version guards" if r.scan.guarded else "")
		+ (f"; {len(r.scan.too_large)} file(s) over 2 MiB not read" if r.scan.too_large else "")
		+ (f"; {len(r.scan.syntax_errors)} file(s) with syntax errors" if r.scan.syntax_errors else ""),
		f"- Apps scanned: {', '.join(r.scan.scanned_apps) or 'none'}"
		+ (
			f"; not scanned (upstream's to fix): {', '.join(r.scan.skipped_apps)}"
			if r.scan.skipped_apps
			else ""
		),
		"",
		"## Fix list (do these in order)",
		"",
	]
	if not r.fix_list:
		out.append("Nothing to fix.")
	for item in r.fix_list:
		where = f" — {', '.join(f'`{w}`' for w in item.where)}" if item.where else ""
		more = (
			f" (+{item.occurrences - len(item.where)} more)"
			if item.occurrences > len(item.where) and item.where
			else ""
		)
		out.append(
			f"{item.order}. **[{item.severity.value}] {item.title}** ({item.phase.value}, x{item.occurrences}){where}{more}  "
		)
		out.append(f"   {item.fix}")
	out += ["", "## Findings", "", "| severity | check | app | where | evidence |", "|---|---|---|---|---|"]
	ordered = sorted(
		r.findings, key=lambda f: (-f.severity.rank, f.check, f.evidence.file or "", f.evidence.line or 0)
	)
	for f in ordered[:max_findings]:
		where = f"{f.evidence.file}:{f.evidence.line}" if f.evidence.line else (f.evidence.file or "")
		where = f"`{where}`" if where else ""
		evidence = f.evidence.text or ", ".join(f"{k}={v}" for k, v in f.evidence.values.items())
		out.append(f"| {f.severity.value} | `{f.check}` | {f.app or ''} | {where} | {_cell(evidence)} |")
	if len(ordered) > max_findings:
		out.append(f"| … | {len(ordered) - max_findings} more in the JSON report | | | |")
	out += ["", "## Verification plan (after migrate)", ""]
	for i, step in enumerate(r.verification_plan, 1):
		out.append(f"{i}. {step.step}: `{step.command}`" + (f" → {step.expect}" if step.expect else ""))
	out += [
		"",
		"## Rollback plan",
		"",
		f"Backup to restore: `{r.rollback_plan.backup or 'none found: take one before the switch'}`",
		"",
	]
	for app, ref in r.rollback_plan.app_refs.items():
		out.append(f"- {app}: `{ref}`")
	out.append("")
	for i, step in enumerate(r.rollback_plan.steps, 1):
		out.append(f"{i}. {step.step}: `{step.command}`")
	sources = sorted({s for f in r.findings for s in f.source})
	if sources:
		out += ["", "## Sources", ""] + [f"- {s}" for s in sources]
	return "\n".join(out) + "\n"


def _cell(text: str) -> str:
	return "`" + text.replace("`", "'").replace("|", "\\|")[:160] + "`" if text else ""


def severity_exit_code(report: PreflightReport) -> int:
	"""0 proceed (with or without care), 2 do not proceed."""
	return 2 if report.verdict is Verdict.DO_NOT_PROCEED else 0


__all__ = ["Severity", "severity_exit_code", "to_json", "to_markdown"]

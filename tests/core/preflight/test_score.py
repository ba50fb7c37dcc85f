"""Risk score, bands, verdict and fix-list order on hand-made findings."""

from erp_ops.core.preflight.models import Evidence, Finding, Phase, Severity, Verdict
from erp_ops.core.preflight.score import fix_list, risk_score, verdict


def f(check: str, severity: Severity, phase: Phase = Phase.CODE, line: int | None = None) -> Finding:
	return Finding(
		check=check,
		severity=severity,
		title=check,
		evidence=Evidence(file="a.py", line=line),
		fix="fix",
		phase=phase,
	)


def test_score_weights_repeats_and_caps():
	assert risk_score([]).score == 0 and risk_score([]).band.value == "low"
	assert risk_score([f("a", Severity.INFO)] * 50).score == 0
	one_blocker = risk_score([f("a", Severity.BLOCKER)])
	assert (one_blocker.score, one_blocker.band.value) == (40, "moderate")
	# a hundred uses of one deprecated helper weigh 4 * (1 + 0.25 * 4) = 8, less than one high
	assert risk_score([f("w", Severity.WARNING)] * 100).score == 8
	assert risk_score([f("h", Severity.HIGH)]).score == 15
	assert (
		risk_score(
			[f("h", Severity.HIGH), f("h2", Severity.HIGH), f("h3", Severity.HIGH), f("h4", Severity.HIGH)]
		).band.value
		== "high"
	)
	many = risk_score([f(c, Severity.BLOCKER) for c in "abc"])
	assert (many.score, many.band.value, many.counts["blocker"]) == (100, "critical", 3)


def test_verdict_follows_the_worst_severity():
	assert verdict([]) is Verdict.PROCEED
	assert verdict([f("w", Severity.WARNING)]) is Verdict.PROCEED
	assert verdict([f("w", Severity.WARNING), f("h", Severity.HIGH)]) is Verdict.PROCEED_WITH_CARE
	assert verdict([f("h", Severity.HIGH), f("b", Severity.BLOCKER)]) is Verdict.DO_NOT_PROCEED


def test_fix_list_blockers_first_then_by_phase_then_by_count():
	findings = [
		f("switch-high", Severity.HIGH, Phase.SWITCH),
		f("code-high", Severity.HIGH, Phase.CODE, line=3),
		f("code-high", Severity.HIGH, Phase.CODE, line=9),
		f("env-blocker", Severity.BLOCKER, Phase.ENVIRONMENT),
		f("code-warning", Severity.WARNING),
		f("note", Severity.INFO),
	]
	items = fix_list(findings)
	assert [i.check for i in items] == ["env-blocker", "code-high", "switch-high", "code-warning"]
	assert items[1].occurrences == 2 and items[1].where == ["a.py:3", "a.py:9"]
	assert [i.order for i in items] == [1, 2, 3, 4]

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
	assert (one_blocker.score, one_blocker.band.value) == (30, "moderate")
	# a hundred uses of one deprecated helper weigh 3 * (1 + 0.25 * 4) = 6, less than one high
	assert risk_score([f("w", Severity.WARNING)] * 100).score == 6
	assert risk_score([f("h", Severity.HIGH)]).score == 10
	assert risk_score([f(c, Severity.HIGH) for c in "abcde"]).band.value == "high"  # 50
	many = risk_score([f(c, Severity.BLOCKER) for c in "abcd"])
	assert (many.score, many.band.value, many.counts["blocker"]) == (100, "critical", 4)


def test_upgrade_steps_are_listed_not_scored_and_components_add_up():
	step = f("node-version", Severity.BLOCKER, Phase.RUNTIME).model_copy(update={"step": True})
	backup = f("backup-missing", Severity.BLOCKER, Phase.PREPARE).model_copy(update={"step": True})
	score = risk_score(
		[step, backup, f("git-uncommitted", Severity.BLOCKER, Phase.PREPARE), f("x", Severity.HIGH)]
	)
	assert score.steps == ["backup-missing", "node-version"]
	assert score.components == {"code": 10, "repositories": 30} and score.score == 40
	# the counts still show the steps: the verdict does not ignore them
	assert score.counts["blocker"] == 3
	assert verdict([step]) is Verdict.DO_NOT_PROCEED


def test_verdict_follows_the_worst_severity():
	assert verdict([]) is Verdict.PROCEED
	assert verdict([f("w", Severity.WARNING)]) is Verdict.PROCEED
	assert verdict([f("w", Severity.WARNING), f("h", Severity.HIGH)]) is Verdict.PROCEED_WITH_CARE
	assert verdict([f("h", Severity.HIGH), f("b", Severity.BLOCKER)]) is Verdict.DO_NOT_PROCEED


def test_fix_list_follows_the_operators_order():
	"""Before you start (repos, pending patches, disk, backup last), code per app, runtime, upgrade, verify."""
	findings = [
		f("queues-in-flight", Severity.BLOCKER, Phase.UPGRADE),
		f("node-version", Severity.BLOCKER, Phase.RUNTIME),
		f("code-high", Severity.HIGH, Phase.CODE, line=3).model_copy(update={"app": "b_app"}),
		f("code-high", Severity.HIGH, Phase.CODE, line=9).model_copy(update={"app": "b_app"}),
		f("code-warning", Severity.WARNING).model_copy(update={"app": "a_app"}),
		f("code-blocker", Severity.BLOCKER).model_copy(update={"app": "b_app"}),
		f("backup-missing", Severity.BLOCKER, Phase.PREPARE).model_copy(update={"command": "bench backup"}),
		f("pending-patch", Severity.HIGH, Phase.PREPARE),
		f("git-uncommitted", Severity.BLOCKER, Phase.PREPARE),
		f("note", Severity.INFO),
	]
	items = fix_list(findings, recheck="erp-ops preflight --app {app}")
	assert [(i.check, i.app) for i in items] == [
		("git-uncommitted", None),
		("pending-patch", None),
		("backup-missing", None),
		("code-warning", "a_app"),
		("code-blocker", "b_app"),
		("code-high", "b_app"),
		("node-version", None),
		("queues-in-flight", None),
	]
	assert items[5].occurrences == 2 and items[5].where == ["a.py:3", "a.py:9"]
	assert items[2].command == "bench backup" and items[5].command == "erp-ops preflight --app b_app"
	assert [i.order for i in items] == list(range(1, 9))

"""Risk score, verdict, fix list, and the verification and rollback plans."""

import os
import shlex

from erp_ops.core.preflight.models import (
	Band,
	BenchFacts,
	Finding,
	FixItem,
	Phase,
	PlanStep,
	RiskScore,
	RollbackPlan,
	Severity,
	SiteFacts,
	Verdict,
)

# One occurrence of a check costs its weight; repeats add a quarter each, up to four, so that a
# hundred uses of one deprecated helper do not outweigh one blocker.
WEIGHTS = {Severity.BLOCKER: 40, Severity.HIGH: 15, Severity.WARNING: 4, Severity.INFO: 0}
REPEAT_SHARE = 0.25
REPEAT_CAP = 4
BANDS = ((80, Band.CRITICAL), (50, Band.HIGH), (20, Band.MODERATE), (0, Band.LOW))
PHASE_ORDER = {Phase.CODE: 0, Phase.ENVIRONMENT: 1, Phase.SWITCH: 2}


def risk_score(findings: list[Finding]) -> RiskScore:
	"""0 to 100: per check, its weight plus a share for repeats; capped at 100."""
	by_check: dict[str, list[Finding]] = {}
	for f in findings:
		by_check.setdefault(f.check, []).append(f)
	total = 0.0
	for group in by_check.values():
		weight = WEIGHTS[max((f.severity for f in group), key=lambda s: s.rank)]
		total += weight * (1 + REPEAT_SHARE * min(len(group) - 1, REPEAT_CAP))
	score = min(100, round(total))
	band = next(b for floor, b in BANDS if score >= floor)
	counts = {s.value: sum(1 for f in findings if f.severity is s) for s in Severity}
	return RiskScore(score=score, band=band, counts=counts)


def verdict(findings: list[Finding]) -> Verdict:
	"""Any blocker → do not proceed; any high → proceed with care; else proceed."""
	if any(f.severity is Severity.BLOCKER for f in findings):
		return Verdict.DO_NOT_PROCEED
	if any(f.severity is Severity.HIGH for f in findings):
		return Verdict.PROCEED_WITH_CARE
	return Verdict.PROCEED


def fix_list(findings: list[Finding], *, where_limit: int = 5) -> list[FixItem]:
	"""One item per check, blockers first, then in the order the work happens (code, environment, switch)."""
	groups: dict[str, list[Finding]] = {}
	for f in findings:
		if f.severity is not Severity.INFO:
			groups.setdefault(f.check, []).append(f)
	ordered = sorted(
		groups.values(),
		key=lambda g: (-max(f.severity.rank for f in g), PHASE_ORDER[g[0].phase], -len(g), g[0].check),
	)
	items = []
	for i, group in enumerate(ordered, 1):
		first = max(group, key=lambda f: f.severity.rank)
		where = [_where(f) for f in group if _where(f)][:where_limit]
		items.append(
			FixItem(
				order=i,
				check=first.check,
				severity=first.severity,
				phase=first.phase,
				title=first.title,
				fix=first.fix,
				occurrences=len(group),
				where=where,
			)
		)
	return items


def _where(f: Finding) -> str | None:
	if f.evidence.file:
		return f"{f.evidence.file}:{f.evidence.line}" if f.evidence.line else f.evidence.file
	return None


def verification_plan(
	site: str | None, bench_id: str | None, redis_url: str | None, target: int
) -> list[PlanStep]:
	"""What to check after migrate, with the commands that show it."""
	s = site or "SITE"
	status = f"erp-ops status --redis {redis_url or 'REDIS_QUEUE_URL'} --bench-id {bench_id or 'BENCH_ID'}"
	return [
		PlanStep(
			step="Migrate finished without a failed patch",
			command=f"bench --site {s} migrate",
			expect="exit code 0; no 'Patch failed' in the output",
		),
		PlanStep(
			step="Patch log complete",
			command=f"bench --site {s} migrate",
			expect="a second run executes no patch: every patches.txt entry is in Patch Log",
		),
		PlanStep(
			step="Apps on the target version",
			command="bench version",
			expect=f"frappe {target}.x and every app on its v{target} branch",
		),
		PlanStep(
			step="Key DocTypes load",
			command=f"bench --site {s} execute frappe.get_meta --args \"['User']\"",
			expect="no exception; repeat for the DocTypes the site depends on",
		),
		PlanStep(
			step="Desk opens",
			command=f"curl -sf -o /dev/null -w '%{{http_code}}' https://{s}/{'desk' if target >= 16 else 'app'}",
			expect="200 (or a redirect to login)",
		),
		PlanStep(
			step="Scheduler resumes",
			command=f"bench --site {s} scheduler resume && bench --site {s} scheduler status",
			expect="Scheduler is enabled / not paused",
		),
		PlanStep(
			step="Queues drain", command=status, expect="exit 0: no dead workers, oldest queued job young"
		),
		PlanStep(
			step="Error rate back to baseline",
			command=f"bench --site {s} execute frappe.client.get_count --args \"['Error Log']\"",
			expect="no faster growth than before the upgrade (compare with the count taken before)",
		),
	]


def rollback_plan(facts: BenchFacts, site_facts: SiteFacts | None, site: str | None) -> RollbackPlan:
	"""The backup to restore, each app's ref to return to, and the exact commands, in order."""
	s = site or (site_facts.site if site_facts else "SITE")
	backup = site_facts.last_backup if site_facts and site_facts.last_backup else facts.latest_backup
	refs = {a.name: a.git.head for a in facts.apps if a.git.head}
	steps = [
		PlanStep(
			step="Stop traffic and jobs",
			command=f"bench --site {s} set-maintenance-mode on && bench --site {s} scheduler pause",
		)
	]
	for app in facts.apps:
		if not app.git.head:
			continue
		path = shlex.quote(os.path.relpath(app.path, facts.bench_path))
		if app.git.branch:
			cmd = f"git -C {path} checkout {shlex.quote(app.git.branch)} && git -C {path} reset --hard {app.git.head}"
		else:
			cmd = f"git -C {path} checkout {app.git.head}"
		steps.append(
			PlanStep(
				step=f"Return {app.name} to {app.git.head[:12]}",
				command=cmd,
				expect=f"git -C {path} rev-parse HEAD prints {app.git.head}",
			)
		)
	python = facts.runtimes.python
	interpreter = f"python{'.'.join(python.split('.')[:2])}" if python else "PREVIOUS-PYTHON"
	steps.append(
		PlanStep(
			step="Rebuild the environment if the Python changed",
			command=f"bench setup env --python {interpreter}",
			expect=f"env/bin/python --version prints {python}"
			if python
			else "the interpreter the bench ran before",
		)
	)
	steps.append(
		PlanStep(step="Reinstall requirements and assets", command="bench setup requirements && bench build")
	)
	if backup:
		restore = f"bench --site {s} restore {shlex.quote(backup.path)}"
		for f in backup.files:
			flag = "--with-private-files" if "private-files" in f else "--with-public-files"
			restore += f" {flag} {shlex.quote(f)}"
	else:
		restore = f"bench --site {s} restore PATH-TO-BACKUP-database.sql.gz  # take it first: bench --site {s} backup --with-files"
	steps.append(
		PlanStep(
			step="Restore the pre-upgrade backup",
			command=restore,
			expect="the site's data as it was before the switch",
		)
	)
	steps.append(
		PlanStep(
			step="Bring the site back",
			command=f"bench --site {s} migrate && bench restart && bench --site {s} scheduler resume && bench --site {s} set-maintenance-mode off",
		)
	)
	return RollbackPlan(backup=backup.path if backup else None, app_refs=refs, steps=steps)

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
	SiteConfig,
	SiteFacts,
	Verdict,
)

# One occurrence of a check costs its weight; repeats add a quarter each, up to four, so that a
# hundred uses of one deprecated helper do not outweigh one blocker. Upgrade steps (a new runtime,
# a fresh backup) are the upgrade's own work, not risk: they are listed and not scored.
WEIGHTS = {Severity.BLOCKER: 30, Severity.HIGH: 10, Severity.WARNING: 3, Severity.INFO: 0}
REPEAT_SHARE = 0.25
REPEAT_CAP = 4
BANDS = ((70, Band.CRITICAL), (45, Band.HIGH), (15, Band.MODERATE), (0, Band.LOW))
PHASE_ORDER = {Phase.PREPARE: 0, Phase.CODE: 1, Phase.RUNTIME: 2, Phase.UPGRADE: 3, Phase.VERIFY: 4}
# Before starting: clean repositories, then the pending patches on the current version, then room
# on disk, and the fresh backup last (right before the window).
PREPARE_ORDER = ("git-", "app-not-in", "pending-patch", "disk-", "backup-", "restore-drill")
AREAS = {
	"repositories": ("git-", "app-not-in-apps-txt"),
	"dependencies": (
		"dependency-conflict",
		"frappe-range-excludes-target",
		"requires-python-excludes-target",
	),
	"site": ("pending-patch", "customization", "restore-drill", "site-pending-jobs", "scheduler-running"),
	"operations": ("queues-", "disk-", "backup-", "python-version", "node-version"),
}


def area(check: str) -> str:
	"""The part of the bench a check is about; rule findings (the code scan) are `code`."""
	for name, prefixes in AREAS.items():
		if check.startswith(prefixes):
			return name
	return "code"


def _weights(findings: list[Finding]) -> dict[str, tuple[str, float]]:
	by_check: dict[str, list[Finding]] = {}
	for f in findings:
		if not f.step:
			by_check.setdefault(f.check, []).append(f)
	return {
		check: (
			area(check),
			WEIGHTS[max((f.severity for f in group), key=lambda s: s.rank)]
			* (1 + REPEAT_SHARE * min(len(group) - 1, REPEAT_CAP)),
		)
		for check, group in by_check.items()
	}


def risk_score(findings: list[Finding]) -> RiskScore:
	"""0 to 100: per check, its weight plus a share for repeats, capped; shown per area."""
	weights = _weights(findings)
	components: dict[str, float] = {}
	for where, points in weights.values():
		components[where] = components.get(where, 0) + points
	score = min(100, round(sum(components.values())))
	band = next(b for floor, b in BANDS if score >= floor)
	counts = {s.value: sum(1 for f in findings if f.severity is s) for s in Severity}
	return RiskScore(
		score=score,
		band=band,
		counts=counts,
		components={k: round(v) for k, v in sorted(components.items()) if round(v)},
		steps=sorted({f.check for f in findings if f.step}),
	)


def verdict(findings: list[Finding]) -> Verdict:
	"""Any blocker → do not proceed; any high → proceed with care; else proceed."""
	if any(f.severity is Severity.BLOCKER for f in findings):
		return Verdict.DO_NOT_PROCEED
	if any(f.severity is Severity.HIGH for f in findings):
		return Verdict.PROCEED_WITH_CARE
	return Verdict.PROCEED


def _prepare_rank(check: str) -> int:
	return next((i for i, p in enumerate(PREPARE_ORDER) if check.startswith(p)), len(PREPARE_ORDER))


def fix_list(
	findings: list[Finding],
	*,
	where_limit: int = 5,
	recheck: str | None = None,
	closing: list[FixItem] | tuple = (),
) -> list[FixItem]:
	"""The operator's order: what blocks starting, code fixes per app, runtime changes, the upgrade
	window, verification; blockers first inside each phase. One item per check (and app, for code).

	`recheck` is the command that re-runs the preflight for one app (`{app}` is filled in): the
	command of a code item that names none. `closing` items (the switch itself, verification) end it.
	"""
	groups: dict[tuple[str, str | None], list[Finding]] = {}
	for f in findings:
		if f.severity is not Severity.INFO:
			groups.setdefault((f.check, f.app if f.phase is Phase.CODE else None), []).append(f)

	def key(item: tuple[tuple[str, str | None], list[Finding]]):
		(check, app), group = item
		phase = group[0].phase
		return (
			PHASE_ORDER[phase],
			_prepare_rank(check) if phase is Phase.PREPARE else 0,
			app or "" if phase is Phase.CODE else "",
			-max(f.severity.rank for f in group),
			-len(group),
			check,
		)

	items: list[FixItem] = []
	for (check, app), group in sorted(groups.items(), key=key):
		first = max(group, key=lambda f: f.severity.rank)
		where = [_where(f) for f in group if _where(f)][:where_limit]
		command = first.command
		if command is None and first.phase is Phase.CODE and recheck and app:
			command = recheck.format(app=app)
		items.append(
			FixItem(
				order=len(items) + 1,
				check=check,
				severity=first.severity,
				phase=first.phase,
				title=first.title,
				fix=first.fix,
				occurrences=len(group),
				where=where,
				app=app or first.app,
				command=command,
			)
		)
	for extra in closing:
		items.append(extra.model_copy(update={"order": len(items) + 1}))
	return items


def _where(f: Finding) -> str | None:
	if f.evidence.file:
		return f"{f.evidence.file}:{f.evidence.line}" if f.evidence.line else f.evidence.file
	return None


def closing_items(
	target: int, official_apps: list[str], site: str | None, plan: list[PlanStep]
) -> list[FixItem]:
	"""The switch itself and the verification: the last two items of every fix list."""
	apps = " ".join(official_apps or ["frappe"])
	s = site or "SITE"
	return [
		FixItem(
			order=0,
			check="upgrade",
			severity=Severity.INFO,
			phase=Phase.UPGRADE,
			title=f"Switch the bench to v{target}",
			fix=f"In the window (maintenance mode on, scheduler paused, queues drained): move the official apps to version-{target}, each custom app to its v{target} branch, then update and migrate.",
			occurrences=1,
			command=f"bench --site {s} set-maintenance-mode on && bench switch-to-branch version-{target} {apps} --upgrade && bench update --patch",
		),
		FixItem(
			order=0,
			check="verify",
			severity=Severity.INFO,
			phase=Phase.VERIFY,
			title="Verify the upgrade",
			fix="Work through the verification plan below; roll back with the rollback plan if a step fails.",
			occurrences=1,
			command=next((p.command for p in plan if p.command and "curl" in p.command), None),
		),
	]


def verification_plan(
	site: str | None,
	bench_id: str | None,
	redis_url: str | None,
	target: int,
	config: SiteConfig | None = None,
) -> list[PlanStep]:
	"""What to check after migrate, with the commands that show it; the site's own URL and redis_queue."""
	s = site or "SITE"
	redis_url = redis_url or (config.redis_queue if config else None)
	bench_id = bench_id or (config.bench_id if config else None)
	status = f"erp-ops status --redis {redis_url or 'REDIS_QUEUE_URL'} --bench-id {bench_id or 'BENCH_ID'}"
	desk = "desk" if target >= 16 else "app"
	url = config.url if config and config.url else None
	if url is None:
		curl = f"curl -s -o /dev/null -w '%{{http_code}}' http://{s}/{desk}  # site URL not read"
	elif url.startswith("http://127.0.0.1"):
		curl = f"curl -s -o /dev/null -w '%{{http_code}}' -H 'Host: {s}' {url}/{desk}"
	else:
		curl = f"curl -s -o /dev/null -w '%{{http_code}}' {url}/{desk}"
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
		PlanStep(step="Desk opens", command=curl, expect="200, or 302/303 to the login page"),
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
		if app.git.changed:
			# reset --hard would destroy them: a hotfix made on the server lives only there
			steps.append(
				PlanStep(
					step=f"WARNING: {app.name} has {len(app.git.changed)} uncommitted change(s) that the reset below destroys: save them first",
					command=f"git -C {path} stash push --include-untracked -m 'before rollback'",
					expect=f"git -C {path} status --porcelain prints nothing; git -C {path} stash list shows the entry",
				)
			)
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
	if python:
		interpreter = f"python{'.'.join(python.split('.')[:2])}"
		where = facts.runtimes.sources.get("python")
		steps.append(
			PlanStep(
				step=f"Rebuild the environment on the previous Python, {python}"
				+ (f" (read from {where})" if where else ""),
				command=f"bench setup env --python {interpreter}",
				expect=f"env/bin/python --version prints Python {python}",
			)
		)
	else:
		steps.append(
			PlanStep(
				step="Rebuild the environment on the previous Python: its version could not be read (no env/bin/python, no env/pyvenv.cfg); write it down before the switch",
				command="bench setup env --python python3.X  # X: the version `env/bin/python --version` prints today",
				expect="the interpreter the bench ran before",
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

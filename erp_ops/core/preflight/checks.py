"""Facts → findings. Pure functions over the models: the Frappe layer can call each one alone."""

import os
import re
from datetime import datetime, timezone

from erp_ops.core.preflight.models import (
	AppFacts,
	BenchFacts,
	Evidence,
	Finding,
	NotChecked,
	Phase,
	QueueFacts,
	Severity,
	SiteFacts,
)
from erp_ops.core.preflight.rules import RuleSet, UndeclaredImportMatch
from erp_ops.core.preflight.versions import (
	InvalidVersion,
	Requirement,
	normalize_name,
	parse_specifiers,
	parse_version,
	satisfiable,
)

RQ_SOURCE = "https://github.com/rq/rq/blob/v2.6.1/rq/registry.py"
RUNTIME_SOURCE = "https://github.com/frappe/frappe/issues/35321"
PATCH_SOURCE = "https://github.com/frappe/frappe/blob/version-15/frappe/modules/patch_handler.py"
DRILL_MAX_AGE_DAYS = 30
BACKUP_MAX_AGE_HOURS = 24
GiB = 1024**3


def _f(
	check: str,
	severity: Severity,
	title: str,
	fix: str,
	phase: Phase,
	*,
	app: str | None = None,
	source: list[str] | None = None,
	command: str | None = None,
	step: bool = False,
	**evidence,
) -> Finding:
	return Finding(
		check=check,
		severity=severity,
		title=title,
		app=app,
		evidence=Evidence(**evidence),
		fix=fix,
		phase=phase,
		source=source or [],
		command=command,
		step=step,
	)


def _skip(out: list[NotChecked] | None, check: str, why: str, how: str | None = None) -> None:
	if out is not None:
		out.append(NotChecked(check=check, why=why, how=how))


# ---- bench ---------------------------------------------------------------------------------------


def check_apps(facts: BenchFacts, rule_set: RuleSet) -> list[Finding]:
	"""Git state, declared frappe range and requires-python of each app."""
	findings: list[Finding] = []
	target = parse_version(rule_set.target.frappe_version)
	bench = facts.bench_path
	for app in facts.apps:
		rel = os.path.relpath(app.path, bench)
		if not app.in_apps_txt:
			findings.append(
				_f(
					"app-not-in-apps-txt",
					Severity.WARNING,
					f"{app.name} is in apps/ but not in sites/apps.txt",
					"Add it to sites/apps.txt or remove the folder: bench update only moves listed apps.",
					Phase.PREPARE,
					app=app.name,
					file="sites/apps.txt",
				)
			)
		git = app.git
		if git.error:
			findings.append(
				_f(
					"git-unreadable",
					Severity.HIGH,
					f"git cannot read {app.name}",
					"Fix the repository (ownership: git config --global --add safe.directory PATH) so bench can switch its branch.",
					Phase.PREPARE,
					app=app.name,
					command=f"git -C {rel} status",
					file=rel,
					text=git.error,
				)
			)
		elif git.is_repo and git.changed:
			findings.append(
				_f(
					"git-uncommitted",
					Severity.BLOCKER,
					f"{app.name} has {len(git.changed)} uncommitted change(s)",
					"Commit them (a hotfix made on the server lives only here) or stash them before switching: bench switch-to-branch and bench update refuse or lose local edits.",
					Phase.PREPARE,
					app=app.name,
					command=f"git -C {rel} status --short && git -C {rel} diff",
					file=os.path.join(rel, git.changed[0][3:].strip()),
					text=git.changed[0],
					values={"changes": len(git.changed), "branch": git.branch},
				)
			)
		if git.is_repo and git.ahead:
			findings.append(
				_f(
					"git-local-commits",
					Severity.HIGH,
					f"{app.name} has {git.ahead} commit(s) not on {git.upstream}",
					"Push them or record them: switching to the target branch leaves them behind (they stay reachable by the ref in the rollback plan).",
					Phase.PREPARE,
					app=app.name,
					command=f"git -C {rel} log --oneline {git.upstream}..HEAD",
					file=rel,
					values={"ahead": git.ahead, "upstream": git.upstream, "head": git.head},
				)
			)
		if git.is_repo and not git.error and git.head is None:
			findings.append(
				_f(
					"git-no-commit",
					Severity.HIGH,
					f"{app.name} has no commit to return to",
					"Commit the app so the rollback plan has a ref.",
					Phase.PREPARE,
					app=app.name,
					command=f"git -C {rel} add -A && git -C {rel} commit -m 'before the upgrade'",
					file=rel,
				)
			)
		if not git.is_repo:
			findings.append(
				_f(
					"git-not-a-repo",
					Severity.HIGH,
					f"{app.name} is not a git checkout",
					"bench switch-to-branch and bench update need git; commit the app to a repository so it can move and be rolled back.",
					Phase.PREPARE,
					app=app.name,
					command=f"git -C {rel} init && git -C {rel} add -A && git -C {rel} commit -m 'before the upgrade'",
					file=rel,
				)
			)
		if app.name != "frappe" and app.frappe_dependency:
			try:
				admitted = parse_specifiers(app.frappe_dependency).contains(target, prereleases=True)
			except InvalidVersion:
				admitted = True
			if not admitted:
				findings.append(
					_f(
						"frappe-range-excludes-target",
						Severity.BLOCKER,
						f"{app.name} declares frappe {app.frappe_dependency}, which excludes {rule_set.target.frappe_version}",
						f"Move the app to its branch for v{rule_set.to_major} or widen [tool.bench.frappe-dependencies] frappe after testing; bench refuses to install it otherwise.",
						Phase.CODE,
						app=app.name,
						file=os.path.join(rel, "pyproject.toml"),
						line=app.lines.get("frappe_dependency"),
						text=f'frappe = "{app.frappe_dependency}"',
						source=["https://github.com/frappe/bench/blob/develop/bench/app.py"],
					)
				)
		if app.name != "frappe" and app.requires_python:
			try:
				spec = parse_specifiers(app.requires_python)
				ok = satisfiable(spec, parse_specifiers(rule_set.target.python))
			except InvalidVersion:
				ok = True
			if not ok:
				findings.append(
					_f(
						"requires-python-excludes-target",
						Severity.BLOCKER,
						f"{app.name} requires Python {app.requires_python}; v{rule_set.to_major} needs {rule_set.target.python}",
						f"Widen requires-python in the app's {app.requires_python_source or 'pyproject.toml'} after testing on the target Python.",
						Phase.CODE,
						app=app.name,
						file=os.path.join(rel, app.requires_python_source or "pyproject.toml"),
						line=app.lines.get("requires_python"),
						text=f'requires-python = "{app.requires_python}"',
						source=[rule_set.target.frappe_pins_source],
					)
				)
	return findings


def check_runtimes(
	facts: BenchFacts, rule_set: RuleSet, not_checked: list[NotChecked] | None = None
) -> list[Finding]:
	"""Python and Node against the target's ranges. A mismatch is an upgrade step (the target needs a
	new env and Node): a blocker until done, listed with its command, not scored as risk."""
	findings: list[Finding] = []
	for name, have, need in (
		("python", facts.runtimes.python, rule_set.target.python),
		("node", facts.runtimes.node, rule_set.target.node),
	):
		if have is None:
			why = (
				"env/bin/python cannot run and env/pyvenv.cfg has no version"
				if name == "python"
				else "node is not on PATH"
			)
			_skip(
				not_checked,
				f"{name}-version",
				why,
				f"pass --{name}-version (the {name} the upgrade will run with)",
			)
			continue
		try:
			ok = parse_specifiers(need).contains(parse_version(have), prereleases=True)
		except InvalidVersion:
			continue
		if ok:
			continue
		major_minor = re.match(r"[><=~!]*\s*(\d+(?:\.\d+)?)", need)
		wanted = major_minor[1] if major_minor else need
		command = (
			f"bench setup env --python python{wanted}"
			if name == "python"
			else f"nvm install {wanted} && nvm alias default {wanted}"
		)
		where = facts.runtimes.sources.get(name, "")
		file, _, line = where.rpartition(":") if where.rpartition(":")[2].isdigit() else (None, "", "")
		findings.append(
			_f(
				f"{name}-version",
				Severity.BLOCKER,
				f"{name} {have} does not satisfy v{rule_set.to_major}'s {need}",
				f"Install {name} {wanted} for the upgrade; keep {name} {have} installed for the rollback.",
				Phase.RUNTIME,
				values={"found": have, "required": need, "read_from": where},
				file=file,
				line=int(line) if line else None,
				source=[RUNTIME_SOURCE, rule_set.target.frappe_pins_source],
				command=command,
				step=True,
			)
		)
	return findings


def check_disk(
	facts: BenchFacts, site: SiteFacts | None, not_checked: list[NotChecked] | None = None
) -> list[Finding]:
	"""Free space against database size times 2 (migrate rewrites tables) plus a fresh backup."""
	db_size = site.db_size_bytes if site and site.db_size_bytes is not None else facts.db_size_bytes
	if db_size is None:
		_skip(
			not_checked,
			"disk-headroom",
			"the database size is unknown (no site database read, no --db-size-mb or --db-path)",
			"pass --site (its database is read) or --db-size-mb",
		)
		return []
	backup = facts.backup_size_bytes if facts.backup_size_bytes is not None else db_size
	need_by_device: dict[int | None, int] = {}
	roles = {d.role: d for d in facts.disks}
	db_disk = roles.get("database") or roles.get("bench")
	backup_disk = roles.get("backup") or roles.get("bench")
	for disk, need in ((db_disk, db_size * 2), (backup_disk, backup)):
		if disk is None or disk.error:
			continue
		need_by_device[disk.device] = need_by_device.get(disk.device, 0) + need
	findings: list[Finding] = []
	for disk in facts.disks:
		if disk.error:
			findings.append(
				_f(
					"disk-unreadable",
					Severity.WARNING,
					f"Free space of {disk.path} unreadable",
					"Check the path exists and is readable.",
					Phase.PREPARE,
					text=disk.error,
				)
			)
			continue
		need = need_by_device.pop(disk.device, None)
		if need is None or disk.free_bytes is None:
			continue
		values = {
			"path": disk.path,
			"free_gib": round(disk.free_bytes / GiB, 2),
			"need_gib": round(need / GiB, 2),
			"db_size_gib": round(db_size / GiB, 2),
			"backup_gib": round(backup / GiB, 2),
		}
		if disk.free_bytes < need:
			findings.append(
				_f(
					"disk-headroom",
					Severity.BLOCKER,
					f"Not enough free space on {disk.path}",
					"Free space (old backups, logs) or move backups to another disk: the upgrade needs the database twice plus a fresh backup.",
					Phase.PREPARE,
					command=f"df -h {disk.path} && du -sh {disk.path}/* | sort -h | tail",
					values=values,
				)
			)
		elif disk.free_bytes < need * 1.5:
			findings.append(
				_f(
					"disk-headroom-thin",
					Severity.WARNING,
					f"Little headroom on {disk.path}",
					"Free some space: less than 1.5 times what the upgrade needs is left.",
					Phase.PREPARE,
					command=f"df -h {disk.path}",
					values=values,
				)
			)
	return findings


def check_dependencies(
	facts: BenchFacts, rule_set: RuleSet, imported: dict[str, dict[str, tuple[str, int, str]]]
) -> list[Finding]:
	"""Each app's pins against the target framework's, and imports of packages the target stops installing."""
	findings: list[Finding] = []
	frappe_pins: dict[str, Requirement] = {}
	for line in rule_set.target.frappe_pins:
		try:
			req = Requirement.parse(line)
		except InvalidVersion:
			continue
		frappe_pins[req.name] = req
	for app in facts.apps:
		if app.name == "frappe":
			continue
		rel = os.path.relpath(app.path, facts.bench_path)
		declared: set[str] = set()
		for line in app.requirements:
			try:
				req = Requirement.parse(line)
			except InvalidVersion:
				continue
			declared.add(req.name)
			pin = frappe_pins.get(req.name)
			if pin is None or req.url or pin.url:
				continue
			if not satisfiable(req.specifier, pin.specifier):
				findings.append(
					_f(
						"dependency-conflict",
						Severity.BLOCKER,
						f"{app.name} pins {req.text}; frappe v{rule_set.to_major} pins {pin.text}",
						f"Widen the app's requirement so it admits {pin.text} (test with it), or pip cannot install both.",
						Phase.CODE,
						app=app.name,
						file=os.path.join(rel, app.requirements_source or "pyproject.toml"),
						line=_line_of(app, req.text),
						text=req.text,
						values={"app": req.text, "frappe": pin.text},
						source=[rule_set.target.frappe_pins_source],
					)
				)
		for rule in rule_set.rules:
			if not isinstance(rule.match, UndeclaredImportMatch):
				continue
			for module, package in rule.match.modules.items():
				where = imported.get(app.name, {}).get(module)
				if where and normalize_name(package) not in declared:
					file, line, text = where
					findings.append(
						Finding(
							check=rule.id,
							severity=rule.severity,
							title=f"{rule.title}: {app.name} imports {module}",
							app=app.name,
							evidence=Evidence(
								file=file, line=line, text=text.strip(), values={"package": package}
							),
							fix=rule.fix,
							phase=Phase.CODE,
							source=rule.sources,
						)
					)
	return findings


def _line_of(app: AppFacts, text: str) -> int | None:
	path = os.path.join(app.path, app.requirements_source or "pyproject.toml")
	try:
		with open(path, encoding="utf-8") as fh:
			for i, line in enumerate(fh, 1):
				if text in line:
					return i
	except OSError:
		return None
	return None


# ---- queues --------------------------------------------------------------------------------------


def check_queues(
	queues: QueueFacts | None,
	rule_set: RuleSet,
	not_checked: list[NotChecked] | None = None,
	why: str | None = None,
) -> list[Finding]:
	if queues is None:
		_skip(
			not_checked,
			"queues-in-flight",
			why or "no Redis given",
			"run again at switch time with --redis (the bench's redis_queue) and --bench-id, or --site",
		)
		return []
	if queues.error:
		return [
			_f(
				"queues-unreadable",
				Severity.HIGH,
				"Redis queue could not be read",
				"Check the redis_queue URL; drain the queues by hand before the switch.",
				Phase.UPGRADE,
				text=queues.error,
			)
		]
	if not queues.in_flight:
		return []
	severity = Severity.BLOCKER if rule_set.target.queue_id_format_changed else Severity.HIGH
	why = (
		" rq 2.6.1 (v16) cannot parse v15's `<site>::<id>` job ids: reading these registries with it drops the jobs."
		if rule_set.target.queue_id_format_changed
		else " migrate changes the code they will run."
	)
	summary = ", ".join(
		f"{q}: " + " ".join(f"{k}={v}" for k, v in counts.items())
		for q, counts in sorted(queues.queues.items())
	)
	return [
		_f(
			"queues-in-flight",
			severity,
			f"{queues.in_flight} job(s) in flight on bench {queues.bench_id}",
			"Pause the scheduler, stop enqueuing (maintenance mode), let workers finish, and switch only when every queue, deferred, scheduled and started registry is empty."
			+ why,
			Phase.UPGRADE,
			text=summary,
			command=f"erp-ops status --bench-id {queues.bench_id}",
			values={"in_flight": queues.in_flight, "started_jobs": len(queues.started_job_ids)},
			source=[RQ_SOURCE] if rule_set.target.queue_id_format_changed else [],
		)
	]


# ---- site ----------------------------------------------------------------------------------------


def check_site(
	site: SiteFacts | None,
	rule_set: RuleSet,
	*,
	now: datetime | None = None,
	not_checked: list[NotChecked] | None = None,
	why: str | None = None,
) -> list[Finding]:
	if site is None:
		_skip(
			not_checked,
			"pending-patch",
			why or "no site given",
			"pass --site NAME (its database is read, read-only), or run: bench --site NAME ops preflight",
		)
		_skip(not_checked, "customizations", why or "no site given", "run: bench --site NAME ops preflight")
		_skip(
			not_checked, "scheduler-running", why or "no site given", "run: bench --site NAME ops preflight"
		)
		return []
	now = now or datetime.now(timezone.utc)
	findings: list[Finding] = []
	for patch in site.pending_patches:
		findings.append(
			_f(
				"pending-patch",
				Severity.HIGH,
				f"Patch not yet run on {site.site}: {patch.patch}",
				"Run it on the current version first, so the upgrade starts from a fully patched site.",
				Phase.PREPARE,
				app=patch.app,
				command=f"bench --site {site.site} migrate",
				file=f"apps/{patch.app}/{patch.app}/patches.txt",
				text=patch.patch,
				source=[PATCH_SOURCE],
			)
		)
	changed = set(rule_set.changed_doctypes.doctypes)
	touched = [c for c in site.customizations if c.doctype in changed]
	for c in touched:
		findings.append(
			_f(
				"customization-on-changed-doctype",
				Severity.HIGH,
				f"{c.kind} {c.name} customises {c.doctype}, which v{rule_set.to_major} changes or removes",
				"Export it (Customize Form → Export or a fixture), then re-check it after migrate; install the app the DocType moved to when it moved.",
				Phase.CODE,
				text=f"{c.kind}: {c.name}",
				values={"doctype": c.doctype},
				source=rule_set.changed_doctypes.sources,
			)
		)
	others = len(site.customizations) - len(touched)
	if others:
		findings.append(
			_f(
				"customizations",
				Severity.INFO,
				f"{others} other customization(s) on {site.site}",
				"Export customizations as fixtures so they survive and can be compared after migrate.",
				Phase.PREPARE,
				values={"count": others},
			)
		)
	if site.scheduler_paused is False:
		findings.append(
			_f(
				"scheduler-running",
				Severity.HIGH,
				f"Scheduler is running on {site.site}",
				"Pause it for the window (resume after verification).",
				Phase.UPGRADE,
				command=f"bench --site {site.site} scheduler pause",
				step=True,
			)
		)
	if site.pending_jobs:
		findings.append(
			_f(
				"site-pending-jobs",
				Severity.BLOCKER if rule_set.target.queue_id_format_changed else Severity.HIGH,
				f"{site.pending_jobs} background job(s) pending for {site.site}",
				"Wait for them before switching.",
				Phase.UPGRADE,
				command=f"bench --site {site.site} ready-for-migration",
				values={"pending_jobs": site.pending_jobs},
			)
		)
	if site.drills_exist:
		age = (now - site.last_restore_drill_at).days if site.last_restore_drill_at else None
		if age is None or age > DRILL_MAX_AGE_DAYS:
			findings.append(
				_f(
					"restore-drill-stale",
					Severity.HIGH,
					"No successful restore drill in the last 30 days"
					if age is None
					else f"Last successful restore drill is {age} days old",
					"Run a restore drill now: a backup not restored recently is not known to work.",
					Phase.PREPARE,
					command=f"bench --site {site.site} ops drill",
					values={"age_days": age},
				)
			)
	return findings


def check_backup(facts: BenchFacts, site: SiteFacts | None, *, now: datetime | None = None) -> list[Finding]:
	"""A fresh backup is the upgrade's own first step: a blocker until taken, listed, not scored."""
	now = now or datetime.now(timezone.utc)
	backup = site.last_backup if site and site.last_backup else facts.latest_backup
	name = site.site if site else "SITE"
	command = f"bench --site {name} backup --with-files"
	if backup is None:
		return [
			_f(
				"backup-missing",
				Severity.BLOCKER,
				"No backup found",
				"Take one right before the switch and check it lists its database and files archives.",
				Phase.PREPARE,
				command=command,
				step=True,
			)
		]
	if backup.taken_at is None or (now - backup.taken_at).total_seconds() > BACKUP_MAX_AGE_HOURS * 3600:
		hours = None if backup.taken_at is None else round((now - backup.taken_at).total_seconds() / 3600, 1)
		return [
			_f(
				"backup-stale",
				Severity.HIGH,
				"Latest backup is older than 24 hours" if hours else "Latest backup has no date",
				"Take a fresh backup with files right before the switch.",
				Phase.PREPARE,
				file=backup.path,
				values={"age_hours": hours},
				command=command,
				step=True,
			)
		]
	return []

"""Compose the preflight: facts → checks → code scan → score → plans. Reads only."""

import shlex
import time
from datetime import datetime, timezone
from pathlib import Path

from redis import Redis

from erp_ops.core.preflight import checks
from erp_ops.core.preflight.context import PATCH, code_contexts, execute_patches, rate, rate_one
from erp_ops.core.preflight.errors import BenchNotFound
from erp_ops.core.preflight.facts import gather_bench_facts, git_remote_urls, read_apps_txt
from erp_ops.core.preflight.models import (
	BenchFacts,
	Finding,
	NotChecked,
	PendingPatch,
	PreflightReport,
	QueueFacts,
	RuntimeVersions,
	ScanStats,
	SiteFacts,
)
from erp_ops.core.preflight.queues import gather_queue_facts
from erp_ops.core.preflight.rules import RuleSet, load_rule_set
from erp_ops.core.preflight.scan import CompiledRules, scan_site_scripts, scan_text, scan_tree
from erp_ops.core.preflight.score import (
	closing_items,
	fix_list,
	risk_score,
	rollback_plan,
	verdict,
	verification_plan,
)
from erp_ops.core.preflight.site import pending_patches
from erp_ops.core.preflight.sitedb import read_site_config, read_site_database

# Frappe's own apps move with their version branches: their code is upstream's to fix, not the operator's.
OFFICIAL_REMOTE = "github.com/frappe/"


def run_preflight(
	bench_path: str | Path,
	target: int,
	*,
	site_facts: SiteFacts | None = None,
	site: str | None = None,
	redis_conn: Redis | None = None,
	redis_url: str | None = None,
	redis_error: str | None = None,
	bench_id: str | None = None,
	ignore_job_ids: tuple[str, ...] = (),
	db_path: str | None = None,
	backup_path: str | None = None,
	db_size_bytes: int | None = None,
	scan_apps: list[str] | None = None,
	skip_apps: tuple[str, ...] = ("frappe",),
	scan_official_apps: bool = False,
	runtimes: RuntimeVersions | None = None,
	now: datetime | None = None,
) -> PreflightReport:
	"""The whole preflight of one bench for the jump to `target`; never writes to the bench, Redis or a database.

	`site` (standalone use): read that site's config and, read-only, its database for the Patch Log
	and the server's version, unless the Frappe layer passes `site_facts`. `scan_apps` limits every
	app-level check (code, git, pins, patches), not only the scan. `ignore_job_ids`: started jobs
	that are not in the way, i.e. the background job running this.
	"""
	now = now or datetime.now(timezone.utc)
	rule_set = load_rule_set(target)
	not_checked: list[NotChecked] = []
	bench = Path(bench_path).resolve()
	site_name = site or (site_facts.site if site_facts else None)
	config = read_site_config(bench, site_name) if site_name else None
	site_why = None
	if site_facts is None and site:
		site_facts, site_why = _standalone_site_facts(bench, site)
		if site_facts is not None and site_why:
			not_checked.append(
				NotChecked(check="pending-patch", why=site_why, how="check the site's database and run again")
			)
		if site_facts is not None:
			for check in ("customizations", "scheduler-running", "site-pending-jobs", "restore-drill-stale"):
				not_checked.append(
					NotChecked(
						check=check,
						why="the standalone preflight reads only the Patch Log, size and version of the site's database",
						how=f"run: bench --site {site} ops preflight",
					)
				)
	elif site_facts is None:
		site_why = "no site given (--site)"
	redis_version = None
	if redis_conn is not None:
		try:
			redis_version = str(redis_conn.info("server").get("redis_version"))
		except Exception as exc:
			redis_error = redis_error or f"{type(exc).__name__}: {exc}"
			redis_conn = None
	facts = gather_bench_facts(
		bench,
		db_path=db_path,
		backup_path=backup_path,
		db_size_bytes=db_size_bytes
		if db_size_bytes is not None
		else (site_facts.db_size_bytes if site_facts else None),
		mariadb_version=site_facts.mariadb_version if site_facts else None,
		redis_version=redis_version,
		runtimes=runtimes,
	)
	if scan_apps is not None:
		unknown = sorted(set(scan_apps) - {a.name for a in facts.apps})
		if unknown:
			raise BenchNotFound(f"no app {', '.join(unknown)} in {bench}/apps")
	if facts.runtimes.mariadb is None:
		not_checked.append(
			NotChecked(
				check="mariadb-version",
				why=site_why or "the site's database did not answer SELECT VERSION()",
				how="pass --site NAME with a reachable database (a client's mariadb --version is not the server's)",
			)
		)
	queues: QueueFacts | None = None
	if redis_conn is not None and bench_id:
		queues = gather_queue_facts(redis_conn, bench_id, ignore_job_ids)

	checked = [a for a in facts.apps if scan_apps is None or a.name in scan_apps]
	app_facts = facts.model_copy(update={"apps": checked})
	pending = site_facts.pending_patches if site_facts else None
	if site_facts and scan_apps is not None:
		site_facts = site_facts.model_copy(
			update={"pending_patches": [p for p in site_facts.pending_patches if p.app in scan_apps]}
		)
	findings: list[Finding] = []
	scan_stats, imported = scan_apps_code(
		facts, rule_set, scan_apps, skip_apps, scan_official_apps, findings, pending
	)
	if site_facts and site_facts.scripts:
		findings += scan_site_scripts(site_facts.scripts, CompiledRules.from_rule_set(rule_set))
	findings += checks.check_apps(app_facts, rule_set)
	findings += checks.check_runtimes(facts, rule_set, not_checked)
	findings += checks.check_dependencies(app_facts, rule_set, imported)
	findings += checks.check_disk(facts, site_facts, not_checked)
	findings += checks.check_backup(facts, site_facts, now=now)
	findings += checks.check_queues(
		queues,
		rule_set,
		not_checked,
		redis_error or ("no Redis given" if redis_conn is None else "no bench id"),
	)
	findings += checks.check_site(site_facts, rule_set, now=now, not_checked=not_checked, why=site_why)

	plan = verification_plan(site_name, bench_id, redis_url, target, config)
	official = [a.name for a in facts.apps if a.name == "frappe" or _is_official(Path(a.path))]
	recheck = f"erp-ops preflight --bench {shlex.quote(str(bench))} --target {target} --app {{app}}"
	return PreflightReport(
		bench_path=facts.bench_path,
		target=target,
		jump=rule_set.jump,
		generated_at=now,
		verdict=verdict(findings),
		risk=risk_score(findings),
		findings=findings,
		fix_list=fix_list(
			findings, recheck=recheck, closing=closing_items(target, official, site_name, plan)
		),
		verification_plan=plan,
		rollback_plan=rollback_plan(facts, site_facts, site_name),
		facts=facts,
		site=site_facts,
		queues=queues,
		scan=scan_stats,
		rule_set=rule_set.name,
		not_checked=not_checked,
		site_config=config,
	)


def _standalone_site_facts(bench: Path, site: str) -> tuple[SiteFacts | None, str | None]:
	"""SiteFacts from the site's own database (read-only): pending patches, size, server version."""
	db = read_site_database(bench, site)
	if db.error and db.server_version is None:
		return None, db.error
	if db.error:
		return SiteFacts(site=site, mariadb_version=db.server_version, db_size_bytes=db.size_bytes), db.error
	apps = db.installed_apps or read_apps_txt(bench)
	texts = {}
	for app in apps:
		for candidate in (bench / "apps" / app / app / "patches.txt", bench / "apps" / app / "patches.txt"):
			if candidate.is_file():
				texts[app] = candidate.read_text(encoding="utf-8", errors="replace")
				break
	return (
		SiteFacts(
			site=site,
			pending_patches=pending_patches(texts, db.executed_patches),
			db_size_bytes=db.size_bytes,
			mariadb_version=db.server_version,
		),
		None,
	)


def scan_apps_code(
	facts: BenchFacts,
	rule_set: RuleSet,
	only: list[str] | None,
	skip: tuple[str, ...],
	scan_official: bool,
	findings: list[Finding],
	pending: list[PendingPatch] | None = None,
) -> tuple[ScanStats, dict[str, dict[str, tuple[str, int, str]]]]:
	"""Scan each custom app; returns the combined stats and each app's top-level imports."""
	started = time.perf_counter()
	compiled = CompiledRules.from_rule_set(rule_set)
	bench = Path(facts.bench_path)
	imported: dict[str, dict[str, tuple[str, int, str]]] = {}
	files = lines = parsed = guarded = tests = 0
	errors: list[str] = []
	too_large: list[str] = []
	scanned: list[str] = []
	skipped: list[str] = []
	for app in facts.apps:
		if only is not None and app.name not in only:
			continue
		if only is None and (app.name in skip or (not scan_official and _is_official(Path(app.path)))):
			skipped.append(app.name)
			continue
		scanned.append(app.name)
		result = scan_tree(Path(app.path), compiled, app=app.name, relative_to=bench)
		contexts, patches = code_contexts(bench, app.name)
		findings.extend(rate(result.findings, contexts, patches, pending))
		findings.extend(_execute_patch_findings(bench, app.name, compiled, pending))
		tests += result.stats.test_files
		imported[app.name] = result.imported_top_modules
		files += result.stats.files
		lines += result.stats.lines
		parsed += result.stats.parsed_files
		guarded += result.stats.guarded
		errors += result.stats.syntax_errors
		too_large += result.stats.too_large
	stats = ScanStats(
		files=files,
		lines=lines,
		parsed_files=parsed,
		guarded=guarded,
		syntax_errors=errors,
		too_large=too_large,
		seconds=round(time.perf_counter() - started, 3),
		scanned_apps=scanned,
		skipped_apps=skipped,
		test_files=tests,
	)
	return stats, imported


def _execute_patch_findings(
	bench: Path, app: str, compiled: CompiledRules, pending: list[PendingPatch] | None
) -> list[Finding]:
	"""`execute:frappe.…` one-liners in patches.txt are patch code too: scanned with `frappe` bound
	(as the patch handler runs them), evidence at the patches.txt line, rated like a patch."""
	pending_entries = {p.patch for p in pending} if pending is not None else None
	found: list[Finding] = []
	for rel, line, entry in execute_patches(bench, app):
		scan = scan_text(
			entry.removeprefix("execute:"), "py", rel, compiled, app=app, preset_globals={"frappe": "frappe"}
		)
		for f in scan.findings:
			located = f.model_copy(
				update={"evidence": f.evidence.model_copy(update={"line": line, "text": entry})}
			)
			found.append(rate_one(located, PATCH, entry, pending_entries))
	return found


def _is_official(app_path: Path) -> bool:
	return any(OFFICIAL_REMOTE in url for url in git_remote_urls(app_path))

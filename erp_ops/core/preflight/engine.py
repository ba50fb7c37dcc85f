"""Compose the preflight: facts → checks → code scan → score → plans. Reads only."""

import time
from datetime import datetime, timezone
from pathlib import Path

from redis import Redis

from erp_ops.core.preflight import checks
from erp_ops.core.preflight.facts import gather_bench_facts, git_remote_urls
from erp_ops.core.preflight.models import (
	BenchFacts,
	Finding,
	PreflightReport,
	QueueFacts,
	RuntimeVersions,
	ScanStats,
	SiteFacts,
)
from erp_ops.core.preflight.queues import gather_queue_facts
from erp_ops.core.preflight.rules import RuleSet, load_rule_set
from erp_ops.core.preflight.scan import CompiledRules, scan_site_scripts, scan_tree
from erp_ops.core.preflight.score import fix_list, risk_score, rollback_plan, verdict, verification_plan

# Frappe's own apps move with their version branches: their code is upstream's to fix, not the operator's.
OFFICIAL_REMOTE = "github.com/frappe/"


def run_preflight(
	bench_path: str | Path,
	target: int,
	*,
	site_facts: SiteFacts | None = None,
	redis_conn: Redis | None = None,
	redis_url: str | None = None,
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
	"""The whole preflight of one bench for the jump to `target`; never writes to the bench or Redis.

	`ignore_job_ids`: started jobs that are not in the way, i.e. the background job running this.
	"""
	now = now or datetime.now(timezone.utc)
	rule_set = load_rule_set(target)
	redis_version = None
	if redis_conn is not None:
		try:
			redis_version = str(redis_conn.info("server").get("redis_version"))
		except Exception:
			redis_version = None
	facts = gather_bench_facts(
		bench_path,
		db_path=db_path,
		backup_path=backup_path,
		db_size_bytes=db_size_bytes
		if db_size_bytes is not None
		else (site_facts.db_size_bytes if site_facts else None),
		mariadb_version=site_facts.mariadb_version if site_facts else None,
		redis_version=redis_version,
		runtimes=runtimes,
	)
	queues: QueueFacts | None = None
	if redis_conn is not None and bench_id:
		queues = gather_queue_facts(redis_conn, bench_id, ignore_job_ids)

	findings: list[Finding] = []
	scan_stats, imported = scan_apps_code(facts, rule_set, scan_apps, skip_apps, scan_official_apps, findings)
	if site_facts and site_facts.scripts:
		findings += scan_site_scripts(site_facts.scripts, CompiledRules.from_rule_set(rule_set))
	findings += checks.check_apps(facts, rule_set)
	findings += checks.check_runtimes(facts, rule_set)
	findings += checks.check_dependencies(facts, rule_set, imported)
	findings += checks.check_disk(facts, site_facts)
	findings += checks.check_backup(facts, site_facts, now=now)
	findings += checks.check_queues(queues, rule_set)
	findings += checks.check_site(site_facts, rule_set, now=now)

	site = site_facts.site if site_facts else None
	return PreflightReport(
		bench_path=facts.bench_path,
		target=target,
		jump=rule_set.jump,
		generated_at=now,
		verdict=verdict(findings),
		risk=risk_score(findings),
		findings=findings,
		fix_list=fix_list(findings),
		verification_plan=verification_plan(site, bench_id, redis_url, target),
		rollback_plan=rollback_plan(facts, site_facts, site),
		facts=facts,
		site=site_facts,
		queues=queues,
		scan=scan_stats,
		rule_set=rule_set.name,
	)


def scan_apps_code(
	facts: BenchFacts,
	rule_set: RuleSet,
	only: list[str] | None,
	skip: tuple[str, ...],
	scan_official: bool,
	findings: list[Finding],
) -> tuple[ScanStats, dict[str, dict[str, tuple[str, int, str]]]]:
	"""Scan each custom app; returns the combined stats and each app's top-level imports."""
	started = time.perf_counter()
	compiled = CompiledRules.from_rule_set(rule_set)
	bench = Path(facts.bench_path)
	imported: dict[str, dict[str, tuple[str, int, str]]] = {}
	files = lines = parsed = guarded = 0
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
		findings.extend(result.findings)
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
	)
	return stats, imported


def _is_official(app_path: Path) -> bool:
	return any(OFFICIAL_REMOTE in url for url in git_remote_urls(app_path))

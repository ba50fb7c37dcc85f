"""One restore drill: integrity → scratch restore → verify from what the scratch database holds → drop.

An import that exits 0 proves nothing: the verdict comes from the scratch database's own tables,
compared with the manifest written at backup time and with the live site's facts.
"""

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from erp_ops.core.clock import UTC, zone
from erp_ops.core.drills.client import MariaDBClient
from erp_ops.core.drills.discovery import BackupSet, FileKind, site_slug
from erp_ops.core.drills.errors import BadManifest, DatabaseUnavailable, DrillInterrupted, StreamError
from erp_ops.core.drills.facts import DatabaseFacts, collect_facts, site_identity
from erp_ops.core.drills.lock import host_lock
from erp_ops.core.drills.manifest import Manifest, read_manifest
from erp_ops.core.drills.models import (
	Check,
	CheckStatus,
	DrillOutcome,
	DrillResult,
	FileReport,
	SiteFacts,
	one_line,
)
from erp_ops.core.drills.scratch import (
	DEFAULT_LEASE,
	DUMP_DATABASE,
	Owner,
	RestoreStats,
	default_owner,
	incomplete_reason,
	interruptible,
	restore_dump,
	scratch_database,
	scratch_name,
	sweep_scratch,
	unowned_leftovers,
)
from erp_ops.core.drills.streams import list_tar, peek_sql, sha256_file
from erp_ops.core.models import Frozen

KEY_TABLES = ("tabDocType", "tabUser", "tabPatch Log", "tabSingles")
PASS, WARN, FAIL, SKIP = CheckStatus.PASS, CheckStatus.WARN, CheckStatus.FAIL, CheckStatus.SKIP


class DrillOptions(Frozen):
	require_files: bool = True
	encryption_key: str | None = None
	# Counts are taken just after the dump: a busy site drifts a little.
	tolerance_rel: float = 0.02
	tolerance_abs: int = 5
	# The live site's counts drift from an older backup by a day's work (and log cleanups).
	live_tolerance_rel: float = 0.25
	ledger_tolerance: Decimal = Decimal("0.01")
	# Frappe names backups in the System Settings time zone; None reads the stamp as UTC.
	time_zone: str | None = None
	# What the set should hold, table → rows, when it has no manifest (`--expect-counts FILE`).
	expected_counts: dict[str, int] | None = None
	# Whose scratch databases this drill marks and may sweep (None: scratch.default_owner()).
	owner: str | None = None
	lease_s: float = DEFAULT_LEASE.total_seconds()
	sweep: bool = True
	# One drill per host (lock.host_lock): None is the default lock file; wait 0 refuses at once.
	lock_path: str | None = None
	lock_wait_s: float = 0.0


def run_drill(
	client: MariaDBClient,
	backup: BackupSet,
	site: SiteFacts | None = None,
	options: DrillOptions | None = None,
	scratch: str | None = None,
	on_chunk: Callable[[int], None] | None = None,
) -> DrillResult:
	"""Run a drill of `backup`; the scratch database is dropped before this returns, whatever happened.

	Takes the host's drill lock first (DrillAlreadyRunning when another drill holds it), then sweeps
	the stale scratch databases of the same owner (reported in `swept` and a `stale_scratch` check).
	"""
	options = options or DrillOptions()
	with host_lock(options.lock_path, options.lock_wait_s):
		return _run(client, backup, site or SiteFacts(), options, scratch, on_chunk)


def _run(
	client: MariaDBClient,
	backup: BackupSet,
	site: SiteFacts,
	options: DrillOptions,
	scratch: str | None,
	on_chunk: Callable[[int], None] | None,
) -> DrillResult:
	started_at = datetime.now(timezone.utc)
	checks: list[Check] = []
	tz = zone(options.time_zone) if options.time_zone else UTC
	taken_at = backup.taken_at(tz)
	owner_name = options.owner or default_owner()

	swept: list[str] = []
	if options.sweep:
		try:
			entries = sweep_scratch(client, owner_name)
		except DatabaseUnavailable as exc:  # the drill itself will say what the server does
			entries = []
			checks.append(Check(code="stale_scratch", status=WARN, reason=f"could not sweep: {exc}"))
		swept = [e.name for e in entries if e.dropped]
		unowned = unowned_leftovers(entries)
		if unowned:
			checks.append(
				Check(
					code="unowned_scratch",
					status=WARN,
					reason=f"{len(unowned)} scratch database(s) without an owner marker, older than 1 h, "
					f"left alone (drop by hand if no drill runs): {', '.join(unowned)}",
					details={"unowned": unowned},
				)
			)
		if swept:
			checks.append(
				Check(
					code="stale_scratch",
					status=WARN,
					reason=f"dropped {len(swept)} scratch database(s) left by an earlier drill: {', '.join(swept)}",
					details={"swept": [e.model_dump() for e in entries if e.dropped]},
				)
			)

	manifest = None
	try:
		manifest = read_manifest(backup.manifest_path)
	except BadManifest as exc:
		checks.append(Check(code="manifest", status=FAIL, reason=str(exc)))

	config = _site_config(backup)
	key = options.encryption_key or (config or {}).get("backup_encryption_key")
	files, archive_sites = _file_reports(backup, key, checks)
	checks.append(_checksums(backup, files, manifest))
	checks.append(_archives(backup, files, manifest, options))
	dump_db = _peek_source_database(backup, key)
	checks.append(_backup_site(backup, site, manifest, config, archive_sites, dump_db))

	stats = facts = None
	rto_s = verify_s = None
	events: list[str] = []
	interrupted = False
	name = scratch or scratch_name()
	if backup.database is None:
		checks.append(
			Check(code="restore", status=FAIL, reason=f"backup set {backup.prefix} has no database dump")
		)
	elif any(c.status == FAIL and c.code in ("checksums", "backup_site") for c in checks):
		checks.append(
			Check(code="restore", status=SKIP, reason="not restored: the set failed its integrity checks")
		)
	else:
		owner = Owner.this_process(owner_name, timedelta(seconds=options.lease_s))
		try:
			with interruptible(), scratch_database(client, name, _site_dbs(site), events, owner):
				t0 = time.monotonic()
				stats = restore_dump(client, name, backup.database.path, _site_dbs(site), key, on_chunk)
				rto_s = time.monotonic() - t0
				if not stats.completed:
					checks.append(
						Check(
							code="dump_incomplete",
							status=FAIL,
							reason=incomplete_reason(backup.database.name, stats),
							details=stats.model_dump(),
						)
					)
				checks.append(_restore_check(stats))
				t1 = time.monotonic()
				facts = collect_facts(client, name, with_patches=True)
				checks += verify_facts(facts, stats, site, manifest, options)
				if site.fingerprint is not None:
					checks.append(_fingerprint(site.fingerprint, site_identity(client, name)))
				verify_s = time.monotonic() - t1
		except StreamError as exc:
			checks.append(Check(code=exc.code, status=FAIL, reason=exc.reason, details=exc.details))
		except DrillInterrupted as exc:
			interrupted = True
			checks.append(Check(code="interrupted", status=FAIL, reason=f"drill {exc}"))
		except DatabaseUnavailable as exc:
			checks.append(
				Check(code="database", status=FAIL, reason=f"MariaDB failed during the drill: {exc}")
			)
		if "created" in events and "dropped" not in events:
			checks.append(
				Check(code="scratch_dropped", status=FAIL, reason=f"could not drop {name}: drop it by hand")
			)

	failed = [c for c in checks if c.status == FAIL]
	finished_at = datetime.now(timezone.utc)
	rows = sum(facts.tables.values()) if facts else None
	outcome, reason = _verdict(checks, facts, rows, rto_s)
	return DrillResult(
		site=site.site,
		backup_stamp=backup.stamp,
		backup_folder=backup.folder,
		files=files,
		manifest=backup.manifest_path if manifest else None,
		scratch_database=name if "created" in events else None,
		scratch_dropped="dropped" in events,
		started_at=started_at,
		finished_at=finished_at,
		backup_taken_at=taken_at,
		rpo_s=(started_at - taken_at).total_seconds(),
		rto_s=rto_s,
		verify_s=verify_s,
		sql_bytes=stats.sql_bytes if stats else None,
		tables=len(facts.tables) if facts else None,
		rows=rows,
		table_counts=facts.tables if facts else {},
		checks=checks,
		outcome=outcome,
		reason=reason if not failed else failed[0].reason,
		interrupted=interrupted,
		chosen_because=backup.chosen_because,
		swept=swept,
	)


def _verdict(checks: list[Check], facts, rows: int | None, rto_s: float | None) -> tuple[DrillOutcome, str]:
	"""Failed on any failed check; "restored, not verified" when nothing said what the backup
	should hold (no expected row counts from a manifest, the live site or --expect-counts)."""
	if any(c.status == FAIL for c in checks):
		return DrillOutcome.FAILED, ""
	skipped = [c.code for c in checks if c.status == SKIP]
	restored = f"{len(facts.tables)} tables, {rows} rows in {rto_s:.1f}s"
	if "row_counts" in skipped:
		return (
			DrillOutcome.NOT_VERIFIED,
			one_line(
				f"restored, not verified: {restored}; no expected row counts (no manifest, live site "
				f"or --expect-counts); skipped: {', '.join(skipped)}"
			),
		)
	if skipped:
		return DrillOutcome.PASSED, one_line(
			f"restored {restored}; every check passed but skipped: {', '.join(skipped)}"
		)
	return DrillOutcome.PASSED, f"restored {restored}; every check passed"


def verify_facts(
	facts: DatabaseFacts,
	stats: RestoreStats,
	site: SiteFacts,
	manifest: Manifest | None,
	options: DrillOptions,
) -> list[Check]:
	"""Judge what the scratch database holds (pure: no I/O)."""
	checks = [_dump_source(stats, site, manifest), _doctype_tables(facts), _key_tables(facts)]
	checks.append(_row_counts(facts, site, manifest, options))
	checks.append(_apps(facts, site, manifest))
	checks.append(_patches(facts, site, manifest))
	checks += _ledger(facts, manifest, options)
	return checks


def _site_dbs(site: SiteFacts) -> list[str]:
	return [*site.site_databases, *([site.db_name] if site.db_name else [])]


def _file_reports(
	backup: BackupSet, key: str | None, checks: list[Check]
) -> tuple[list[FileReport], dict[str, frozenset[str]]]:
	"""The set's files with sizes and SHA-256; per files archive, the site folders it holds."""
	reports = []
	sites: dict[str, frozenset[str]] = {}
	for kind, found in sorted(backup.files.items()):
		archive_files = None
		if kind in (FileKind.PUBLIC_FILES, FileKind.PRIVATE_FILES):
			try:
				listing = list_tar(found.path, key)
				archive_files = listing.files
				sites[found.name] = listing.sites
			except StreamError as exc:
				checks.append(Check(code=exc.code, status=FAIL, reason=exc.reason, details=exc.details))
		reports.append(
			FileReport(
				kind=kind,
				name=found.name,
				size=found.size,
				sha256=sha256_file(found.path),
				encrypted=found.encrypted,
				archive_files=archive_files,
			)
		)
	return reports, sites


def _peek_source_database(backup: BackupSet, key: str | None) -> str | None:
	"""The database the dump was taken from, by its own mariadb-dump header (read before any restore)."""
	if backup.database is None:
		return None
	try:
		match = DUMP_DATABASE.search(peek_sql(backup.database.path, key))
	except StreamError:
		return None  # the restore reads it whole and reports the damage precisely
	return match[1].decode(errors="replace") if match else None


def _checksums(backup: BackupSet, files: list[FileReport], manifest: Manifest | None) -> Check:
	if manifest is None:
		return Check(
			code="checksums",
			status=SKIP,
			reason="no manifest was recorded for this set: SHA-256 computed only",
		)
	found = {f.name: f for f in files}
	problems = []
	for expected in manifest.files:
		got = found.get(expected.name)
		if got is None:
			problems.append(f"{expected.name} is listed in the manifest but missing")
		elif got.size != expected.size:
			problems.append(f"{expected.name} is {got.size} bytes, the manifest says {expected.size}")
		elif got.sha256 != expected.sha256:
			problems.append(
				f"{expected.name} SHA-256 {got.sha256[:12]}… differs from the manifest's {expected.sha256[:12]}…"
			)
	if problems:
		return Check(
			code="checksums", status=FAIL, reason="; ".join(problems), details={"problems": problems}
		)
	return Check(
		code="checksums",
		status=PASS,
		reason=f"{len(manifest.files)} files match the manifest's size and SHA-256",
	)


def _archives(
	backup: BackupSet, files: list[FileReport], manifest: Manifest | None, options: DrillOptions
) -> Check:
	missing = backup.missing_files_archives()
	if missing and options.require_files:
		names = ", ".join(
			f"{backup.prefix}-{'files' if k == FileKind.PUBLIC_FILES else 'private-files'}.tar"
			for k in missing
		)
		return Check(
			code="files_archives",
			status=FAIL,
			reason=f"missing files archive: {names} (bench backup --with-files)",
		)
	unreadable = [
		f.name
		for f in files
		if f.kind in (FileKind.PUBLIC_FILES, FileKind.PRIVATE_FILES) and f.archive_files is None
	]
	if unreadable:
		return Check(
			code="files_archives",
			status=FAIL,
			reason="files archive does not list cleanly: " + ", ".join(unreadable),
		)
	counts = {f.kind.value: f.archive_files for f in files if f.archive_files is not None}
	if manifest:
		for expected in manifest.files:
			got = next((f for f in files if f.kind == expected.kind), None)
			if (
				expected.archive_files is not None
				and got
				and got.archive_files is not None
				and got.archive_files != expected.archive_files
			):
				return Check(
					code="files_archives",
					status=FAIL,
					reason=f"{got.name} lists {got.archive_files} files, the manifest says {expected.archive_files}",
					details=counts,
				)
	if not counts:
		return Check(
			code="files_archives", status=SKIP, reason="the set has no files archives (not required)"
		)
	return Check(
		code="files_archives",
		status=PASS,
		reason="files archives list cleanly: " + ", ".join(f"{k} {v} files" for k, v in counts.items()),
		details=counts,
	)


def _site_config(backup: BackupSet) -> dict | None:
	found = backup.files.get(FileKind.SITE_CONFIG)
	if not found:
		return None
	try:
		with open(found.path) as f:
			return json.load(f)
	except (OSError, ValueError):
		return None


def _backup_site(
	backup: BackupSet,
	site: SiteFacts,
	manifest: Manifest | None,
	config: dict | None,
	archive_sites: dict[str, frozenset[str]],
	dump_db: str | None,
) -> Check:
	"""Whose backup this is, from the content: the site folders inside the files archives, the
	dump's own database name and site_config's db_name, against the site (name, live db_name) and
	the manifest. The file names alone prove nothing: anyone can rename a set."""
	if backup.database is not None and backup.database.partial:
		return Check(
			code="backup_site",
			status=FAIL,
			reason=f"{backup.database.name} is a partial backup: it cannot restore the whole site",
		)
	config_db = (config or {}).get("db_name")
	evidence = {
		"file_names": backup.site_slug,
		"archive_sites": {n: sorted(s) for n, s in archive_sites.items()},
		"dump_database": dump_db,
		"site_config_db_name": config_db,
		"site": site.site,
		"site_db_name": site.db_name,
		"manifest_db_name": manifest.db_name if manifest else None,
	}
	inside = sorted({s for found in archive_sites.values() for s in found})
	foreign = [s for s in inside if (s != site.site if site.site else site_slug(s) != backup.site_slug)]
	dbs = f"dump of database {dump_db}" if dump_db else f"site_config db_name {config_db}"

	def another(what: str) -> Check:
		return Check(
			code="backup_site", status=FAIL, reason=f"backup of another site ({what})", details=evidence
		)

	if site.site and site_slug(site.site) != backup.site_slug:
		return another(f"its files are named for {backup.site_slug}, the drill is for {site.site}")
	if foreign:
		return another(
			f"{foreign[0]}: its files archives hold {foreign[0]}/…/files; named for {backup.site_slug}; {dbs}"
		)
	if manifest and manifest.site_slug != backup.site_slug:
		return another(
			f"the manifest is for {manifest.site_slug}, the files are named for {backup.site_slug}"
		)
	if dump_db and config_db and dump_db != config_db:
		return another(f"dump of database {dump_db}, but its site_config says db_name {config_db}")
	expected = site.db_name or (manifest.db_name if manifest else None)
	found_db = dump_db or config_db
	if expected and found_db and found_db != expected:
		source = "this site's" if site.db_name else "the manifest's"
		return another(f"{dbs}; {source} database is {expected}")
	proof = []
	if inside:
		proof.append(f"files archives hold {', '.join(inside)}")
	if found_db:
		proof.append(dbs + (" (the site's)" if expected else ""))
	return Check(
		code="backup_site",
		status=PASS,
		reason=f"backup {backup.prefix} belongs to {site.site or backup.site_slug}"
		+ (f": {'; '.join(proof)}" if proof else " (by its file names only)"),
		details=evidence,
	)


def _fingerprint(live: dict[str, str], restored: dict[str, str] | None) -> Check:
	"""The rows that identify a site (its Administrator's and Guest's creation times, written once
	at `bench new-site`) must be the live site's: a restore of another site has its own."""
	if not restored:
		return Check(
			code="site_fingerprint",
			status=WARN,
			reason="the restore has no tabUser creation times to compare with the site's",
		)
	differ = {k: (restored.get(k), v) for k, v in live.items() if restored.get(k) != v}
	if differ:
		key, (got, want) = next(iter(differ.items()))
		return Check(
			code="site_fingerprint",
			status=FAIL,
			reason=f"backup of another site ({key} is {got} in the backup, {want} on this site)",
			details={"backup": restored, "site": live},
		)
	return Check(
		code="site_fingerprint",
		status=PASS,
		reason=f"the site's identifying rows match ({', '.join(sorted(live))})",
		details={"site": live},
	)


def _restore_check(stats: RestoreStats) -> Check:
	return Check(
		code="restore",
		status=PASS,
		reason=f"{stats.sql_bytes} bytes of SQL, {stats.create_tables} tables streamed in "
		f"{stats.duration_s:.1f}s" + (", ending with `-- Dump completed`" if stats.completed else ""),
		details=stats.model_dump(),
	)


def _dump_source(stats: RestoreStats, site: SiteFacts, manifest: Manifest | None) -> Check:
	expected = site.db_name or (manifest.db_name if manifest else None)
	if not stats.source_database:
		return Check(
			code="dump_source",
			status=WARN if expected else SKIP,
			reason="the dump names no source database (no mysqldump header)",
		)
	if expected and stats.source_database != expected:
		return Check(
			code="dump_source",
			status=FAIL,
			reason=f"backup of another site (dump of database {stats.source_database}; the site's is {expected})",
		)
	return Check(
		code="dump_source",
		status=PASS if expected else SKIP,
		reason=f"dump taken from database {stats.source_database!r}",
	)


def _doctype_tables(facts: DatabaseFacts) -> Check:
	if facts.doctypes is None:
		return Check(
			code="doctype_tables",
			status=FAIL,
			reason="the restored database has no tabDocType: not a Frappe site",
		)
	if facts.doctypes_without_table:
		shown = ", ".join(facts.doctypes_without_table[:10])
		return Check(
			code="doctype_tables",
			status=FAIL,
			reason=f"{len(facts.doctypes_without_table)} of {facts.doctypes} DocTypes have no table: {shown}",
			details={"missing": facts.doctypes_without_table},
		)
	return Check(
		code="doctype_tables",
		status=PASS,
		reason=f"all {facts.doctypes} DocTypes (non-single, non-virtual) have their table",
	)


def _key_tables(facts: DatabaseFacts) -> Check:
	keys = list(dict.fromkeys([*KEY_TABLES, *facts.largest_tables(10)]))
	empty = [t for t in keys if facts.tables.get(t, 0) == 0]
	details = {t: facts.tables.get(t) for t in keys}
	if empty:
		return Check(
			code="key_tables",
			status=FAIL,
			reason="key tables missing or empty: " + ", ".join(empty),
			details=details,
		)
	return Check(code="key_tables", status=PASS, reason=f"{len(keys)} key tables hold rows", details=details)


def _row_counts(
	facts: DatabaseFacts, site: SiteFacts, manifest: Manifest | None, options: DrillOptions
) -> Check:
	"""Exact counts against what the set should hold: its manifest, else `--expect-counts`, else the
	live site's counts (a wider tolerance: the site has moved on since the backup)."""
	if manifest is not None and manifest.tables:
		expected, source, rel = manifest.tables, "manifest", options.tolerance_rel
	elif options.expected_counts:
		expected, source, rel = options.expected_counts, "expected counts", options.tolerance_rel
	elif site.expected_counts:
		expected, source, rel = site.expected_counts, "live site", options.live_tolerance_rel
	else:
		return Check(
			code="row_counts",
			status=SKIP,
			reason=f"no expected counts to compare (no manifest, live site or --expect-counts): "
			f"{len(facts.tables)} tables counted",
		)
	keys = set(KEY_TABLES) | set(sorted(expected, key=lambda t: -expected[t])[:10])
	live = source == "live site"
	off, drift = [], []
	for table, want in expected.items():
		found = facts.tables.get(table)
		if found is None:
			# A table the site gained after the backup (a migrate since) is not the backup's fault.
			(off if table in keys or not live else drift).append(f"{table} missing ({source}: {want} rows)")
		elif abs(found - want) > max(options.tolerance_abs, rel * want):
			(off if table in keys else drift).append(f"{table} {found} rows ({source}: {want})")
	details = {"source": source, "tolerance_rel": rel, "off": off, "drift": drift}
	if off:
		return Check(
			code="row_counts",
			status=FAIL,
			reason=f"row counts off the {source}: " + "; ".join(off[:10]),
			details=details,
		)
	if drift:
		return Check(
			code="row_counts",
			status=WARN,
			reason="non-key tables drifted: " + "; ".join(drift[:10]),
			details=details,
		)
	return Check(
		code="row_counts",
		status=PASS,
		reason=f"{len(expected)} tables within tolerance of the {source}",
		details=details,
	)


def _apps(facts: DatabaseFacts, site: SiteFacts, manifest: Manifest | None) -> Check:
	expected = (
		site.installed_apps if site.installed_apps is not None else (manifest.apps if manifest else None)
	)
	if facts.apps is None:
		return Check(
			code="installed_apps",
			status=FAIL if expected else SKIP,
			reason="no tabInstalled Application in the restore",
		)
	if expected is None:
		return Check(
			code="installed_apps",
			status=SKIP,
			reason="no live facts: restored apps " + ", ".join(sorted(facts.apps)),
		)
	if not expected and not facts.apps:
		return Check(
			code="installed_apps",
			status=SKIP,
			reason="neither the site nor the restore lists Installed Application rows: nothing to compare",
		)
	if set(facts.apps) != set(expected):
		extra, missing = sorted(set(facts.apps) - set(expected)), sorted(set(expected) - set(facts.apps))
		return Check(
			code="installed_apps",
			status=FAIL,
			reason=f"installed apps differ from the site's: only in backup {extra}, only on site {missing}",
		)
	changed = {a: (facts.apps[a], expected[a]) for a in expected if facts.apps[a] != expected[a]}
	if changed:
		return Check(
			code="installed_apps", status=WARN, reason=f"same apps, other versions (backup, site): {changed}"
		)
	return Check(
		code="installed_apps", status=PASS, reason="installed apps match: " + ", ".join(sorted(expected))
	)


def _patches(facts: DatabaseFacts, site: SiteFacts, manifest: Manifest | None) -> Check:
	restored = set(facts.patches or [])
	if site.patches is not None:
		unknown = sorted(restored - set(site.patches))
		newer = sorted(set(site.patches) - restored)
		if unknown:
			return Check(
				code="patch_log",
				status=FAIL,
				reason=f"the backup ran {len(unknown)} patches the site never ran (another site or version?): {unknown[:5]}",
			)
		if newer:
			return Check(
				code="patch_log",
				status=WARN,
				reason=f"the site ran {len(newer)} patches after this backup (restoring needs bench migrate): {newer[:5]}",
			)
		return Check(
			code="patch_log", status=PASS, reason=f"patch log matches the site's ({len(restored)} patches)"
		)
	if manifest and manifest.patches is not None:
		if len(restored) != manifest.patches:
			return Check(
				code="patch_log",
				status=FAIL,
				reason=f"{len(restored)} patches restored, the manifest recorded {manifest.patches}",
			)
		return Check(
			code="patch_log", status=PASS, reason=f"{len(restored)} patches, as the manifest recorded"
		)
	return Check(
		code="patch_log",
		status=SKIP,
		reason=f"no live patch list to compare: {len(restored)} patches restored",
	)


def _ledger(facts: DatabaseFacts, manifest: Manifest | None, options: DrillOptions) -> list[Check]:
	if facts.ledger is None:
		return [Check(code="ledger_balanced", status=SKIP, reason="no tabGL Entry: ERPNext is not installed")]
	unbalanced = {
		c: str(t.difference) for c, t in facts.ledger.items() if abs(t.difference) > options.ledger_tolerance
	}
	checks = [
		Check(
			code="ledger_balanced",
			status=FAIL,
			reason=f"GL Entry debits ≠ credits (debit - credit): {unbalanced}",
			details=unbalanced,
		)
		if unbalanced
		else Check(
			code="ledger_balanced",
			status=PASS,
			reason=f"GL Entry debits equal credits for {len(facts.ledger)} companies",
		)
	]
	if manifest is None or manifest.ledger is None:
		checks.append(Check(code="ledger_manifest", status=SKIP, reason="no ledger totals in the manifest"))
		return checks
	off = []
	for company, expected in manifest.ledger.items():
		got = facts.ledger.get(company)
		allowed = options.ledger_tolerance + Decimal(str(options.tolerance_rel)) * expected.debit
		if got is None:
			off.append(f"{company} has no GL Entry (manifest: debit {expected.debit})")
		elif abs(got.debit - expected.debit) > allowed or abs(got.credit - expected.credit) > allowed:
			off.append(
				f"{company} debit {got.debit} credit {got.credit} (manifest: {expected.debit} / {expected.credit})"
			)
	checks.append(
		Check(code="ledger_manifest", status=FAIL, reason="ledger totals off the manifest: " + "; ".join(off))
		if off
		else Check(
			code="ledger_manifest",
			status=PASS,
			reason=f"ledger totals of {len(manifest.ledger)} companies match the manifest",
		)
	)
	return checks

"""Restore drills on this site: settings, the drill's MariaDB account, the site's facts, and the job
that runs one drill and stores it as a `Restore Drill` (the core in erp_ops.core.drills does the work).
"""

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

import frappe
from frappe import _
from frappe.utils import get_bench_id, get_sites, get_system_timezone
from frappe.utils.background_jobs import get_redis_conn

from erp_ops.core.clock import to_site_time
from erp_ops.core.control.models import Action, ActionOutcome
from erp_ops.core.drills import (
	DrillOptions,
	DrillResult,
	RetentionPolicy,
	SiteFacts,
	drill_lock,
	latest_backup_set,
	run_drill,
)
from erp_ops.core.drills.client import MariaDBClient, MariaDBTarget
from erp_ops.core.drills.discovery import BackupSet
from erp_ops.core.drills.errors import BackupNotFound, DrillAlreadyRunning
from erp_ops.core.drills.facts import collect_facts, site_identity
from erp_ops.core.drills.schedule import LOCK
from erp_ops.site.preflight import backup_path

DRILL_DOCTYPE = "Restore Drill"
JOB_METHOD = "erp_ops.site.drills.run_restore_drill"
# Frappe prefixes the site (`<site>::erp_ops_restore_drill`): one queued or running drill per site.
JOB_ID = "erp_ops_restore_drill"
QUEUE = "long"
DEFAULT_CRON = "30 2 * * *"


@dataclass(frozen=True)
class DrillSettings:
	"""Ops Settings' restore drill section, defaults filled in."""

	enabled: bool
	cron: str
	time_limit_s: int
	max_age: timedelta
	require_files: bool
	tolerance_rel: float
	manifest_enabled: bool
	immutable_backups: bool
	retention_enabled: bool
	retention_apply: bool
	policy: RetentionPolicy


def drill_settings() -> DrillSettings:
	settings = frappe.get_cached_doc("Ops Settings")

	def number(field: str, default: float) -> float:
		value = settings.get(field)
		return default if value in (None, "") else value

	def flag(field: str, default: int) -> bool:
		return bool(int(number(field, default)))

	return DrillSettings(
		enabled=flag("drills_enabled", 0),
		cron=(settings.get("drill_cron") or DEFAULT_CRON).strip(),
		time_limit_s=max(int(number("drill_time_limit", 3600)), 60),
		max_age=timedelta(days=max(int(number("drill_max_age_days", 7)), 1)),
		require_files=flag("drill_require_files", 1),
		tolerance_rel=float(number("drill_tolerance_pct", 2)) / 100,
		manifest_enabled=flag("manifest_enabled", 1),
		immutable_backups=flag("immutable_backups", 0),
		retention_enabled=flag("retention_enabled", 0),
		retention_apply=flag("retention_apply", 0),
		policy=RetentionPolicy(
			daily=int(number("retention_daily", 7)),
			weekly=int(number("retention_weekly", 4)),
			monthly=int(number("retention_monthly", 12)),
		),
	)


# Where a drill restores and with which account: System Manager fields (permlevel 1) of Ops Settings.
DRILL_DB_FIELDS = ("drill_db_host", "drill_db_port", "drill_db_user", "drill_db_password")
ALLOWED_HOSTS_CONF = "erp_ops_drill_db_hosts"  # site config: other servers a drill may restore to
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


class DrillTargetRefused(frappe.PermissionError):
	"""The configured drill database server or account is not allowed (see `drill_target`)."""


def drill_target() -> MariaDBTarget:
	"""The account that creates and drops scratch databases, and the server it is on.

	The host defaults to the site's own `db_host`; any other host must be listed in site config
	`erp_ops_drill_db_hosts` (set by whoever controls the server, not from Desk). The account is
	Ops Settings' drill DB user, else the bench's `root_login`/`root_password` (the site's own DB
	user may not CREATE DATABASE) — and those root credentials are only ever sent to the site's own
	database server. A refusal raises DrillTargetRefused before any connection is made.
	"""
	settings = frappe.get_cached_doc("Ops Settings")
	site_host = frappe.conf.get("db_host") or "127.0.0.1"
	site_port = int(frappe.conf.get("db_port") or 3306)
	host = (settings.get("drill_db_host") or "").strip() or site_host
	port = int(settings.get("drill_db_port") or site_port)
	own_server = _same_server(host, port, site_host, site_port)
	if not own_server and host not in _allowed_hosts():
		raise DrillTargetRefused(
			_(
				"Drill DB host {0}:{1} is not this site's database server; a server administrator must "
				"list it in site config {2} first"
			).format(host, port, ALLOWED_HOSTS_CONF)
		)
	user = (settings.get("drill_db_user") or "").strip()
	password = settings.get_password("drill_db_password", raise_exception=False) if user else None
	if not user:
		if not own_server:
			raise DrillTargetRefused(
				_(
					"Drill DB host {0}:{1} is not this site's database server: the bench's root "
					"credentials are never sent there; set a Drill DB User for it"
				).format(host, port)
			)
		user = frappe.conf.get("root_login") or "root"
		password = frappe.conf.get("root_password")
	return MariaDBTarget(host=host, port=port, user=user, password=password or "")


def _allowed_hosts() -> set[str]:
	configured = frappe.conf.get(ALLOWED_HOSTS_CONF) or []
	if isinstance(configured, str):
		configured = configured.split(",")
	return {str(h).strip() for h in configured if str(h).strip()}


def _same_server(host: str, port: int, site_host: str, site_port: int) -> bool:
	"""By name and port as configured (no DNS: a name that resolves elsewhere tomorrow is not ours);
	the loopback spellings are one server."""
	if port != site_port:
		return False
	return host == site_host or (host in LOOPBACK and site_host in LOOPBACK)


def check_drill_db_change(doc) -> list[str]:
	"""Ops Settings' validate: the drill DB fields changed by this save (never the password's value);
	a user without System Manager may not change them, even where permission checks are skipped
	(`ignore_permissions`): refused, logged, PermissionError."""
	changed = [f for f in DRILL_DB_FIELDS if _drill_field_changed(doc, f)]
	if not changed:
		return []
	user = frappe.session.user
	if user != "Administrator" and "System Manager" not in frappe.get_roles(user):
		from erp_ops.site.audit import append_entry, new_entry

		append_entry(
			new_entry(
				Action.SETTINGS,
				["Ops Settings", *changed],
				_("change the restore drills' database server or account"),
				ActionOutcome.DENIED,
				error=_("needs System Manager"),
			)
		)
		frappe.db.commit()  # the refusal below rolls the request back: keep its evidence
		raise frappe.PermissionError(
			_("Only a System Manager may change where restore drills restore or their account: {0}").format(
				", ".join(changed)
			)
		)
	return changed


def log_drill_db_change(doc, changed: list[str]) -> str:
	"""One Ops Action Log row for a change of the drill's server or account (no password value)."""
	from erp_ops.site.audit import append_entry, new_entry

	before = doc.get_doc_before_save()

	def where(d) -> str:
		if d is None:
			return "-"
		return f"{d.get('drill_db_user') or 'root_login'}@{d.get('drill_db_host') or 'db_host'}:{d.get('drill_db_port') or 'db_port'}"

	return append_entry(
		new_entry(
			Action.SETTINGS,
			["Ops Settings", *changed],
			_("restore drills' database server or account changed"),
			ActionOutcome.DONE,
			state_before=where(before)[:140],
			state_after=where(doc)[:140],
		)
	)


def _drill_field_changed(doc, field: str) -> bool:
	if field == "drill_db_password":  # the form sends asterisks for an unchanged password
		value = doc.get(field) or ""
		return bool(value) and set(value) != {"*"}
	before = doc.get_doc_before_save()
	old = before.get(field) if before else None
	return (old or None) != (doc.get(field) or None)


def site_databases() -> list[str]:
	"""The database of every site on this bench: none of them may ever be a restore target."""
	names = {frappe.conf.db_name}
	sites_path = os.path.abspath(frappe.local.sites_path)
	for site in get_sites(sites_path):
		try:
			with open(os.path.join(sites_path, site, "site_config.json")) as f:
				name = json.load(f).get("db_name")
		except (OSError, ValueError):
			continue
		if name:
			names.add(name)
	return sorted(n for n in names if n)


def site_facts(client: MariaDBClient | None = None, backup: BackupSet | None = None) -> SiteFacts:
	"""The live site's identity (name, db_name, apps, patches, the fingerprint rows) and, for a set
	without a manifest, its exact row counts: what the drill judges the backup against.

	The fingerprint and counts are read with the drill's client, the same queries as in the
	restored copy (core facts), so both sides are formatted alike."""
	apps = frappe.get_all("Installed Application", fields=["app_name", "app_version"])
	db_name = frappe.conf.db_name
	fingerprint = expected = None
	if client is not None:
		fingerprint = site_identity(client, db_name)
		if backup is not None and not os.path.exists(backup.manifest_path):
			expected = collect_facts(client, db_name, with_patches=False).tables
	return SiteFacts(
		site=frappe.local.site,
		db_name=db_name,
		site_databases=site_databases(),
		# Filled by `bench migrate` (Installed Applications.update_versions), empty on a new site:
		# nothing to compare then, rather than two empty sets that "match".
		installed_apps={a.app_name: a.app_version for a in apps} or None,
		patches=frappe.get_all("Patch Log", pluck="patch"),
		fingerprint=fingerprint,
		expected_counts=expected,
	)


def drill_options(settings: DrillSettings) -> DrillOptions:
	return DrillOptions(
		require_files=settings.require_files,
		encryption_key=frappe.conf.get("backup_encryption_key"),
		tolerance_rel=settings.tolerance_rel,
		time_zone=get_system_timezone(),
		# Every drill of this bench marks its scratch database so; any of them sweeps a dead one.
		owner=f"frappe:{get_bench_id()}",
		lease_s=2 * settings.time_limit_s,
		# Another drill on this host (another site's, or the standalone CLI): wait for it, within
		# half the time limit, rather than both running several times slower.
		lock_wait_s=settings.time_limit_s / 2,
	)


def lock_held(site: str | None = None) -> bool:
	"""Whether a drill of the site holds its lock now (the scheduler does not queue another then)."""
	return bool(get_redis_conn().exists(LOCK.format(bench=get_bench_id(), site=site or frappe.local.site)))


def queue_drill(triggered_by: str, user: str | None = None) -> tuple[str, str | None]:
	"""A `Queued` Restore Drill and its `long` job; (drill name, None) when a drill is queued already.

	Commits: the job must find the record, and a deduplicated request leaves none behind.
	"""
	from frappe.utils.background_jobs import create_job_id, is_job_enqueued

	settings = drill_settings()
	if is_job_enqueued(JOB_ID):
		return _queued_drill(), None
	name = new_drill(triggered_by, user)
	frappe.db.commit()  # the job, in another process, must find the record
	job = frappe.enqueue(
		JOB_METHOD,
		queue=QUEUE,
		timeout=settings.time_limit_s,
		job_id=JOB_ID,
		deduplicate=True,
		drill=name,
	)
	if job is None:  # another request queued one between the check and here
		frappe.delete_doc(DRILL_DOCTYPE, name, ignore_permissions=True, force=True)
		frappe.db.commit()  # the record was committed for the job: so is its removal
		return _queued_drill(), None
	frappe.db.set_value(DRILL_DOCTYPE, name, "job_id", create_job_id(JOB_ID))
	frappe.db.commit()  # the job may be running already and writes this row: release its lock
	return name, create_job_id(JOB_ID)


def new_drill(triggered_by: str, user: str | None = None) -> str:
	doc = frappe.get_doc(
		{
			"doctype": DRILL_DOCTYPE,
			"site": frappe.local.site,
			"outcome": "Queued",
			"triggered_by": triggered_by,
			"requested_by": user or frappe.session.user,
		}
	)
	doc.insert(ignore_permissions=True)
	return doc.name


def run_restore_drill(
	drill: str | None = None,
	backup_folder: str | None = None,
	triggered_by: str = "Scheduler",
	time_limit_s: int | None = None,
) -> str:
	"""The drill job: lock, sweep, drill the newest backup set, store the verdict; the drill's name.

	Whatever happens the record ends Passed, Not Verified or Failed with a reason: a timeout (rq raises
	JobTimeoutException inside the drill, whose `finally` has dropped the scratch database by the
	time it gets here) or any other error is stored, committed, and raised again for RQ.
	"""
	from rq.timeouts import JobTimeoutException

	settings = drill_settings()
	limit = time_limit_s or settings.time_limit_s
	site = frappe.local.site
	if not drill or not frappe.db.exists(DRILL_DOCTYPE, drill):
		drill = new_drill(triggered_by)
	doc = frappe.get_doc(DRILL_DOCTYPE, drill)
	try:
		with drill_lock(get_redis_conn(), get_bench_id(), site, limit):
			_mark_running(doc)
			client = MariaDBClient(drill_target())
			try:
				backup = latest_backup_set(backup_folder or backup_path(), site)
			except BackupNotFound as exc:
				_finish(doc, "Failed", str(exc))
				return doc.name
			# The core sweeps this bench's dead drills' scratch databases first (result.swept).
			result = run_drill(client, backup, site_facts(client, backup), drill_options(settings))
			store_result(doc, result)
	except DrillAlreadyRunning as exc:
		_finish(doc, "Failed", _("did not run: {0}").format(exc), started=False)
	except JobTimeoutException:
		frappe.db.rollback()
		_finish(doc, "Failed", _("timed out after {0} s (Ops Settings: drill time limit)").format(limit))
		raise
	except Exception as exc:
		frappe.db.rollback()
		_finish(doc, "Failed", f"{type(exc).__name__}: {exc}")
		raise
	finally:
		_log_run(doc)
	return doc.name


def _mark_running(doc) -> None:
	doc.db_set(
		{"outcome": "Running", "started_at": frappe.utils.now_datetime(), "reason": None},
		commit=True,  # visible to Desk and the lost-drill sweep for the drill's whole run
	)


def _finish(doc, outcome: str, reason: str, started: bool = True) -> None:
	doc.reload()
	values = {"outcome": outcome, "reason": reason[:5000], "finished_at": frappe.utils.now_datetime()}
	if not started:
		values["started_at"] = None
	doc.db_set(values, commit=True)  # the job re-raises next: RQ's handler rolls back


OUTCOMES = {"passed": "Passed", "not_verified": "Not Verified", "failed": "Failed"}


def store_result(doc, result: DrillResult) -> None:
	"""Fill the Restore Drill from the core's result (times in site time) and commit.

	The core's verdict maps onto the record's outcome: passed → Passed, "restored, not verified"
	→ Not Verified (restored, nothing said what it should hold), failed → Failed."""
	tz = get_system_timezone()
	doc.reload()
	doc.update(
		{
			"outcome": OUTCOMES[result.outcome.value],
			"reason": result.reason[:5000],
			"backup_stamp": result.backup_stamp,
			"backup_folder": result.backup_folder,
			"backup_taken_at": to_site_time(result.backup_taken_at, tz),
			"manifest": result.manifest,
			"started_at": to_site_time(result.started_at, tz),
			"finished_at": to_site_time(result.finished_at, tz),
			"rpo_s": result.rpo_s,
			"rto_s": result.rto_s,
			"verify_s": result.verify_s,
			"sql_bytes": result.sql_bytes,
			"tables": result.tables,
			"rows": result.rows,
			"scratch_database": result.scratch_database,
			"scratch_dropped": int(result.scratch_dropped),
			"interrupted": int(result.interrupted),
			"chosen_because": result.chosen_because,
			"swept": ", ".join(result.swept) or None,
			"table_counts": json.dumps(result.table_counts, sort_keys=True),
			"result": result.model_dump_json(),
		}
	)
	doc.set(
		"files",
		[
			{
				"kind": f.kind.value,
				"file_name": f.name,
				"size": f.size,
				"sha256": f.sha256,
				"encrypted": int(f.encrypted),
				"archive_files": f.archive_files,
			}
			for f in result.files
		],
	)
	checks = [
		{
			"code": c.code,
			"status": c.status.value,
			"reason": c.reason,
			"details": json.dumps(c.details, default=str) if c.details else None,
		}
		for c in result.checks
	]
	doc.set("checks", checks)
	doc.save(ignore_permissions=True)
	frappe.db.commit()  # a long drill's verdict is kept whatever the job does next


def _log_run(doc) -> None:
	"""Desk- and bench-started drills leave an Ops Action Log row (the scheduler's own record is the drill)."""
	if doc.triggered_by not in ("Desk", "Bench"):
		return
	from erp_ops.site.audit import append_entry, new_entry

	outcome = frappe.db.get_value(DRILL_DOCTYPE, doc.name, ["outcome", "reason"], as_dict=True)
	append_entry(
		new_entry(
			Action.DRILL,
			[doc.site or frappe.local.site, doc.name],
			_("restore drill"),
			ActionOutcome.FAILED if outcome.outcome == "Failed" else ActionOutcome.DONE,
			user=doc.requested_by or "Administrator",
			state_before="Queued",
			state_after=outcome.outcome,
			error=None if outcome.outcome == "Passed" else outcome.reason,
		)
	)
	frappe.db.commit()  # in the job's `finally`: a failed drill re-raises, and RQ's handler rolls back


# queue_drill commits the record a moment before it enqueues the job: younger records may be fine.
LOST_AFTER = timedelta(minutes=2)


def settle_lost_drills(now: datetime | None = None) -> list[str]:
	"""Mark Failed, with why, the open drills that can no longer finish; their names.

	A drill holds the site's lock from before it is marked Running until its verdict is stored, and
	its job stays queued or started until then. So with the lock free, a Queued or Running drill
	that no live job names will never change: its job left the queue unrun (Redis restarted or
	flushed, the job deleted) or its worker died without a verdict (killed, machine restarted).
	"""
	from frappe.utils.background_jobs import get_job
	from rq.job import JobStatus

	open_drills = frappe.get_all(
		DRILL_DOCTYPE,
		filters={"outcome": ("in", ("Queued", "Running")), "site": frappe.local.site},
		fields=["name", "outcome", "creation"],
	)
	if not open_drills or lock_held():
		return []
	job = get_job(JOB_ID)
	live = (
		(job.kwargs.get("kwargs") or {}).get("drill")  # frappe.enqueue nests the method's kwargs
		if job is not None and job.get_status() in (JobStatus.QUEUED, JobStatus.STARTED)
		else None
	)
	now = now or frappe.utils.now_datetime()
	lost = []
	for drill in open_drills:
		if drill.name == live or now - drill.creation < LOST_AFTER:
			continue
		# A locking read sees the latest commit, not this transaction's snapshot: the verdict of
		# a drill that ended since the list was read is kept.
		if frappe.db.get_value(DRILL_DOCTYPE, drill.name, "outcome", for_update=True) != drill.outcome:
			continue
		doc = frappe.get_doc(DRILL_DOCTYPE, drill.name)
		if drill.outcome == "Queued":
			_finish(doc, "Failed", _("lost before it ran: its job is no longer queued"), started=False)
		else:
			_finish(doc, "Failed", _("lost while running: its worker stopped without a verdict"))
		_log_run(doc)
		lost.append(drill.name)
	return lost


def _queued_drill() -> str | None:
	return frappe.db.get_value(
		DRILL_DOCTYPE, {"outcome": ("in", ("Queued", "Running"))}, "name", order_by="creation desc"
	)


def drill_history() -> dict:
	"""The latest drill that ran and the latest that passed (what drill_health needs), in UTC."""
	fields = ["name", "outcome", "reason", "started_at", "finished_at", "rpo_s", "rto_s"]
	ran = frappe.get_all(
		DRILL_DOCTYPE,
		filters={"outcome": ("in", ("Passed", "Not Verified", "Failed")), "started_at": ("is", "set")},
		fields=fields,
		order_by="started_at desc",
		limit=1,
	)
	passed = frappe.get_all(
		DRILL_DOCTYPE, filters={"outcome": "Passed"}, fields=fields, order_by="started_at desc", limit=1
	)
	return {"last": ran[0] if ran else None, "passed": passed[0] if passed else None}

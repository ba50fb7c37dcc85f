"""The upgrade preflight in a site: what only the site knows, the job that runs it, its record.

The facts (`site_facts`) are read, never written: the database (Patch Log, customizations,
information_schema), the site's config, its backup folder and this site's jobs in Redis; they go
to the core as `SiteFacts`. `execute` is the `long` job api/preflight.run queues: it runs the core,
stores the report as an `Upgrade Preflight` and logs the run in the Ops Action Log.
"""

import os
from datetime import datetime
from pathlib import Path

import frappe
from frappe.utils import cint, get_bench_id, get_bench_path, get_datetime, get_system_timezone
from frappe.utils.background_jobs import get_queue_list, get_redis_conn
from frappe.utils.scheduler import is_scheduler_inactive
from redis import Redis

from erp_ops.core import rq_keys
from erp_ops.core.clock import from_site_time, to_site_time
from erp_ops.core.control.models import Action, ActionOutcome
from erp_ops.core.preflight import (
	BackupInfo,
	Customization,
	PreflightReport,
	SiteFacts,
	SiteScript,
	pending_patches,
	run_preflight,
	to_text,
)
from erp_ops.core.preflight.facts import find_latest_backup
from erp_ops.core.preflight.record import to_record
from erp_ops.site.audit import append_entry, new_entry
from erp_ops.site.errors import core_errors

RESTORE_DRILL = "Restore Drill"
# Outcomes a `Restore Drill` may record for a drill that proved the backup restores.
DRILL_PASSED = ("passed", "Passed", "success", "Success", "ok", "OK")
# Registries where a job waits or runs; finished, failed and canceled ones are done with.
PENDING_REGISTRIES = (rq_keys.Registry.STARTED, rq_keys.Registry.DEFERRED, rq_keys.Registry.SCHEDULED)


def site_facts(ignore_job_ids: tuple[str, ...] = ()) -> SiteFacts:
	"""The current site's facts for the preflight; `ignore_job_ids` are not pending (the job running it)."""
	drills_exist, last_drill = restore_drill_facts()
	return SiteFacts(
		site=frappe.local.site,
		pending_patches=pending_patches(patches_by_app(), executed_patches()),
		customizations=customizations(),
		scheduler_paused=bool(is_scheduler_inactive(verbose=False)),
		pending_jobs=pending_job_count(get_redis_conn(), get_bench_id(), frappe.local.site, ignore_job_ids),
		last_restore_drill_at=last_drill,
		drills_exist=drills_exist,
		db_size_bytes=database_size(),
		mariadb_version=database_version(),
		last_backup=latest_backup(),
		scripts=site_scripts(),
	)


def bench_path() -> str:
	return os.path.abspath(get_bench_path())


def backup_path() -> str:
	return os.path.abspath(frappe.get_site_path(frappe.conf.get("backup_path") or "private/backups"))


def patches_by_app() -> dict[str, str]:
	"""Each installed app's patches.txt text (apps without one are left out)."""
	texts = {}
	for app in frappe.get_installed_apps():
		path = Path(frappe.get_app_path(app, "patches.txt"))
		if path.is_file():
			texts[app] = path.read_text(encoding="utf-8")
	return texts


def executed_patches() -> set[str]:
	# A skipped patch has a Patch Log row too, but never ran: it is still pending.
	return set(frappe.get_all("Patch Log", filters={"skipped": 0}, pluck="patch"))


def customizations() -> list[Customization]:
	"""Custom Fields, Property Setters, Server and Client Scripts, and the standard DocTypes they customise."""
	found = [
		Customization(kind="Custom Field", doctype=row.dt, name=row.name)
		for row in frappe.get_all("Custom Field", fields=["name", "dt"], order_by="dt, name")
	]
	found += [
		Customization(kind="Property Setter", doctype=row.doc_type, name=row.name)
		for row in frappe.get_all("Property Setter", fields=["name", "doc_type"], order_by="doc_type, name")
	]
	found += [
		Customization(kind="Server Script", doctype=row.reference_doctype or "", name=row.name)
		for row in frappe.get_all("Server Script", fields=["name", "reference_doctype"], order_by="name")
	]
	found += [
		Customization(kind="Client Script", doctype=row.dt, name=row.name)
		for row in frappe.get_all("Client Script", fields=["name", "dt"], order_by="name")
	]
	touched = {c.doctype for c in found if c.kind in ("Custom Field", "Property Setter")}
	if touched:
		standard = frappe.get_all(
			"DocType", filters={"name": ("in", sorted(touched)), "custom": 0}, pluck="name", order_by="name"
		)
		found += [Customization(kind="Customize Form", doctype=name, name=name) for name in standard]
	return found


def site_scripts() -> list[SiteScript]:
	"""The code of enabled Client Scripts and Server Scripts: scanned like an app's code."""
	scripts = [
		SiteScript(kind="Client Script", name=row.name, code=row.script or "")
		for row in frappe.get_all(
			"Client Script", filters={"enabled": 1}, fields=["name", "script"], order_by="name"
		)
	]
	scripts += [
		SiteScript(kind="Server Script", name=row.name, code=row.script or "")
		for row in frappe.get_all(
			"Server Script", filters={"disabled": 0}, fields=["name", "script"], order_by="name"
		)
	]
	return scripts


def pending_job_count(conn: Redis, bench_id: str, site: str, ignore_job_ids: tuple[str, ...] = ()) -> int:
	"""This site's jobs that are queued, started, deferred or scheduled, read from RQ's keys.

	Straight reads of the lists and sorted sets: RQ's own counters run `cleanup()`, which moves jobs.
	"""
	prefix = f"{site}::"
	pipe = conn.pipeline(transaction=False)
	for short in get_queue_list():
		queue = f"{bench_id}:{short}"
		pipe.lrange(rq_keys.queue_key(queue), 0, -1)
		for registry in PENDING_REGISTRIES:
			pipe.zrange(registry.value.format(queue=queue), 0, -1)
	replies = pipe.execute()
	count = 0
	for index, members in enumerate(replies):
		started = index % (1 + len(PENDING_REGISTRIES)) == 1
		for member in members:
			job_id = rq_keys.as_text(member)
			if started:
				job_id = rq_keys.started_member_job_id(job_id)
			count += job_id.startswith(prefix) and job_id not in ignore_job_ids
	return count


def database_size() -> int | None:
	"""Data and index bytes of the site's database (information_schema)."""
	rows = frappe.db.sql(
		"""select sum(data_length + index_length) from information_schema.tables
		where table_schema = %s""",
		(frappe.conf.db_name,),
	)
	return int(rows[0][0]) if rows and rows[0][0] is not None else None


def database_version() -> str | None:
	rows = frappe.db.sql("select version()")
	return str(rows[0][0]) if rows else None


def latest_backup() -> BackupInfo | None:
	"""The newest backup set in this site's backup folder, with its files archives."""
	return find_latest_backup(Path(backup_path()))


def restore_drill_facts() -> tuple[bool, datetime | None]:
	"""Whether restore drills exist on this site and when the last successful one ran (aware UTC).

	`Restore Drill` comes with the drills' Frappe layer; until it is installed there are none.
	"""
	if not frappe.db.exists("DocType", RESTORE_DRILL):
		return False, None
	meta = frappe.get_meta(RESTORE_DRILL)
	if not frappe.db.count(RESTORE_DRILL):
		return False, None
	when = next((f for f in ("finished_at", "ended_at", "started_at") if meta.has_field(f)), "creation")
	filters = {}
	status = next((f for f in ("status", "outcome") if meta.has_field(f)), None)
	if status:
		filters[status] = ("in", DRILL_PASSED)
	rows = frappe.get_all(RESTORE_DRILL, filters=filters, fields=[when], order_by=f"{when} desc", limit=1)
	if not rows or not rows[0][when]:
		return True, None
	local = get_datetime(rows[0][when])
	return True, from_site_time(local, get_system_timezone())


# Running it (the `long` job queued by api/preflight.run) and storing it -----------------------

REASON = "upgrade preflight"


def execute(target: int) -> dict:
	"""Run the preflight of this site and bench, store it and log the run; the job's body.

	The run is logged in the Ops Action Log whatever its outcome, as the user who asked for it.
	"""
	target = cint(target)
	try:
		report = preflight_report(target)
		name = create_record(report)
	except Exception as e:
		frappe.db.rollback()
		_log(target, ActionOutcome.FAILED, error=f"{type(e).__name__}: {e}")
		frappe.db.commit()  # the job's failure rolls back: keep the evidence first
		raise
	state = f"{report.verdict.value}, risk {report.risk.score}/100 ({report.risk.band.value})"
	log = _log(target, ActionOutcome.DONE, targets=[f"v{target}", name], state_after=state)
	return {
		"name": name,
		"verdict": report.verdict.value,
		"risk_score": report.risk.score,
		"risk_band": report.risk.band.value,
		"findings": len(report.findings),
		"log": log,
		# for a terminal: plain text from the report itself (the stored Markdown is for Desk)
		"text": to_text(report),
	}


def preflight_report(target: int) -> PreflightReport:
	"""The core's preflight of this bench, with this site's facts and the bench's queues.

	Run from a background job, that job is started while it reads the queues: it is not in the way.
	"""
	from rq import get_current_job

	job = get_current_job()
	running = (job.id,) if job else ()
	with core_errors():
		return run_preflight(
			bench_path(),
			target,
			site_facts=site_facts(running),
			redis_conn=get_redis_conn(),
			bench_id=get_bench_id(),
			ignore_job_ids=running,
			backup_path=backup_path(),
		)


def _log(target: int, outcome: ActionOutcome, **fields) -> str:
	targets = fields.pop("targets", [f"v{target}"])
	return append_entry(new_entry(Action.PREFLIGHT, targets, REASON, outcome, **fields))


def create_record(report: PreflightReport) -> str:
	"""Store a report as an `Upgrade Preflight` with its findings; returns the document's name.

	Only code writes these (the DocType is `in_create`), so permissions were checked by the caller.
	"""
	record = to_record(report).model_dump()
	record["generated_at"] = to_site_time(
		datetime.fromisoformat(record["generated_at"]), get_system_timezone()
	)
	doc = frappe.get_doc({"doctype": "Upgrade Preflight", **record})
	doc.insert(ignore_permissions=True)
	return doc.name


def latest() -> dict | None:
	"""The newest preflight's name, verdict and score, or None when none was run."""
	rows = frappe.get_all(
		"Upgrade Preflight",
		fields=["name", "verdict", "risk_score", "risk_band", "target", "generated_at"],
		order_by="generated_at desc, creation desc",
		limit=1,
	)
	return rows[0] if rows else None

"""This site's backup folder around the drills: manifests and their hash chain, GFS retention with a
`Backup Retention Log`, and the daily staleness alert. The core (erp_ops.core.drills) does the work.
"""

import hashlib
import json
import os
from datetime import datetime, timezone

import frappe
from frappe import _
from frappe.utils import get_bench_id, get_system_timezone, now_datetime
from frappe.utils.background_jobs import get_redis_conn

from erp_ops.core.clock import from_site_time
from erp_ops.core.drills import apply_retention as apply_plan
from erp_ops.core.drills import drill_health, find_backup_sets, plan_retention, verify_chain
from erp_ops.core.drills.client import MariaDBClient
from erp_ops.core.drills.discovery import backup_set_of, site_slug
from erp_ops.core.drills.errors import BackupNotFound
from erp_ops.core.drills.manifest import ChainIssue, make_immutable, record_manifest
from erp_ops.core.drills.retention import DeletionRecord, RetentionPlan
from erp_ops.core.drills.schedule import DrillHealth
from erp_ops.site.audit import current_anchor, manifest_head, set_manifest_head
from erp_ops.site.drills import drill_history, drill_settings, drill_target
from erp_ops.site.preflight import backup_path

ALERT_KEY = "erp_ops:{bench}:drill-stale-alert:{site}:{day}"
RETENTION_LOG = "Backup Retention Log"


# Manifests ---------------------------------------------------------------------------------------


def take_backup(with_files: bool = True) -> dict:
	"""`bench backup` for this site, then its manifest at once (the counts match the dump closely)."""
	from frappe.utils.backups import new_backup

	odb = new_backup(ignore_files=not with_files, force=True)
	backup = backup_set_of(odb.backup_path_db)
	head = _record(backup)
	return {"stamp": backup.stamp, "folder": backup.folder, "files": sorted(backup.files), "head": head}


def record_new_manifests() -> list[str]:
	"""Write the manifest of every set newer than the chain head that has none; the stamps written.

	v15 has no after-backup hook, so the scheduler's backups get theirs within the hour. The first
	time (no head yet) only the newest set gets one: older sets' counts have drifted too far.
	"""
	settings = drill_settings()
	if not settings.manifest_enabled:
		return []
	head_stamp = manifest_head()[1]
	try:
		found = find_backup_sets(backup_path(), frappe.local.site)
	except BackupNotFound:  # no backup folder yet
		return []
	sets = [s for s in found if s.database is not None and not s.database.partial and s.stamp > head_stamp]
	if not head_stamp:
		sets = sets[-1:]
	written = []
	for backup in sets:
		if not os.path.exists(backup.manifest_path):
			_record(backup)
			written.append(backup.stamp)
	return written


def _record(backup) -> str:
	head = record_manifest(
		MariaDBClient(drill_target()),
		backup,
		frappe.conf.db_name,
		frappe.local.site,
		frappe.conf.get("backup_encryption_key"),
		action_log=current_anchor(),  # every manifest anchors the action log's head
	)
	set_manifest_head(head, backup.stamp)
	frappe.db.commit()  # the manifest file is written: the head naming it is durable before the files are locked
	if drill_settings().immutable_backups:
		paths = [f.path for f in backup.files.values()] + [backup.manifest_path]
		failed = {p: e for p, e in make_immutable(paths).items() if e}
		if failed:
			frappe.logger("erp_ops").warning(f"chattr +i failed for {len(failed)} backup file(s): {failed}")
	return head


def chain_issues() -> list[ChainIssue]:
	"""Every broken link, changed or missing file of this site's manifests (the head as recorded)."""
	head = manifest_head()[0]
	return verify_chain(backup_path(), site_slug(frappe.local.site), head)


# Retention ---------------------------------------------------------------------------------------


def retention_plan() -> RetentionPlan:
	"""The GFS plan; the set of the newest drill that passed is kept whatever the windows say."""
	verified = frappe.get_all(
		"Restore Drill",
		filters={"outcome": "Passed", "backup_stamp": ("is", "set")},
		pluck="backup_stamp",
		order_by="started_at desc",
		limit=1,
	)
	return plan_retention(backup_path(), drill_settings().policy, frappe.local.site, protect=verified)


def plan_id(plan: RetentionPlan) -> str:
	"""What an Ops Manager confirms: the exact files (name, size, SHA-256) the plan would delete."""
	files = sorted((f.name, f.size, f.sha256) for s in plan.deletions for f in s.files)
	return hashlib.sha256(json.dumps(files).encode()).hexdigest()


def plan_summary(plan: RetentionPlan) -> dict:
	return {
		"plan_id": plan_id(plan),
		"folder": plan.folder,
		"policy": plan.policy.model_dump(),
		"keep": [{"stamp": s.stamp, "reasons": s.reasons} for s in plan.sets if s.keep],
		"delete": [
			{"stamp": s.stamp, "files": [f.model_dump(exclude={"path"}) for f in s.files]}
			for s in plan.deletions
		],
	}


def log_retention(plan: RetentionPlan, records: list[DeletionRecord] | None, user: str | None = None) -> str:
	"""A Backup Retention Log of a plan (dry run) or of what applying it did, file by file."""
	stamps = {f.name: s.stamp for s in plan.deletions for f in s.files}
	if records is None:
		entries = [
			{
				"backup_stamp": s.stamp,
				"file_name": f.name,
				"size": f.size,
				"sha256": f.sha256,
				"deleted": 0,
				"reason": _("planned: {0}").format("; ".join(s.reasons)),
			}
			for s in plan.deletions
			for f in s.files
		]
	else:
		entries = [
			{
				"backup_stamp": stamps.get(r.name),
				"file_name": r.name,
				"size": r.size,
				"sha256": r.sha256,
				"deleted": int(r.deleted),
				"reason": r.reason,
			}
			for r in records
		]
	doc = frappe.get_doc(
		{
			"doctype": RETENTION_LOG,
			"site": frappe.local.site,
			"ran_at": now_datetime(),
			"user": user or frappe.session.user,
			"dry_run": int(records is None),
			"policy_daily": plan.policy.daily,
			"policy_weekly": plan.policy.weekly,
			"policy_monthly": plan.policy.monthly,
			"sets_kept": sum(1 for s in plan.sets if s.keep),
			"files_planned": sum(len(s.files) for s in plan.deletions),
			"files_deleted": sum(1 for e in entries if e["deleted"]),
			"backup_folder": plan.folder,
			"entries": entries,
		}
	)
	doc.insert(ignore_permissions=True)
	return doc.name


def apply_confirmed(confirmed_plan_id: str, user: str | None = None) -> tuple[str, list[DeletionRecord]]:
	"""Re-plan and delete only when the plan is still exactly the confirmed one; the log and records."""
	from erp_ops.core.errors import Conflict

	plan = retention_plan()
	if plan_id(plan) != confirmed_plan_id:
		raise Conflict("the retention plan changed since it was shown: review the new plan and confirm it")
	records = apply_plan(plan)
	name = log_retention(plan, records, user)
	log_retention_action(name, records, user)
	return name, records


def log_retention_action(log: str, records: list[DeletionRecord], user: str | None = None) -> str:
	"""Deleting backups is an audited action: one Ops Action Log row naming the Backup Retention Log."""
	from erp_ops.core.control.models import Action, ActionOutcome
	from erp_ops.site.audit import append_entry, new_entry

	deleted = sum(1 for r in records if r.deleted)
	kept = [f"{r.name}: {r.reason}" for r in records if not r.deleted]
	return append_entry(
		new_entry(
			Action.RETENTION,
			[frappe.local.site, log],
			_("backup retention (GFS)"),
			ActionOutcome.DONE if not kept else ActionOutcome.FAILED,
			user=user,
			state_after=f"{deleted} of {len(records)} file(s) deleted",
			error="; ".join(kept) or None,
		)
	)


# Daily ---------------------------------------------------------------------------------------------


def health(now: datetime | None = None) -> DrillHealth:
	history = drill_history()
	last, passed = history["last"], history["passed"]
	return drill_health(
		now or datetime.now(timezone.utc),
		from_site_time(last.started_at, get_system_timezone()) if last else None,
		last.outcome.lower().replace(" ", "_") if last else None,  # the core's DrillOutcome values
		from_site_time(passed.started_at, get_system_timezone()) if passed else None,
		last_reason=last.reason if last else None,
		rpo_s=(passed or {}).get("rpo_s"),
		rto_s=(passed or {}).get("rto_s"),
		max_age=drill_settings().max_age,
	)


def alert_if_stale(now: datetime | None = None) -> int:
	"""Tell the Ops Managers once a day when no drill passed within the limit; how many were told."""
	from erp_ops.site.notifications import notify_managers

	if not drill_settings().enabled:
		return 0
	now = now or datetime.now(timezone.utc)
	state = health(now)
	if state.severity.value != "critical":
		return 0
	key = ALERT_KEY.format(bench=get_bench_id(), site=frappe.local.site, day=now.date())
	if not get_redis_conn().set(key, 1, nx=True, ex=26 * 3600):
		return 0
	last = drill_history()["last"]
	told = notify_managers(
		_("Backups unproven: {0}").format(frappe.local.site),
		state.message,
		"Restore Drill",
		last.name if last else None,
	)
	frappe.db.commit()  # today's marker is set in Redis: the notice must not roll back with a later step
	return told


def daily_retention_and_chain() -> dict:
	"""The retention plan (applied only when Ops Settings allow it) and the chain check, logged."""
	from erp_ops.site.notifications import notify_managers

	settings = drill_settings()
	done = {"retention_log": None, "chain_issues": []}
	if settings.retention_enabled:
		plan = retention_plan()
		records = apply_plan(plan) if settings.retention_apply and plan.deletions else None
		if plan.deletions or records:
			done["retention_log"] = log_retention(plan, records, "Administrator")
		if records:
			log_retention_action(done["retention_log"], records, "Administrator")
	if settings.manifest_enabled:
		issues = chain_issues()
		done["chain_issues"] = [i.model_dump() for i in issues]
		if issues:
			message = "; ".join(f"{i.code} {i.stamp}: {i.detail}" for i in issues[:20])
			frappe.log_error(title=_("Backup manifest chain broken"), message=message)
			notify_managers(_("Backup manifest chain broken: {0}").format(frappe.local.site), message)
	frappe.db.commit()  # backup files may be deleted already: their log must not roll back with a later step
	return done

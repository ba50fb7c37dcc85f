"""Restore drills: find the latest backup set, check its integrity, restore it into a scratch
database that can never be the site's own, judge what the scratch database holds, drop it.

Framework-free: the Frappe layer passes the site's facts (database name, installed apps, patch log)
as plain data and stores the `DrillResult` it gets back.
"""

from erp_ops.core.drills.discovery import BackupFile, BackupSet, find_backup_sets, latest_backup_set
from erp_ops.core.drills.drill import DrillOptions, run_drill
from erp_ops.core.drills.lock import host_lock
from erp_ops.core.drills.manifest import Manifest, read_manifest, record_manifest, verify_chain
from erp_ops.core.drills.models import Check, CheckStatus, DrillOutcome, DrillResult, SiteFacts
from erp_ops.core.drills.retention import RetentionPolicy, apply_retention, plan_retention
from erp_ops.core.drills.schedule import DrillHealth, drill_due, drill_health, drill_lock
from erp_ops.core.drills.scratch import SweepEntry, default_owner, sweep_scratch

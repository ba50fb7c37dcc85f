"""Grandfather-father-son retention over backup sets: plan (dry run) first, then apply the plan.

Per site, the newest set of each of the last `daily` days, `weekly` ISO weeks and `monthly`
months is kept (buckets by the stamp, the site's local time), and always the newest set (by file
time, as the drill chooses it) and the sets the caller protects: the newest set a drill verified
must survive whatever the policy says. Every deletion and every file kept against the plan is
logged (logger `erp_ops.drills.retention`) and returned as a record. Only files of parsed backup sets are ever deleted;
manifests and tombstones stay (they are the hash chain). Applying re-reads each file's SHA-256 and
skips a file that changed since the plan was shown, so what is deleted is exactly what was listed.
"""

import logging
import os
from collections.abc import Iterable
from datetime import datetime

from erp_ops.core.drills.discovery import STAMP_FORMAT, BackupSet, find_backup_sets, newest_first
from erp_ops.core.drills.manifest import record_deletions
from erp_ops.core.drills.streams import sha256_file
from erp_ops.core.models import Frozen

log = logging.getLogger("erp_ops.drills.retention")


class RetentionPolicy(Frozen):
	daily: int = 7
	weekly: int = 4
	monthly: int = 12


class PlannedFile(Frozen):
	name: str
	path: str
	size: int
	sha256: str


class PlannedSet(Frozen):
	stamp: str
	site_slug: str
	keep: bool
	reasons: list[str]
	files: list[PlannedFile] = []


class RetentionPlan(Frozen):
	folder: str
	policy: RetentionPolicy
	sets: list[PlannedSet]

	@property
	def deletions(self) -> list[PlannedSet]:
		return [s for s in self.sets if not s.keep]


class DeletionRecord(Frozen):
	name: str
	sha256: str
	size: int
	deleted: bool
	reason: str


def plan_retention(
	folder: str, policy: RetentionPolicy, site: str | None = None, protect: Iterable[str] = ()
) -> RetentionPlan:
	"""Which sets to keep and why; the files of the others with their SHA-256 (nothing is deleted).

	`protect`: stamps of sets that must stay (the newest set a drill verified)."""
	by_site: dict[str, list[BackupSet]] = {}
	for found in find_backup_sets(folder, site):
		by_site.setdefault(found.site_slug, []).append(found)
	planned = []
	for slug, sets in sorted(by_site.items()):
		with_dump = [s for s in sets if s.database is not None] or sets
		newest = newest_first(with_dump)[0].stamp
		reasons = keep_reasons(sorted(s.stamp for s in sets), policy, newest=newest, protect=protect)
		for found in sets:
			why = reasons.get(found.stamp, [])
			files = []
			if not why:
				files = [
					PlannedFile(name=f.name, path=f.path, size=f.size, sha256=sha256_file(f.path))
					for f in sorted(found.files.values(), key=lambda f: f.name)
				]
			planned.append(
				PlannedSet(
					stamp=found.stamp,
					site_slug=slug,
					keep=bool(why),
					reasons=why or ["outside the daily, weekly and monthly windows"],
					files=files,
				)
			)
	return RetentionPlan(folder=folder, policy=policy, sets=planned)


def keep_reasons(
	stamps: list[str], policy: RetentionPolicy, newest: str | None = None, protect: Iterable[str] = ()
) -> dict[str, list[str]]:
	"""stamp → why it is kept, for the stamps of one site (pure). `newest`: the newest set by file
	time (default: the newest stamp); `protect`: stamps kept whatever the windows say."""
	by_stamp = sorted(stamps, reverse=True)
	reasons: dict[str, list[str]] = {}
	if by_stamp:
		reasons[newest or by_stamp[0]] = ["newest backup"]
	for stamp in protect:
		if stamp in stamps:
			reasons.setdefault(stamp, []).append("newest verified backup (its drill passed)")
	buckets = (
		("daily", policy.daily, lambda d: d.date().isoformat()),
		("weekly", policy.weekly, lambda d: f"{d.isocalendar()[0]:04d}-W{d.isocalendar()[1]:02d}"),
		("monthly", policy.monthly, lambda d: f"{d:%Y-%m}"),
	)
	for label, count, bucket_of in buckets:
		seen: list[str] = []
		for stamp in by_stamp:
			bucket = bucket_of(datetime.strptime(stamp, STAMP_FORMAT))
			if bucket in seen:
				continue
			if len(seen) >= count:
				break
			seen.append(bucket)
			reasons.setdefault(stamp, []).append(f"{label} {bucket}")
	return reasons


def apply_retention(plan: RetentionPlan) -> list[DeletionRecord]:
	"""Delete what the plan listed, file by file, after checking each SHA-256 again; the records
	(each also logged: deleted at INFO, kept at WARNING)."""
	records = _apply(plan)
	for r in records:
		if r.deleted:
			log.info("retention deleted %s (%d bytes, sha256 %s): %s", r.name, r.size, r.sha256, r.reason)
		else:
			log.warning("retention kept %s (sha256 %s): %s", r.name, r.sha256, r.reason)
	return records


def _apply(plan: RetentionPlan) -> list[DeletionRecord]:
	records = []
	for planned in plan.deletions:
		deleted = {}
		for f in planned.files:
			try:
				current = sha256_file(f.path)
			except FileNotFoundError:
				records.append(
					DeletionRecord(
						name=f.name, sha256=f.sha256, size=f.size, deleted=False, reason="already gone"
					)
				)
				continue
			if current != f.sha256:
				records.append(
					DeletionRecord(
						name=f.name,
						sha256=f.sha256,
						size=f.size,
						deleted=False,
						reason="changed since the plan: kept",
					)
				)
				continue
			try:
				os.unlink(f.path)
			except OSError as exc:  # an immutable (chattr +i) file, or permissions
				records.append(
					DeletionRecord(name=f.name, sha256=f.sha256, size=f.size, deleted=False, reason=str(exc))
				)
				continue
			deleted[f.name] = f.sha256
			records.append(
				DeletionRecord(
					name=f.name, sha256=f.sha256, size=f.size, deleted=True, reason="; ".join(planned.reasons)
				)
			)
		if deleted:
			record_deletions(plan.folder, f"{planned.stamp}-{planned.site_slug}", deleted)
	return records

"""Frappe v15 backup sets: names, folders, and the latest set of a site.

`bench backup` (frappe/utils/backups.py) writes into `sites/<site>/private/backups` (or the site's
`backup_path`), one timestamp per run, the site's name with dots turned into underscores:

    <YYYYmmdd_HHMMSS>-<site_slug>[-partial]-database[-enc].sql.gz
    <YYYYmmdd_HHMMSS>-<site_slug>-files[-enc].tar|.tgz
    <YYYYmmdd_HHMMSS>-<site_slug>-private-files[-enc].tar|.tgz
    <YYYYmmdd_HHMMSS>-<site_slug>-site_config_backup[-enc].json

`-enc` files are gpg symmetric encryptions made in place with the site's `backup_encryption_key`,
except the site config, which keeps the suffix but is never encrypted. The timestamp is Frappe's
`now_datetime()`: wall-clock time in the site's System Settings time zone, so after a move to a
zone further west the newest set carries an older stamp. The newest set is therefore the one whose
database file changed last (ctime, as Frappe's own `is_file_old`/`get_recent_backup` judge age),
the stamp breaking ties; `latest_backup_set` records which set it chose and why.
"""

import os
import re
from datetime import datetime, timezone, tzinfo
from enum import Enum

from erp_ops.core.drills.errors import BackupNotFound
from erp_ops.core.models import Frozen

STAMP_FORMAT = "%Y%m%d_%H%M%S"
_NAME = re.compile(
	r"^(?P<stamp>\d{8}_\d{6})-(?P<slug>.+?)(?P<partial>-partial)?"
	r"-(?P<kind>database|files|private-files|site_config_backup)(?P<enc>-enc)?"
	r"\.(?P<ext>sql\.gz|tar|tgz|json)$"
)
_EXTENSIONS = {
	"database": ("sql.gz",),
	"files": ("tar", "tgz"),
	"private-files": ("tar", "tgz"),
	"site_config_backup": ("json",),
}
MANIFEST_SUFFIX = "-erp_ops_manifest.json"


class FileKind(str, Enum):
	DATABASE = "database"
	PUBLIC_FILES = "public_files"
	PRIVATE_FILES = "private_files"
	SITE_CONFIG = "site_config"


_KINDS = {
	"database": FileKind.DATABASE,
	"files": FileKind.PUBLIC_FILES,
	"private-files": FileKind.PRIVATE_FILES,
	"site_config_backup": FileKind.SITE_CONFIG,
}


class BackupFile(Frozen):
	"""One file of a backup set as found on disk (nothing read yet)."""

	kind: FileKind
	path: str
	name: str
	size: int
	mtime: datetime
	# Status-change time (ns): when the file was written or renamed into place; not settable
	# by `touch`, and what Frappe uses to judge a backup's age.
	ctime_ns: int = 0
	encrypted: bool = False
	partial: bool = False


class BackupSet(Frozen):
	"""The files one `bench backup` run wrote, keyed by kind."""

	folder: str
	site_slug: str
	stamp: str
	files: dict[FileKind, BackupFile]
	chosen_because: str | None = None

	@property
	def changed_ns(self) -> int:
		"""When the set's database file (else its newest file) last changed."""
		found = self.database or max(self.files.values(), key=lambda f: f.ctime_ns)
		return found.ctime_ns

	@property
	def prefix(self) -> str:
		return f"{self.stamp}-{self.site_slug}"

	@property
	def database(self) -> BackupFile | None:
		return self.files.get(FileKind.DATABASE)

	@property
	def manifest_path(self) -> str:
		return os.path.join(self.folder, self.prefix + MANIFEST_SUFFIX)

	def taken_at(self, tz: tzinfo | None = None) -> datetime:
		"""The backup time from the name, in the site's time zone (UTC when unknown)."""
		return datetime.strptime(self.stamp, STAMP_FORMAT).replace(tzinfo=tz or timezone.utc)

	def missing_files_archives(self) -> list[FileKind]:
		return [k for k in (FileKind.PUBLIC_FILES, FileKind.PRIVATE_FILES) if k not in self.files]


def site_slug(site: str) -> str:
	"""Frappe's file-name form of a site name: `erp.example.com` → `erp_example_com`."""
	return site.replace(".", "_")


def backups_folder(sites_path: str, site: str, backup_path: str | None = None) -> str:
	"""The site's backup folder, as `frappe.utils.backups.get_backup_path()` computes it."""
	return os.path.join(sites_path, site, backup_path or os.path.join("private", "backups"))


def parse_backup_name(name: str) -> dict | None:
	"""The parts of a Frappe backup file name, or None when the name is not one."""
	match = _NAME.match(name)
	if not match or match["ext"] not in _EXTENSIONS[match["kind"]]:
		return None
	if match["partial"] and match["kind"] != "database":
		return None
	try:
		datetime.strptime(match["stamp"], STAMP_FORMAT)
	except ValueError:
		return None
	return {
		"stamp": match["stamp"],
		"slug": match["slug"],
		"kind": _KINDS[match["kind"]],
		# Frappe never encrypts the site config; the suffix only says encryption was on.
		"encrypted": bool(match["enc"]) and match["kind"] != "site_config_backup",
		"partial": bool(match["partial"]),
	}


def find_backup_sets(folder: str, site: str | None = None) -> list[BackupSet]:
	"""Every backup set in a folder (of one site when given), oldest first."""
	grouped: dict[tuple[str, str], dict[FileKind, BackupFile]] = {}
	try:
		entries = list(os.scandir(folder))
	except FileNotFoundError:
		raise BackupNotFound(f"backup folder {folder!r} does not exist") from None
	wanted = site_slug(site) if site else None
	for entry in entries:
		parts = parse_backup_name(entry.name)
		if not parts or not entry.is_file() or (wanted and parts["slug"] != wanted):
			continue
		stat = entry.stat()
		grouped.setdefault((parts["stamp"], parts["slug"]), {})[parts["kind"]] = BackupFile(
			kind=parts["kind"],
			path=entry.path,
			name=entry.name,
			size=stat.st_size,
			mtime=datetime.fromtimestamp(stat.st_mtime, timezone.utc),
			ctime_ns=stat.st_ctime_ns,
			encrypted=parts["encrypted"],
			partial=parts["partial"],
		)
	return [
		BackupSet(folder=folder, site_slug=slug, stamp=stamp, files=files)
		for (stamp, slug), files in sorted(grouped.items())
	]


def latest_backup_set(folder: str, site: str | None = None, include_partial: bool = False) -> BackupSet:
	"""The newest set that has a database dump (a full one unless `include_partial`).

	Partial dumps (`--include/--exclude` DocTypes) are exports, not backups of the site: like
	Frappe's own `get_recent_backup`, they are passed over unless asked for.

	An incomplete newest set (no files archives) is returned as it is, not skipped for an older
	complete one: falling back would hide that the latest backup cannot restore the site, and the
	RPO would lie. The drill fails it with a precise reason instead.
	"""
	sets = [
		s
		for s in find_backup_sets(folder, site)
		if s.database is not None and (include_partial or not s.database.partial)
	]
	if not sets:
		raise BackupNotFound(_nothing_of(folder, site))
	return choose_latest(sets)


def newest_first(sets: list[BackupSet]) -> list[BackupSet]:
	"""By the database file's ctime, then the stamp (the names' clock may have moved)."""
	return sorted(sets, key=lambda s: (s.changed_ns, s.stamp), reverse=True)


def choose_latest(sets: list[BackupSet]) -> BackupSet:
	"""The newest of `sets` with `chosen_because` saying why (and when the stamps disagree)."""
	ordered = newest_first(sets)
	chosen = ordered[0]
	when = datetime.fromtimestamp(chosen.changed_ns / 1e9, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
	why = f"newest of {len(sets)} sets by file time: its database file changed {when}"
	ties = [s for s in ordered if s.changed_ns == chosen.changed_ns]
	if len(ties) > 1:
		why += f" (as {len(ties) - 1} other set(s): the newest stamp decides)"
	newest_stamp = max(sets, key=lambda s: s.stamp)
	if newest_stamp.stamp != chosen.stamp:
		why += (
			f"; set {newest_stamp.stamp} has a newer stamp but was written earlier "
			"(the stamp is local time: did the time zone change?)"
		)
	return chosen.model_copy(update={"chosen_because": why})


def _nothing_of(folder: str, site: str | None) -> str:
	"""Why a folder holds no backup of the site: empty, or only other sites' sets (named)."""
	if site:
		others = sorted(
			{s.site_slug for s in find_backup_sets(folder) if s.database is not None} - {site_slug(site)}
		)
		if others:
			return (
				f"no database backup of {site} in {folder!r}: it holds only backups of other sites "
				f"({', '.join(others[:5])})"
			)
	return f"no database backup{' of ' + site if site else ''} in {folder!r}"


def backup_set_of(path: str) -> BackupSet:
	"""The set a given backup file belongs to (the siblings with the same timestamp and site)."""
	parts = parse_backup_name(os.path.basename(path))
	if not parts:
		raise BackupNotFound(f"{path!r} is not named like a Frappe backup (<stamp>-<site>-database.sql.gz)")
	folder = os.path.dirname(os.path.abspath(path))
	for found in find_backup_sets(folder):
		if found.stamp == parts["stamp"] and found.site_slug == parts["slug"]:
			return found
	raise BackupNotFound(f"{path!r} does not exist")

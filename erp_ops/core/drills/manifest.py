"""The backup manifest: what a backup set held when it was taken, and a hash chain across sets.

One JSON file beside the set, `<stamp>-<site_slug>-erp_ops_manifest.json`:

    {"format": "erp_ops.backup_manifest/1", "site": …, "site_slug": …, "stamp": …, "db_name": …,
     "created_at": …, "files": [{"kind", "name", "size", "sha256", "archive_files"}],
     "tables": {"tabUser": 12, …}, "apps": {"frappe": "15.x"}, "patches": 812,
     "ledger": {"Company": {"debit": "…", "credit": "…", "entries": n}},
     "previous_sha256": <sha256 of the previous manifest's bytes, or null for the first>,
     "action_log": <the Ops Action Log's head when the set was taken: an anchor, or null>}

Counts are read right after `bench backup` finished, so a busy site drifts a little from the dump's
snapshot: the drill compares within a tolerance. The chain makes a changed or deleted manifest
visible; retention writes a tombstone (`<prefix>-erp_ops_retention.json`, the deleted files and
their checksums) so intentional deletions are told apart from missing backups.
"""

import hashlib
import json
import os
import subprocess
from datetime import datetime, timezone
from typing import Literal

from pydantic import ValidationError

from erp_ops.core.control.models import ChainAnchor
from erp_ops.core.drills.client import MariaDBClient
from erp_ops.core.drills.discovery import MANIFEST_SUFFIX, BackupSet, FileKind
from erp_ops.core.drills.errors import BadManifest
from erp_ops.core.drills.facts import DatabaseFacts, LedgerTotals, collect_facts
from erp_ops.core.drills.streams import count_tar_files, sha256_file
from erp_ops.core.models import Frozen

FORMAT = "erp_ops.backup_manifest/1"
TOMBSTONE_SUFFIX = "-erp_ops_retention.json"


class ManifestFile(Frozen):
	kind: FileKind
	name: str
	size: int
	sha256: str
	archive_files: int | None = None


class Manifest(Frozen):
	format: Literal["erp_ops.backup_manifest/1"] = FORMAT
	site: str | None = None
	site_slug: str
	stamp: str
	db_name: str | None = None
	created_at: datetime
	files: list[ManifestFile]
	tables: dict[str, int] = {}
	apps: dict[str, str] | None = None
	patches: int | None = None
	ledger: dict[str, LedgerTotals] | None = None
	previous_stamp: str | None = None
	previous_sha256: str | None = None
	# The action log's head, anchored outside the database in every manifest (erp_ops.core.control.chain).
	action_log: ChainAnchor | None = None

	def file(self, kind: FileKind) -> ManifestFile | None:
		return next((f for f in self.files if f.kind == kind), None)


def build_manifest(
	backup: BackupSet,
	facts: DatabaseFacts | None,
	site: str | None = None,
	encryption_key: str | None = None,
	previous: tuple[str, str] | None = None,
	action_log: ChainAnchor | None = None,
) -> Manifest:
	"""Checksums and archive counts of the set's files plus the live database's facts."""
	files = []
	for kind, found in sorted(backup.files.items()):
		archive_files = None
		if kind in (FileKind.PUBLIC_FILES, FileKind.PRIVATE_FILES):
			archive_files = count_tar_files(found.path, encryption_key)[0]
		files.append(
			ManifestFile(
				kind=kind,
				name=found.name,
				size=found.size,
				sha256=sha256_file(found.path),
				archive_files=archive_files,
			)
		)
	return Manifest(
		site=site,
		site_slug=backup.site_slug,
		stamp=backup.stamp,
		db_name=facts.database if facts else None,
		created_at=datetime.now(timezone.utc),
		files=files,
		tables=facts.tables if facts else {},
		apps=facts.apps if facts else None,
		patches=len(facts.patches) if facts and facts.patches is not None else None,
		ledger=facts.ledger if facts else None,
		previous_stamp=previous[0] if previous else None,
		previous_sha256=previous[1] if previous else None,
		action_log=action_log,
	)


def write_manifest(backup: BackupSet, manifest: Manifest) -> str:
	"""Write atomically beside the set (temp file + rename); the SHA-256 of the bytes written."""
	data = manifest.model_dump_json(indent=1).encode() + b"\n"
	tmp = backup.manifest_path + ".tmp"
	with open(tmp, "wb") as f:
		f.write(data)
		f.flush()
		os.fsync(f.fileno())
	os.replace(tmp, backup.manifest_path)
	return hashlib.sha256(data).hexdigest()


def record_manifest(
	client: MariaDBClient,
	backup: BackupSet,
	db_name: str,
	site: str | None = None,
	encryption_key: str | None = None,
	action_log: ChainAnchor | None = None,
) -> str:
	"""Right after `bench backup`: read the live database's facts, link to the previous manifest,
	write this set's manifest (with the action log's head as an anchor); the new chain head (keep
	it to check the newest manifest later)."""
	facts = collect_facts(client, db_name)
	previous = chain_head(backup.folder, backup.site_slug, before=backup.stamp)
	return write_manifest(backup, build_manifest(backup, facts, site, encryption_key, previous, action_log))


def read_manifest(path: str) -> Manifest | None:
	"""The manifest at `path`, None when there is none; BadManifest when it is not one."""
	try:
		with open(path, "rb") as f:
			return Manifest.model_validate_json(f.read())
	except FileNotFoundError:
		return None
	except (ValidationError, ValueError) as exc:
		raise BadManifest(f"{os.path.basename(path)} is not an erp_ops manifest: {exc}") from exc


def chain_head(folder: str, site_slug: str, before: str | None = None) -> tuple[str, str] | None:
	"""(stamp, SHA-256) of the newest manifest of the site (older than `before`): the next link."""
	paths = [p for p in _manifest_paths(folder, site_slug) if before is None or _stamp(p) < before]
	return (_stamp(paths[-1]), sha256_file(paths[-1])) if paths else None


def latest_manifest(folder: str, site_slug: str) -> Manifest | None:
	"""The newest readable manifest of the site, None when it has none."""
	for path in reversed(_manifest_paths(folder, site_slug)):
		try:
			found = read_manifest(path)
		except BadManifest:
			continue
		if found is not None:
			return found
	return None


class ChainIssue(Frozen):
	code: Literal[
		"manifest_changed", "manifest_missing", "file_missing", "file_changed", "manifest_unreadable"
	]
	stamp: str
	detail: str


def verify_chain(folder: str, site_slug: str, expected_head: str | None = None) -> list[ChainIssue]:
	"""Every manifest links to the one before, and every file it lists is there with its checksum
	(or recorded as deleted by retention with that checksum).

	The newest manifest has no successor to vouch for it: pass the head hash recorded when it was
	written (`expected_head`) to cover it too.
	"""
	issues: list[ChainIssue] = []
	paths = _manifest_paths(folder, site_slug)
	hashes = {_stamp(p): sha256_file(p) for p in paths}
	for path in paths:
		stamp = _stamp(path)
		try:
			manifest = read_manifest(path)
		except BadManifest as exc:
			issues.append(ChainIssue(code="manifest_unreadable", stamp=stamp, detail=str(exc)))
			continue
		if manifest.previous_stamp is not None:
			if manifest.previous_stamp not in hashes:
				issues.append(
					ChainIssue(
						code="manifest_missing",
						stamp=manifest.previous_stamp,
						detail=f"the manifest of {manifest.previous_stamp} is gone ({stamp} links to it)",
					)
				)
			elif hashes[manifest.previous_stamp] != manifest.previous_sha256:
				issues.append(
					ChainIssue(
						code="manifest_changed",
						stamp=manifest.previous_stamp,
						detail=f"the manifest of {manifest.previous_stamp} changed after {stamp} linked to it",
					)
				)
		deleted = _tombstone(folder, manifest)
		for entry in manifest.files:
			full = os.path.join(folder, entry.name)
			if not os.path.exists(full):
				if deleted.get(entry.name) != entry.sha256:
					issues.append(ChainIssue(code="file_missing", stamp=stamp, detail=entry.name))
			elif os.path.getsize(full) != entry.size or sha256_file(full) != entry.sha256:
				issues.append(ChainIssue(code="file_changed", stamp=stamp, detail=entry.name))
	if expected_head is not None and (not paths or hashes[_stamp(paths[-1])] != expected_head):
		issues.append(
			ChainIssue(
				code="manifest_changed" if paths else "manifest_missing",
				stamp=_stamp(paths[-1]) if paths else "",
				detail="the newest manifest is not the one recorded as the chain head",
			)
		)
	return issues


def record_deletions(folder: str, prefix: str, deleted: dict[str, str]) -> None:
	"""Add deleted files (name → sha256) to the set's tombstone, so the chain accepts their absence."""
	path = os.path.join(folder, prefix + TOMBSTONE_SUFFIX)
	existing = {}
	if os.path.exists(path):
		with open(path) as f:
			existing = json.load(f).get("deleted", {})
	existing.update(deleted)
	with open(path + ".tmp", "w") as f:
		json.dump({"deleted": existing, "updated_at": datetime.now(timezone.utc).isoformat()}, f, indent=1)
	os.replace(path + ".tmp", path)


def make_immutable(paths: list[str]) -> dict[str, str | None]:
	"""`chattr +i` each path where the filesystem and privileges allow; path → None or the error."""
	results: dict[str, str | None] = {}
	for path in paths:
		try:
			done = subprocess.run(["chattr", "+i", path], capture_output=True, text=True, timeout=30)
			results[path] = (
				None if done.returncode == 0 else (done.stderr.strip() or f"exit {done.returncode}")
			)
		except (OSError, subprocess.TimeoutExpired) as exc:
			results[path] = str(exc)
	return results


def _tombstone(folder: str, manifest: Manifest) -> dict[str, str]:
	path = os.path.join(folder, f"{manifest.stamp}-{manifest.site_slug}{TOMBSTONE_SUFFIX}")
	try:
		with open(path) as f:
			return json.load(f).get("deleted", {})
	except (FileNotFoundError, ValueError):
		return {}


def _stamp(path: str) -> str:
	return os.path.basename(path).split("-", 1)[0]


def _manifest_paths(folder: str, site_slug: str) -> list[str]:
	suffix = f"-{site_slug}{MANIFEST_SUFFIX}"
	try:
		names = sorted(n for n in os.listdir(folder) if n.endswith(suffix) and len(n) == 15 + len(suffix))
	except FileNotFoundError:
		return []
	return [os.path.join(folder, n) for n in names]

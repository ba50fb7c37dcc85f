"""The Ops Action Log on the site: the hash chain's store over frappe.db, appending an entry,
verifying the chain against its anchors, and telling managers when it is broken. Every capability
logs through here. Denials of users without an Ops role are counted in the site's cache and
summarised per window (a tick step), so a script hammering an endpoint costs a row per window.

Both hash chains of the site keep their head in one store, the `Ops Chain Head` DocType (one row per
chain: "Ops Action Log", "Backup Manifests"). It is a table of the app, so it is dropped with the
log on uninstall: a new, empty log starts a new chain whose first row (`genesis`) says who started
it, when and why (install, reinstall). Each new head of the action log is also written outside the
database after its commit (an anchor: an append-only file, every backup manifest, optionally a
webhook), and `verify_log` compares the log with the newest anchor: a dropped last row and a chain
rewritten with every hash recomputed both show. After a restore from backup, `record_restore` says
so in the log and in the anchors (the restored log is older than its anchors).
"""

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import frappe
from frappe import _
from frappe.utils import get_system_timezone

from erp_ops.core.clock import from_timestamp, to_site_time
from erp_ops.core.control import chain
from erp_ops.core.control.models import (
	Action,
	ActionLogEntry,
	ActionOutcome,
	AnchorKind,
	ChainAnchor,
	ChainVerdict,
)

HEADS = "Ops Chain Head"
ACTION_LOG = "Ops Action Log"  # the action log's row in Ops Chain Head
MANIFESTS = "Backup Manifests"  # the backup manifests' row
# Earlier versions kept the head as a raw tabSingles row under the (non-Single) log DocType, which
# survived an uninstall and broke the next install's chain: moved into Ops Chain Head, then deleted.
LEGACY_HEAD = ("Ops Action Log", "chain_head")
ANCHOR_FILE_CONF = "erp_ops_chain_anchor_file"  # site config: where the anchor file is
ANCHOR_WEBHOOK_CONF = "erp_ops_chain_anchor_webhook"  # site config: a URL each new head is POSTed to
# Beside the site's config, outside its backups (a restore does not bring an old one back) and
# outside the database (whoever can rewrite the log cannot rewrite this).
DEFAULT_ANCHOR_FILE = os.path.join("erp_ops", "action_log_anchors.jsonl")
VERIFY_PAGE = 5000
# Columns shown in Desk next to the hashed entry JSON: verification also checks they agree with it.
MIRRORED = (
	"user",
	"action",
	"reason",
	"outcome",
	"request_id",
	"approved_by",
	"state_before",
	"state_after",
	"completes",
)


class FrappeChainStore:
	"""`chain.ChainStore` on the site's database: rows in tabOps Action Log, the head in Ops Chain Head.

	The head's row lock is held until the caller's transaction commits, so commit soon after.
	"""

	def __init__(self) -> None:
		self._head: dict = {}

	@contextmanager
	def locked_tail(self) -> Iterator[str]:
		self._head = _lock_head()
		# Link to the log's real last row, read under the head's lock: a writer of an older version
		# (a rolling deploy, processes not restarted yet) may have appended without moving this head,
		# and linking to the stale head would fork the chain. Rows removed from the end show in the
		# anchors, not here.
		last = frappe.db.sql("select row_hash from `tabOps Action Log` order by seq desc limit 1 for update")
		yield (last[0][0] if last else self._head["head"]) or chain.GENESIS

	def insert(self, row: dict) -> None:
		entry = ActionLogEntry.model_validate(row)
		# A locking read: a plain one would see this transaction's REPEATABLE READ snapshot, which
		# may predate the last writer's commit when the request read the table before the lock.
		seq = (frappe.db.sql("select max(seq) from `tabOps Action Log` for update")[0][0] or 0) + 1
		at = to_site_time(entry.at, get_system_timezone())
		doc = frappe.new_doc("Ops Action Log")
		doc.update(
			{
				"name": entry.name,
				"seq": seq,
				"acted_at": at,
				"user": entry.user,
				"action": entry.action.value,
				"targets": "\n".join(entry.targets),
				"reason": entry.reason,
				"dry_run": int(entry.dry_run),
				"state_before": entry.state_before,
				"state_after": entry.state_after,
				"outcome": entry.outcome.value,
				"error": entry.error,
				"request_id": entry.request_id,
				"approved_by": entry.approved_by,
				"completes": entry.completes,
				"entry_json": json.dumps(_hashed(row), sort_keys=True),
				"previous_hash": row[chain.PREVIOUS_FIELD],
				"row_hash": row[chain.HASH_FIELD],
				"owner": entry.user,
				"modified_by": entry.user,
				"creation": at,
				"modified": at,
			}
		)
		doc.db_insert()
		# Until every process runs this version (a rolling upgrade: workers not restarted yet), an
		# older writer links to the raw head row it re-creates; keep that row in step while it exists,
		# or its next row would fork the chain. Migrate drops it (ensure_chain_head).
		frappe.db.sql(
			"update tabSingles set value = %s where doctype = %s and field = %s",
			(row[chain.HASH_FIELD], *LEGACY_HEAD),
		)
		first = row[chain.PREVIOUS_FIELD] == chain.GENESIS  # the first row names the chain
		frappe.db.sql(
			f"""update `tabOps Chain Head` set head = %s, seq = %s, modified = %s
			{", chain_id = %s" if first else ""} where name = %s""",
			(row[chain.HASH_FIELD], seq, at, *((row[chain.HASH_FIELD],) if first else ()), ACTION_LOG),
		)
		chain_id = row[chain.HASH_FIELD] if first else self._head.get("chain_id") or ""
		kind = {Action.GENESIS: AnchorKind.GENESIS, Action.RESTORE: AnchorKind.RESTORE}.get(
			entry.action, AnchorKind.HEAD
		)
		anchor_after_commit(
			ChainAnchor(
				chain=chain_id,
				seq=seq,
				head=row[chain.HASH_FIELD],
				at=entry.at,
				kind=kind,
				site=frappe.local.site,
				user=entry.user,
				reason=entry.reason[:140] if kind is not AnchorKind.HEAD else None,
			)
		)


def new_entry(
	action: Action | str,
	targets: list[str],
	reason: str | None,
	outcome: ActionOutcome,
	*,
	user: str | None = None,
	dry_run: bool = False,
	state_before: str | None = None,
	state_after: str | None = None,
	error: str | None = None,
	request_id: str | None = None,
	approved_by: str | None = None,
	completes: str | None = None,
) -> ActionLogEntry:
	return ActionLogEntry(
		name=frappe.generate_hash(length=12),
		at=datetime.now(timezone.utc),
		user=user or frappe.session.user,
		action=Action(action),
		targets=[str(t) for t in targets],
		reason=(reason or "").strip(),
		dry_run=dry_run,
		state_before=state_before,
		state_after=state_after,
		outcome=outcome,
		error=(error or None) and error[:2000],
		request_id=request_id or None,
		approved_by=approved_by,
		completes=completes,
	)


def append_entry(entry: ActionLogEntry) -> str:
	"""Link `entry` to the chain and insert it in the current transaction; returns its name."""
	return chain.append(FrappeChainStore(), entry)["name"]


# Intents -----------------------------------------------------------------------------------------

# An intent older than this without its completion: its actor died (a request is long over by then).
INTENT_STALE_AFTER = timedelta(minutes=5)


def start_intent(
	action: Action | str,
	targets: list[str],
	reason: str | None,
	*,
	user: str | None = None,
	request_id: str | None = None,
) -> str:
	"""Write and commit a `started` row (who, what, why) before an action's Redis step; its name.

	The row that records the outcome names it in `completes`. Rows are never changed (the chain
	covers them), so an intent is completed by a later row, not by editing it; if the actor dies
	in between, `sweep_intents` writes that row ("unknown", with the job's state it found).
	"""
	name = append_entry(
		new_entry(action, targets, reason, ActionOutcome.STARTED, user=user, request_id=request_id)
	)
	frappe.db.commit()  # the intent must outlive the actor
	return name


def stale_intents(older_than: timedelta = INTENT_STALE_AFTER, limit: int = 200) -> list[dict]:
	"""`started` rows older than `older_than` that no row completes, oldest first."""
	cutoff = frappe.utils.add_to_date(frappe.utils.now_datetime(), seconds=-older_than.total_seconds())
	return frappe.db.sql(
		"""select s.name, s.user, s.action, s.targets, s.reason, s.request_id, s.acted_at
		from `tabOps Action Log` s
		where s.outcome = 'started' and s.acted_at < %s
			and not exists (select 1 from `tabOps Action Log` c where c.completes = s.name)
		order by s.seq limit %s""",
		(cutoff, limit),
		as_dict=True,
	)


def sweep_intents(actual_state, older_than: timedelta = INTENT_STALE_AFTER) -> list[str]:
	"""Complete each stale intent with an `unknown` row saying where its jobs are now
	(`actual_state(target) -> str`); the names of the rows written. Each is decided under the
	chain's lock, so two sweeps (or a late actor) do not complete one intent twice."""
	written = []
	for intent in stale_intents(older_than):
		targets = [t for t in (intent.targets or "").split("\n") if t]
		states = "; ".join(f"{t}: {actual_state(t)}" for t in targets[:20]) or "-"
		_lock_head()
		if frappe.db.sql("select 1 from `tabOps Action Log` where completes = %s", intent.name):
			frappe.db.commit()  # releases the chain head's lock, which every actor waits for
			continue
		written.append(
			append_entry(
				new_entry(
					intent.action,
					targets,
					intent.reason,
					ActionOutcome.UNKNOWN,
					user=intent.user,
					request_id=intent.request_id,
					completes=intent.name,
					state_after=states[:140],
					error=_("its actor stopped before logging the outcome; found after {0}: {1}").format(
						older_than, states
					),
				)
			)
		)
		frappe.db.commit()  # releases the chain head's lock, which every actor waits for
	return written


# Verification ------------------------------------------------------------------------------------


def verify_log(with_anchors: bool = True) -> ChainVerdict:
	"""Walk the whole log in sequence order; the first row that does not fit breaks the chain.

	Besides each row's hash and link, checks that the Desk columns say what the hashed entry
	says (an SQL edit of `reason` alone would otherwise go unseen), that the head names the last
	row, and (`with_anchors`) that the log agrees with the newest anchor written outside the
	database: a dropped last row, or a chain recomputed from its first row, shows there.
	"""
	# The head is read first: rows committed during the walk come after it, and the walk must
	# pass the row it names, or rows were removed from the end.
	head = (_head_row(ACTION_LOG) or {}).get("head")
	head_seen = False
	previous, checked, last_seq, chain_id = chain.GENESIS, 0, 0, chain.GENESIS
	while True:
		rows = frappe.db.sql(
			f"""select name, seq, entry_json, previous_hash, row_hash, {", ".join(f"`{c}`" for c in MIRRORED)}
			from `tabOps Action Log` where seq > %s order by seq limit %s""",
			(last_seq, VERIFY_PAGE),
			as_dict=True,
		)
		if not rows:
			break
		if not checked:
			chain_id = rows[0].row_hash or chain.GENESIS
		linked = []
		for index, row in enumerate(rows):
			try:
				body = json.loads(row.entry_json or "")
			except ValueError:
				body = {"name": row.name, "unreadable": row.entry_json}
			mismatch = _column_mismatch(row, body)
			if mismatch:
				return _broken(
					checked + index, row.name, f"its {mismatch} column differs from its hashed entry"
				)
			linked.append({**body, chain.PREVIOUS_FIELD: row.previous_hash, chain.HASH_FIELD: row.row_hash})
		verdict = chain.verify_chain(linked, previous)
		if not verdict.ok:
			return _broken(checked + verdict.first_broken, verdict.first_broken_name, verdict.reason)
		checked += len(rows)
		head_seen = head_seen or any(row.row_hash == head for row in rows)
		previous, last_seq = rows[-1].row_hash, rows[-1].seq
	if head and not head_seen:
		return _broken(checked, None, "the chain's head names no row (rows were removed from its end)")
	if not with_anchors:
		return ChainVerdict(ok=True, checked=checked)
	anchor = chain.newest_anchor(log_anchors())
	if anchor is None:
		return ChainVerdict(ok=True, checked=checked, anchor=_("no anchor written yet"))
	hash_at = _hash_at
	if anchor.seq > last_seq:
		# Rows committed after this transaction's snapshot began (their anchors are written right
		# after commit): judge the end of the log as committed now, by locking reads.
		last_seq = frappe.db.sql("select coalesce(max(seq), 0) from `tabOps Action Log` lock in share mode")[
			0
		][0]
		hash_at = _hash_at_committed
	reason = chain.check_anchor(anchor, chain_id, last_seq, hash_at)
	if reason:
		return _broken(
			checked,
			None,
			reason
			+ _(
				"; if this site was restored from a backup, record it with "
				"`bench --site {0} ops chain-restored --reason …`"
			).format(frappe.local.site),
		)
	return ChainVerdict(ok=True, checked=checked, anchor=describe_anchor(anchor))


def report_broken_chain(verdict: ChainVerdict) -> None:
	"""Leave an Error Log and tell the Ops Managers: someone changed the log outside erp_ops."""
	message = _("Ops Action Log chain broken at row {0} ({1}): {2}").format(
		verdict.first_broken, verdict.first_broken_name or "-", verdict.reason
	)
	frappe.log_error(title=_("Ops Action Log tampered with"), message=message)
	from erp_ops.site.notifications import notify_managers

	notify_managers(_("Ops Action Log chain is broken"), message, "Ops Action Log", verdict.first_broken_name)


def describe_anchor(anchor: ChainAnchor) -> str:
	return f"{anchor.kind.value} anchor of {anchor.at.isoformat(timespec='seconds')}: row {anchor.seq}"


def _hash_at(seq: int) -> str | None:
	found = frappe.db.sql("select row_hash from `tabOps Action Log` where seq = %s", seq)
	return found[0][0] if found else None


def _hash_at_committed(seq: int) -> str | None:
	found = frappe.db.sql("select row_hash from `tabOps Action Log` where seq = %s lock in share mode", seq)
	return found[0][0] if found else None


# Anchors -----------------------------------------------------------------------------------------


def anchor_path() -> str:
	"""The append-only anchor file: site config `erp_ops_chain_anchor_file` (relative to the site
	folder, or absolute: a separate mount, a `chattr +a` file), else `erp_ops/action_log_anchors.jsonl`."""
	configured = frappe.conf.get(ANCHOR_FILE_CONF) or DEFAULT_ANCHOR_FILE
	return os.path.join(frappe.get_site_path(), configured)


def log_anchors() -> list[ChainAnchor]:
	"""The anchors outside the database: the end of the anchor file and the newest backup manifest."""
	anchors = chain.read_anchors(anchor_path())
	manifest = _newest_manifest_anchor()
	return anchors + ([manifest] if manifest else [])


def current_anchor() -> ChainAnchor | None:
	"""The action log's head now, as an anchor (what a new backup manifest records)."""
	found = _head_row(ACTION_LOG)
	if not found or not found.get("seq"):
		return None
	return ChainAnchor(
		chain=found.get("chain_id") or chain.GENESIS,
		seq=found["seq"],
		head=found["head"] or chain.GENESIS,
		at=datetime.now(timezone.utc),
		site=frappe.local.site,
	)


def anchor_after_commit(anchor: ChainAnchor) -> None:
	"""Write `anchor` outside the database once the transaction that made it commits (never for a
	rollback: an anchor naming a row that never committed would read as a dropped row)."""
	frappe.db.after_commit.add(lambda: write_anchor(anchor))


def write_anchor(anchor: ChainAnchor) -> None:
	"""Append to the anchor file, queue the webhook; an error is logged, never raised (the action
	committed: failing its request now would only hide that it happened)."""
	try:
		chain.append_anchor(anchor_path(), anchor)
	except OSError as exc:
		frappe.logger("erp_ops").error(f"action log anchor not written to {anchor_path()}: {exc}")
	url = frappe.conf.get(ANCHOR_WEBHOOK_CONF)
	if url:
		try:
			frappe.enqueue(
				"erp_ops.site.audit.post_anchor", queue="short", url=url, anchor=anchor.model_dump_json()
			)
		except Exception as exc:  # Redis down: the file still has it
			frappe.logger("erp_ops").error(f"action log anchor webhook not queued: {exc}")


def post_anchor(url: str, anchor: str) -> None:
	"""The background job behind `erp_ops_chain_anchor_webhook`: POST one anchor as JSON."""
	import requests

	response = requests.post(url, data=anchor, headers={"Content-Type": "application/json"}, timeout=10)
	response.raise_for_status()


def _newest_manifest_anchor() -> ChainAnchor | None:
	from erp_ops.core.drills.discovery import site_slug
	from erp_ops.core.drills.manifest import latest_manifest
	from erp_ops.site.preflight import backup_path

	try:
		manifest = latest_manifest(backup_path(), site_slug(frappe.local.site))
	except OSError:
		return None
	return manifest.action_log if manifest else None


# The heads -----------------------------------------------------------------------------------------


def ensure_chain_head(reason: str = "install") -> str | None:
	"""Make sure the action log has its head (install and migrate); a new, empty log gets its
	genesis row. Returns how the chain was started now (install, reinstall, upgrade, repair), else None.
	"""
	if _head_row(ACTION_LOG):
		_drop_legacy_head()
		return None
	tail = frappe.db.sql("select seq, row_hash from `tabOps Action Log` order by seq desc limit 1")
	first = frappe.db.sql("select row_hash from `tabOps Action Log` order by seq limit 1")
	legacy = _legacy_head()
	previous = chain.newest_anchor(chain.read_anchors(anchor_path()))
	if tail:  # a log from before the head store: adopt its tail as the head
		started = "upgrade" if legacy is not None else "repair"
		note = _("the head was taken over from the log's last row {0}").format(tail[0][0])
		if legacy is not None and legacy != tail[0][1]:
			note += _(" (the earlier head named another row: {0})").format(legacy or "-")
		_insert_head(ACTION_LOG, started, note, head=tail[0][1], seq=tail[0][0], chain_id=first[0][0])
		current = current_anchor()
		if current:
			anchor_after_commit(current)
	else:
		started = "reinstall" if (legacy is not None or previous is not None) else reason
		note = _("a new, empty log")
		if previous is not None:
			note += _("; the previous chain (first row {0}) was anchored at row {1} on {2}").format(
				previous.chain[:12], previous.seq, previous.at.isoformat(timespec="seconds")
			)
		_insert_head(ACTION_LOG, started, note)
		append_entry(
			new_entry(
				Action.GENESIS,
				[frappe.local.site],
				f"{started}: {note}",
				ActionOutcome.DONE,
				user=frappe.session.user if getattr(frappe.local, "session", None) else "Administrator",
			)
		)
	_drop_legacy_head()
	return started


def record_restore(reason: str) -> str:
	"""After a restore from backup: the log (with its head, restored from the same dump) is older
	than its anchors. Check it, then record the restore in the log and as the newest anchor, naming
	the anchor it leaves behind; the log row's name. Raises when the chain itself is broken."""
	from erp_ops.core.errors import InvalidInput

	if not (reason or "").strip():
		raise InvalidInput("a reason is required (which backup was restored, and why)")
	verdict = verify_log(with_anchors=False)
	if not verdict.ok:
		raise InvalidInput(
			f"the restored log's chain is broken at row {verdict.first_broken}: {verdict.reason}"
		)
	left = chain.newest_anchor(log_anchors())
	tail = (_head_row(ACTION_LOG) or {}).get("seq") or 0
	return append_entry(
		new_entry(
			Action.RESTORE,
			[frappe.local.site],
			reason,
			ActionOutcome.DONE,
			state_before=(describe_anchor(left) if left else _("no anchor"))[:140],
			state_after=_("the log continues from row {0}").format(tail),
		)
	)


def manifest_head() -> tuple[str | None, str]:
	"""The backup manifests' chain head: (SHA-256 of the newest manifest, its set's stamp)."""
	found = _head_row(MANIFESTS) or {}
	return found.get("head") or None, found.get("stamp") or ""


def set_manifest_head(head: str, stamp: str) -> None:
	if _head_row(MANIFESTS, for_update=True) is None:
		_insert_head(MANIFESTS, "install", _("the first manifest"), head=head, stamp=stamp)
		return
	frappe.db.sql(
		"update `tabOps Chain Head` set head = %s, stamp = %s, modified = %s where name = %s",
		(head, stamp, frappe.utils.now_datetime(), MANIFESTS),
	)


def _head_row(name: str, for_update: bool = False) -> dict | None:
	found = frappe.db.sql(
		f"select head, seq, stamp, chain_id from `tabOps Chain Head` where name = %s"
		f"{' for update' if for_update else ''}",
		name,
		as_dict=True,
	)
	return found[0] if found else None


def _lock_head() -> dict:
	found = _head_row(ACTION_LOG, for_update=True)
	if found is None:  # a site not migrated yet, or the row was deleted: start it as migrate would
		ensure_chain_head(reason="repair")
		found = _head_row(ACTION_LOG, for_update=True)
	return found


def _insert_head(name: str, started: str, note: str, **values) -> None:
	now = frappe.utils.now_datetime()
	user = frappe.session.user if getattr(frappe.local, "session", None) else "Administrator"
	doc = frappe.new_doc(HEADS)
	doc.update(
		{
			"name": name,
			"chain": name,
			"head": values.get("head") or chain.GENESIS,
			"seq": values.get("seq") or 0,
			"stamp": values.get("stamp"),
			"chain_id": values.get("chain_id"),
			"genesis_reason": started,
			"genesis_at": now,
			"genesis_by": user,
			"genesis_note": note,
			"owner": user,
			"modified_by": user,
			"creation": now,
			"modified": now,
		}
	)
	doc.db_insert()


def _legacy_head() -> str | None:
	found = frappe.db.sql("select value from tabSingles where doctype = %s and field = %s", LEGACY_HEAD)
	return (found[0][0] or "") if found else None


def _drop_legacy_head() -> None:
	frappe.db.sql("delete from tabSingles where doctype = %s and field = %s", LEGACY_HEAD)


def _hashed(row: dict) -> dict:
	return {k: v for k, v in row.items() if k not in (chain.PREVIOUS_FIELD, chain.HASH_FIELD)}


def _column_mismatch(row: dict, body: dict) -> str | None:
	for column in MIRRORED:
		if (row.get(column) or None) != (body.get(column) or None):
			return column
	return None


def _broken(index: int, name: str | None, reason: str | None) -> ChainVerdict:
	return ChainVerdict(ok=False, checked=index, first_broken=index, first_broken_name=name, reason=reason)


# Denials ----------------------------------------------------------------------------------------

# Denials by users without an Ops role: one chained row for the first of each window, the rest
# counted in the site's cache and summarised in one row when the window has closed.
DENIAL_WINDOW_S = 600
DENIAL_COUNT = "erp_ops:{site}:denied:{window}:{user}"  # hash: action → count
DENIAL_USERS = "erp_ops:{site}:denied-users:{window}"  # set of users denied in the window


def count_denial(action: str, user: str | None = None) -> bool:
	"""Count a denial of a user without any Ops role; True for the first one of its window.

	One pipelined round trip to the site's cache, no database write, no chain lock: a script
	hammering an endpoint costs the log one row per window (and one summary, `summarise_denials`).
	"""
	user = user or frappe.session.user
	window = _window()
	site = frappe.local.site
	counts = DENIAL_COUNT.format(site=site, window=window, user=user)
	users = DENIAL_USERS.format(site=site, window=window)
	pipe = frappe.cache.pipeline(transaction=True)
	pipe.hincrby(counts, action, 1)
	pipe.hlen(counts)
	pipe.sadd(users, user)
	for key in (counts, users):
		pipe.expire(key, 4 * DENIAL_WINDOW_S)
	after, kinds, *_rest = pipe.execute()
	return after == 1 and kinds == 1


def summarise_denials(now: float | None = None) -> list[str]:
	"""One chained row per user for each closed window in which a user without an Ops role was
	denied more than once (the first denial has its own row); returns the rows' names.

	Run by the scheduler every few minutes; each window's counts are taken (and deleted) in one
	transaction, so two runs never summarise a window twice.
	"""
	site, current = frappe.local.site, _window(now)
	windows = list(range(current - 3, current))
	pipe = frappe.cache.pipeline(transaction=False)  # raw keys: RedisWrapper's own methods prefix them
	for window in windows:
		pipe.smembers(DENIAL_USERS.format(site=site, window=window))
	names = []
	for window, members in zip(windows, pipe.execute(), strict=True):
		users_key = DENIAL_USERS.format(site=site, window=window)
		for raw_user in sorted(members or ()):
			user = raw_user.decode() if isinstance(raw_user, bytes) else str(raw_user)
			counts_key = DENIAL_COUNT.format(site=site, window=window, user=user)
			pipe = frappe.cache.pipeline(transaction=True)
			pipe.hgetall(counts_key)
			pipe.delete(counts_key)
			pipe.srem(users_key, raw_user)
			raw_counts = pipe.execute()[0]
			counts = {
				(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in (raw_counts or {}).items()
			}
			total = sum(counts.values())
			if total <= 1:
				continue  # the one denial has its own row
			start, end = _window_start(window), _window_start(window + 1)
			names.append(
				append_entry(
					new_entry(
						max(counts, key=counts.get),
						[f"{action}: {n}" for action, n in sorted(counts.items())],
						f"{total} denied calls between {start:%Y-%m-%d %H:%M} and {end:%H:%M} UTC",
						ActionOutcome.DENIED,
						user=user,
						error=(
							f"no Ops role: {total} denials rate-limited (the first one has its own row); "
							"per action in targets"
						),
					)
				)
			)
			frappe.db.commit()  # the window's counts are gone from Redis: its row must stay
	return names


def _window(now: float | None = None) -> int:
	return int((time.time() if now is None else now) // DENIAL_WINDOW_S)


def _window_start(window: int) -> datetime:
	return from_timestamp(window * DENIAL_WINDOW_S)


def denial_window_end(now: float | None = None) -> datetime:
	"""When the current denial window closes (its summary is written after)."""
	return _window_start(_window(now) + 1)

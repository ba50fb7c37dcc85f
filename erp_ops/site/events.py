"""Integration events in this site: handlers from hooks, settings from Ops Settings, the store, Redis.

The protocol is the core's (`erp_ops.core.events`); this module only wires it to the site.

A source is proven, not claimed: an `Integration Source` record binds it to the users allowed to
send for it (and optionally to the event types it may send); any other sender is refused (403) and
the refusal recorded. Handlers run with the sender's permissions: inline in the sender's request,
in a job enqueued as the sender, and as the sender (the event's owner) when a recovery or a replay
runs them on someone else's behalf.

Handlers come from the `erp_ops_event_handlers` hook of every installed app and, after them, from
the same key in site_config.json (server administrators only can set it: for a site-specific
integration or a test handler that must not ship in an app's hooks). The last definition of an
event type wins.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import frappe
from frappe import _
from frappe.utils import get_bench_id

from erp_ops.core.events import (
	EventQuery,
	HandlerRegistry,
	IngestRequest,
	IngestResult,
	IngestSettings,
	load_handlers,
)
from erp_ops.core.events import ingest as core_ingest
from erp_ops.core.events import process as core_process
from erp_ops.core.events import purge as core_purge
from erp_ops.core.events import recoverable as core_recoverable
from erp_ops.core.events import replay as core_replay
from erp_ops.core.events.errors import SenderNotBound
from erp_ops.core.events.fastpath import FastPath
from erp_ops.core.events.models import PurgeResult, ReplayReport
from erp_ops.site.event_store import FrappeEventStore

HOOK = "erp_ops_event_handlers"
PROCESS_JOB = "erp_ops.tasks.process_integration_event"
SOURCE_DOCTYPE = "Integration Source"
SOURCE_CACHE = "erp_ops_integration_source:{0}"  # cleared by the Integration Source controller
# Loaded registries by the hook mapping they came from: imports once per process and mapping.
_registries: dict[str, HandlerRegistry] = {}


def handler_hook() -> dict[str, Any]:
	"""Event type → dotted path(s): app hooks first, then site config (which wins)."""
	merged: dict[str, Any] = dict(frappe.get_hooks(HOOK) or {})
	configured = frappe.conf.get(HOOK) or {}
	if not isinstance(configured, dict):
		frappe.throw(f"site config {HOOK} must map event types to dotted paths")
	merged.update(configured)
	return merged


def handlers() -> HandlerRegistry:
	"""The registry, each handler wrapped to run as the event's sender (`as_sender`)."""
	hook = handler_hook()
	key = json.dumps(hook, sort_keys=True)
	if key not in _registries:
		loaded = load_handlers(hook)
		_registries[key] = HandlerRegistry(
			{t: replace(loaded.get(t), fn=as_sender(loaded.get(t).fn)) for t in loaded.types()}
		)
	return _registries[key]


def as_sender(fn):
	"""Run the handler with the permissions of the user who sent the event (its record's owner)."""

	def run(event, tx):
		sender = frappe.db.get_value("Integration Event", event.name, "owner")
		if not sender or sender == frappe.session.user:
			return fn(event, tx)
		with acting_as(sender):
			return fn(event, tx)

	run.__name__ = getattr(fn, "__name__", "handler")
	return run


@contextmanager
def acting_as(user: str) -> Iterator[None]:
	"""`frappe.set_user(user)` for a block, then the session exactly as it was (set_user alone
	would leave the request's session, form and caches reset to the other user)."""
	local = frappe.local
	names = ("cache", "form_dict", "role_permissions", "new_doc_templates", "user_perms", "jenv")
	saved = {name: getattr(local, name, None) for name in names}
	session = (local.session.user, local.session.sid, local.session.data)
	frappe.set_user(user)
	try:
		yield
	finally:
		for name, value in saved.items():
			setattr(local, name, value)
		local.session.user, local.session.sid, local.session.data = session


def source_binding(source: str) -> dict | None:
	"""The Integration Source as the ingest checks it (cached until the record changes)."""

	def load() -> dict | None:
		found = frappe.db.get_value(SOURCE_DOCTYPE, source, ["enabled", "event_types"], as_dict=True)
		if not found:
			return None
		return {
			"enabled": bool(found.enabled),
			"users": frappe.get_all(
				"Integration Source User",
				filters={"parent": source, "parenttype": SOURCE_DOCTYPE},
				pluck="user",
			),
			"event_types": [t for t in (found.event_types or "").splitlines() if t.strip()],
		}

	return frappe.cache.get_value(SOURCE_CACHE.format(source), generator=load)


def check_sender(request: IngestRequest, user: str | None = None) -> None:
	"""Refuse (SenderNotBound, 403) a sender no enabled Integration Source of the request's source
	lists, or an event type the source may not send. An empty or too long source is the core's to
	refuse (400)."""
	if not request.source or len(request.source) > settings().max_source_length:
		return
	user = user or frappe.session.user
	binding = source_binding(request.source)
	if binding is None or not binding["enabled"]:
		raise SenderNotBound(
			_(
				"{0} is not an enabled Integration Source: a System Manager binds a source to its senders"
			).format(request.source)
		)
	if user not in binding["users"]:
		raise SenderNotBound(_("{0} may not send events for {1}").format(user, request.source))
	if binding["event_types"] and request.event_type not in binding["event_types"]:
		raise SenderNotBound(
			_("{0} may not send events of type {1}").format(request.source, request.event_type)
		)


def settings() -> IngestSettings:
	"""The core's limits from Ops Settings; a value never saved keeps the core's default."""
	doc = frappe.get_cached_doc("Ops Settings")
	default = IngestSettings()

	def number(field: str, fallback: float) -> float:
		value = doc.get(field)
		return fallback if value in (None, "") or value <= 0 else value

	return IngestSettings(
		max_body_bytes=int(number("event_payload_limit_kb", default.max_body_bytes / 1024) * 1024),
		claim_ttl_s=float(number("event_claim_ttl_s", default.claim_ttl_s)),
		retention_days=int(number("event_retention_days", default.retention_days)),
		done_cache_s=float(number("event_done_cache_s", default.done_cache_s)),
	)


def process_inline() -> bool:
	value = frappe.get_cached_doc("Ops Settings").get("event_process_inline")
	return value in (None, 1, "1")


def fast_path() -> FastPath:
	"""Redis in front of the database, one namespace per site; the cache Redis, as it only caches."""
	return FastPath(frappe.cache, f"{get_bench_id()}:{frappe.local.site}")


def clear_answer_cache() -> None:
	"""`clear_cache` hook: drop the site's cached event answers.

	`bench restore` (through install_app) and `bench clear-cache` clear the site's cache: a restored
	database must not be answered from a cache of the one it replaced. Never raises: clearing a
	cache must not fail a restore; `ingest` confirms every cached answer against its row anyway.
	"""
	try:
		fast_path().clear()
	except Exception:
		frappe.logger("erp_ops").warning("could not clear the cached event answers", exc_info=True)


def store() -> FrappeEventStore:
	return FrappeEventStore()


def ingest(request: IngestRequest) -> IngestResult:
	"""Accept one delivery (refusals are recorded, then raised); enqueue it when not processed inline."""
	check_sender(request)
	result = core_ingest(
		store(), handlers(), request, settings=settings(), fast=fast_path(), inline=process_inline()
	)
	if result.enqueue:
		enqueue(result.name)
	return result


def enqueue(name: str) -> None:
	# Job id = event name: one queued job per event however often it is enqueued.
	frappe.enqueue(
		PROCESS_JOB, name=name, job_id=name, deduplicate=True, enqueue_after_commit=True, queue="default"
	)


def process(name: str) -> IngestResult | None:
	return core_process(store(), handlers(), name, settings=settings(), fast=fast_path())


def recover() -> list[str]:
	"""Enqueue the events never picked up and those whose worker died (its claim expired)."""
	names = core_recoverable(store())
	for name in names:
		enqueue(name)
	frappe.db.commit()  # the enqueues wait for a commit
	return names


def purge(retention_days: int | None = None) -> PurgeResult:
	days = retention_days if retention_days is not None else settings().retention_days
	return core_purge(store(), retention_days=days)


def replay(query: EventQuery, *, reason: str, dry_run: bool = True) -> ReplayReport:
	return core_replay(
		store(),
		handlers(),
		query,
		reason=reason,
		actor=frappe.session.user,
		dry_run=dry_run,
		settings=settings(),
		fast=fast_path(),
	)

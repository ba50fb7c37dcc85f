"""Integration events in this site: handlers from hooks, settings from Ops Settings, the store, Redis.

The protocol is the core's (`erp_ops.core.events`); this module only wires it to the site.

Handlers come from the `erp_ops_event_handlers` hook of every installed app and, after them, from
the same key in site_config.json (server administrators only can set it: for a site-specific
integration or a test handler that must not ship in an app's hooks). The last definition of an
event type wins.
"""

import json
from typing import Any

import frappe
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
from erp_ops.core.events.fastpath import FastPath
from erp_ops.core.events.models import PurgeResult, ReplayReport
from erp_ops.site.event_store import FrappeEventStore

HOOK = "erp_ops_event_handlers"
PROCESS_JOB = "erp_ops.tasks.process_integration_event"
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
	hook = handler_hook()
	key = json.dumps(hook, sort_keys=True)
	if key not in _registries:
		_registries[key] = load_handlers(hook)
	return _registries[key]


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

# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

"""Integration events in a real site: HTTP through Frappe's WSGI app, a real handler creating Notes.

The handler (`erp_ops.events_example.note_upsert`) is registered the documented way, through the
site config key `erp_ops_event_handlers`, for the duration of these tests.
"""

import hashlib
import json
import threading
import uuid
from datetime import datetime, timedelta, timezone

import frappe
from frappe.installer import update_site_config
from frappe.tests.utils import FrappeTestCase
from frappe.utils import get_test_client, now_datetime

from erp_ops import tasks
from erp_ops.api import events as api
from erp_ops.api.test_signals import api_token, ensure_user
from erp_ops.core.events import IngestRequest
from erp_ops.core.events import ingest as core_ingest
from erp_ops.core.events.canonical import canonical_json, key_digest
from erp_ops.core.events.fastpath import DONE
from erp_ops.core.events.models import Claim
from erp_ops.site import events as site_events
from erp_ops.site.event_store import FrappeEventStore
from erp_ops.site.testdata import cleanup_hooks

# What this module's tests create in the site goes when they are done (not the Ops Action Log).
setUpModule, tearDownModule = cleanup_hooks()

TYPE = "example:note.upsert"
HANDLERS = {TYPE: "erp_ops.events_example.note_upsert"}
INTEGRATION = "erp-ops-integration@example.com"
OPERATOR = "erp-ops-operator@example.com"
MANAGER = "erp-ops-manager@example.com"
NO_ROLE = "erp-ops-no-role@example.com"
URL = "/api/method/erp_ops.api.events.ingest"


def post(
	token: str,
	body: bytes | str,
	*,
	key: str,
	source: str = "shop",
	event_type: str = TYPE,
	content_type: str = "application/json",
	url: str = URL,
	method: str = "POST",
):
	"""Send a delivery (a POST unless `method`) through Frappe's real WSGI app, in its own thread."""
	site = frappe.local.site
	result = {}
	headers = {
		"Authorization": f"token {token}",
		"X-Event-Source": source,
		"X-Event-Type": event_type,
		"Idempotency-Key": key,
		"Content-Type": content_type,
		"Accept": "application/json",
	}

	def run():
		# The site is found from the Host, as for any request.
		client = get_test_client(use_cookies=False)
		result["response"] = client.open(
			url, method=method, data=body, headers=headers, base_url=f"http://{site}"
		)

	thread = threading.Thread(target=run)
	thread.start()
	thread.join()
	response = result["response"]
	return response.status_code, response.get_json() or {}


def bind_source(source: str, *users: str, event_types: str = "") -> None:
	"""An Integration Source listing `users` as its senders (committed: requests run in their own
	connection)."""
	if frappe.db.exists("Integration Source", source):
		doc = frappe.get_doc("Integration Source", source)
	else:
		doc = frappe.new_doc("Integration Source")
		doc.source_name = source
	doc.enabled = 1
	doc.event_types = event_types
	doc.set("allowed_users", [{"user": u} for u in users])
	doc.save(ignore_permissions=True)
	frappe.db.commit()


def note_body(title: str, content: str, seq: int) -> str:
	return json.dumps({"title": title, "content": content, "seq": seq})


def event_row(name: str) -> dict:
	frappe.db.rollback()  # a fresh snapshot: the request committed in its own connection
	return frappe.db.get_value("Integration Event", name, "*", as_dict=True)


def notes(title: str) -> list[dict]:
	frappe.db.rollback()  # a fresh snapshot, as in event_row
	return frappe.get_all("Note", filters={"title": title}, fields=["name", "content"])


def unique(prefix: str) -> str:
	return f"{prefix}-{uuid.uuid4().hex[:12]}"


class EventSiteTestCase(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		update_site_config(site_events.HOOK, HANDLERS)
		frappe.local.conf[site_events.HOOK] = HANDLERS
		cls.integration = api_token(ensure_user(INTEGRATION, ("Integration User",)))
		cls.no_role = api_token(ensure_user(NO_ROLE, ()))
		ensure_user(OPERATOR, ("Ops Operator",))
		ensure_user(MANAGER, ("Ops Manager",))
		bind_source("shop", INTEGRATION)
		frappe.db.set_single_value(
			"Ops Settings", {"event_process_inline": 1, "event_payload_limit_kb": 1024}
		)
		frappe.db.commit()

	@classmethod
	def tearDownClass(cls):
		update_site_config(site_events.HOOK, "None")
		frappe.local.conf.pop(site_events.HOOK, None)
		super().tearDownClass()

	def tearDown(self):
		frappe.set_user("Administrator")


class TestIngest(EventSiteTestCase):
	def test_a_new_event_is_processed_once_and_its_note_created(self):
		title, key = unique("order"), unique("k")
		status, body = post(self.integration, note_body(title, "first", 1), key=key)
		self.assertEqual(status, 200, body)
		answer = body["message"]
		self.assertEqual((answer["status"], answer["duplicate"], answer["attempts"]), ("Processed", False, 1))
		[note] = notes(title)
		self.assertEqual(answer["result"], {"note": note.name, "created": True})
		self.assertEqual(note.content, "first")
		row = event_row(answer["name"])
		self.assertEqual((row.source, row.event_type, row.idempotency_key), ("shop", TYPE, key))
		canonical = canonical_json({"title": title, "content": "first", "seq": 1})
		self.assertEqual(row.payload, canonical)
		self.assertEqual(row.payload_hash, hashlib.sha256(canonical.encode()).hexdigest())
		self.assertEqual((row.sequence, row.entity_key, row.handler), ("1", title, HANDLERS[TYPE]))
		self.assertIsNone(row.claim_token)
		self.assertEqual(json.loads(row.touched), [{"doctype": "Note", "name": note.name}])
		self.assertIn(
			{"doctype": "Note", "name": note.name, "field": "content", "before": None, "after": "first"},
			json.loads(row.changes),
		)
		self.assertIsNotNone(row.processed_at)

	def test_payload_keys_named_like_the_form_fields_are_payload_only(self):
		# Frappe spreads a JSON body's keys into the arguments: `source` as an object must neither
		# fail Frappe's argument type check nor replace the X-Event-Source header.
		title, key = unique("order"), unique("k")
		body = {"title": title, "content": "c", "seq": 1, "source": {"id": 7}, "payload": 5}
		status, answer = post(self.integration, json.dumps(body), key=key)
		self.assertEqual(status, 200, answer)
		row = event_row(answer["message"]["name"])
		self.assertEqual((row.source, row.idempotency_key, row.status), ("shop", key, "Processed"))
		self.assertEqual(json.loads(row.payload)["source"], {"id": 7})

	def test_a_duplicate_answers_the_stored_result_and_creates_nothing(self):
		title, key = unique("order"), unique("k")
		first = post(self.integration, note_body(title, "once", 1), key=key)[1]["message"]
		# Same document, other key order and spacing: the canonical hash is the same.
		again = json.dumps({"seq": 1, "content": "once", "title": title}, indent=2)
		status, body = post(self.integration, again, key=key)
		self.assertEqual(status, 200, body)
		self.assertEqual(body["message"]["duplicate"], True)
		self.assertEqual(
			(body["message"]["name"], body["message"]["result"]), (first["name"], first["result"])
		)
		# Without Redis' cached answer the database gives the same one.
		frappe.cache.delete(DONE.format(ns=site_events.fast_path().namespace, digest=first["name"][3:]))
		status, body = post(self.integration, again, key=key)
		self.assertEqual(
			(status, body["message"]["duplicate"], body["message"]["status"]), (200, True, "Processed")
		)
		self.assertEqual(len(notes(title)), 1)
		self.assertEqual(event_row(first["name"]).attempts, 1)

	def test_the_same_key_with_another_payload_is_409_and_recorded_as_a_conflict(self):
		title, key = unique("order"), unique("k")
		first = post(self.integration, note_body(title, "original", 1), key=key)[1]["message"]
		status, body = post(self.integration, note_body(title, "changed", 1), key=key)
		self.assertEqual(status, 409, body)
		self.assertEqual(body["existing"], first["name"])
		conflict = event_row(body["event"])
		self.assertEqual((conflict.status, conflict.conflict_with), ("Conflict", first["name"]))
		self.assertEqual((conflict.offered_key, conflict.idempotency_key), (key, None))
		self.assertEqual(notes(title)[0].content, "original")
		self.assertEqual(event_row(first["name"]).status, "Processed")

	def test_a_key_in_progress_is_409_and_an_expired_claim_is_taken_over_once(self):
		title, key = unique("order"), unique("k")
		store = FrappeEventStore()
		request = IngestRequest(
			source="shop", event_type=TYPE, idempotency_key=key, body=note_body(title, "x", 1)
		)
		# Stored but not processed (as with `process inline` off), then claimed by a live worker.
		stored = core_ingest(store, site_events.handlers(), request, inline=False)
		now = datetime.now(timezone.utc)
		live = Claim(worker="elsewhere:1", token=uuid.uuid4().hex, expires_at=now + timedelta(minutes=5))
		self.assertIsNotNone(store.try_claim(stored.name, live, now))
		status, body = post(self.integration, request.body, key=key)
		self.assertEqual(status, 409, body)
		self.assertIn("in progress", body["_server_messages"])
		self.assertEqual(notes(title), [])
		# The worker died: its claim expires; the next delivery takes the event over and processes it.
		frappe.db.sql(
			"update `tabIntegration Event` set claim_expires_at = %s where name = %s",
			(now_datetime() - timedelta(seconds=1), stored.name),
		)
		frappe.db.commit()
		status, body = post(self.integration, request.body, key=key)
		self.assertEqual((status, body["message"]["status"]), (200, "Processed"), body)
		self.assertEqual(body["message"]["attempts"], 2)
		# The dead worker's commit would now find another token; a late job is a no-op.
		self.assertEqual(tasks.process_integration_event(stored.name)["status"], "Processed")
		self.assertEqual(len(notes(title)), 1)

	def test_an_older_event_after_a_newer_one_is_superseded_with_the_reason(self):
		title = unique("order")
		newer = post(self.integration, note_body(title, "v5", 5), key=unique("k"))[1]["message"]
		status, body = post(self.integration, note_body(title, "v3", 3), key=unique("k"))
		self.assertEqual(status, 200, body)
		older = body["message"]
		self.assertEqual(older["status"], "Superseded")
		self.assertIn("out of order", older["reason"])
		self.assertIn(newer["name"], older["reason"])
		self.assertEqual(notes(title)[0].content, "v5")
		self.assertEqual(event_row(older["name"]).reason, older["reason"])

	def test_background_processing_runs_a_received_event_once(self):
		title, key = unique("order"), unique("k")
		store = FrappeEventStore()
		request = IngestRequest(
			source="shop", event_type=TYPE, idempotency_key=key, body=note_body(title, "bg", 1)
		)
		stored = core_ingest(store, site_events.handlers(), request, inline=False)
		self.assertEqual((stored.status.value, stored.enqueue), ("Received", True))
		later = datetime.now(timezone.utc) + timedelta(minutes=2)
		from erp_ops.core.events import recoverable

		self.assertIn(stored.name, recoverable(store, now=later))
		self.assertEqual(tasks.process_integration_event(stored.name)["status"], "Processed")
		self.assertEqual(tasks.process_integration_event(stored.name)["status"], "Processed")
		self.assertEqual(len(notes(title)), 1)
		self.assertNotIn(stored.name, recoverable(store, now=later))


class TestBadInput(EventSiteTestCase):
	def assert_rejected(self, status: int, body: dict, expected: int, reason: str) -> dict:
		self.assertEqual(status, expected, body)
		row = event_row(body["event"])
		self.assertEqual((row.status, row.reason, row.idempotency_key), ("Rejected", reason, None))
		return row

	def test_an_oversized_body_is_413_and_recorded_without_the_body(self):
		key = unique("k")
		big = json.dumps({"title": "big", "content": "x" * (1024 * 1024), "seq": 1})
		row = self.assert_rejected(*post(self.integration, big, key=key), 413, "EventTooLarge")
		self.assertIsNone(row.payload)
		self.assertEqual(row.payload_size, len(big))
		self.assertEqual(row.payload_hash, hashlib.sha256(big.encode()).hexdigest())
		self.assertEqual(row.offered_key, key)

	def test_the_limit_comes_from_ops_settings(self):
		frappe.db.set_single_value("Ops Settings", "event_payload_limit_kb", 1)
		frappe.db.commit()
		try:
			body = note_body(unique("t"), "y" * 2000, 1)
			self.assert_rejected(*post(self.integration, body, key=unique("k")), 413, "EventTooLarge")
		finally:
			frappe.db.set_single_value("Ops Settings", "event_payload_limit_kb", 1024)
			frappe.db.commit()

	def test_invalid_json_is_422_with_field_errors(self):
		status, body = post(self.integration, b"{not json", key=unique("k"), content_type="text/plain")
		row = self.assert_rejected(status, body, 422, "InvalidPayload")
		self.assertEqual(body["field_errors"][0]["type"], "json")
		self.assertEqual(row.payload, "{not json")

	def test_invalid_json_sent_as_application_json_is_422_and_recorded(self):
		# Frappe's own parser fails on this body before the endpoint runs: the after_request hook
		# (erp_ops.api.unparsed_body) answers for the endpoint.
		status, body = post(self.integration, b"{not json", key=unique("k"))
		row = self.assert_rejected(status, body, 422, "InvalidPayload")
		self.assertEqual(body["field_errors"][0]["type"], "json")
		self.assertEqual(row.payload, "{not json")

	def test_a_json_scalar_sent_as_application_json_gets_the_handlers_verdict(self):
		row = self.assert_rejected(*post(self.integration, "42", key=unique("k")), 422, "InvalidPayload")
		self.assertEqual(row.payload, "42")

	def test_unparsable_json_from_a_caller_who_may_not_ingest_is_refused_and_not_stored(self):
		key = unique("k")
		self.assertEqual(post(self.no_role, b"{not json", key=key)[0], 403)
		self.assertEqual(post("nobody:wrong", b"{not json", key=key)[0], 401)
		frappe.db.rollback()
		self.assertFalse(frappe.db.exists("Integration Event", {"offered_key": key}))

	def test_other_endpoints_and_methods_keep_frappes_answer_to_unparsable_json(self):
		url, key = "/api/method/frappe.auth.get_logged_user", unique("k")
		self.assertEqual(post(self.integration, b"{not json", key=key, url=url)[0], 500)
		self.assertEqual(post(self.integration, b"{not json", key=key, method="PUT")[0], 500)
		frappe.db.rollback()
		self.assertFalse(frappe.db.exists("Integration Event", {"offered_key": key}))

	def test_a_payload_failing_the_schema_is_422_with_each_field(self):
		body = json.dumps({"title": "", "seq": "soon"})
		status, answer = post(self.integration, body, key=unique("k"))
		self.assert_rejected(status, answer, 422, "InvalidPayload")
		self.assertEqual({e["loc"] for e in answer["field_errors"]}, {"title", "content", "seq"})

	def test_an_unknown_event_type_is_422(self):
		status, body = post(self.integration, note_body("t", "c", 1), key=unique("k"), event_type="shop:nope")
		self.assert_rejected(status, body, 422, "UnknownEventType")

	def test_an_empty_or_over_long_key_is_400(self):
		self.assert_rejected(*post(self.integration, note_body("t", "c", 1), key=""), 400, "InvalidKey")
		row = self.assert_rejected(
			*post(self.integration, note_body("t", "c", 1), key="k" * 256), 400, "InvalidKey"
		)
		self.assertEqual(row.offered_key, "k" * 255)

	def test_a_refused_request_does_not_take_the_key(self):
		title, key = unique("order"), unique("k")
		post(self.integration, json.dumps({"title": title}), key=key)
		status, body = post(self.integration, note_body(title, "fixed", 1), key=key)
		self.assertEqual(
			(status, body["message"]["status"], body["message"]["duplicate"]), (200, "Processed", False)
		)

	def test_a_user_without_the_roles_is_denied_and_nothing_is_stored(self):
		key = unique("k")
		status, _ = post(self.no_role, note_body(unique("t"), "c", 1), key=key)
		self.assertEqual(status, 403)
		frappe.db.rollback()
		self.assertFalse(frappe.db.exists("Integration Event", {"offered_key": key}))
		self.assertFalse(frappe.db.exists("Integration Event", {"idempotency_key": key}))


class TestReplayAndRetention(EventSiteTestCase):
	def test_replay_dry_run_then_execute_with_evidence_and_an_action_log_entry(self):
		title = unique("order")
		event = post(self.integration, note_body(title, "v1", 1), key=unique("k"))[1]["message"]
		note = notes(title)[0].name
		frappe.set_user(OPERATOR)
		dry = api.replay(filters={"name": event["name"]}, reason="check the handler", dry_run=1)
		self.assertEqual(dry["dry_run"], True)
		[item] = dry["items"]
		self.assertEqual((item["outcome"], item["changed"], item["changes"]), ("apply", False, []))
		# Someone edits the note by hand: the dry run shows what a replay would put back, and does nothing.
		frappe.set_user("Administrator")
		frappe.db.set_value("Note", note, "content", "edited")
		frappe.db.commit()
		frappe.set_user(OPERATOR)
		dry = api.replay(filters=json.dumps({"name": event["name"]}), reason="restore the note")
		self.assertEqual(dry["items"][0]["changes"][0]["before"], "edited")
		self.assertEqual(dry["items"][0]["changes"][0]["after"], "v1")
		self.assertEqual(frappe.db.get_value("Note", note, "content"), "edited")
		done = api.replay(filters={"name": event["name"]}, reason="restore the note", dry_run=0)
		frappe.set_user("Administrator")
		self.assertEqual((done["dry_run"], done["counts"], done["changed"]), (False, {"apply": 1}, 1))
		self.assertEqual(frappe.db.get_value("Note", note, "content"), "v1")
		replays = frappe.get_all(
			"Integration Event Replay",
			filters={"event": event["name"]},
			fields=["replay_id", "reason", "actor", "outcome", "status_after", "changed", "changes"],
		)
		self.assertEqual(len(replays), 1)
		self.assertEqual(
			(replays[0].replay_id, replays[0].actor, replays[0].changed, replays[0].status_after),
			(done["replay_id"], OPERATOR, 1, "Processed"),
		)
		# Replaying again changes nothing, and that is recorded too.
		frappe.set_user(OPERATOR)
		again = api.replay(filters={"name": event["name"]}, reason="once more", dry_run=0)
		frappe.set_user("Administrator")
		self.assertEqual(again["changed"], 0)
		self.assertEqual(
			frappe.db.get_value("Integration Event Replay", {"replay_id": again["replay_id"]}, "changed"), 0
		)
		self.assertEqual(event_row(event["name"]).attempts, 3)
		logs = frappe.get_all(
			"Ops Action Log",
			filters={"action": "replay", "user": OPERATOR},
			fields=["dry_run", "outcome", "targets", "reason"],
			order_by="seq desc",
			limit=4,
		)
		self.assertEqual(
			[(r.dry_run, r.outcome) for r in logs], [(0, "done"), (0, "done"), (1, "done"), (1, "done")]
		)
		self.assertIn(event["name"], logs[0].targets.split("\n"))
		self.assertEqual(logs[1].reason, "restore the note")
		self.assertEqual(len(notes(title)), 1)

	def test_a_range_replay_needs_an_ops_manager(self):
		source = unique("src")
		bind_source(source, INTEGRATION)
		names = [
			post(self.integration, note_body(unique("t"), "r", 1), key=unique("k"), source=source)[1][
				"message"
			]["name"]
			for _ in range(2)
		]
		frappe.set_user(OPERATOR)
		with self.assertRaises(frappe.PermissionError):
			api.replay(filters={"source": source}, reason="range", dry_run=1)
		frappe.set_user("Administrator")
		self.assertEqual(
			frappe.db.count("Ops Action Log", {"action": "replay", "user": OPERATOR, "outcome": "denied"})
			>= 1,
			True,
		)
		frappe.set_user(MANAGER)
		dry = api.replay(filters={"source": source, "status": "Processed"}, reason="range", dry_run=1)
		self.assertEqual([i["name"] for i in dry["items"]], names)
		self.assertEqual(dry["counts"], {"apply": 2})

	def test_a_user_without_roles_cannot_replay(self):
		frappe.set_user(NO_ROLE)
		with self.assertRaises(frappe.PermissionError) as raised:
			api.replay(filters={"name": "EV-x"}, reason="no", dry_run=1)
		self.assertEqual(raised.exception.http_status_code, 403)

	def test_purge_removes_events_past_retention_and_their_keys_are_new_again(self):
		title, key = unique("order"), unique("k")
		old = post(self.integration, note_body(title, "old", 1), key=key)[1]["message"]["name"]
		frappe.db.sql(
			"update `tabIntegration Event` set received_at = %s where name = %s",
			(now_datetime() - timedelta(days=91), old),
		)
		frappe.cache.delete(DONE.format(ns=site_events.fast_path().namespace, digest=key_digest("shop", key)))
		frappe.db.commit()
		recent = post(self.integration, note_body(unique("order"), "new", 1), key=unique("k"))[1]["message"][
			"name"
		]
		self.assertGreaterEqual(tasks.purge_integration_events(), 1)
		self.assertIsNone(event_row(old))
		self.assertIsNotNone(event_row(recent))
		# Past the window the key is a new event (the README says idempotency holds for retention only).
		status, body = post(self.integration, note_body(title, "old", 2), key=key)
		self.assertEqual(
			(status, body["message"]["duplicate"], body["message"]["status"]), (200, False, "Processed")
		)


class TestCards(EventSiteTestCase):
	def test_the_cards_count_the_last_24_hours(self):
		frappe.db.rollback()
		before = api.conflicts_last_24h()["value"]
		key = unique("k")
		post(self.integration, note_body(unique("t"), "a", 1), key=key)
		post(self.integration, note_body(unique("t"), "b", 1), key=key)
		frappe.db.rollback()
		card = api.conflicts_last_24h()
		self.assertEqual(card["value"], before + 1)
		self.assertEqual(card["route"], ["List", "Integration Event"])
		self.assertEqual(card["route_options"]["status"], "Conflict")
		self.assertIsInstance(api.failed_last_24h()["value"], int)
		self.assertIsInstance(api.superseded_last_24h()["value"], int)
		frappe.set_user(NO_ROLE)
		self.assertRaises(frappe.PermissionError, api.failed_last_24h)


OTHER_SENDER = "erp-ops-integration-2@example.com"


class TestSourceBinding(EventSiteTestCase):
	"""Sources are proven (issue 19.3): only the users bound to a source send for it, and handlers
	run with the sender's permissions."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.other = api_token(ensure_user(OTHER_SENDER, ("Integration User",)))
		frappe.db.commit()

	def test_an_unbound_sender_is_refused_403_and_recorded(self):
		key, title = unique("k"), unique("order")
		status, body = post(self.other, note_body(title, "x", 1), key=key)  # "shop" binds INTEGRATION only
		self.assertEqual(status, 403, body)
		row = event_row(body["event"])
		self.assertEqual(
			(row.status, row.source, row.offered_key, row.owner), ("Rejected", "shop", key, OTHER_SENDER)
		)
		self.assertEqual(row.reason, "SenderNotBound")
		self.assertIn("may not send events for shop", row.error)
		self.assertIsNone(row.idempotency_key, "a refused request holds no key")
		self.assertEqual(notes(title), [])
		# The key stays the bound sender's: its delivery is processed as a new event.
		status, body = post(self.integration, note_body(title, "mine", 1), key=key)
		self.assertEqual(
			(status, body["message"]["status"], body["message"]["duplicate"]), (200, "Processed", False)
		)
		# A source nobody bound is refused the same way, whoever sends.
		status, body = post(
			self.integration, note_body(title, "y", 2), key=unique("k"), source=unique("nobody")
		)
		self.assertEqual(status, 403, body)
		self.assertEqual(event_row(body["event"]).status, "Rejected")

	def test_a_source_sends_only_its_event_types(self):
		source = unique("typed")
		bind_source(source, INTEGRATION, event_types="example:other")
		status, body = post(self.integration, note_body(unique("t"), "x", 1), key=unique("k"), source=source)
		self.assertEqual(status, 403, body)
		self.assertIn("may not send events of type", event_row(body["event"]).error)
		bind_source(source, INTEGRATION, event_types=f"example:other\n{TYPE}")
		status, body = post(self.integration, note_body(unique("t"), "x", 1), key=unique("k"), source=source)
		self.assertEqual(status, 200, body)

	def test_the_handler_runs_with_the_senders_permissions(self):
		source = unique("shared")
		bind_source(source, INTEGRATION, OTHER_SENDER)
		title = unique("order")
		status, body = post(self.integration, note_body(title, "first", 1), key=unique("k"), source=source)
		self.assertEqual((status, body["message"]["status"]), (200, "Processed"), body)
		[note] = notes(title)
		self.assertEqual(frappe.db.get_value("Note", note.name, "owner"), INTEGRATION)
		# Another sender may send for the source, but not change a Note it may not write: the
		# handler runs as that sender (no ignore_permissions), so the event fails.
		status, body = post(self.other, note_body(title, "overwritten", 2), key=unique("k"), source=source)
		self.assertEqual((status, body["message"]["status"]), (500, "Failed"), body)
		self.assertIn("PermissionError", body["message"]["error"])
		self.assertEqual(notes(title)[0].content, "first")

	def test_recovered_events_run_as_their_sender(self):
		source = unique("bg")
		bind_source(source, INTEGRATION)
		title = unique("order")
		frappe.set_user(INTEGRATION)  # stored by the sender, not processed inline
		request = IngestRequest(
			source=source, event_type=TYPE, idempotency_key=unique("k"), body=note_body(title, "bg", 1)
		)
		stored = core_ingest(FrappeEventStore(), site_events.handlers(), request, inline=False)
		frappe.db.commit()
		frappe.set_user("Administrator")  # the scheduler's recovery runs as Administrator
		self.assertEqual(tasks.process_integration_event(stored.name)["status"], "Processed")
		self.assertEqual(frappe.session.user, "Administrator", "the session is the caller's again")
		[note] = notes(title)
		self.assertEqual(frappe.db.get_value("Note", note.name, "owner"), INTEGRATION)

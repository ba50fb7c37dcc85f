"""Alerts on a real bench: RQ jobs back up a queue of the test's own on the bench's Redis, the rule
fires, its notifications (Notification Log, Email Queue, a webhook on loopback) name the runbook,
a real rq worker drains the queue and the alert resolves. No mocks."""

import email
import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import get_bench_id
from frappe.utils.background_jobs import get_redis_conn
from rq import Queue, SimpleWorker

from erp_ops.api import alerts as api
from erp_ops.api.test_jobs import log_rows
from erp_ops.api.test_signals import ensure_user
from erp_ops.core.alerts import store
from erp_ops.site.alerts import ALERT_DOCTYPE, core_rule, evaluate_site, state_scope
from erp_ops.site.signals import site_snapshot
from erp_ops.site.testdata import cleanup_hooks

# What this module's tests create in the site goes when they are done (not the Ops Action Log).
setUpModule, tearDownModule = cleanup_hooks()

QUEUE = "erp-ops-test-alerts"  # no worker of the bench listens to it
RULE = "test-queue-depth"
RUNBOOK = "RB-QUEUE-BACKLOG"
OPERATOR = "erp-ops-alert-operator@example.com"
VIEWER = "erp-ops-alert-viewer@example.com"
EMAIL = "erp-ops-alert-inbox@example.com"


def noop() -> str:
	"""The queued jobs' function: importable by the rq worker."""
	return "ok"


class Receiver:
	"""A webhook receiver on 127.0.0.1: collects the JSON bodies it is sent."""

	def __init__(self) -> None:
		received = self.received = []

		class Handler(BaseHTTPRequestHandler):
			def do_POST(self):
				received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
				self.send_response(204)
				self.end_headers()

			def log_message(self, *args):
				pass

		self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
		self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/erp-ops?token=secret"
		threading.Thread(target=self.server.serve_forever, daemon=True).start()

	def close(self) -> None:
		self.server.shutdown()
		self.server.server_close()


def emails_to(address: str, alert: str) -> list[str]:
	"""The decoded text of each Email Queue message about `alert` that goes to `address`."""
	out = []
	for row in frappe.get_all(
		"Email Queue",
		filters={"reference_doctype": ALERT_DOCTYPE, "reference_name": alert},
		fields=["name", "message"],
	):
		if address in [r.recipient for r in frappe.get_doc("Email Queue", row.name).recipients]:
			parts = email.message_from_string(row.message).walk()
			out.append("".join(p.get_payload(decode=True).decode() for p in parts if not p.is_multipart()))
	return out


def ensure_outgoing_email_account() -> None:
	"""Frappe queues mail only with a default outgoing account; under tests it never connects."""
	if frappe.db.exists("Email Account", {"default_outgoing": 1, "enable_outgoing": 1}):
		return
	frappe.get_doc(
		{
			"doctype": "Email Account",
			"email_account_name": "erp_ops tests outgoing",
			"email_id": "erp-ops-tests@example.com",
			"enable_outgoing": 1,
			"default_outgoing": 1,
			"smtp_server": "smtp.example.com",
			"awaiting_password": 1,
		}
	).insert(ignore_permissions=True)
	frappe.db.commit()


def clear_state() -> None:
	conn, scope = get_redis_conn(), state_scope()
	conn.delete(*(k.format(bench=scope) for k in (store.ALERTS, store.OUTBOX, store.LOCK)))


def cleanup() -> None:
	frappe.set_user("Administrator")
	alerts = frappe.get_all(ALERT_DOCTYPE, filters={"rule": RULE}, pluck="name")
	for name in alerts:
		frappe.delete_doc(ALERT_DOCTYPE, name, force=True, ignore_permissions=True)
	if alerts:
		frappe.db.delete(
			"Notification Log", {"document_type": ALERT_DOCTYPE, "document_name": ("in", alerts)}
		)
		frappe.db.delete(
			"Email Queue", {"reference_doctype": ALERT_DOCTYPE, "reference_name": ("in", alerts)}
		)
	if frappe.db.exists("Ops Alert Rule", RULE):
		frappe.delete_doc("Ops Alert Rule", RULE, force=True, ignore_permissions=True)
	frappe.db.commit()


class TestAlerts(FrappeTestCase):
	def setUp(self):
		cleanup()
		clear_state()
		self.conn = get_redis_conn()
		self.queue = Queue(f"{get_bench_id()}:{QUEUE}", connection=self.conn)
		self.queue.empty()
		self.receiver = Receiver()
		ensure_user(OPERATOR, ("Ops Operator",))
		ensure_user(VIEWER, ("Ops Viewer",))
		ensure_outgoing_email_account()
		self.t0 = datetime.now(timezone.utc)

	def tearDown(self):
		self.receiver.close()
		self.queue.empty()
		self.queue.delete(delete_jobs=True)
		clear_state()
		cleanup()

	def make_rule(self, **values):
		doc = frappe.get_doc(
			{
				"doctype": "Ops Alert Rule",
				"rule_name": RULE,
				"signal": f"queue.{QUEUE}.queued",
				"comparison": ">",
				"threshold": 2,
				"for_s": 60,
				"severity": "critical",
				"runbook": RUNBOOK,
				"notify_users": OPERATOR,
				"notify_emails": EMAIL,
				"webhook_urls": self.receiver.url,
				**values,
			}
		).insert()
		return core_rule(doc)

	def evaluate(self, rule, seconds: float):
		# A fresh snapshot each time (the task reads the cached one; a test cannot wait for it).
		return evaluate_site(
			rules=[rule], snapshot=site_snapshot(cache_seconds=0), now=self.t0 + timedelta(seconds=seconds)
		)

	def alert(self) -> "frappe.model.document.Document":
		names = frappe.get_all(ALERT_DOCTYPE, filters={"rule": RULE}, pluck="name")
		self.assertEqual(len(names), 1, "one incident, duplicates folded")
		return frappe.get_doc(ALERT_DOCTYPE, names[0])

	def back_up_queue(self, jobs: int = 5) -> None:
		for _ in range(jobs):
			self.queue.enqueue(noop)
		queued = {q.short_name: q.queued for q in site_snapshot(cache_seconds=0).queues}
		self.assertEqual(queued.get(QUEUE), jobs, "the snapshot sees the test's queue")

	def test_an_alert_fires_when_a_queue_backs_up_names_the_runbook_and_resolves_when_it_drains(self):
		rule = self.make_rule()
		self.back_up_queue(5)

		self.evaluate(rule, 0)
		alert = self.alert()
		self.assertEqual(alert.status, "Pending")
		self.assertEqual(self.receiver.received, [], "nobody is told about a pending alert")

		self.evaluate(rule, 30)  # still inside the for-duration: folded into the same alert
		self.assertEqual(self.alert().status, "Pending")
		[state] = store.load(self.conn, state_scope())
		self.assertEqual((state.status.value, state.evaluations), ("pending", 2))

		self.evaluate(rule, 61)
		alert = self.alert()
		self.assertEqual(alert.status, "Firing")
		self.assertEqual((alert.trigger_value, alert.value, alert.threshold), (5, 5, 2))
		self.assertEqual(alert.runbook, RUNBOOK)
		self.assertEqual(alert.evaluations, 3, "three evaluations found it true: one alert")
		self.assertEqual([t.event for t in alert.transitions], ["pending", "fired"])

		logs = frappe.get_all(
			"Notification Log",
			filters={"document_type": ALERT_DOCTYPE, "document_name": alert.name},
			fields=["for_user", "subject"],
		)
		self.assertEqual([n.for_user for n in logs], [OPERATOR])
		self.assertIn("Queue backlog growing", logs[0].subject)
		self.assertIn("FIRED", logs[0].subject)
		[body] = emails_to(EMAIL, alert.name)
		self.assertIn(RUNBOOK, body)
		self.assertIn("Queue backlog growing", body)
		[fired] = self.receiver.received
		self.assertEqual((fired["event"], fired["rule"], fired["subject"]), ("fired", RULE, QUEUE))
		self.assertEqual((fired["value"], fired["threshold"]), (5, 2))
		self.assertEqual(fired["runbook"]["name"], RUNBOOK)
		self.assertEqual(fired["runbook"]["title"], "Queue backlog growing")
		self.assertTrue(fired["runbook"]["url"].endswith(f"/app/runbook/{RUNBOOK}"))
		self.assertTrue(fired["runbook"]["first_steps"])

		# A real rq worker drains the queue; the next evaluation resolves the alert.
		SimpleWorker([self.queue], connection=self.conn).work(burst=True)
		self.assertEqual(self.conn.llen(self.queue.key), 0)
		self.evaluate(rule, 120)
		alert = self.alert()
		self.assertEqual(alert.status, "Resolved")
		self.assertEqual(alert.value, 0)
		self.assertEqual([t.event for t in alert.transitions], ["pending", "fired", "resolved"])
		self.assertEqual([p["event"] for p in self.receiver.received], ["fired", "resolved"])
		self.assertEqual(store.pending_transitions(self.conn, state_scope()), [], "outbox drained")

	def test_a_redelivered_transition_is_stored_and_sent_once(self):
		rule = self.make_rule(for_s=0)
		self.back_up_queue(3)
		self.evaluate(rule, 0)
		alert = self.alert()
		# Put the same transition back in the outbox, as a crash between commit and trim would.
		from erp_ops.core.alerts.models import Transition

		[state] = store.load(self.conn, state_scope())
		stored = alert.transitions[-1].transition_id
		again = Transition(id=stored, kind="fired", at=self.t0, notify=True, alert=state)
		self.conn.rpush(store.OUTBOX.format(bench=state_scope()), again.model_dump_json())
		from erp_ops.site.alerts import drain_outbox

		self.assertEqual(drain_outbox([rule]), 1)
		self.assertEqual(len(self.alert().transitions), 1)
		self.assertEqual(len(self.receiver.received), 1)

	def test_an_operator_acknowledges_audited_and_a_viewer_is_refused(self):
		rule = self.make_rule(for_s=0)
		self.back_up_queue(3)
		self.evaluate(rule, 0)
		name = self.alert().name
		self.assertEqual(self.alert().status, "Firing")

		frappe.set_user(VIEWER)
		with self.assertRaises(frappe.PermissionError):
			api.acknowledge(name, "not mine to ack")
		frappe.set_user(OPERATOR)
		done = api.acknowledge(name, "looking at the workers")
		frappe.set_user("Administrator")

		alert = self.alert()
		self.assertEqual((alert.acknowledged_by, alert.ack_note), (OPERATOR, "looking at the workers"))
		self.assertEqual(alert.transitions[-1].event, "acknowledged")
		[state] = store.load(self.conn, state_scope())
		self.assertEqual(state.acknowledged_by, OPERATOR, "the evaluator sees it: no renotify")
		rows = log_rows(action="acknowledge", targets=name)
		self.assertEqual([(r.user, r.outcome) for r in rows], [(OPERATOR, "done"), (VIEWER, "denied")])
		self.assertEqual(rows[0].name, done["log"])
		# The ack transition also waited in the outbox: draining it adds nothing.
		from erp_ops.site.alerts import drain_outbox

		drain_outbox([rule])
		self.assertEqual([t.event for t in self.alert().transitions], ["fired", "acknowledged"])

		# A resolved alert cannot be acknowledged (422), and the attempt is logged.
		self.queue.empty()
		self.evaluate(rule, 60)
		self.assertEqual(self.alert().status, "Resolved")
		frappe.set_user(OPERATOR)
		with self.assertRaises(frappe.ValidationError):
			api.acknowledge(name, "too late")
		frappe.set_user("Administrator")
		self.assertEqual(log_rows(action="acknowledge", targets=name)[0].outcome, "failed")


AM_RECEIVER = "erp-ops-alertmanager@example.com"
AM_URL = "/api/method/erp_ops.api.alerts.alertmanager"


def am_post(token: str, body: dict | str):
	"""POST Alertmanager's JSON through Frappe's real WSGI app, in its own thread, like Alertmanager."""
	from frappe.utils import get_test_client

	site = frappe.local.site
	result = {}
	data = body if isinstance(body, str) else json.dumps(body)

	def run():
		result["response"] = get_test_client(use_cookies=False).post(
			AM_URL,
			data=data,
			headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
			base_url=f"http://{site}",
		)

	thread = threading.Thread(target=run)
	thread.start()
	thread.join()
	return result["response"]


def am_body(status: str, fingerprint: str, ends_at: str = "0001-01-01T00:00:00Z") -> dict:
	return {
		"version": "4",
		"status": status,
		"receiver": "erp_ops_desk",
		"groupKey": '{}:{alertname="ErpOpsWorkerDead"}',
		"groupLabels": {"alertname": "ErpOpsWorkerDead"},
		"commonLabels": {"alertname": "ErpOpsWorkerDead"},
		"commonAnnotations": {},
		"externalURL": "http://alertmanager:9093",
		"truncatedAlerts": 0,
		"alerts": [
			{
				"status": status,
				"labels": {
					"alertname": "ErpOpsWorkerDead",
					"erp_ops_rule": "worker-dead",
					"runbook": RUNBOOK,
					"severity": "critical",
					"bench": "fleet-bench-1",
					"state": "dead",
				},
				"annotations": {"summary": "1 dead worker(s) on bench fleet-bench-1"},
				"startsAt": "2026-12-07T14:00:00Z",
				"endsAt": ends_at,
				"fingerprint": fingerprint,
			}
		],
	}


class TestAlertmanagerReceiver(FrappeTestCase):
	"""Alertmanager's webhook over HTTP: an Ops Alert with its runbook, once per firing however often
	Alertmanager repeats it, resolved when it says so; only its API user may post."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		from erp_ops.api.test_signals import api_token

		cls.receiver = api_token(ensure_user(AM_RECEIVER, ("Ops Alert Receiver",)))
		cls.viewer = api_token(ensure_user(VIEWER, ("Ops Viewer",)))

	def setUp(self):
		self.fingerprint = frappe.generate_hash(length=16)
		self.addCleanup(self._drop_alerts)

	def _drop_alerts(self):
		for name in frappe.get_all(
			ALERT_DOCTYPE, filters={"subject": ("like", "%fleet-bench-1%")}, pluck="name"
		):
			frappe.delete_doc(ALERT_DOCTYPE, name, ignore_permissions=True, force=True)
		frappe.db.commit()

	def alerts(self) -> list:
		frappe.db.rollback()  # see what the request threads committed
		return frappe.get_all(
			ALERT_DOCTYPE,
			filters={"subject": "bench=fleet-bench-1,state=dead"},
			fields=["name", "status", "rule", "runbook", "severity"],
		)

	def test_a_firing_alert_is_recorded_once_and_resolved(self):
		for _ in range(3):  # Alertmanager repeats every repeat_interval
			response = am_post(self.receiver, am_body("firing", self.fingerprint))
			self.assertEqual(response.status_code, 200, response.get_data(as_text=True))
		(alert,) = self.alerts()
		self.assertEqual((alert.status, alert.runbook, alert.severity), ("Firing", RUNBOOK, "critical"))
		self.assertEqual(
			alert.rule, "worker-dead" if frappe.db.exists("Ops Alert Rule", "worker-dead") else None
		)
		doc = frappe.get_doc(ALERT_DOCTYPE, alert.name)
		self.assertEqual([t.event for t in doc.transitions], ["fired"])
		response = am_post(self.receiver, am_body("resolved", self.fingerprint, "2026-12-07T14:30:00Z"))
		self.assertEqual(response.status_code, 200, response.get_data(as_text=True))
		(alert,) = self.alerts()
		self.assertEqual(alert.status, "Resolved")
		self.assertEqual(
			[t.event for t in frappe.get_doc(ALERT_DOCTYPE, alert.name).transitions], ["fired", "resolved"]
		)

	def test_other_users_and_other_bodies_are_refused(self):
		self.assertEqual(am_post(self.viewer, am_body("firing", self.fingerprint)).status_code, 403)
		bad = am_body("firing", self.fingerprint) | {"version": "3"}
		response = am_post(self.receiver, bad)
		self.assertEqual(response.status_code, 422, response.get_data(as_text=True))
		self.assertIn("version", response.get_data(as_text=True))
		self.assertEqual(self.alerts(), [])

"""Notification payloads and the webhook sender, against a receiver on 127.0.0.1 only."""

import socket
import time
from datetime import datetime, timedelta, timezone

import pytest

from erp_ops.core.alerts import engine, store
from erp_ops.core.alerts.errors import InvalidWebhook
from erp_ops.core.alerts.models import AlertRule, TransitionKind
from erp_ops.core.alerts.notify import build_payload, send_webhook
from erp_ops.core.runbooks.seed import load_runbooks
from erp_ops.core.signals.models import QueueStats, Snapshot
from tests.support.webhook_receiver import Receiver

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
RULE = AlertRule(
	name="queue-backlog",
	signal="queues.*.queued",
	threshold=100,
	severity="critical",
	runbook="RB-QUEUE-BACKLOG",
)


def fired_transition(queued: int = 250):
	snap = Snapshot(
		taken_at=T0, bench_id="b", queues=[QueueStats(name="b:long", short_name="long", queued=queued)]
	)
	return engine.evaluate([RULE], snap).transitions[0]


def runbook():
	return next(rb for rb in load_runbooks() if rb.name == "RB-QUEUE-BACKLOG")


def test_payload_carries_the_values_and_the_runbook():
	payload = build_payload(
		fired_transition(),
		RULE,
		runbook(),
		runbook_url="https://erp.example.com/app/runbook/RB-QUEUE-BACKLOG",
	)
	assert payload.event is TransitionKind.FIRED
	assert (payload.rule, payload.subject, payload.value, payload.threshold) == (
		"queue-backlog",
		"long",
		250,
		100,
	)
	assert payload.signal == "queues.*.queued" and payload.comparison == ">"
	assert payload.runbook.name == "RB-QUEUE-BACKLOG" and payload.runbook.title == "Queue backlog growing"
	assert len(payload.runbook.first_steps) == 3 and payload.runbook.first_steps[0].startswith(
		"Read the snapshot"
	)
	assert payload.text == (
		"[CRITICAL] FIRED queue-backlog (long): queues.*.queued = 250 (> 100) — runbook: Queue backlog growing "
		"https://erp.example.com/app/runbook/RB-QUEUE-BACKLOG"
	)
	# Without the runbook document, the rule's runbook name still travels.
	assert build_payload(fired_transition()).runbook.name == "RB-QUEUE-BACKLOG"


def test_webhook_posts_json_once_to_a_loopback_receiver():
	with Receiver() as rx:
		payload = build_payload(fired_transition(), RULE, runbook())
		result = send_webhook(f"{rx.url}/ok?token=secret", payload, timeout=5)
		assert result.ok and result.status == 200 and result.error is None
		assert "secret" not in result.url  # tokens do not reach logs
		assert len(rx.received) == 1
		got = rx.received[0]
		assert got["headers"]["Content-Type"] == "application/json"
		assert got["body"]["rule"] == "queue-backlog" and got["body"]["value"] == 250
		assert got["body"]["runbook"]["title"] == "Queue backlog growing"


def test_webhook_failures_are_reported_not_retried():
	with Receiver(slow_s=1.5) as rx:
		failed = send_webhook(f"{rx.url}/fail", {"x": 1})
		assert (failed.ok, failed.status, failed.error) == (False, 500, "HTTP 500")
		started = time.monotonic()
		slow = send_webhook(f"{rx.url}/slow", {"x": 1}, timeout=0.3)
		assert not slow.ok and slow.status is None and "timed out" in slow.error.lower()
		assert time.monotonic() - started < 1.2
		redirected = send_webhook(f"{rx.url}/redirect", {"x": 1})
		assert not redirected.ok and redirected.status == 302
		assert [r["path"] for r in rx.received] == ["/fail", "/slow", "/redirect"]  # one attempt each
	with socket.socket() as s:
		s.bind(("127.0.0.1", 0))
		port = s.getsockname()[1]
	refused = send_webhook(f"http://127.0.0.1:{port}/ok", {"x": 1}, timeout=1)
	assert not refused.ok and refused.status is None and refused.error


@pytest.mark.parametrize(
	"url", ["", "ftp://host/x", "file:///etc/passwd", "http:///nohost", "127.0.0.1:8000/x"]
)
def test_only_http_urls_are_accepted(url):
	with pytest.raises(InvalidWebhook):
		send_webhook(url, {"x": 1})


def test_a_failed_receiver_cools_down(redis_conn):
	url = "http://127.0.0.1:9/hook"
	assert store.webhook_allowed(redis_conn, "b", url)
	store.webhook_failed(redis_conn, "b", url, cooldown_s=60)
	assert not store.webhook_allowed(redis_conn, "b", url)
	assert store.webhook_allowed(redis_conn, "b", "http://127.0.0.1:9/other")
	assert 0 < redis_conn.ttl(store.WEBHOOK_DOWN.format(bench="b", digest=store._digest(url))) <= 60

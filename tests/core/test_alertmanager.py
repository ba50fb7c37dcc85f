"""Alertmanager's webhook → alert transitions: the payload Alertmanager really sends (version 4),
repeats recognised, resolved alerts resolved, the erp_ops labels mapped, garbage refused."""

import copy
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from threading import Thread

import pytest

from erp_ops.core.alerts import alertmanager as am
from erp_ops.core.alerts.models import AlertSeverity, AlertStatus, TransitionKind
from erp_ops.core.errors import InvalidInput

FIRING = {
	"version": "4",
	"groupKey": '{}:{alertname="ErpOpsWorkerDead"}',
	"truncatedAlerts": 0,
	"status": "firing",
	"receiver": "erp_ops_desk",
	"externalURL": "http://alertmanager:9093",
	"groupLabels": {"alertname": "ErpOpsWorkerDead"},
	"commonLabels": {"alertname": "ErpOpsWorkerDead", "severity": "critical"},
	"commonAnnotations": {"summary": "1 dead worker(s) on bench frappe-bench"},
	"alerts": [
		{
			"status": "firing",
			"labels": {
				"alertname": "ErpOpsWorkerDead",
				"bench": "frappe-bench",
				"instance": "bench1:9726",
				"job": "erp_ops",
				"state": "dead",
				"erp_ops_rule": "worker-dead",
				"runbook": "RB-WORKER-DOWN",
				"severity": "critical",
				"site_url": "https://erp1.example.com",
			},
			"annotations": {"summary": "1 dead worker(s) on bench frappe-bench"},
			"startsAt": "2026-12-07T14:00:00.123Z",
			"endsAt": "0001-01-01T00:00:00Z",
			"generatorURL": "http://prometheus:9090/graph?g0.expr=x",
			"fingerprint": "c6b5a4d3e2f1a0b9",
		}
	],
}
NOW = datetime(2026, 12, 7, 14, 5, tzinfo=timezone.utc)


def test_a_firing_alert_maps_to_its_rule_runbook_and_subject():
	(t,) = am.transitions(am.parse(FIRING), NOW)
	assert t.kind is TransitionKind.FIRED and t.notify
	a = t.alert
	assert (a.rule, a.runbook, a.severity, a.status) == (
		"worker-dead",
		"RB-WORKER-DOWN",
		AlertSeverity.CRITICAL,
		AlertStatus.FIRING,
	)
	assert a.subject == "bench=frappe-bench,state=dead"
	assert a.fired_at == datetime(2026, 12, 7, 14, 0, 0, 123000, tzinfo=timezone.utc)
	assert t.reason == "Alertmanager: 1 dead worker(s) on bench frappe-bench"


def test_repeats_are_the_same_transition_and_resolution_is_another():
	first = am.transitions(am.parse(FIRING), NOW)[0]
	repeat = am.transitions(am.parse(copy.deepcopy(FIRING)), NOW.replace(minute=9))[0]
	assert repeat.id == first.id and repeat.alert.incident == first.alert.incident
	resolved_body = copy.deepcopy(FIRING)
	resolved_body["status"] = "resolved"
	resolved_body["alerts"][0] |= {"status": "resolved", "endsAt": "2026-12-07T14:20:00Z"}
	resolved = am.transitions(am.parse(resolved_body), NOW)[0]
	assert resolved.kind is TransitionKind.RESOLVED and not resolved.notify
	assert resolved.alert.incident == first.alert.incident and resolved.id != first.id
	assert resolved.alert.resolved_at == datetime(2026, 12, 7, 14, 20, tzinfo=timezone.utc)
	# The same series firing again later is a new incident.
	again = copy.deepcopy(FIRING)
	again["alerts"][0]["startsAt"] = "2026-12-07T15:00:00Z"
	assert am.transitions(am.parse(again), NOW)[0].alert.incident != first.alert.incident


def test_an_alert_without_erp_ops_labels_keeps_its_alertname_and_a_warning():
	body = copy.deepcopy(FIRING)
	body["alerts"][0]["labels"] = {"alertname": "NodeDiskFull", "device": "/dev/sda1", "severity": "page"}
	(t,) = am.transitions(am.parse(body), NOW)
	assert (t.alert.rule, t.alert.runbook, t.alert.severity) == ("NodeDiskFull", None, AlertSeverity.WARNING)
	assert t.alert.subject == "device=/dev/sda1"


@pytest.mark.parametrize(
	("change", "where"),
	[
		({"version": "3"}, "version"),
		({"alerts": "nope"}, "alerts"),
		({"alerts": [{"status": "firing"}]}, "alerts.0"),
		({"alerts": [dict(FIRING["alerts"][0], startsAt="yesterday")]}, "alerts.0.startsAt"),
		({"alerts": [dict(FIRING["alerts"][0])] * (am.MAX_ALERTS + 1)}, "alerts"),
	],
)
def test_what_is_not_a_webhook_is_refused_naming_the_field(change, where):
	with pytest.raises(InvalidInput, match=f"{where}"):
		am.parse({**FIRING, **change})


def test_the_payload_of_a_real_alertmanager_is_understood(tmp_path):
	"""Debian's prometheus-alertmanager, fed an alert through its API, posts its webhook to a
	receiver on loopback: what it sends parses, and a repeat is the same transition."""
	binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
	assert binary, "prometheus-alertmanager is not installed (Debian's package; .ci/run installs it)"
	bodies: list[dict] = []

	class Receiver(BaseHTTPRequestHandler):
		def do_POST(self):
			bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
			self.send_response(200)
			self.end_headers()

		def log_message(self, *args):
			pass

	receiver = HTTPServer(("127.0.0.1", 0), Receiver)
	Thread(target=receiver.serve_forever, daemon=True).start()
	port = _free_port()
	config = tmp_path / "alertmanager.yml"
	config.write_text(
		"route:\n  receiver: desk\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 2s\n"
		f"receivers:\n- name: desk\n  webhook_configs:\n  - url: http://127.0.0.1:{receiver.server_port}/\n"
	)
	proc = subprocess.Popen(
		[
			binary,
			f"--config.file={config}",
			f"--storage.path={tmp_path / 'data'}",
			f"--web.listen-address=127.0.0.1:{port}",
			"--cluster.listen-address=",
		],
		stdout=subprocess.DEVNULL,
		stderr=subprocess.DEVNULL,
	)
	try:
		alert = [
			{
				"labels": {
					"alertname": "ErpOpsWorkerDead",
					"erp_ops_rule": "worker-dead",
					"runbook": "RB-WORKER-DOWN",
					"severity": "critical",
					"bench": "b1",
				},
				"annotations": {"summary": "dead worker"},
			}
		]
		_post_until_up(f"http://127.0.0.1:{port}/api/v2/alerts", alert, proc)
		deadline = time.monotonic() + 60
		while len(bodies) < 2 and time.monotonic() < deadline:
			time.sleep(0.2)
		assert len(bodies) >= 2, "Alertmanager did not post its webhook (and repeat it) within 60 s"
		first, repeat = (am.transitions(am.parse(b))[0] for b in bodies[:2])
		assert first.alert.rule == "worker-dead" and first.alert.subject == "bench=b1"
		assert repeat.id == first.id
	finally:
		proc.terminate()
		proc.wait(10)
		receiver.shutdown()


def _free_port() -> int:
	with socket.socket() as s:
		s.bind(("127.0.0.1", 0))
		return s.getsockname()[1]


def _post_until_up(url: str, body: list, proc: subprocess.Popen) -> None:
	deadline = time.monotonic() + 30
	while True:
		try:
			request = urllib.request.Request(
				url, json.dumps(body).encode(), {"Content-Type": "application/json"}
			)
			urllib.request.urlopen(request, timeout=2).read()
			return
		except OSError:
			if proc.poll() is not None or time.monotonic() > deadline:
				raise
			time.sleep(0.2)

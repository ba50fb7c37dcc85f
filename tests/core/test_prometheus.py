"""The Prometheus exposition parses under the 0.0.4 text format's rules and says what the snapshot says."""

import math
import re
from datetime import datetime, timezone

import pytest

from erp_ops.core.signals import prometheus
from erp_ops.core.signals.models import (
	DiskUsage,
	FailureRate,
	Finding,
	HostInfo,
	QueueStats,
	SchedulerStatus,
	Severity,
	SiteScheduler,
	Snapshot,
	WorkerInfo,
	WorkerStatus,
)

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
VALUE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|Inf|NaN)")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class ExpositionError(AssertionError):
	pass


def parse(text: str) -> dict[str, dict]:
	"""A strict reader of the text format: {family: {"help", "type", "samples": [(labels, value)]}}.

	Fails on what Prometheus' own parser rejects: a sample before its TYPE, a family declared
	twice, bad names, bad escapes, unquoted or duplicate labels, a duplicate series, a missing
	final newline.
	"""
	if not text.endswith("\n"):
		raise ExpositionError("exposition must end with a line feed")
	families: dict[str, dict] = {}
	seen_series: set[tuple] = set()
	current: str | None = None
	for number, line in enumerate(text[:-1].split("\n"), start=1):
		if line.startswith("# HELP ") or line.startswith("# TYPE "):
			kind, rest = line[2:6], line[7:]
			name, _, arg = rest.partition(" ")
			if not METRIC_NAME.fullmatch(name):
				raise ExpositionError(f"line {number}: bad metric name {name!r}")
			family = families.setdefault(name, {"help": None, "type": None, "samples": []})
			if family["samples"]:
				raise ExpositionError(f"line {number}: {kind} for {name} after its samples")
			if kind == "HELP":
				if family["help"] is not None:
					raise ExpositionError(f"line {number}: second HELP for {name}")
				family["help"] = _unescape(arg, allow_quote=False, where=number)
			else:
				if family["type"] is not None or arg not in TYPES:
					raise ExpositionError(f"line {number}: bad or second TYPE for {name}: {arg!r}")
				family["type"] = arg
			if current != name and name in families and families[name]["samples"]:
				raise ExpositionError(f"line {number}: family {name} is split")
			current = name
			continue
		if line.startswith("#") or not line.strip():
			continue
		name, labels, value = _sample(line, number)
		if name not in families or families[name]["type"] is None:
			raise ExpositionError(f"line {number}: sample of {name} before its TYPE")
		if name != current:
			raise ExpositionError(f"line {number}: sample of {name} outside its family block")
		series = (name, tuple(sorted(labels.items())))
		if series in seen_series:
			raise ExpositionError(f"line {number}: duplicate series {series}")
		seen_series.add(series)
		families[name]["samples"].append((labels, value))
	return families


def _sample(line: str, number: int) -> tuple[str, dict[str, str], float]:
	match = METRIC_NAME.match(line)
	if not match:
		raise ExpositionError(f"line {number}: no metric name in {line!r}")
	name, pos = match.group(0), match.end()
	labels: dict[str, str] = {}
	if pos < len(line) and line[pos] == "{":
		pos += 1
		while line[pos] != "}":
			label = LABEL_NAME.match(line, pos)
			if not label or line[label.end() : label.end() + 2] != '="':
				raise ExpositionError(f"line {number}: bad label at column {pos}")
			pos = label.end() + 2
			raw = []
			while True:
				if pos >= len(line):
					raise ExpositionError(f"line {number}: unterminated label value")
				ch = line[pos]
				if ch == "\\":
					raw.append(line[pos : pos + 2])
					pos += 2
					continue
				if ch == '"':
					pos += 1
					break
				raw.append(ch)
				pos += 1
			if label.group(0) in labels:
				raise ExpositionError(f"line {number}: duplicate label {label.group(0)}")
			labels[label.group(0)] = _unescape("".join(raw), allow_quote=True, where=number)
			if line[pos] == ",":
				pos += 1
			elif line[pos] != "}":
				raise ExpositionError(f"line {number}: expected , or }} at column {pos}")
		pos += 1
	if line[pos : pos + 1] != " ":
		raise ExpositionError(f"line {number}: expected a space before the value")
	value_text = line[pos + 1 :].split(" ")[0]
	if not VALUE.fullmatch(value_text):
		raise ExpositionError(f"line {number}: bad value {value_text!r}")
	return name, labels, float(value_text.replace("Inf", "inf"))


def _unescape(text: str, *, allow_quote: bool, where: int) -> str:
	out, i = [], 0
	escapes = {"\\": "\\", "n": "\n", **({'"': '"'} if allow_quote else {})}
	while i < len(text):
		if text[i] == "\\":
			nxt = text[i + 1 : i + 2]
			if nxt not in escapes:
				raise ExpositionError(f"line {where}: bad escape \\{nxt}")
			out.append(escapes[nxt])
			i += 2
		else:
			if text[i] == "\n" or (allow_quote and text[i] == '"'):
				raise ExpositionError(f"line {where}: unescaped character {text[i]!r}")
			out.append(text[i])
			i += 1
	return "".join(out)


NASTY = 'a\\b"c\nd'  # every character a label value must escape


def sample_snapshot() -> Snapshot:
	return Snapshot(
		taken_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
		bench_id="bench-x",
		read_ms=12.5,
		queues=[
			QueueStats(
				name="bench-x:default",
				short_name="default",
				queued=3,
				started=1,
				failed=2,
				expired_started=1,
				oldest_queued_age_s=42.5,
				workers=1,
			),
			QueueStats(name="bench-x:long", short_name="long"),
		],
		workers=[
			WorkerInfo(name="w1", queues=["bench-x:default"], rss_bytes=123456789),
			WorkerInfo(name="w2", status=WorkerStatus.DEAD, dead_reason="gone"),
		],
		failure_rates=[
			FailureRate(
				method=f"app.{NASTY}",
				total_5m=4,
				failed_5m=1,
				rate_5m=0.25,
				total_1h=10,
				failed_1h=5,
				rate_1h=0.5,
			)
		],
		evidence_backlog=7,
		schedulers=[
			SiteScheduler(site="one.localhost", status=SchedulerStatus.RUNNING),
			SiteScheduler(site="two.localhost", status=SchedulerStatus.INACTIVE, reason="maintenance_mode"),
		],
		host=HostInfo(
			hostname="h",
			disks=[DiskUsage(label="bench", path="/b", total_bytes=100, free_bytes=40, free_pct=40.0)],
		),
		findings=[Finding(code="worker_dead", severity=Severity.CRITICAL, message="w2 dead")],
	)


def test_exposition_parses_and_every_family_is_typed_gauge():
	families = parse(prometheus.render(sample_snapshot()))
	assert families, "nothing rendered"
	for name, family in families.items():
		assert name.startswith("erp_ops_")
		assert family["type"] == "gauge", name
		assert family["help"], name


def test_values_say_what_the_snapshot_says():
	families = parse(prometheus.render(sample_snapshot()))

	def value(name: str, **labels: str) -> float:
		matches = [v for lab, v in families[name]["samples"] if lab == labels]
		assert len(matches) == 1, (name, labels, families[name]["samples"])
		return matches[0]

	assert value("erp_ops_queue_jobs", queue="default", state="queued") == 3
	assert value("erp_ops_queue_jobs", queue="default", state="failed") == 2
	assert value("erp_ops_queue_jobs", queue="default", state="abandoned") == 1
	assert value("erp_ops_queue_jobs", queue="long", state="queued") == 0
	assert value("erp_ops_queue_oldest_job_age_seconds", queue="default") == 42.5
	assert value("erp_ops_queue_oldest_job_age_seconds", queue="long") == 0
	assert value("erp_ops_workers", status="alive") == 1
	assert value("erp_ops_workers", status="dead") == 1
	assert value("erp_ops_worker_rss_bytes", worker="w1") == 123456789
	assert [lab for lab, _ in families["erp_ops_worker_rss_bytes"]["samples"]] == [{"worker": "w1"}]
	assert value("erp_ops_job_failure_rate", method=f"app.{NASTY}", window="5m") == 0.25
	assert value("erp_ops_job_failure_rate", method=f"app.{NASTY}", window="1h") == 0.5
	assert value("erp_ops_scheduler_up", site="one.localhost") == 1
	assert value("erp_ops_scheduler_up", site="two.localhost") == 0
	assert value("erp_ops_evidence_backlog") == 7
	assert value("erp_ops_disk_free_bytes", label="bench") == 40
	assert value("erp_ops_findings", severity="critical") == 1
	assert value("erp_ops_snapshot_read_seconds") == pytest.approx(0.0125)


def test_label_values_round_trip_through_escaping():
	text = prometheus.render(sample_snapshot())
	assert 'method="app.a\\\\b\\"c\\nd"' in text
	families = parse(text)
	methods = {lab["method"] for lab, _ in families["erp_ops_job_failure_rate"]["samples"]}
	assert methods == {f"app.{NASTY}"}


def test_an_empty_snapshot_still_declares_every_family():
	empty = Snapshot(
		taken_at=datetime(2026, 1, 1, tzinfo=timezone.utc), bench_id="b", redis_ok=False, redis_error="down"
	)
	families = parse(prometheus.render(empty))
	full = parse(prometheus.render(sample_snapshot()))
	assert set(families) == set(full)
	assert families["erp_ops_redis_up"]["samples"] == [({}, 0.0)]


@pytest.mark.parametrize(
	("value", "text"),
	[
		(3.0, "3"),
		(0.25, "0.25"),
		(float("nan"), "NaN"),
		(float("inf"), "+Inf"),
		(float("-inf"), "-Inf"),
		(1e-9, "1e-09"),
	],
)
def test_values_use_the_formats_number_syntax(value, text):
	assert prometheus.format_value(value) == text
	assert VALUE.fullmatch(text)


@pytest.mark.parametrize(
	"bad",
	[
		"m 1\n",  # sample before TYPE
		'# TYPE m gauge\nm{a="1"} 1\nm{a="1"} 2\n',  # duplicate series
		'# TYPE m gauge\nm{a="x\\q"} 1\n',  # bad escape
		"# TYPE m gauge\nm{a=x} 1\n",  # unquoted label value
		"# TYPE m gauge\nm 1",  # no final newline
		"# TYPE m gauge\n# TYPE m gauge\nm 1\n",  # second TYPE
		"# TYPE m gauge\nm one\n",  # bad value
		"# TYPE 1m gauge\n",  # bad name
		'# TYPE m gauge\nm 1\n# TYPE n gauge\nn 1\nm{a="2"} 1\n',  # split family
	],
)
def test_the_parser_rejects_what_prometheus_rejects(bad):
	with pytest.raises(ExpositionError):
		parse(bad)


def test_values_are_finite_numbers_for_a_real_looking_snapshot():
	for family in parse(prometheus.render(sample_snapshot())).values():
		for _labels, v in family["samples"]:
			assert math.isfinite(v)

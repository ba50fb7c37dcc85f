"""deploy/prometheus/erp_ops.rules.yml: one Prometheus rule per shipped Ops Alert Rule with the same
thresholds, checked and unit-tested by promtool (each rule firing and not)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from erp_ops.core.alerts.defaults import load_rules

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "erp_ops.rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "erp_ops.rules.test.yml"
RUNBOOKS = ROOT / "erp_ops" / "core" / "runbooks" / "seed" / "runbooks.json"
OPS = {">": ">", ">=": ">=", "<": "<", "<=": "<="}


def prometheus_rules() -> list[dict]:
	return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def duration_s(text: str | None) -> int:
	if not text:
		return 0
	return sum(int(n) * {"s": 1, "m": 60, "h": 3600}[u] for n, u in re.findall(r"(\d+)([smh])", text))


def promtool(*args: str) -> subprocess.CompletedProcess:
	tool = shutil.which("promtool")
	assert tool, "promtool is not installed (Debian's prometheus package; .ci/run installs it)"
	return subprocess.run([tool, *args], capture_output=True, text=True, timeout=120, cwd=RULES.parent)


def number(value: float) -> str:
	return str(int(value)) if float(value).is_integer() else str(value)


def test_one_prometheus_rule_per_shipped_rule_with_the_same_thresholds():
	shipped = {r.name: r for r in load_rules()}
	ours = {r["labels"]["erp_ops_rule"]: r for r in prometheus_rules()}
	assert set(ours) == set(shipped)
	assert len(prometheus_rules()) == len(shipped)
	runbooks = {r["name"] for r in json.loads(RUNBOOKS.read_text())["runbooks"]}
	for name, rule in shipped.items():
		prom = ours[name]
		expr = " ".join(prom["expr"].split())
		assert prom["labels"]["severity"] == rule.severity.value, name
		assert prom["labels"]["runbook"] == rule.runbook and rule.runbook in runbooks, name
		assert duration_s(prom.get("for")) == int(rule.for_s or 0), name
		assert duration_s(prom.get("keep_firing_for")) == int(rule.resolve_after_s or 0), name
		threshold = number(rule.threshold)
		if name == "restore-drill-stale":  # hours in the Ops Alert Rule, seconds here
			assert f"> {threshold} * 3600" in expr, expr
		else:
			assert f"{OPS[rule.comparison.value]} {threshold}" in expr, (name, expr)
		if rule.clear_threshold is not None:
			clear = number(rule.clear_threshold)
			assert (
				f"{OPS[rule.comparison.value]} {clear}" in expr and f'alertname="{prom["alert"]}"' in expr
			), name
		if rule.guard:
			assert f"{OPS[rule.guard.comparison.value]} {number(rule.guard.threshold)}" in expr, name
		assert prom["annotations"]["runbook_url"] == "{{ $labels.site_url }}/desk/runbook/" + rule.runbook


def test_promtool_check_rules():
	result = promtool("check", "rules", str(RULES))
	assert result.returncode == 0, result.stdout + result.stderr
	assert f"SUCCESS: {len(prometheus_rules())} rules found" in result.stdout


def test_promtool_unit_tests_cover_every_rule_firing_and_not():
	doc = yaml.safe_load(RULE_TESTS.read_text())
	firing, quiet = set(), set()
	for group in doc["tests"]:
		for case in group["alert_rule_test"]:
			(firing if case["exp_alerts"] else quiet).add(case["alertname"])
	names = {r["alert"] for r in prometheus_rules()}
	assert firing == names and quiet == names
	result = promtool("test", "rules", str(RULE_TESTS))
	assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_promtool_unit_tests_can_fail(tmp_path):
	"""A threshold moved by one makes the unit tests fail: they are not vacuous."""
	broken = RULES.read_text().replace(
		'erp_ops_queue_jobs{state="queued"} > 500', 'erp_ops_queue_jobs{state="queued"} > 700'
	)
	assert broken != RULES.read_text()
	(tmp_path / "erp_ops.rules.yml").write_text(broken)
	shutil.copy(RULE_TESTS, tmp_path / "erp_ops.rules.test.yml")
	tool = shutil.which("promtool")
	result = subprocess.run(
		[tool, "test", "rules", "erp_ops.rules.test.yml"],
		capture_output=True,
		text=True,
		cwd=tmp_path,
		timeout=120,
	)
	assert result.returncode != 0 and "ErpOpsQueueBacklog" in result.stdout + result.stderr


def test_the_dashboard_serves_many_benches_through_its_bench_variable():
	doc = json.loads((ROOT / "deploy" / "grafana" / "erp_ops.json").read_text())
	variables = {v["name"]: v for v in doc["templating"]["list"]}
	assert (
		variables["bench"]["type"] == "query"
		and variables["bench"]["multi"]
		and variables["bench"]["includeAll"]
	)
	assert "label_values(erp_ops_redis_up, bench)" in variables["bench"]["definition"]
	assert (
		variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
	)
	panels = [p for p in doc["panels"] if p["type"] != "row"]
	titles = " ".join(p["title"].lower() for p in doc["panels"] if p["type"] == "row")
	for section in ("queues", "workers", "failures", "scheduler", "recovery"):
		assert section in titles
	assert len({p["id"] for p in doc["panels"]}) == len(doc["panels"])
	for panel in panels:
		assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
		assert panel["targets"], panel["title"]
		for target in panel["targets"]:
			metrics = re.findall(r"\b(erp_ops_\w+|ALERTS)\{([^}]*)\}", target["expr"])
			assert metrics and all('bench=~"$bench"' in labels for _m, labels in metrics), target["expr"]

"""The shipped rule sets: valid, sourced, and the size the issue asks for."""

import json
import re

import pytest

from erp_ops.core.preflight.errors import RuleSetInvalid, UnknownTarget
from erp_ops.core.preflight.rules import RULES_DIR, available_targets, load_rule_file, load_rule_set


def test_both_jumps_ship():
	assert available_targets() == [15, 16]


@pytest.mark.parametrize("target", [15, 16])
def test_every_rule_has_a_public_source_and_a_fix(target):
	rule_set = load_rule_set(target)
	for rule in rule_set.rules:
		assert rule.fix.strip() and rule.title.strip()
		assert all(re.match(r"https://", s) for s in rule.sources), rule.id
	assert rule_set.target.frappe_pins_source.startswith("https://")


def test_v16_rule_set_is_solid_not_padded():
	rules = load_rule_set(16).rules
	assert 30 <= len(rules) <= 60
	assert {r.severity.value for r in rules} == {"info", "warning", "high", "blocker"}


def test_duplicate_ids_are_rejected(tmp_path):
	data = json.loads((RULES_DIR / "v15_to_v16.json").read_text())
	data["rules"].append(data["rules"][0])
	path = tmp_path / "v15_to_v16.json"
	path.write_text(json.dumps(data))
	with pytest.raises(RuleSetInvalid, match="duplicate"):
		load_rule_file(path)


def test_unknown_match_kind_and_unknown_target_are_errors(tmp_path):
	data = json.loads((RULES_DIR / "v15_to_v16.json").read_text())
	data["rules"][0]["match"] = {"kind": "guess", "names": ["x"]}
	path = tmp_path / "bad.json"
	path.write_text(json.dumps(data))
	with pytest.raises(RuleSetInvalid):
		load_rule_file(path)
	with pytest.raises(UnknownTarget):
		load_rule_set(99)


@pytest.mark.parametrize("target", [15, 16])
def test_no_name_is_claimed_by_two_rules(target):
	"""The scanner indexes names in a dict: a second rule for the same name would silently shadow the first."""
	names = [n for r in load_rule_set(target).rules if r.match.kind == "name" for n in r.match.names]
	assert len(names) == len(set(names))


@pytest.mark.parametrize("target", [15, 16])
def test_docs_list_every_rule_with_its_sources(target):
	"""docs/preflight.md says, per rule, the public sources it rests on: keep it in step with the files."""
	docs = (RULES_DIR.parents[3] / "docs" / "preflight.md").read_text(encoding="utf-8")
	for rule in load_rule_set(target).rules:
		row = next((line for line in docs.split("\n") if line.startswith(f"| `{rule.id}` |")), None)
		assert row is not None, rule.id
		assert all(source in row for source in rule.sources), rule.id

"""The shipped runbooks: valid data, real commands, the erp_ops actions, every failure mode covered."""

import json
import re

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from erp_ops.core.runbooks.errors import InvalidRunbook
from erp_ops.core.runbooks.models import Area, Runbook
from erp_ops.core.runbooks.seed import SEED_FILE, load_runbooks

CONTROL_ACTIONS = {"retry", "requeue", "cancel", "quarantine", "release", "purge"}
PLANNED_ACTIONS = CONTROL_ACTIONS | {"run_drill", "run_preflight"}


class StrictStep(BaseModel):
	"""Stricter than the DocType: a shipped step names a command or an erp_ops action."""

	model_config = ConfigDict(extra="forbid")

	action: str = Field(min_length=10)
	command: str | None = None
	erp_ops_action: str | None = None
	expected_result: str = Field(min_length=5)
	verify: str = Field(min_length=5)


class StrictRunbook(BaseModel):
	model_config = ConfigDict(extra="forbid")

	name: str = Field(pattern=r"^RB-[A-Z-]+$")
	title: str
	area: Area
	severity: str
	status: str
	symptoms: str = Field(min_length=80)
	impact: str = Field(min_length=40)
	diagnosis: str = Field(min_length=80)
	steps: list[StrictStep] = Field(min_length=3)
	escalation: str = Field(min_length=40)
	rollback: str = Field(min_length=30)
	tags: list[str] = Field(min_length=3)
	owner: str | None
	review_cadence_days: int
	signatures: list[dict]


@pytest.fixture(scope="module")
def raw() -> list[dict]:
	return json.loads(SEED_FILE.read_text())["runbooks"]


def test_every_seed_runbook_passes_the_strict_model_and_the_core_model(raw):
	for entry in raw:
		StrictRunbook.model_validate(entry)
		for step in entry["steps"]:
			assert step.get("command") or step.get("erp_ops_action"), (entry["name"], step["action"])
			assert step.get("erp_ops_action") in (None, *PLANNED_ACTIONS), step
	assert len(load_runbooks()) == len(raw)


def test_the_failure_modes_of_the_issue_are_all_seeded(raw):
	titles = " | ".join(e["title"].lower() for e in raw)
	for words in (
		"queue backlog",
		"worker down",
		"out of memory",
		"scheduler inactive",
		"timing out",
		"poison job",
		"migrate or patch",
		"restore drill",
		"disk headroom",
		"integration conflict",
	):
		assert words in titles, words
	assert {e["area"] for e in raw} >= {
		"Queues",
		"Workers",
		"Scheduler",
		"Upgrades",
		"Recovery",
		"Infrastructure",
		"Integrations",
	}


def test_seed_uses_real_commands_and_every_control_action(raw):
	commands = [s["command"] for e in raw for s in e["steps"] if s.get("command")]
	text = "\n".join(commands)
	for expected in (
		"bench --site site1.local doctor",
		"bench --site site1.local enable-scheduler",
		"bench worker --queue",
		"erp-ops status",
		"bench --site site1.local migrate",
		"bench --site site1.local backup",
		"supervisorctl",
	):
		assert expected in text, expected
	# Every bench sub-command named exists in Frappe v15 (checked against its command list).
	known = {
		"doctor",
		"enable-scheduler",
		"disable-scheduler",
		"scheduler",
		"set-maintenance-mode",
		"show-pending-jobs",
		"migrate",
		"run-patch",
		"backup",
		"restore",
		"console",
		"mariadb",
		"clear-log-table",
		"worker",
	}
	found = 0
	for command in commands:
		for sub in re.findall(r"(?:^|\s)bench(?: --site \S+)? ([a-z][a-z-]*)", command):
			assert sub in known, command
			found += 1
	assert found >= 15
	used = {s.get("erp_ops_action") for e in raw for s in e["steps"]} - {None}
	assert used >= CONTROL_ACTIONS


def test_a_broken_seed_file_is_refused_with_its_name(tmp_path, raw):
	bad = dict(raw[0], area="Kitchen")
	path = tmp_path / "seed.json"
	path.write_text(json.dumps({"format": 1, "runbooks": [raw[1], bad]}))
	with pytest.raises(InvalidRunbook, match=raw[0]["name"]):
		load_runbooks(path)
	path.write_text(json.dumps({"format": 1, "runbooks": [raw[1], raw[1]]}))
	with pytest.raises(InvalidRunbook, match="twice"):
		load_runbooks(path)
	path.write_text(json.dumps({"format": 2, "runbooks": []}))
	with pytest.raises(InvalidRunbook):
		load_runbooks(path)
	path.write_text("{")
	with pytest.raises(InvalidRunbook):
		load_runbooks(path)


def test_core_model_refuses_unknown_fields_and_bad_values():
	with pytest.raises(ValidationError):
		Runbook(name="x", title="Valid title", area="Queues", colour="red")
	with pytest.raises(ValidationError):
		Runbook(name="x", title="Valid title", area="Queues", review_cadence_days=0)
	assert Runbook(name="x", title="Valid title", area="Queues", tags=[" B", "a", "b"]).tags == ["a", "b"]

"""Rule sets as data: one JSON file per major jump in `rulesets/`, validated on load."""

import json
import re
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator

from erp_ops.core.models import Strict
from erp_ops.core.preflight.errors import RuleSetInvalid, UnknownTarget
from erp_ops.core.preflight.models import Severity

RULES_DIR = Path(__file__).resolve().parent / "rulesets"


class NameMatch(Strict):
	"""Any reference (import, attribute chain, call) resolving to one of `names` or below it."""

	kind: Literal["name"]
	names: list[str]


class CallMatch(Strict):
	"""A call of one of `names`; with `kwargs`/`min_positional`, only calls passing those."""

	kind: Literal["call"]
	names: list[str]
	kwargs: list[str] = Field(default_factory=list)
	min_positional: int | None = None


class RegexMatch(Strict):
	"""A regular expression over the text of files in `langs` (js, py, html), or over the string
	values of JSON files (`json`: fixtures, workspaces, number cards, pages, Custom HTML Blocks)."""

	kind: Literal["regex"]
	langs: list[Literal["js", "py", "html", "json"]]
	pattern: str

	@field_validator("pattern")
	@classmethod
	def _compiles(cls, value: str) -> str:
		re.compile(value, re.MULTILINE)
		return value


class ArgSpot(Strict):
	"""Where a call takes the argument: by keyword, or at this 0-based position."""

	keyword: str
	position: int | None = None


class CallArgMatch(Strict):
	"""A call of one of `calls` whose argument (a string, or strings in a list/tuple) matches `pattern`:
	SQL functions written as strings in `fields=` of frappe.get_all and friends."""

	kind: Literal["call_arg"]
	calls: dict[str, ArgSpot]
	pattern: str

	@field_validator("pattern")
	@classmethod
	def _compiles(cls, value: str) -> str:
		re.compile(value)
		return value


class PrivateMatch(Strict):
	"""Underscore names under `root` (frappe._foo, from frappe.x import _bar), minus `allow`."""

	kind: Literal["private"]
	root: str
	allow: list[str] = Field(default_factory=list)


class UndeclaredImportMatch(Strict):
	"""An import of a top-level module the target framework stops installing, mapped to its package."""

	kind: Literal["undeclared_import"]
	modules: dict[str, str]


class Rule(Strict):
	id: str
	severity: Severity
	title: str
	match: NameMatch | CallMatch | CallArgMatch | RegexMatch | PrivateMatch | UndeclaredImportMatch = Field(
		discriminator="kind"
	)
	fix: str
	sources: list[str] = Field(min_length=1)
	tests: bool = Field(
		False, description="also applies to test code (test APIs); other rules skip tests and benchmarks"
	)


class Target(Strict):
	frappe_version: str
	python: str
	node: str
	frappe_pins: list[str]
	frappe_pins_source: str
	queue_id_format_changed: bool


class ChangedDoctypes(Strict):
	doctypes: list[str]
	sources: list[str]


class RuleSet(Strict):
	schema_: int = Field(alias="schema")
	jump: str
	from_major: int
	to_major: int
	title: str
	target: Target
	changed_doctypes: ChangedDoctypes
	rules: list[Rule]

	@property
	def name(self) -> str:
		return f"v{self.from_major}_to_v{self.to_major}"


def available_targets() -> list[int]:
	"""Major versions a rule set ships for."""
	return sorted(
		int(m[1]) for p in RULES_DIR.glob("v*_to_v*.json") if (m := re.match(r"v\d+_to_v(\d+)", p.stem))
	)


@cache
def load_rule_set(target: int) -> RuleSet:
	"""The rule set for the jump to `target` (e.g. 16 → rulesets/v15_to_v16.json)."""
	path = RULES_DIR / f"v{target - 1}_to_v{target}.json"
	if not path.is_file():
		raise UnknownTarget(f"no rule set for target {target}; available: {available_targets()}")
	return load_rule_file(path)


def load_rule_file(path: Path) -> RuleSet:
	"""Parse and validate one rule file; ids must be unique."""
	try:
		rule_set = RuleSet.model_validate(json.loads(path.read_text(encoding="utf-8")))
	except (ValidationError, json.JSONDecodeError) as exc:
		raise RuleSetInvalid(f"{path.name}: {exc}") from exc
	ids = [r.id for r in rule_set.rules]
	if len(ids) != len(set(ids)):
		raise RuleSetInvalid(
			f"{path.name}: duplicate rule ids {sorted({i for i in ids if ids.count(i) > 1})}"
		)
	return rule_set

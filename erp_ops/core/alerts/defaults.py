"""The alert rules shipped with the app, as data, one or more per seeded runbook."""

import json
from pathlib import Path

from pydantic import ValidationError

from erp_ops.core.alerts.errors import InvalidRule
from erp_ops.core.alerts.models import AlertRule

RULES_FILE = Path(__file__).with_name("default_rules.json")
RULES_FORMAT = 1


def load_rules(path: Path | str = RULES_FILE) -> list[AlertRule]:
	"""Validated rules from a rules file; raises InvalidRule naming the first bad one."""
	try:
		data = json.loads(Path(path).read_text(encoding="utf-8"))
	except (OSError, ValueError) as e:
		raise InvalidRule(f"cannot read the rules file {path}: {e}") from e
	if (
		not isinstance(data, dict)
		or data.get("format") != RULES_FORMAT
		or not isinstance(data.get("rules"), list)
	):
		raise InvalidRule(f"{path} is not an alert rules file of format {RULES_FORMAT}")
	out, seen = [], set()
	for i, raw in enumerate(data["rules"]):
		label = raw.get("name") if isinstance(raw, dict) else None
		try:
			rule = AlertRule.model_validate(raw)
		except (ValidationError, InvalidRule) as e:
			raise InvalidRule(f"{path}: rule #{i} ({label or '?'}) is invalid: {e}") from e
		if rule.name in seen:
			raise InvalidRule(f"{path}: rule {rule.name} appears twice")
		seen.add(rule.name)
		out.append(rule)
	return out

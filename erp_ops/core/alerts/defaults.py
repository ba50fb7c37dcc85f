"""The alert rules shipped with the app, as data, one or more per seeded runbook."""

from pathlib import Path

from erp_ops.core.alerts.errors import InvalidRule
from erp_ops.core.alerts.models import AlertRule
from erp_ops.core.datafile import load_named

RULES_FILE = Path(__file__).with_name("default_rules.json")
RULES_FORMAT = 1


def load_rules(path: Path | str = RULES_FILE) -> list[AlertRule]:
	"""Validated rules from a rules file; raises InvalidRule naming the first bad one."""
	return load_named(
		path, key="rules", fmt=RULES_FORMAT, model=AlertRule, error=InvalidRule, kind="alert rules"
	)

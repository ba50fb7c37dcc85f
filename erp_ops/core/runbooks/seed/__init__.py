"""The runbooks shipped with the app, as data: the Frappe layer imports them as fixtures."""

from pathlib import Path

from erp_ops.core.datafile import load_named
from erp_ops.core.runbooks.errors import InvalidRunbook
from erp_ops.core.runbooks.models import Runbook

SEED_FILE = Path(__file__).with_name("runbooks.json")
SEED_FORMAT = 1


def load_runbooks(path: Path | str = SEED_FILE) -> list[Runbook]:
	"""Validated runbooks from a seed file; raises InvalidRunbook naming the first bad entry."""
	return load_named(
		path, key="runbooks", fmt=SEED_FORMAT, model=Runbook, error=InvalidRunbook, kind="runbook seed"
	)

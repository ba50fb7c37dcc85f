"""The runbooks shipped with the app, as data: the Frappe layer imports them as fixtures."""

import json
from pathlib import Path

from pydantic import ValidationError

from erp_ops.core.runbooks.errors import InvalidRunbook
from erp_ops.core.runbooks.models import Runbook

SEED_FILE = Path(__file__).with_name("runbooks.json")
SEED_FORMAT = 1


def load_runbooks(path: Path | str = SEED_FILE) -> list[Runbook]:
	"""Validated runbooks from a seed file; raises InvalidRunbook naming the first bad entry."""
	try:
		data = json.loads(Path(path).read_text(encoding="utf-8"))
	except (OSError, ValueError) as e:
		raise InvalidRunbook(f"cannot read the seed file {path}: {e}") from e
	if (
		not isinstance(data, dict)
		or data.get("format") != SEED_FORMAT
		or not isinstance(data.get("runbooks"), list)
	):
		raise InvalidRunbook(f"{path} is not a runbook seed file of format {SEED_FORMAT}")
	out, seen = [], set()
	for i, raw in enumerate(data["runbooks"]):
		try:
			rb = Runbook.model_validate(raw)
		except ValidationError as e:
			label = raw.get("name") if isinstance(raw, dict) else None
			raise InvalidRunbook(f"{path}: runbook #{i} ({label or '?'}) is invalid: {e}") from e
		if rb.name in seen:
			raise InvalidRunbook(f"{path}: runbook {rb.name} appears twice")
		seen.add(rb.name)
		out.append(rb)
	return out

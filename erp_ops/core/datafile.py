"""Versioned JSON data files shipped with the app: `{"format": N, "<key>": [ {...named...}, ... ]}`."""

import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from erp_ops.core.errors import ErpOpsError

M = TypeVar("M", bound=BaseModel)


def load_named(
	path: Path | str, *, key: str, fmt: int, model: type[M], error: type[ErpOpsError], kind: str
) -> list[M]:
	"""Validate every entry as `model` (each has a unique `name`); raise `error` naming the first bad one."""
	try:
		data = json.loads(Path(path).read_text(encoding="utf-8"))
	except (OSError, ValueError) as e:
		raise error(f"cannot read the {kind} file {path}: {e}") from e
	if not isinstance(data, dict) or data.get("format") != fmt or not isinstance(data.get(key), list):
		raise error(f"{path} is not a {kind} file of format {fmt}")
	out: list[M] = []
	seen: set[str] = set()
	for i, raw in enumerate(data[key]):
		label = raw.get("name") if isinstance(raw, dict) else None
		try:
			item = model.model_validate(raw)
		except (ValidationError, error) as e:
			raise error(f"{path}: {kind} entry #{i} ({label or '?'}) is invalid: {e}") from e
		if item.name in seen:
			raise error(f"{path}: {kind} entry {item.name} appears twice")
		seen.add(item.name)
		out.append(item)
	return out

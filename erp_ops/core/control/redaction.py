"""Redact secrets from job payloads before anyone sees them in Desk.

The raw payload (needed to release a job) stays with the quarantine record, readable by Ops
Manager only; everything displayed goes through `redact`.
"""

import re
from collections.abc import Iterable
from typing import Any

MASK = "********"
# Substrings of key names that hold secrets; matched case-insensitively, ignoring - and _.
SENSITIVE = (
	"password",
	"passwd",
	"secret",
	"token",
	"apikey",
	"authorization",
	"credential",
	"privatekey",
	"signature",
	"cookie",
)
EXACT = frozenset({"sid", "pwd", "pin", "otp", "cvv"})  # too short to match inside other names
_NORMALISE = re.compile(r"[-_\s.]")
_BEARER = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=:-]{8,}")


def is_sensitive(key: object, extra: Iterable[str] = ()) -> bool:
	name = _NORMALISE.sub("", str(key).lower())
	words = (*SENSITIVE, *(_NORMALISE.sub("", e.lower()) for e in extra))
	return name in EXACT or any(w in name for w in words)


def redact(value: Any, extra: Iterable[str] = ()) -> Any:
	"""A copy of `value` with the values of secret-looking keys masked, at any depth.

	Strings that carry credentials inline (`Authorization: Bearer …`) are masked too.
	"""
	extra = tuple(extra)
	if isinstance(value, dict):
		return {
			k: (MASK if is_sensitive(k, extra) and v not in (None, "") else redact(v, extra))
			for k, v in value.items()
		}
	if isinstance(value, (list, tuple)):
		return [redact(v, extra) for v in value]
	if isinstance(value, str):
		return _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", value)
	return value

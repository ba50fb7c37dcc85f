"""Canonical JSON and the digests built on it: equal documents, equal bytes, equal hash."""

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
	"""Sorted keys, no insignificant whitespace, UTF-8 text (not \\u escapes).

	Key order and spacing never change the hash; numbers keep their JSON spelling as Python
	reads it (`1` and `1.0` differ, as they do to most receivers).
	"""
	return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def payload_hash(value: Any) -> str:
	"""SHA-256 (hex) of the canonical JSON of a parsed payload."""
	return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def body_digest(body: bytes) -> str:
	"""SHA-256 of raw bytes: what is kept of a body too large to store."""
	return hashlib.sha256(body).hexdigest()


def key_digest(source: str, key: str) -> str:
	"""A fixed-length identity of (source, key) for names and Redis keys; NUL cannot occur in either."""
	return hashlib.sha256(f"{source}\0{key}".encode()).hexdigest()[:32]


def event_name(source: str, key: str) -> str:
	"""The stored event's name, derived from its identity so every process computes the same one."""
	return f"EV-{key_digest(source, key)}"

"""The base classes of the core's pydantic models: one place says what a value object is."""

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
	"""An immutable value object: what the core reads, computes and hands to the Frappe layer."""

	model_config = ConfigDict(frozen=True)


class Strict(Frozen):
	"""Frozen, and an unknown field is an error: for what people write (alert rules, runbooks,
	preflight rules), where a misspelt key must not be dropped in silence."""

	model_config = ConfigDict(extra="forbid")

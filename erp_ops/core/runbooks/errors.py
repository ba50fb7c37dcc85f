"""Errors of the runbooks core, each mapped by the API to the HTTP status it carries."""

from erp_ops.core.errors import InvalidInput


class InvalidRunbook(InvalidInput):
	"""A runbook (or a seed file) does not have the shape the core needs."""


class InvalidIndex(InvalidInput):
	"""A serialized search index is of another format or tokenizer version: rebuild it."""

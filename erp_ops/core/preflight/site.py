"""Pure helpers the Frappe layer uses to turn what it reads from a site into `SiteFacts`."""

import configparser

from erp_ops.core.preflight.models import PendingPatch

SECTIONS = ("pre_model_sync", "post_model_sync")


def parse_patches_txt(text: str) -> list[str]:
	"""The patch entries of a patches.txt, in run order, read the way Frappe v15's patch handler does.

	The INI form (`[pre_model_sync]`/`[post_model_sync]`) keeps each line whole, so a `#2024-01-01`
	suffix stays part of the patch name (that is how apps force a re-run); the old flat form drops
	blank lines and lines starting with `#`.
	"""
	parser = configparser.ConfigParser(allow_no_value=True, delimiters="\n", interpolation=None)
	parser.optionxform = str
	try:
		parser.read_string(text)
	except configparser.MissingSectionHeaderError:
		return [
			line.strip() for line in text.strip().splitlines() if line.strip() and not line.startswith("#")
		]
	return [patch for section in SECTIONS if parser.has_section(section) for patch in parser[section]]


def pending_patches(patches_by_app: dict[str, str], executed: set[str]) -> list[PendingPatch]:
	"""Entries of each app's patches.txt that are not in Patch Log (rows with skipped = 0)."""
	return [
		PendingPatch(app=app, patch=patch)
		for app, text in patches_by_app.items()
		for patch in parse_patches_txt(text)
		if patch not in executed
	]

"""Pins compared with `packaging` (PEP 440, as pip reads them), plus what it does not answer:
whether two specifier sets admit a common version, which is what a pin conflict is.

Every parse error is the core's `InvalidVersion` (a 422 / exit 2), never packaging's own.
"""

from dataclasses import dataclass

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement as PackagingRequirement
from packaging.specifiers import InvalidSpecifier
from packaging.specifiers import SpecifierSet as PackagingSpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion as PackagingInvalidVersion
from packaging.version import Version

from erp_ops.core.preflight.errors import InvalidVersion

__all__ = [
	"InvalidVersion",
	"Requirement",
	"Version",
	"normalize_name",
	"parse_specifiers",
	"parse_version",
	"satisfiable",
]


def parse_version(text: str) -> Version:
	try:
		return Version(text)
	except (PackagingInvalidVersion, TypeError) as e:
		raise InvalidVersion(f"not a PEP 440 version: {text!r}") from e


def parse_specifiers(text: str) -> PackagingSpecifierSet:
	try:
		return PackagingSpecifierSet(text.strip())
	except InvalidSpecifier as e:
		raise InvalidVersion(f"not a PEP 440 specifier: {text!r}") from e


def satisfiable(a: PackagingSpecifierSet, b: PackagingSpecifierSet) -> bool:
	"""Whether some version satisfies both sets: tried on every boundary the clauses name and just
	around it (a version between two boundaries behaves like one of its neighbours)."""
	clauses = [*a, *b]
	if not clauses:
		return True
	candidates: set[Version] = {Version("0")}
	for clause in clauses:
		if clause.operator == "===":
			try:
				candidates.add(Version(clause.version))
			except PackagingInvalidVersion:
				pass
			continue
		base = Version(clause.version.removesuffix(".*"))
		rel, epoch = base.release, f"{base.epoch}!"
		up = (*rel[:-1], rel[-1] + 1)
		spelled = [
			base,
			f"{epoch}{_join(rel)}.post{(base.post or 0) + 1}",
			f"{epoch}{_join((*rel, 0, 1))}",
			f"{epoch}{_join(up)}",
			f"{epoch}{_join((*up, 0, 1))}",
			f"{epoch}{_join(rel)}.dev0",
		]
		if rel[-1] > 0:
			spelled.append(f"{epoch}{_join((*rel[:-1], rel[-1] - 1, 999999))}")
		if len(rel) >= 2:
			spelled.append(f"{epoch}{_join((*rel[:-2], rel[-2] + 1))}")
		candidates.update(v if isinstance(v, Version) else Version(v) for v in spelled)
	return any(a.contains(v, prereleases=True) and b.contains(v, prereleases=True) for v in candidates)


def _join(release: tuple[int, ...]) -> str:
	return ".".join(map(str, release))


@dataclass(frozen=True)
class Requirement:
	"""A requirement line reduced to what a pin check needs: normalised name, specifiers, marker
	text, URL, and the line as written."""

	name: str
	specifier: PackagingSpecifierSet
	text: str
	marker: str | None = None
	url: str | None = None

	@classmethod
	def parse(cls, text: str) -> "Requirement":
		line = text.split(" #", 1)[0].strip()
		if line.startswith("#"):
			line = ""
		try:
			req = PackagingRequirement(line)
		except InvalidRequirement as e:
			raise InvalidVersion(f"not a requirement: {text!r}") from e
		marker = str(req.marker) if req.marker else None
		return cls(normalize_name(req.name), req.specifier, text.strip(), marker, req.url)


def normalize_name(name: str) -> str:
	"""PEP 503 normalisation: `PyYAML`, `pyyaml` and `py_yaml` are one project."""
	return canonicalize_name(name)

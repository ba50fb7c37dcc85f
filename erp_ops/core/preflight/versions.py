"""A small PEP 440 version and specifier evaluator: enough to compare pins without `packaging`.

Supports epochs, pre/post/dev releases, local labels, and the operators `==` (with `.*`), `!=`,
`<`, `<=`, `>`, `>=`, `~=` and `===`. `satisfiable()` answers whether two requirement
specifiers admit a common version, which is what a pin conflict is.
"""

import re
from dataclasses import dataclass
from functools import total_ordering

from erp_ops.core.preflight.errors import InvalidVersion

_VERSION = re.compile(
	r"""^\s*v?
	(?:(?P<epoch>\d+)!)?
	(?P<release>\d+(?:\.\d+)*)
	(?:[-_.]?(?P<pre_l>a|b|c|rc|alpha|beta|pre|preview)[-_.]?(?P<pre_n>\d+)?)?
	(?:-(?P<post_n1>\d+)|[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>\d+)?)?
	(?:[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>\d+)?)?
	(?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
	\s*$""",
	re.VERBOSE | re.IGNORECASE,
)
_PRE_NORMAL = {"alpha": "a", "beta": "b", "c": "rc", "pre": "rc", "preview": "rc"}
_INF = float("inf")


@total_ordering
@dataclass(frozen=True)
class Version:
	"""A parsed PEP 440 version, ordered as PEP 440 says."""

	epoch: int
	release: tuple[int, ...]
	pre: tuple[str, int] | None = None
	post: int | None = None
	dev: int | None = None
	local: str | None = None
	text: str = ""

	@classmethod
	def parse(cls, text: str) -> "Version":
		m = _VERSION.match(text)
		if not m:
			raise InvalidVersion(f"not a PEP 440 version: {text!r}")
		pre = None
		if m["pre_l"]:
			label = m["pre_l"].lower()
			pre = (_PRE_NORMAL.get(label, label), int(m["pre_n"] or 0))
		post = None
		if m["post_n1"] is not None:
			post = int(m["post_n1"])
		elif m["post_l"]:
			post = int(m["post_n2"] or 0)
		dev = int(m["dev_n"] or 0) if m["dev_l"] else None
		return cls(
			epoch=int(m["epoch"] or 0),
			release=tuple(int(p) for p in m["release"].split(".")),
			pre=pre,
			post=post,
			dev=dev,
			local=m["local"].lower() if m["local"] else None,
			text=text.strip(),
		)

	@property
	def public(self) -> "Version":
		return Version(self.epoch, self.release, self.pre, self.post, self.dev, None, self.text.split("+")[0])

	@property
	def is_prerelease(self) -> bool:
		return self.pre is not None or self.dev is not None

	def _key(self) -> tuple:
		release = list(self.release)
		while len(release) > 1 and release[-1] == 0:
			release.pop()
		# PEP 440 ordering: X.devN < X.aN < X.bN < X.rcN < X < X.postN; a dev of a pre/post sorts first within it
		if self.pre is None and self.post is None and self.dev is not None:
			pre: tuple = (-_INF,)
		elif self.pre is None:
			pre = (_INF,)
		else:
			pre = ({"a": 0, "b": 1, "rc": 2}[self.pre[0]], self.pre[1])
		post = (-_INF,) if self.post is None else (self.post,)
		dev = (_INF,) if self.dev is None else (self.dev,)
		local = (
			()
			if self.local is None
			else tuple((1, int(p), "") if p.isdigit() else (0, 0, p) for p in re.split(r"[-_.]", self.local))
		)
		return (self.epoch, tuple(release), pre, post, dev, local)

	def __eq__(self, other: object) -> bool:
		return isinstance(other, Version) and self._key() == other._key()

	def __hash__(self) -> int:
		return hash(self._key())

	def __lt__(self, other: "Version") -> bool:
		return self._key() < other._key()

	def __str__(self) -> str:
		return self.text or ".".join(map(str, self.release))


_SPEC = re.compile(r"^\s*(~=|===|==|!=|<=|>=|<|>)\s*([^\s,;]+)\s*$")


@dataclass(frozen=True)
class Specifier:
	"""One clause such as `~=2.7.0` or `==1.*`."""

	op: str
	version: str

	@classmethod
	def parse(cls, text: str) -> "Specifier":
		m = _SPEC.match(text)
		if not m:
			raise InvalidVersion(f"not a PEP 440 specifier: {text!r}")
		op, version = m.groups()
		if op != "===":
			Version.parse(version.removesuffix(".*"))
		if version.endswith(".*") and op not in ("==", "!="):
			raise InvalidVersion(f"a wildcard is only valid with == and !=: {text!r}")
		if op == "~=" and len(Version.parse(version).release) < 2:
			raise InvalidVersion(f"~= needs at least two release segments: {text!r}")
		return cls(op, version)

	def contains(self, version: Version | str) -> bool:
		v = version if isinstance(version, Version) else Version.parse(version)
		if self.op == "===":
			return str(v) == self.version
		if self.version.endswith(".*"):
			prefix = Version.parse(self.version[:-2]).release
			matches = (
				v.epoch == Version.parse(self.version[:-2]).epoch
				and _padded(v.release, len(prefix))[: len(prefix)] == prefix
			)
			return matches if self.op == "==" else not matches
		spec = Version.parse(self.version)
		if self.op == "==":
			return (v if spec.local else v.public) == spec
		if self.op == "!=":
			return (v if spec.local else v.public) != spec
		if self.op == "~=":
			upper = Version(spec.epoch, (*spec.release[:-2], spec.release[-2] + 1), dev=0)
			return spec <= v.public < upper
		v = v.public
		if self.op == "<=":
			return v <= spec
		if self.op == ">=":
			return v >= spec
		if self.op == "<":
			# `<V` excludes pre-releases of V unless V itself is one
			return v < spec and not (not spec.is_prerelease and v.is_prerelease and _same_release(v, spec))
		# `>V` excludes post-releases of V unless V itself is one
		return v > spec and not (spec.post is None and v.post is not None and _same_release(v, spec))

	def __str__(self) -> str:
		return f"{self.op}{self.version}"


def _same_release(a: Version, b: Version) -> bool:
	n = max(len(a.release), len(b.release))
	return a.epoch == b.epoch and _padded(a.release, n) == _padded(b.release, n)


def _padded(release: tuple[int, ...], n: int) -> tuple[int, ...]:
	return release + (0,) * max(0, n - len(release))


@dataclass(frozen=True)
class SpecifierSet:
	"""Comma-separated clauses, all of which must hold; empty admits every version."""

	clauses: tuple[Specifier, ...] = ()

	@classmethod
	def parse(cls, text: str) -> "SpecifierSet":
		parts = [p for p in (text or "").split(",") if p.strip()]
		return cls(tuple(Specifier.parse(p) for p in parts))

	def contains(self, version: Version | str, prereleases: bool = True) -> bool:
		v = version if isinstance(version, Version) else Version.parse(version)
		return all(c.contains(v) for c in self.clauses)

	def __str__(self) -> str:
		return ",".join(map(str, self.clauses))


def satisfiable(a: SpecifierSet, b: SpecifierSet) -> bool:
	"""Whether some version satisfies both sets: tried on every boundary the clauses name and just around it."""
	clauses = (*a.clauses, *b.clauses)
	if not clauses:
		return True
	candidates: set[Version] = set()
	for c in clauses:
		if c.op == "===":
			try:
				candidates.add(Version.parse(c.version))
			except InvalidVersion:
				continue
			continue
		base = Version.parse(c.version.removesuffix(".*"))
		rel = base.release
		candidates.update(
			{
				base,
				Version(base.epoch, rel, post=(base.post or 0) + 1),
				Version(base.epoch, (*rel, 0, 1)),
				Version(base.epoch, (*rel[:-1], rel[-1] + 1)),
				Version(base.epoch, (*rel[:-1], rel[-1] + 1, 0, 1)),
				Version(base.epoch, rel, dev=0),
			}
		)
		if rel[-1] > 0:
			candidates.add(Version(base.epoch, (*rel[:-1], rel[-1] - 1, 999999)))
		if len(rel) >= 2:
			candidates.add(Version(base.epoch, (*rel[:-2], rel[-2] + 1)))
	candidates.add(Version(0, (0,)))
	return any(a.contains(v) and b.contains(v) for v in candidates)


_REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?P<rest>.*)$")


@dataclass(frozen=True)
class Requirement:
	"""A requirement line reduced to what a pin check needs: normalised name, specifiers, marker text."""

	name: str
	specifier: SpecifierSet
	text: str
	marker: str | None = None
	url: str | None = None

	@classmethod
	def parse(cls, text: str) -> "Requirement":
		line = (
			text.split("#", 1)[0].strip() if " #" in text or text.lstrip().startswith("#") else text.strip()
		)
		m = _REQUIREMENT.match(line)
		if not m:
			raise InvalidVersion(f"not a requirement: {text!r}")
		rest, marker, url = m["rest"].strip(), None, None
		if ";" in rest:
			rest, marker = (s.strip() for s in rest.split(";", 1))
		if rest.startswith("@"):
			url, rest = rest[1:].strip(), ""
		rest = rest.strip().removeprefix("(").removesuffix(")")
		return cls(normalize_name(m["name"]), SpecifierSet.parse(rest), text.strip(), marker, url)


def normalize_name(name: str) -> str:
	"""PEP 503 normalisation: `PyYAML`, `pyyaml` and `py_yaml` are one project."""
	return re.sub(r"[-_.]+", "-", name).lower()

"""Pins through packaging: ordering, specifiers, the satisfiability a pin conflict needs, and
packaging's errors as the core's InvalidVersion."""

import pytest

from erp_ops.core.preflight.errors import InvalidVersion
from erp_ops.core.preflight.versions import Requirement, parse_specifiers, parse_version, satisfiable

ASCENDING = [
	"1.0.dev0",
	"1.0a1.dev1",
	"1.0a1",
	"1.0b2",
	"1.0rc1",
	"1.0",
	"1.0+local.1",
	"1.0.post1.dev0",
	"1.0.post1",
	"1.0.1",
	"1.1",
	"2!0.1",
]


def test_versions_order_as_pep_440_says():
	parsed = [parse_version(v) for v in ASCENDING]
	assert sorted(reversed(parsed)) == parsed
	assert parse_version("1.0") == parse_version("1.0.0") == parse_version("v1.0")
	assert parse_version("1.0alpha1") == parse_version("1.0a1")
	assert parse_version("2.9.0.post0").post == 0


@pytest.mark.parametrize(
	("spec", "inside", "outside"),
	[
		("~=2.7.0", ["2.7.0", "2.7.9"], ["2.8.0", "2.6.9", "3.0"]),
		("~=2.7", ["2.7", "2.99"], ["3.0", "2.6"]),
		("==1.15.*", ["1.15.0", "1.15.9"], ["1.16.0", "1.14"]),
		("!=1.2.3", ["1.2.4"], ["1.2.3"]),
		(">=15.0.0,<17.0.0", ["15.0.0", "16.0.0", "16.99"], ["14.9", "17.0.0"]),
		("<3", ["2.99"], ["3.0", "3.0a1"]),
		(">1.0", ["1.1"], ["1.0", "1.0.post1"]),
		("==2.6.1", ["2.6.1", "2.6.1.0"], ["2.6.2"]),
		(">=3.14,<3.15", ["3.14.0", "3.14.2"], ["3.11.7", "3.15"]),
	],
)
def test_specifiers(spec, inside, outside):
	s = parse_specifiers(spec)
	assert all(s.contains(v) for v in inside), [v for v in inside if not s.contains(v)]
	assert not any(s.contains(v) for v in outside), [v for v in outside if s.contains(v)]


@pytest.mark.parametrize(
	("a", "b", "ok"),
	[
		("==1.15.1", "==2.6.1", False),
		("~=2.7.0", "~=2.12.5", False),
		(">=2.7,<3", "~=2.12.5", True),
		(">=1.15.1,<3", "==2.6.1", True),
		("<2", ">=2", False),
		("<=2", ">=2", True),
		(">=1,!=2.6.1", "==2.6.1", False),
		("", "==1.0", True),
		("==1.*", "~=1.4", True),
		("==1.*", ">=2", False),
	],
)
def test_satisfiable_finds_conflicts(a, b, ok):
	assert satisfiable(parse_specifiers(a), parse_specifiers(b)) is ok
	assert satisfiable(parse_specifiers(b), parse_specifiers(a)) is ok


def test_requirements_parse_extras_markers_and_urls():
	r = Requirement.parse('bleach[css]~=6.0.0; python_version < "3.13"')
	assert (r.name, str(r.specifier), r.marker) == ("bleach", "~=6.0.0", 'python_version < "3.13"')
	assert Requirement.parse("PyYAML (>=6)").name == "pyyaml"
	assert Requirement.parse("typing_extensions>=4.15.0,<5").name == "typing-extensions"
	url = Requirement.parse("PyPika @ git+https://github.com/frappe/pypika@2c50e61")
	assert url.url and not list(url.specifier)


@pytest.mark.parametrize("bad", ["", "abc", "1.0.0-", "~=1", ">=1.*", "== 1.0 2"])
def test_invalid_input_raises_the_core_error(bad):
	with pytest.raises(InvalidVersion):
		if bad.startswith(("~", ">", "=")):
			parse_specifiers(bad)
		else:
			parse_version(bad)

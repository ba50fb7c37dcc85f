"""The rq and redis-py ranges erp_ops declares are the ones it checks and is tested with."""

import re

import pytest
import rq

from erp_ops.core import rq_keys
from erp_ops.core.rq_keys import RQ_SUPPORTED_TEXT, UnsupportedDependency, check_rq_version
from tests.conftest import ROOT


def test_pyproject_declares_the_range_the_import_check_enforces():
	text = (ROOT / "pyproject.toml").read_text()
	assert f'"{RQ_SUPPORTED_TEXT}"' in text
	assert re.search(r'"redis>=4\.5\.5,<8"', text)
	tests = (ROOT / ".ci" / "requirements-test.txt").read_text()
	assert RQ_SUPPORTED_TEXT in tests


@pytest.mark.parametrize("version", ["1.15.1", "1.15.2", "1.16.2", "2.6.1", "2.7.0"])
def test_frappe_pins_and_the_newest_accepted_rq_are_supported(version):
	assert check_rq_version(version)


@pytest.mark.parametrize("version", ["1.14.0", "2.8.0", "2.12.0", "3.0.0"])
def test_an_rq_outside_the_range_is_refused_with_what_to_install(version):
	with pytest.raises(UnsupportedDependency) as caught:
		check_rq_version(version)
	assert f"rq {version} is installed" in str(caught.value) and RQ_SUPPORTED_TEXT in str(caught.value)


def test_the_installed_rq_is_inside_the_range():
	assert rq_keys.RQ_MAJOR == check_rq_version(rq.__version__)[0]

"""One range per number an operator gives (erp_ops.core.bounds), shared by CLI, API and Ops Settings."""

import argparse
import json
import math

import pytest

from erp_ops.core.bounds import BOUNDS, argtype, checked
from erp_ops.core.errors import InvalidInput
from tests.conftest import ROOT

DOCTYPES = ROOT / "erp_ops" / "erp_ops" / "doctype"


@pytest.mark.parametrize("doctype", ["ops_settings", "ops_retry_rule"])
def test_every_numeric_setting_has_a_range(doctype):
	meta = json.loads((DOCTYPES / doctype / f"{doctype}.json").read_text())
	numeric = {
		f["fieldname"] for f in meta["fields"] if f["fieldtype"] in ("Int", "Float", "Percent", "Currency")
	}
	assert numeric and not numeric - set(BOUNDS), numeric - set(BOUNDS)
	for f in meta["fields"]:  # each default is inside its own range
		if f["fieldname"] in numeric and f.get("default") not in (None, ""):
			checked(f["fieldname"], f["default"])


@pytest.mark.parametrize(
	"value", [-1, "-1", "nan", float("nan"), "inf", float("-inf"), "1e12", 1e12, "abc", "", None]
)
def test_out_of_range_values_are_refused_naming_the_field_and_range(value):
	with pytest.raises(InvalidInput) as caught:
		checked("purge_retention_days", value)
	assert str(caught.value).startswith("purge_retention_days must be a whole number from 1 to 36500, got")


def test_values_in_range_come_back_as_numbers():
	assert checked("older_than_days", "7") == 7.0 and checked("older_than_days", " 0.5e1 ") == 5.0
	assert checked("approval_above", "-1") == -1 and isinstance(checked("batch", "10"), int)
	assert checked("failure_rate_warning", 1) == 1 and checked("jitter", 0) == 0
	with pytest.raises(InvalidInput):
		checked("batch", "1.5")  # a whole number, not rounded


def test_the_argparse_type_is_a_usage_error_with_the_range():
	parse = argtype("older_than_days")
	assert parse("30") == 30.0
	for text in ("nan", "inf", "-1", "1e12"):
		with pytest.raises(argparse.ArgumentTypeError, match="from 1 to 36500"):
			parse(text)


def test_every_bound_is_finite_and_ordered():
	for name, bound in BOUNDS.items():
		assert math.isfinite(bound.lo) and math.isfinite(bound.hi) and bound.lo < bound.hi, name

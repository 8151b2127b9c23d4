"""The argparse types and help texts shared by every subcommand (mdm_ot.cli's public helpers)."""

import argparse
import math

import pytest

from mdm_ot.cli import ALPHA_HELP, GAMMA_HELP, finite_or_none, integer, number
from mdm_ot.schedules import ALPHA_SPECS, GAMMA_SPECS


def test_integer_bounds_and_wording():
    assert integer("--steps")("3") == 3 and integer("--seed", 0)("0") == 0
    with pytest.raises(argparse.ArgumentTypeError, match=r"^--steps must be an integer >= 1, got 0$"):
        integer("--steps")("0")
    with pytest.raises(argparse.ArgumentTypeError, match=r"^--seed must be an integer >= 0, got '1.5'$"):
        integer("--seed", 0)("1.5")


def test_number_strict_and_finite():
    assert number("--temperature")("0") == 0.0
    assert number("--learning-rate", strict=True)("0.1") == 0.1
    for bad in ("0", "-1", "inf", "nan", "x"):
        with pytest.raises(argparse.ArgumentTypeError, match="--learning-rate must be a number > 0"):
            number("--learning-rate", strict=True)(bad)
    with pytest.raises(argparse.ArgumentTypeError, match="--temperature must be a number >= 0"):
        number("--temperature")("-0.5")


def test_finite_or_none():
    assert finite_or_none(2) == 2.0 and isinstance(finite_or_none(2), float)
    assert finite_or_none(math.inf) is None and finite_or_none(float("nan")) is None


def test_spec_help_comes_from_the_schedules_package():
    assert ALPHA_HELP.endswith(ALPHA_SPECS) and GAMMA_HELP.endswith(GAMMA_SPECS)

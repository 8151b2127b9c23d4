"""Argument types and help texts shared by the ``mdm-ot`` subcommands (one wording for every
bad value, one source of the schedule-spec help: :data:`mdm_ot.schedules.ALPHA_SPECS`)."""

from __future__ import annotations

import argparse
import json
import math
import sys

from mdm_ot.schedules import ALPHA_SPECS, GAMMA_SPECS

#: ``help=`` of every option that takes a mask schedule spec (parsed by ``parse_alpha``).
ALPHA_HELP = f"mask schedule: {ALPHA_SPECS}"
#: ``help=`` of every option that takes an interpolation schedule spec (``parse_gamma``).
GAMMA_HELP = f"interpolation schedule: {GAMMA_SPECS}"


def integer(name: str, lo: int = 1, hi: int | None = None):
    """An argparse ``type=``: an integer ``>= lo`` (and ``<= hi`` when given)."""
    bound = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer {bound}, got {text!r}") from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{name} must be an integer {bound}, got {value}")
        return value

    return parse


def number(name: str, lo: float = 0.0, *, strict: bool = False, hi: float | None = None):
    """An argparse ``type=``: a finite number ``>= lo`` (``> lo`` when ``strict``; ``<= hi``
    when given)."""
    bound = f"> {lo:g}" if strict else f">= {lo:g}"
    if hi is not None:
        bound += f" and <= {hi:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number {bound}, got {text!r}") from None
        ok = math.isfinite(value) and (value > lo if strict else value >= lo) and (hi is None or value <= hi)
        if not ok:
            raise argparse.ArgumentTypeError(f"{name} must be a number {bound}, got {text!r}")
        return value

    return parse


def finite_or_none(x) -> float | None:
    """``float(x)``, or None where it is not finite (JSON has no inf or NaN)."""
    x = float(x)
    return x if math.isfinite(x) else None


def write_json(obj, *, allow_nan: bool = True) -> None:
    """One JSON document on stdout, ending with a newline (every command's ``--json``)."""
    json.dump(obj, sys.stdout, allow_nan=allow_nan)
    sys.stdout.write("\n")

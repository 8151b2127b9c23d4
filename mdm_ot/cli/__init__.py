"""The ``mdm-ot`` command line.

Each command family lives in its own module with a ``register(subparsers)`` function that
adds its parsers and sets ``func`` (a callable ``args -> int``) on each. Bad input raises
:class:`ValueError` (or argparse's error) and becomes a one-line message with exit status 2.
Commands: ``energy`` (energy.py), ``theorems`` (theorems.py), ``reproduce`` (report.py),
``toy`` (toy.py), ``transfer-tokens`` (sampling.py), ``tune`` (tuning.py), ``export`` (export.py),
``code`` (codelines.py), ``antibody`` (antibody.py). Each command parses its arguments,
calls one library function and formats the result.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# The argument types and spec help texts every command module uses (public for tests and
# for command families added outside this package).
from mdm_ot.cli._args import ALPHA_HELP, GAMMA_HELP, finite_or_none, integer, number

__all__ = ["ALPHA_HELP", "GAMMA_HELP", "build_parser", "finite_or_none", "integer", "main", "number"]

# Command modules, loaded lazily so `mdm-ot --help` stays fast and one broken family does
# not take the others down.
_COMMAND_MODULES = (
    "mdm_ot.cli.energy",
    "mdm_ot.cli.theorems",
    "mdm_ot.cli.report",
    "mdm_ot.cli.toy",
    "mdm_ot.cli.sampling",
    "mdm_ot.cli.tuning",
    "mdm_ot.cli.export",
    "mdm_ot.cli.codelines",
    "mdm_ot.cli.antibody",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit status 2, no usage dump
        sys.stderr.write(f"mdm-ot: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mdm-ot",
        description="Masked diffusion schedules as energy minimization (arXiv:2509.13866).",
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # family not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    import jax

    # The command line computes in float64: accuracy is the point of its numbers.
    jax.config.update("jax_enable_x64", True)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        sys.stderr.write(f"mdm-ot: error: {msg}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("mdm-ot: interrupted\n")
        return 130

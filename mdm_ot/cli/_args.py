"""Argument types and help texts shared by the ``mdm-ot`` subcommands (one wording for every
bad value, one source of the schedule-spec help: :data:`mdm_ot.schedules.ALPHA_SPECS`).

Every bad value becomes one line that names the option, what was wrong and what is allowed
(argparse prefixes ``argument --opt:``); the size limits come from :mod:`mdm_ot.cli._limits`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from mdm_ot.cli._limits import MAX_SEED
from mdm_ot.schedules import ALPHA_SPECS, GAMMA_SPECS

#: ``help=`` of every option that takes a mask schedule spec (parsed by ``parse_alpha``).
ALPHA_HELP = f"mask schedule: {ALPHA_SPECS}"
#: ``help=`` of every option that takes an interpolation schedule spec (``parse_gamma``).
GAMMA_HELP = f"interpolation schedule: {GAMMA_SPECS}"


def _short(text: str, width: int = 40) -> str:
    """``repr`` of a user's text, cut so that an error stays one short line."""
    text = str(text)
    return repr(text) if len(text) <= width else repr(text[:width]) + "..."


def integer(name: str, lo: int = 1, hi: int | None = None):
    """An argparse ``type=``: an integer ``>= lo`` (and ``<= hi`` when given)."""
    bound = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:  # also Python's limit on the digits of an int
            raise argparse.ArgumentTypeError(f"{name} must be an integer {bound}, got {_short(text)}") from None
        if value < lo or (hi is not None and value > hi):
            shown = value if abs(value) < 10**30 else _short(text)
            raise argparse.ArgumentTypeError(f"{name} must be an integer {bound}, got {shown}")
        return value

    return parse


def seed(name: str = "--seed"):
    """An argparse ``type=``: a seed, an integer in ``[0, MAX_SEED]`` (NumPy and JAX take 32 bits)."""
    return integer(name, 0, MAX_SEED)


def integer_list(name: str, lo: int = 1, hi: int | None = None):
    """An argparse ``type=``: comma-separated integers, each ``>= lo`` (and ``<= hi``), as a tuple."""
    one = integer(name, lo, hi)
    bound = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"

    def parse(text: str) -> tuple[int, ...]:
        parts = str(text).split(",")
        if not str(text).strip() or len(parts) > 64:
            raise argparse.ArgumentTypeError(
                f"{name} must be 1 to 64 comma-separated integers {bound} such as 2,4,8, got {_short(text)}")
        try:
            return tuple(one(p.strip()) for p in parts)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"{name} must be comma-separated integers {bound} such as 2,4,8, got {_short(text)}") from None

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
            raise argparse.ArgumentTypeError(f"{name} must be a number {bound}, got {_short(text)}") from None
        ok = math.isfinite(value) and (value > lo if strict else value >= lo) and (hi is None or value <= hi)
        if not ok:
            raise argparse.ArgumentTypeError(f"{name} must be a number {bound}, got {_short(text)}")
        return value

    return parse


def alpha_spec():
    """An argparse ``type=``: a mask-schedule spec that :func:`mdm_ot.schedules.parse_alpha`
    accepts (checked at parse time, so argparse's error names the option); returns the text."""
    return _spec("parse_alpha")


def gamma_spec():
    """An argparse ``type=``: an interpolation-schedule spec (``parse_gamma``); returns the text."""
    return _spec("parse_gamma")


def _spec(parser: str):  # argparse puts "argument --opt:" in front of the message
    def parse(text: str) -> str:
        import mdm_ot.schedules as schedules

        try:
            getattr(schedules, parser)(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).splitlines()[0]) from None
        return text

    return parse


def finite_or_none(x) -> float | None:
    """``float(x)``, or None where it is not finite (JSON has no inf or NaN)."""
    x = float(x)
    return x if math.isfinite(x) else None


def write_json(obj, *, allow_nan: bool = False, default=None) -> None:
    """One JSON document on stdout, ending with a newline (every command's ``--json``).

    The document is serialized in full before anything is written, so a value JSON cannot
    hold (NaN, +-inf) raises ``ValueError`` with nothing on stdout. ``allow_nan=True`` is
    kept for callers that print non-standard JSON on purpose (none in the CLI); ``default``
    is :func:`json.dumps`'s (``float`` turns NumPy scalars into numbers).
    """
    try:
        text = json.dumps(obj, allow_nan=allow_nan, default=default)
    except ValueError:
        raise ValueError("--json: the result holds NaN or infinity, which JSON cannot carry; "
                         "this is a bug: such entries must be null with a reason") from None
    sys.stdout.write(text + "\n")


def antibody_task(text: str) -> str:
    """An argparse ``type=``: an antibody infilling task spec (``cdr12``, ``random:F``,
    ``span:F``), checked by the antibody package's own parser."""
    from mdm_ot.experiments.antibody.tasks import parse_task

    try:
        parse_task(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_split_options(parser, *, length_help: str = "number of masked positions L") -> None:
    """The options of the count sampler's token split, shared by ``transfer-tokens`` and
    ``export``: ``--alpha``, ``--length``, ``--steps``, ``--block-length``,
    ``--min-tokens-per-step``, ``--drop-empty`` (checked together by :func:`check_split_options`)."""
    from mdm_ot.cli._limits import MAX_BLOCK_LENGTH, MAX_LENGTH, MAX_STEPS

    parser.add_argument("--alpha", required=True, help=ALPHA_HELP)
    parser.add_argument("--length", type=integer("--length", 1, MAX_LENGTH), required=True,
                        help=f"{length_help} in [1, {MAX_LENGTH}]")
    parser.add_argument("--steps", type=integer("--steps", 1, MAX_STEPS), required=True,
                        help=f"total number of steps K in [1, {MAX_STEPS}] (over all blocks)")
    parser.add_argument("--block-length", type=integer("--block-length", 1, MAX_BLOCK_LENGTH), default=None,
                        help="semi-autoregressive block length B (divides L; K divisible by L / B); default L")
    parser.add_argument("--min-tokens-per-step", type=integer("--min-tokens-per-step", 0, MAX_LENGTH), default=0,
                        metavar="M", help="every step reveals at least M tokens (M * K <= L), following alpha "
                        "as closely as possible (least squares); default 0")
    parser.add_argument("--drop-empty", action="store_true",
                        help="leave out the steps that reveal no token (fewer steps, same model calls)")


def check_split_options(args) -> None:
    """The size rules of the split, each error naming its option (before any work).

    Raises:
      ValueError: B not dividing L, K not divisible by L / B, or M * K > L.
    """
    length, steps, block = args.length, args.steps, args.block_length
    if block is not None:
        if block > length:
            raise ValueError(f"--block-length: {block} exceeds --length {length}; allowed: a divisor of L")
        if length % block:
            raise ValueError(f"--block-length: {block} does not divide --length {length}; allowed: a divisor of L")
        nb = length // block
        if steps % nb:
            raise ValueError(f"--steps: {steps} is not divisible by the number of blocks L / B = {nb}; allowed: a "
                             "multiple of L / B")
    nb = 1 if block is None else length // block
    spb, tokens, m = steps // nb, length // nb, args.min_tokens_per_step
    if m * spb > tokens:  # per block: K / nb steps share the block's L / nb tokens
        where = f" (per block: {spb} steps, {tokens} tokens)" if nb > 1 else ""
        raise ValueError(f"--min-tokens-per-step {m}: M*K = {m * spb} exceeds the length L = {tokens}{where}; "
                         f"allowed: M <= {tokens // spb}")

"""`mdm-ot export`: a schedule's token table for a count sampler, as JSON, a `.npy`, or a
self-contained Python file for a sampler ecosystem (docs/export.md)."""

from __future__ import annotations

import json
import os
import sys

from mdm_ot.cli._args import add_split_options, check_split_options, write_json

__all__ = ["register", "export_report"]

# The formats, written out (not imported) so that `mdm-ot --help` stays fast;
# tests/cli/test_cli_export.py checks it equals mdm_ot.exports.FORMATS.
FORMAT_CHOICES = ("json", "npy", "llada", "dream", "dllm", "mdlm", "md4", "flow_matching")

_OPTION_NAMES = {"length": "--length", "block_length": "--block-length",
                 "min_tokens_per_step": "--min-tokens-per-step", "drop_empty": "--drop-empty"}


def register(sub) -> None:
    e = sub.add_parser(
        "export",
        help="a schedule's token table, or a drop-in Python file for LLaDA, Dream, dllm, MDLM, MD4, flow_matching",
        description="The tokens revealed at each step by a count sampler (LLaDA) with the given schedule, per "
        "block of --block-length tokens, and the schedule's grids. json (default): one object on stdout, or in "
        "--out FILE. npy: an int64 array (num_blocks, steps) in --out FILE (default "
        "tokens_<alpha>_L<L>_K<K>[_B<B>].npy). llada, dream, dllm, mdlm, md4, flow_matching: one self-contained "
        "Python file for that sampler (default mdm_ot_<format>_<alpha>_L<L>_K<K>[_B<B>].py); its docstring says "
        "the convention, sizes, rounding and how to use it (docs/export.md). --json: the table on stdout too.",
    )
    add_split_options(e, length_help="generation length L")
    e.add_argument("--format", default="json", choices=FORMAT_CHOICES, help="default json")
    e.add_argument("--out", default=None, metavar="FILE", help="output file (json: default stdout)")
    e.add_argument("--json", action="store_true", help="also print the table as one JSON object on stdout")
    e.set_defaults(func=_cmd_export)


# ----------------------------------------------------------------------------- export


def export_report(alpha: str, length: int, steps: int, block_length: int | None = None, *,
                  min_tokens_per_step: int = 0, drop_empty: bool = False) -> dict:
    """The `export` table (JSON-ready); raises ValueError on bad input."""
    from mdm_ot.sampling import export_table

    return export_table(alpha, length, steps, block_length=block_length,
                        min_tokens_per_step=min_tokens_per_step, drop_empty=drop_empty)


def _check_out(args) -> None:
    from mdm_ot._io import check_output_file

    fmt, out = args.format, args.out
    if out is None:
        if fmt != "json":  # the default name goes in the current folder
            check_output_file(os.path.join(os.getcwd(), "export.out"), "--out")
        return
    if fmt == "npy" and not out.endswith(".npy"):
        raise ValueError(f"--out: {out!r} must end in .npy with --format npy")
    if fmt not in ("json", "npy"):
        stem, ext = os.path.splitext(os.path.basename(out))
        if ext != ".py" or not stem.isidentifier():
            raise ValueError(f"--out: {out!r} must be a Python module file, NAME.py with NAME letters, digits and _ "
                             f"(it is imported by that name)")
    check_output_file(out, "--out")


def _cmd_export(args) -> int:
    import numpy as np

    from mdm_ot._io import atomic_file
    from mdm_ot.exports import NATIVE_FORMATS, check_native, default_native_name, render_native
    from mdm_ot.sampling import default_export_name
    from mdm_ot.schedules import parse_alpha

    check_split_options(args)
    if args.format in NATIVE_FORMATS:
        check_native(args.format, length=args.length, block_length=args.block_length,
                     min_tokens_per_step=args.min_tokens_per_step, drop_empty=args.drop_empty, names=_OPTION_NAMES)
    _check_out(args)
    try:
        schedule = parse_alpha(args.alpha)
    except ValueError as exc:
        raise ValueError(f"--alpha: {exc}") from None
    table = export_report(schedule, args.length, args.steps, args.block_length,
                          min_tokens_per_step=args.min_tokens_per_step, drop_empty=args.drop_empty)

    if args.format == "json":
        path, text = args.out, json.dumps(table, allow_nan=False) + "\n"
    elif args.format == "npy":
        path = args.out or default_export_name(table)
        arr = np.asarray(table["tokens_per_block_step"], dtype=np.int64)
        text = None
    else:
        path = args.out or default_native_name(args.format, table)
        module = os.path.splitext(os.path.basename(path))[0]
        text = render_native(args.format, table, schedule, module=module)

    if path is not None:
        with atomic_file(path, "w" if text is not None else "wb") as fh:
            if text is not None:
                fh.write(text)
            else:
                np.save(fh, arr)
    if args.json:
        write_json(table, allow_nan=False)
    elif path is None:
        sys.stdout.write(text)
    elif args.format == "npy":
        print(f"wrote {path}: int64 array {arr.shape} (num_blocks, steps per block), tokens per step "
              + " ".join(str(c) for c in table["tokens_per_step"]) + f"; model calls {table['model_calls']}")
    else:
        print(f"wrote {path}: {args.format}, {table['spec']}, L={table['length']}, K={table['steps']}, "
              f"model calls {table['model_calls']}")
    return 0

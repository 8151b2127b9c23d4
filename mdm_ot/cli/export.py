"""`mdm-ot export`: a schedule's alpha grid and token counts for a LLaDA-style sampler."""

from __future__ import annotations

import json
import sys

from mdm_ot.cli._args import ALPHA_HELP, integer

__all__ = ["register", "export_report"]


def register(sub) -> None:
    e = sub.add_parser(
        "export",
        help="alpha grid and tokens per step of a schedule, for a LLaDA-style sampler",
        description="The alpha grid and the number of tokens revealed at each step by a count "
        "sampler (LLaDA) with the given schedule, per block of --block-length tokens (LLaDA's "
        "semi-autoregressive blocks). json (default): one object on stdout, or in --out FILE. "
        "npy: an int64 array of shape (num_blocks, steps_per_block) in --out FILE (default "
        "tokens_<alpha>_L<L>_K<K>[_B<B>].npy in the current folder); row b replaces LLaDA's "
        "get_num_transfer_tokens for block b (docs/export_llada.md).",
    )
    e.add_argument("--alpha", required=True, help=ALPHA_HELP)
    e.add_argument("--length", type=integer("--length"), required=True, help="generation length L >= 1")
    e.add_argument("--steps", type=integer("--steps"), required=True, help="total number of steps K >= 1 (over all blocks)")
    e.add_argument("--block-length", type=integer("--block-length"), default=None,
                   help="block length B (divides L; K divisible by L / B); default L (one block)")
    e.add_argument("--format", default="json", choices=("json", "npy"), help="default json")
    e.add_argument("--out", default=None, metavar="FILE", help="output file (json: default stdout)")
    e.set_defaults(func=_cmd_export)


# ----------------------------------------------------------------------------- export


def export_report(alpha: str, length: int, steps: int, block_length: int | None = None) -> dict:
    """The `export` table (JSON-ready); raises ValueError on bad input."""
    from mdm_ot.sampling import export_table

    return export_table(alpha, length, steps, block_length=block_length)


def _cmd_export(args) -> int:
    import numpy as np

    from mdm_ot.sampling import default_export_name

    table = export_report(args.alpha, args.length, args.steps, args.block_length)
    if args.format == "json":
        text = json.dumps(table, allow_nan=False)
        if args.out is None:
            sys.stdout.write(text + "\n")
        else:
            with open(args.out, "w") as fh:
                fh.write(text + "\n")
            print(f"wrote {args.out}")
        return 0
    path = args.out or default_export_name(table)
    if not path.endswith(".npy"):
        raise ValueError(f"--out must end in .npy with --format npy, got {path!r}")
    arr = np.asarray(table["tokens_per_block_step"], dtype=np.int64)
    np.save(path, arr)
    print(f"wrote {path}: int64 array {arr.shape} (num_blocks, steps_per_block), tokens per step "
          + " ".join(str(c) for c in table["tokens_per_step"]))
    return 0

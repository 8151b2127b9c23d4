"""`mdm-ot transfer-tokens`: tokens revealed at each step of the count sampler
(:func:`mdm_ot.sampling.export_table`)."""

from __future__ import annotations

from mdm_ot.cli._args import ALPHA_HELP, integer, write_json
from mdm_ot.cli._limits import MAX_BLOCK_LENGTH, MAX_LENGTH, MAX_STEPS

__all__ = ["check_min_tokens", "register", "transfer_tokens_report"]


def register(sub) -> None:
    c = sub.add_parser(
        "transfer-tokens",
        help="tokens revealed at each step of the count sampler",
        description="The number of tokens the count sampler (LLaDA) reveals at each step for "
        "a mask schedule: L * (alpha_k - alpha_(k-1)) rounded by largest remainder, extra "
        "tokens to the earliest steps among ties (LLaDA's split for the linear schedule); "
        "per block with --block-length. Model calls: the steps that reveal at least one token.",
    )
    c.add_argument("--alpha", required=True, help=ALPHA_HELP)
    c.add_argument("--length", type=integer("--length", 1, MAX_LENGTH), required=True,
                   help=f"number of masked positions L in [1, {MAX_LENGTH}]")
    c.add_argument("--steps", type=integer("--steps", 1, MAX_STEPS), required=True,
                   help=f"number of steps K in [1, {MAX_STEPS}] (over all blocks)")
    c.add_argument("--block-length", type=integer("--block-length", 1, MAX_BLOCK_LENGTH), default=None,
                   help="semi-autoregressive block length B (divides L; K divisible by L / B)")
    c.add_argument("--min-tokens-per-step", type=integer("--min-tokens-per-step", 0, MAX_LENGTH), default=0,
                   metavar="M", help="every step reveals at least M tokens (M * steps per block <= tokens "
                   "per block), following alpha as closely as possible (least squares); default 0")
    c.add_argument("--drop-empty", action="store_true",
                   help="leave out the steps that reveal no token (fewer steps, same model calls)")
    c.add_argument("--json", action="store_true", help="one JSON object on stdout")
    c.set_defaults(func=_cmd_transfer_tokens)


def check_min_tokens(min_tokens: int, length: int, steps: int, block_length: int | None = None) -> None:
    """Refuse ``--min-tokens-per-step M`` with M * K > L (per block: K the steps per block and
    L the block length), naming the option.

    Raises:
      ValueError: on bad sizes or M too large.
    """
    from mdm_ot.sampling import check_sizes

    nb, spb = check_sizes(steps, length, block_length)
    tokens = length // nb
    if min_tokens * spb > tokens:
        where = f" (per block: {spb} steps, {tokens} tokens)" if nb > 1 else ""
        raise ValueError(f"--min-tokens-per-step {min_tokens}: M*K = {min_tokens * spb} exceeds the length "
                         f"L = {tokens}{where}; allowed: M <= {tokens // spb}")


def transfer_tokens_report(alpha: str, length: int, steps: int, block_length: int | None = None, *,
                           min_tokens_per_step: int = 0, drop_empty: bool = False) -> dict:
    """The `transfer-tokens` command's result as a dict (JSON-ready).

    Raises:
      ValueError: on a bad spec or sizes.
    """
    from mdm_ot.sampling import export_table

    check_min_tokens(min_tokens_per_step, length, steps, block_length)
    table = export_table(alpha, length, steps, block_length=block_length,
                         min_tokens_per_step=min_tokens_per_step, drop_empty=drop_empty)
    out = {
        "alpha": table["alpha"],
        "convention": table["convention"],
        "length": length,
        "steps": steps,
        "block_length": block_length,  # None without blocks (the table says the length)
        "num_blocks": table["num_blocks"],
        "steps_per_block": table["steps_per_block"],
        "min_tokens_per_step": table["min_tokens_per_step"],
        "drop_empty": table["drop_empty"],
        "rounding": table["rounding"],
        "tokens_per_step": table["tokens_per_step"],
        "model_calls": table["model_calls"],
        "model_calls_per_block": table["model_calls_per_block"],
        "time_grid": table["time_grid"],
        "alpha_grid": table["alpha_grid"],
    }
    if drop_empty:
        out["steps_kept"] = table["steps_kept"]
    return out


def _cmd_transfer_tokens(args) -> int:
    out = transfer_tokens_report(args.alpha, args.length, args.steps, args.block_length,
                                 min_tokens_per_step=args.min_tokens_per_step, drop_empty=args.drop_empty)
    if args.json:
        write_json(out, allow_nan=False)
        return 0
    blocks = f", {out['num_blocks']} blocks of {out['block_length']}" if out["block_length"] else ""
    rule = f", at least {out['min_tokens_per_step']} per step" if out["min_tokens_per_step"] else ""
    print(f"alpha = {out['alpha']}, L = {out['length']}, K = {out['steps']}{blocks}{rule}")
    kept = " (empty steps dropped)" if out["drop_empty"] else ""
    print(f"  tokens per step{kept}: {' '.join(str(c) for c in out['tokens_per_step'])}")
    per_block = f" ({' + '.join(str(c) for c in out['model_calls_per_block'])})" if out["num_blocks"] > 1 else ""
    print(f"  model calls (steps revealing >= 1 token): {out['model_calls']} of {out['steps']}{per_block}")
    print(f"  alpha on the grid (per block): {' '.join(f'{a:.4f}' for a in out['alpha_grid'])}")
    return 0

"""`mdm-ot transfer-tokens`: tokens revealed at each step of the count sampler
(:func:`mdm_ot.sampling.export_table`)."""

from __future__ import annotations

from mdm_ot.cli._args import add_split_options, check_split_options, write_json

__all__ = ["register", "transfer_tokens_report"]


def register(sub) -> None:
    c = sub.add_parser(
        "transfer-tokens",
        help="tokens revealed at each step of the count sampler",
        description="The number of tokens the count sampler (LLaDA) reveals at each step for "
        "a mask schedule: L * (alpha_k - alpha_(k-1)) rounded by largest remainder, extra "
        "tokens to the earliest steps among ties (LLaDA's split for the linear schedule); "
        "per block with --block-length. Model calls: the steps that reveal at least one token.",
    )
    add_split_options(c)
    c.add_argument("--json", action="store_true", help="one JSON object on stdout")
    c.set_defaults(func=_cmd_transfer_tokens)


def transfer_tokens_report(alpha: str, length: int, steps: int, block_length: int | None = None, *,
                           min_tokens_per_step: int = 0, drop_empty: bool = False) -> dict:
    """The `transfer-tokens` command's result as a dict (JSON-ready).

    Raises:
      ValueError: on a bad spec or sizes.
    """
    from mdm_ot.sampling import export_table

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
    check_split_options(args)
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

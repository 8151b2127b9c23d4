"""`mdm-ot transfer-tokens`: tokens revealed at each step of the count sampler
(:func:`mdm_ot.sampling.export_table`)."""

from __future__ import annotations

from mdm_ot.cli._args import ALPHA_HELP, integer, write_json

__all__ = ["register", "transfer_tokens_report"]


def register(sub) -> None:
    c = sub.add_parser(
        "transfer-tokens",
        help="tokens revealed at each step of the count sampler",
        description="The number of tokens the count sampler (LLaDA) reveals at each step for "
        "a mask schedule: L * (alpha_k - alpha_(k-1)) rounded by largest remainder, extra "
        "tokens to the earliest steps among ties (LLaDA's split for the linear schedule); "
        "per block with --block-length.",
    )
    c.add_argument("--alpha", required=True, help=ALPHA_HELP)
    c.add_argument("--length", type=integer("--length"), required=True, help="number of masked positions L >= 1")
    c.add_argument("--steps", type=integer("--steps"), required=True, help="number of steps K >= 1 (over all blocks)")
    c.add_argument("--block-length", type=integer("--block-length"), default=None,
                   help="semi-autoregressive block length B (divides L; K divisible by L / B)")
    c.add_argument("--json", action="store_true", help="one JSON object on stdout")
    c.set_defaults(func=_cmd_transfer_tokens)


def transfer_tokens_report(alpha: str, length: int, steps: int, block_length: int | None = None) -> dict:
    """The `transfer-tokens` command's result as a dict (JSON-ready).

    Raises:
      ValueError: on a bad spec or sizes.
    """
    from mdm_ot.sampling import export_table

    table = export_table(alpha, length, steps, block_length=block_length)
    return {
        "alpha": table["alpha"],
        "length": length,
        "steps": steps,
        "block_length": block_length,  # None without blocks (the table says the length)
        "num_blocks": table["num_blocks"],
        "steps_per_block": table["steps_per_block"],
        "tokens_per_step": table["tokens_per_step"],
        "time_grid": table["time_grid"],
        "alpha_grid": table["alpha_grid"],
    }


def _cmd_transfer_tokens(args) -> int:
    out = transfer_tokens_report(args.alpha, args.length, args.steps, args.block_length)
    if args.json:
        write_json(out)
        return 0
    blocks = f", {out['num_blocks']} blocks of {out['block_length']}" if out["block_length"] else ""
    print(f"alpha = {out['alpha']}, L = {out['length']}, K = {out['steps']}{blocks}")
    print(f"  tokens per step: {' '.join(str(c) for c in out['tokens_per_step'])}")
    print(f"  alpha on the grid (per block): {' '.join(f'{a:.4f}' for a in out['alpha_grid'])}")
    return 0

"""`mdm-ot toy` and `mdm-ot transfer-tokens`: few-step sampling on the paper's toy, token counts."""

from __future__ import annotations

import json
import math
import sys

from mdm_ot.cli._args import finite_or_none, integer

__all__ = ["register", "toy_report", "transfer_tokens_report"]

_ALPHA_HELP = "mask schedule: linear, sin, sin2, poly:P, cosine, loglinear, beta:A,B"


def register(sub) -> None:
    t = sub.add_parser(
        "toy",
        help="exact output distribution of a few-step sampler on the paper's toy (Figure 4)",
        description="The exact distribution over the 32 sentences of 5 tokens (a, b) produced "
        "by a K-step sampler with the exact denoiser of the target, and its divergences to the "
        "target. Targets: modes (uniform over aaaaa, bbbbb), middle (uniform over sentences "
        "with two or three a's).",
    )
    t.add_argument("--target", required=True, help="modes or middle")
    t.add_argument("--steps", type=integer("--steps"), required=True, help="number of sampling steps K >= 1")
    t.add_argument("--alpha", required=True, help=_ALPHA_HELP)
    t.add_argument("--sampler", required=True, choices=("stochastic", "count"),
                   help="stochastic (ancestral) steps or count steps (LLaDA)")
    t.add_argument("--order", default="random", choices=("random", "confidence"),
                   help="count steps: which positions (default random)")
    t.add_argument("--temperature", type=float, default=None,
                   help="temperature of the token draws (default: 0 with --order confidence, else 1)")
    t.add_argument("--json", action="store_true", help="one JSON object on stdout")
    t.set_defaults(func=_cmd_toy)

    c = sub.add_parser(
        "transfer-tokens",
        help="tokens revealed at each step of the count sampler",
        description="The number of tokens the count sampler (LLaDA) reveals at each step for "
        "a mask schedule: L * (alpha_k - alpha_(k-1)) rounded by largest remainder, extra "
        "tokens to the earliest steps among ties (LLaDA's split for the linear schedule); "
        "per block with --block-length.",
    )
    c.add_argument("--alpha", required=True, help=_ALPHA_HELP)
    c.add_argument("--length", type=integer("--length"), required=True, help="number of masked positions L >= 1")
    c.add_argument("--steps", type=integer("--steps"), required=True, help="number of steps K >= 1 (over all blocks)")
    c.add_argument("--block-length", type=integer("--block-length"), default=None,
                   help="semi-autoregressive block length B (divides L; K divisible by L / B)")
    c.add_argument("--json", action="store_true", help="one JSON object on stdout")
    c.set_defaults(func=_cmd_transfer_tokens)


def toy_report(target: str, steps: int, alpha: str, sampler: str, order: str = "random",
               temperature: float | None = None) -> dict:
    """The `toy` command's result as a dict (JSON-ready); raises ValueError on bad input."""
    import jax.numpy as jnp
    import numpy as np

    from mdm_ot.sampling import divergences, exact_output
    from mdm_ot.sampling import table_oracle
    from mdm_ot.sampling import num_transfer_tokens
    from mdm_ot.schedules import parse_alpha
    from mdm_ot.tuning import TOY_LENGTH, toy_sentences, toy_target

    q = toy_target(target)  # ValueError for an unknown target
    if steps < 1:
        raise ValueError(f"the number of steps must be >= 1, got {steps}")
    if sampler not in ("stochastic", "count"):
        raise ValueError(f"unknown sampler {sampler!r}; allowed: stochastic, count")
    if order not in ("random", "confidence"):
        raise ValueError(f"unknown order {order!r}; allowed: random, confidence")
    if temperature is None:
        temperature = 0.0 if (sampler == "count" and order == "confidence") else 1.0
    if not (math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"the temperature must be a finite number >= 0, got {temperature}")
    sched = parse_alpha(alpha)
    qj = jnp.asarray(q)
    p = exact_output(table_oracle(qj), sched, length=TOY_LENGTH, num_steps=steps, sampler=sampler,
                     order=order, temperature=temperature)
    dv = divergences(p, qj)
    p = np.asarray(p).ravel()
    out = {
        "target": target,
        "alpha": sched.spec,
        "steps": steps,
        "sampler": sampler,
        "order": order if sampler == "count" else None,
        "temperature": temperature,
        "probabilities": {s: float(v) for s, v in zip(toy_sentences(), p, strict=True)},
        "target_probabilities": {s: float(v) for s, v in zip(toy_sentences(), q.ravel(), strict=True)},
        "kl_data_to_model": finite_or_none(float(dv.kl_data_to_model)),
        "kl_model_to_data": finite_or_none(float(dv.kl_model_to_data)),
        "tv": float(dv.tv),
    }
    if sampler == "count":
        out["tokens_per_step"] = [int(c) for c in np.asarray(num_transfer_tokens(sched, TOY_LENGTH, steps))]
    return out


def transfer_tokens_report(alpha: str, length: int, steps: int, block_length: int | None = None) -> dict:
    """The `transfer-tokens` command's result as a dict (JSON-ready); raises ValueError."""
    import numpy as np

    from mdm_ot.sampling import check_sizes, alpha_on_grid, default_grid, num_transfer_tokens
    from mdm_ot.schedules import parse_alpha

    nb, spb = check_sizes(steps, length, block_length)  # ValueError on bad sizes
    sched = parse_alpha(alpha)
    counts = np.asarray(num_transfer_tokens(sched, length, steps, block_length=block_length))
    grid = default_grid(spb)
    return {
        "alpha": sched.spec,
        "length": length,
        "steps": steps,
        "block_length": block_length,
        "num_blocks": nb,
        "steps_per_block": spb,
        "tokens_per_step": [int(c) for c in counts],
        "time_grid": [float(t) for t in np.asarray(grid)],
        "alpha_grid": [float(a) for a in np.asarray(alpha_on_grid(sched, grid))],
    }


def _emit_json(out: dict) -> None:
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


def _cmd_toy(args) -> int:
    out = toy_report(args.target, args.steps, args.alpha, args.sampler, args.order, args.temperature)
    if args.json:
        _emit_json(out)
        return 0

    def fmt(v):
        return "+inf" if v is None else f"{v:.6g}"

    how = f"count steps, {out['order']} order" if out["sampler"] == "count" else "stochastic steps"
    print(f"toy target {out['target']}: K = {out['steps']} {how}, alpha = {out['alpha']}, "
          f"temperature {out['temperature']:g}")
    if "tokens_per_step" in out:
        print(f"  tokens per step: {out['tokens_per_step']}")
    print("  sentence   model p    target q")
    for s, v in out["probabilities"].items():
        qv = out["target_probabilities"][s]
        if v > 0 or qv > 0:
            print(f"  {s}      {v:.6f}   {qv:.6f}")
    print(f"  KL(q || p) = {fmt(out['kl_data_to_model'])}   KL(p || q) = {fmt(out['kl_model_to_data'])}"
          f"   TV = {out['tv']:.6g}")
    return 0


def _cmd_transfer_tokens(args) -> int:
    out = transfer_tokens_report(args.alpha, args.length, args.steps, args.block_length)
    if args.json:
        _emit_json(out)
        return 0
    blocks = f", {out['num_blocks']} blocks of {out['block_length']}" if out["block_length"] else ""
    print(f"alpha = {out['alpha']}, L = {out['length']}, K = {out['steps']}{blocks}")
    print(f"  tokens per step: {' '.join(str(c) for c in out['tokens_per_step'])}")
    print(f"  alpha on the grid (per block): {' '.join(f'{a:.4f}' for a in out['alpha_grid'])}")
    return 0

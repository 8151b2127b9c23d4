"""`mdm-ot toy`: the exact output of a few-step sampler on the paper's toy (Figure 4).

:func:`toy_report` is a composition of public library calls (the toy target from
:mod:`mdm_ot.tuning`, :func:`mdm_ot.sampling.exact_output_table` and
:func:`mdm_ot.sampling.divergences`), shaped for JSON.
"""

from __future__ import annotations

import math

from mdm_ot.cli._args import ALPHA_HELP, alpha_spec, finite_or_none, integer, number, write_json
from mdm_ot.cli._limits import MAX_STEPS, MAX_TEMPERATURE

__all__ = ["register", "toy_report"]


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
    t.add_argument("--steps", type=integer("--steps", 1, MAX_STEPS), required=True,
                   help=f"number of sampling steps K, 1 to {MAX_STEPS}")
    t.add_argument("--alpha", required=True, type=alpha_spec(), help=ALPHA_HELP)
    t.add_argument("--sampler", required=True, choices=("stochastic", "count"),
                   help="stochastic (ancestral) steps or count steps (LLaDA)")
    t.add_argument("--order", default="random", choices=("random", "confidence"),
                   help="count steps: which positions (default random)")
    t.add_argument("--temperature", type=number("--temperature", 0.0, hi=MAX_TEMPERATURE), default=None,
                   help=f"temperature of the token draws, 0 to {MAX_TEMPERATURE:g} "
                   "(default: 0 with --order confidence, else 1)")
    t.add_argument("--json", action="store_true", help="one JSON object on stdout")
    t.set_defaults(func=_cmd_toy)


def toy_report(target: str, steps: int, alpha: str, sampler: str, order: str = "random",
               temperature: float | None = None) -> dict:
    """The `toy` command's result as a dict (JSON-ready: null where infinite).

    Raises:
      ValueError: on an unknown target, sampler, order or schedule, or bad steps/temperature.
    """
    import numpy as np

    from mdm_ot.sampling import (
        divergences,
        exact_output_table,
        num_transfer_tokens,
        sampler_model_calls,
    )
    from mdm_ot.schedules import parse_alpha
    from mdm_ot.tuning import toy_sentences, toy_target

    q = toy_target(target)  # ValueError for an unknown target
    if not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"--steps must be an integer in [1, {MAX_STEPS}], got {steps!r}")
    if sampler not in ("stochastic", "count"):
        raise ValueError(f"unknown sampler {sampler!r}; allowed: stochastic, count")
    if order not in ("random", "confidence"):
        raise ValueError(f"unknown order {order!r}; allowed: random, confidence")
    if temperature is None:
        temperature = 0.0 if (sampler == "count" and order == "confidence") else 1.0
    if not (math.isfinite(temperature) and 0 <= temperature <= MAX_TEMPERATURE):
        raise ValueError(f"--temperature must be a number in [0, {MAX_TEMPERATURE:g}], got {temperature}")
    sched = parse_alpha(alpha)
    p = exact_output_table(q, sched, num_steps=steps, sampler=sampler, order=order, temperature=temperature)
    dv = divergences(p, q)
    p = np.asarray(p).ravel()
    if not (np.all(np.isfinite(p)) and math.isfinite(float(dv.tv))):
        # refused, never printed as NaN: the exact table could not be computed for these inputs
        raise ValueError(f"--alpha {alpha!r}, --steps {steps}, --temperature {temperature:g}: the exact "
                         "output distribution is not finite for these inputs; allowed: a smaller temperature "
                         "or another schedule")
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
        out["tokens_per_step"] = [int(c) for c in np.asarray(num_transfer_tokens(sched, q.ndim, steps))]
    # model calls beside K (docs/sampling.md, "Model calls"): count sampler, steps that reveal a
    # token; stochastic, steps with alpha_k > alpha_(k-1) and the exact expected calls
    calls = sampler_model_calls(sched, q.ndim, steps, sampler=sampler)
    out["model_calls"] = calls["model_calls"]
    if sampler == "stochastic":
        out["expected_model_calls"] = finite_or_none(calls["expected_model_calls"])
    return out


def _cmd_toy(args) -> int:
    out = toy_report(args.target, args.steps, args.alpha, args.sampler, args.order, args.temperature)
    if args.json:
        write_json(out)
        return 0

    def fmt(v):
        return "+inf" if v is None else f"{v:.6g}"

    how = f"count steps, {out['order']} order" if out["sampler"] == "count" else "stochastic steps"
    print(f"toy target {out['target']}: K = {out['steps']} {how}, alpha = {out['alpha']}, "
          f"temperature {out['temperature']:g}")
    if "tokens_per_step" in out:
        print(f"  tokens per step: {out['tokens_per_step']}")
    calls = f"  model calls: {out['model_calls']} (of K = {out['steps']} steps)"
    if out.get("expected_model_calls") is not None:
        calls += f", expected {out['expected_model_calls']:.6g} (steps that reveal a token)"
    print(calls)
    print("  sentence   model p    target q")
    for s, v in out["probabilities"].items():
        qv = out["target_probabilities"][s]
        if v > 0 or qv > 0:
            print(f"  {s}      {v:.6f}   {qv:.6f}")
    print(f"  KL(q || p) = {fmt(out['kl_data_to_model'])}   KL(p || q) = {fmt(out['kl_model_to_data'])}"
          f"   TV = {out['tv']:.6g}")
    return 0

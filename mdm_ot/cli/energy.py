"""`mdm-ot energy` and `mdm-ot theorems`: the energies of a schedule and the paper's theorems."""

from __future__ import annotations

import json
import math
import sys

from mdm_ot.cli._args import finite_or_none, integer

__all__ = ["register", "energy_report"]


def register(sub) -> None:
    p = sub.add_parser(
        "energy",
        help="kinetic, conditional and geodesic energies of a schedule pair",
        description="The three energies of the MDM path with mask schedule ALPHA and "
        "interpolation schedule GAMMA, for n positions over d tokens with a full-support "
        "data distribution; the reduced energy e(alpha, gamma) and the minimum for GAMMA.",
    )
    p.add_argument("--alpha", required=True, help="mask schedule: linear, sin, sin2, poly:P, "
                   "cosine, loglinear, beta:A,B")
    p.add_argument("--gamma", default="t", help="interpolation schedule: t or beta:A,B (default t)")
    p.add_argument("--n", type=integer("n"), default=2, help="sequence length (default 2)")
    p.add_argument("--d", type=integer("d"), default=2, help="vocabulary size (default 2)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=_cmd_energy)

    t = sub.add_parser(
        "theorems",
        help="check the paper's theorems on fresh random cases",
        description="Runs each theorem check of the paper on fresh random cases (brute "
        "force over the state space against the reduced formulas) and prints a table.",
    )
    t.add_argument("--json", action="store_true", help="one JSON object on stdout")
    t.add_argument("--seed", type=int, default=None, help="random seed (default: fresh)")
    t.add_argument("--cases", type=integer("cases"), default=6,
                   help="random cases per statement (default 6)")
    t.set_defaults(func=_cmd_theorems)


def energy_report(alpha_spec: str, gamma_spec: str = "t", n: int = 2, d: int = 2) -> dict:
    """The `energy` command's result as a dict (JSON-ready); raises ValueError on bad input."""
    import jax

    from mdm_ot.energies import energy_constants, minimum_reduced_energy, reduced_energy
    from mdm_ot.quadrature import describe_status
    from mdm_ot.schedules import parse_alpha, parse_gamma

    alpha = parse_alpha(alpha_spec)
    gamma = parse_gamma(gamma_spec)
    consts = energy_constants(n, d)
    res = jax.jit(reduced_energy)(alpha, gamma)
    e = float(res.value)
    status = int(res.status)
    divergent = not math.isfinite(e)
    emin = minimum_reduced_energy()
    out = {
        "alpha": alpha.spec,
        "gamma": gamma.spec,
        "n": n,
        "d": d,
        "reduced": finite_or_none(e),
        "kinetic": finite_or_none(consts.kinetic * e),
        "conditional": finite_or_none(consts.conditional * e),
        "geodesic": finite_or_none(consts.geodesic * e),
        "reduced_error": finite_or_none(float(res.error)),
        "minimum": {
            "reduced": emin,
            "kinetic": consts.kinetic * emin,
            "conditional": consts.conditional * emin,
            "geodesic": consts.geodesic * emin,
            "alpha": f"sin^2(pi/2 * gamma) with gamma = {gamma.spec}",
        },
        "constants": consts._asdict(),
        "divergent": ["kinetic", "conditional", "geodesic", "reduced"] if divergent else [],
        "status": describe_status(status),
    }
    return out


def _cmd_energy(args) -> int:
    out = energy_report(args.alpha, args.gamma, args.n, args.d)
    if args.json:
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")
        return 0

    def fmt(v):
        return "+inf (divergent)" if v is None else f"{v:.12g}"

    print(f"alpha = {out['alpha']}, gamma = {out['gamma']}, n = {out['n']}, d = {out['d']} "
          "(full-support q)")
    print(f"  reduced e(alpha, gamma)  {fmt(out['reduced'])}")
    for key in ("kinetic", "conditional", "geodesic"):
        c = out["constants"][key]
        print(f"  {key:<23}  {fmt(out[key])}   (= {c:g} * e)")
    m = out["minimum"]
    print(f"  minimum for this gamma   e = pi^2 = {m['reduced']:.12g}, attained by {m['alpha']}")
    print(f"  quadrature: {out['status']}")
    return 0


def _cmd_theorems(args) -> int:
    from mdm_ot.experiments.theorems import format_table, run_all

    show = not args.json and sys.stderr.isatty()
    result = run_all(seed=args.seed, cases=args.cases, progress=show)
    if args.json:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(format_table(result))
    return 0 if all(r["verdict"] == "holds" for r in result["checks"]) else 1

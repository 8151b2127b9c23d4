"""`mdm-ot energy`: the energies of a schedule pair (:func:`mdm_ot.energies.energy_summary`)."""

from __future__ import annotations

import math

from mdm_ot.cli._args import (
    ALPHA_HELP,
    GAMMA_HELP,
    alpha_spec,
    finite_or_none,
    gamma_spec,
    integer,
    write_json,
)
from mdm_ot.cli._limits import MAX_ENERGY_D, MAX_ENERGY_N

__all__ = ["register", "energy_report"]

# Entries of the summary that are +inf where the energy diverges (JSON null).
_MAYBE_INFINITE = ("reduced", "kinetic", "conditional", "geodesic", "reduced_error")


def register(sub) -> None:
    p = sub.add_parser(
        "energy",
        help="kinetic, conditional and geodesic energies of a schedule pair",
        description="The three energies of the MDM path with mask schedule ALPHA and "
        "interpolation schedule GAMMA, for n positions over d tokens with a full-support "
        "data distribution; the reduced energy e(alpha, gamma) and the minimum for GAMMA.",
    )
    p.add_argument("--alpha", required=True, type=alpha_spec(), help=ALPHA_HELP)
    p.add_argument("--gamma", default="t", type=gamma_spec(), help=f"{GAMMA_HELP}; default t")
    p.add_argument("--n", type=integer("--n", 1, MAX_ENERGY_N), default=2,
                   help=f"sequence length, at most {MAX_ENERGY_N} (default 2)")
    p.add_argument("--d", type=integer("--d", 1, MAX_ENERGY_D), default=2,
                   help=f"vocabulary size, at most {MAX_ENERGY_D} (default 2)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=_cmd_energy)


def energy_report(alpha_spec: str, gamma_spec: str = "t", n: int = 2, d: int = 2) -> dict:
    """The `energy` command's result as a dict (JSON-ready: null where infinite).

    Raises:
      ValueError: on a bad spec or size.
    """
    from mdm_ot.energies import energy_summary
    from mdm_ot.schedules import parse_alpha, parse_gamma

    _check_sizes(n, d)
    alpha, gamma = parse_alpha(alpha_spec), parse_gamma(gamma_spec)
    out = energy_summary(alpha, gamma, n, d)
    if math.isfinite(out["reduced"]) and not all(math.isfinite(out[k]) for k in _MAYBE_INFINITE):
        # e is finite but a constant times e is not: an overflow, not a divergence
        raise ValueError(f"--n, --d: the energies for n = {n}, d = {d} exceed the largest float64 "
                         f"(e = {out['reduced']:.6g}); allowed: smaller n or d")
    for key in _MAYBE_INFINITE:
        out[key] = finite_or_none(out[key])
    return out


def _check_sizes(n: int, d: int) -> None:
    """Refuse (n, d) whose kinetic constant n (d+1)^(n-1) times pi^2 (the minimum energy) is
    not a float64, comparing logarithms (the power itself may have 10^12 digits)."""
    for name, v, hi in (("--n", n, MAX_ENERGY_N), ("--d", d, MAX_ENERGY_D)):
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= hi:
            raise ValueError(f"{name} must be an integer in [1, {hi}], got {v!r}")
    log_max = math.log(1.7976931348623157e308)
    log_kinetic = math.log(n) + (n - 1) * math.log(d + 1) + 2 * math.log(math.pi)
    if log_kinetic >= log_max:
        raise ValueError(f"--n, --d: the kinetic constant n (d+1)^(n-1) = e^{log_kinetic:.1f} for n = {n}, "
                         f"d = {d} overflows float64; allowed: n log(d+1) below about {log_max:.0f}")


def _cmd_energy(args) -> int:
    out = energy_report(args.alpha, args.gamma, args.n, args.d)
    if args.json:
        write_json(out)
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

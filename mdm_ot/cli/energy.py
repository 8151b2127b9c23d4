"""`mdm-ot energy`: the energies of a schedule pair (:func:`mdm_ot.energies.energy_summary`)."""

from __future__ import annotations

from mdm_ot.cli._args import ALPHA_HELP, GAMMA_HELP, finite_or_none, integer, write_json

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
    p.add_argument("--alpha", required=True, help=ALPHA_HELP)
    p.add_argument("--gamma", default="t", help=f"{GAMMA_HELP}; default t")
    p.add_argument("--n", type=integer("n"), default=2, help="sequence length (default 2)")
    p.add_argument("--d", type=integer("d"), default=2, help="vocabulary size (default 2)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=_cmd_energy)


def energy_report(alpha_spec: str, gamma_spec: str = "t", n: int = 2, d: int = 2) -> dict:
    """The `energy` command's result as a dict (JSON-ready: null where infinite).

    Raises:
      ValueError: on a bad spec or size.
    """
    from mdm_ot.energies import energy_summary
    from mdm_ot.schedules import parse_alpha, parse_gamma

    out = energy_summary(parse_alpha(alpha_spec), parse_gamma(gamma_spec), n, d)
    for key in _MAYBE_INFINITE:
        out[key] = finite_or_none(out[key])
    return out


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

"""`mdm-ot tune`: tune the mask schedule for a step budget."""

from __future__ import annotations

import sys

from mdm_ot.cli._args import integer, number, write_json

__all__ = ["register"]


def register(sub) -> None:
    t = sub.add_parser(
        "tune",
        help="tune the mask schedule (Beta family, free form) for a step budget",
        description="Tune the Beta schedule alpha = sin^2(pi/2 I_t(a, b)) for K sampling steps on "
        "an exact target (the toy of Figure 4, a small Markov chain, a table) or an energy. "
        "Methods: grid (every grid point), two-stage (the paper's protocol: a coarse pass on a "
        "small sample, the shortlist on a larger one, Kendall's tau against the exact values), "
        "gradient (Adam over log a, log b, stochastic sampler only: count-sampler objectives are "
        "piecewise constant in the schedule). Targets: modes, middle, markov:n=N,d=D,seed=S[,conc=C], "
        "markov:n=N,init=P1/../Pd,trans=P11/../Pdd, npy:FILE, energy[:GAMMA], discrete-energy[:GAMMA].",
    )
    t.add_argument("--target", required=True, help="modes, middle, markov:..., npy:FILE, energy[:GAMMA], discrete-energy[:GAMMA]")
    t.add_argument("--steps", type=integer("--steps"), required=True, help="number of sampling steps K >= 1")
    t.add_argument("--sampler", default="stochastic", choices=("stochastic", "count"),
                   help="stochastic (ancestral) or count (LLaDA) steps (default stochastic)")
    t.add_argument("--order", default="random", choices=("random", "confidence"),
                   help="count steps: which positions (default random)")
    t.add_argument("--temperature", type=float, default=None,
                   help="temperature of the token draws (default: 0 with --order confidence, else 1)")
    t.add_argument("--metric", default="kl", choices=("kl", "kl-reverse", "tv", "invalid"),
                   help="kl = KL(q||p) (default), kl-reverse = KL(p||q), tv, invalid = mass off the support of q")
    t.add_argument("--grid", default="paper",
                   help="paper (a, b in 0.1..1.0, default), fine (0.05..2.0 step 0.05), or A0:A1:N,B0:B1:N")
    t.add_argument("--method", default="grid", choices=("grid", "two-stage", "gradient"), help="default grid")
    t.add_argument("--coarse-size", type=integer("--coarse-size"), default=64,
                   help="two-stage: samples per schedule in the coarse pass (default 64)")
    t.add_argument("--fine-size", type=integer("--fine-size"), default=1024,
                   help="two-stage: samples per schedule on the shortlist (default 1024)")
    t.add_argument("--top-k", type=integer("--top-k"), default=10, help="two-stage: shortlist size (default 10)")
    t.add_argument("--iterations", type=integer("--iterations"), default=100,
                   help="gradient: evaluations per start (default 100)")
    t.add_argument("--learning-rate", type=number("--learning-rate", strict=True), default=0.1,
                   help="gradient: Adam step size in log-parameter space (default 0.1)")
    t.add_argument("--restarts", type=integer("--restarts", 0), default=0, help="gradient: extra random starts (default 0)")
    t.add_argument("--free-form", action="store_true",
                   help="also tune a free-form schedule on the K-step grid (differentiable objectives), "
                   "to see how far the best Beta schedule is from the best of any shape")
    t.add_argument("--seed", type=integer("--seed", 0), default=0, help="seed of subsets and restarts (default 0)")
    t.add_argument("--json", action="store_true", help="one JSON object on stdout")
    t.add_argument("--plot", metavar="FILE.png", default=None,
                   help="save a heatmap of the objective over (a, b) with the best point marked")
    t.set_defaults(func=_cmd_tune)


# ----------------------------------------------------------------------------- tune


def _fmt(v, none="+inf"):
    return none if v is None else f"{v:.6g}"


def _cmd_tune(args) -> int:
    from mdm_ot.tuning import tune_target

    out = tune_target(args.target, args.steps, sampler=args.sampler, order=args.order, temperature=args.temperature,
                      metric=args.metric, grid=args.grid, method=args.method, coarse_size=args.coarse_size,
                      fine_size=args.fine_size, top_k=args.top_k, iterations=args.iterations,
                      learning_rate=args.learning_rate, restarts=args.restarts, free_form=args.free_form,
                      seed=args.seed, plot=args.plot, progress=not args.json and sys.stderr.isatty())
    if args.json:
        write_json(out, allow_nan=False)
        return 0
    s = out["settings"]
    print(f"target {s['target']}, K = {args.steps}: {s['objective']} ({'maximize' if s['maximize'] else 'minimize'})")
    print(f"method {args.method}, grid {args.grid} ({s.get('grid_shape', ['?', '?'])[0]} x {s.get('grid_shape', ['?', '?'])[1]})")
    best = out["best"]
    print(f"  best: a = {best['a']:.4g}, b = {best['b']:.4g}, value = {_fmt(best['value'])}"
          + (f" (from {best['source']})" if "source" in best else ""))
    pts = [p for p in out["grid"] if p["value"] is not None]
    pts.sort(key=lambda p: -p["value"] if s["maximize"] else p["value"])
    if pts:
        print("  best grid points: " + ", ".join(f"({p['a']:g}, {p['b']:g}) {p['value']:.4g}" for p in pts[:5]))
    else:
        print("  every grid value is +inf or undefined")
    if "two_stage" in out:
        ts = out["two_stage"]
        print(f"  two-stage: shortlist of {len(ts['shortlist'])}, Kendall tau coarse vs exact = "
              f"{_fmt(ts['kendall_tau_coarse_vs_full'], 'undefined')}, fine vs exact (shortlist) = "
              f"{_fmt(ts['kendall_tau_fine_vs_full'], 'undefined')}")
        if ts["best_full"] is not None:
            bf = ts["best_full"]
            print(f"  exact grid optimum: a = {bf['a']:g}, b = {bf['b']:g}, value = {_fmt(bf['value'])}")
    if "gradient" in out:
        g = out["gradient"]
        n = g["evaluations_to_reach_grid_best"]
        reach = f"reached the grid optimum after {n} evaluations" if n else "did not reach the grid optimum"
        print(f"  gradient: a = {g['best']['a']:.4g}, b = {g['best']['b']:.4g}, value = {_fmt(g['best']['value'])} "
              f"after {g['num_evaluations']} evaluations; {reach}")
    if "free_form" in out:
        f = out["free_form"]
        print(f"  free form: value = {_fmt(f['value'])}, alpha on the grid = "
              + " ".join(f"{x:.4f}" for x in f["alpha"]) + f"; Beta minus free form = {_fmt(f['gap_beta_minus_free'])}")
    if "plot" in out:
        print(f"  heatmap: {out['plot']}")
    return 0

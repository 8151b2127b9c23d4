"""`mdm-ot tune`: tune the mask schedule for a step budget.

Two doors: a toy target (``--target``: today's exact grid / two-stage / gradient search,
in process) and a black-box study on Optuna (``--command CMD``: any model, resumable, many
workers; or ``--target`` with a study option such as ``--storage``, ``--out``, ``--two-stage``).
``--study NAME --report`` re-renders a study from its storage alone.
"""

from __future__ import annotations

import json
import math
import os
import sys

from mdm_ot.cli._args import integer, number, seed, write_json
from mdm_ot.cli._limits import (
    MAX_GRID_SIDE,
    MAX_HEARTBEAT,
    MAX_ITERATIONS,
    MAX_LENGTH,
    MAX_PROFILE_SAMPLES,
    MAX_RESTARTS,
    MAX_RETRIES,
    MAX_SAMPLES,
    MAX_STEPS,
    MAX_TEMPERATURE,
    MAX_TRIALS,
    MAX_WORKERS,
)

__all__ = ["register"]



def _grid_spec(text: str) -> str:
    """``--grid``: a grid spec whose axes have at most MAX_GRID_SIDE points each."""
    import argparse

    from mdm_ot.tuning import GRID_SPECS, parse_grid

    try:
        a, b = parse_grid(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}; allowed: {GRID_SPECS}") from None
    if max(len(a), len(b)) > MAX_GRID_SIDE:
        raise argparse.ArgumentTypeError(
            f"--grid {text!r} has {len(a)} x {len(b)} points; allowed: at most {MAX_GRID_SIDE} per axis")
    return text

# The options that make a --target run a study (the engine) instead of today's search, with
# their defaults.
_STUDY_OPTIONS = {"command": None, "storage": None, "study": None, "out": None, "report": False, "two_stage": False,
                  "trials": None, "baseline": [], "length": None, "workers": None, "worker_env": None, "retries": 0,
                  "trial_timeout": None, "direction": None, "fine_step": None, "heartbeat": 10}


def register(sub) -> None:
    from mdm_ot.tuning import GRID_SPECS

    t = sub.add_parser(
        "tune",
        help="tune the mask schedule (Beta family, free form) for a step budget; black-box studies of any model",
        description="Tune the Beta schedule alpha = sin^2(pi/2 I_t(a, b)) for K sampling steps. "
        "(1) A toy target, in process: --target modes|middle|markov:...|npy:FILE|energy[:GAMMA]|"
        "discrete-energy[:GAMMA] with --method grid|two-stage|gradient. "
        "(2) Any model, as an Optuna study: --command CMD runs CMD through the shell for each trial "
        "with the evaluation request as JSON on stdin and reads its last stdout line "
        "({\"score\": ...}); --grid (every point once), --sampler tpe|cmaes --trials N, --two-stage; "
        "stored in --storage (default: OUT/studies.db with --out, else ./mdm-ot-studies.db) under "
        "--study; re-running the same command resumes; several processes may run it at once. "
        "A --target with any study option runs through the same engine in process. "
        "(3) --study NAME --report: re-render a study from its storage.",
    )
    t.add_argument("--target", default=None,
                   help="a toy target: modes, middle, markov:..., npy:FILE, energy[:GAMMA], discrete-energy[:GAMMA]")
    t.add_argument("--command", default=None, metavar="CMD",
                   help="the evaluator: a shell command that reads one request (JSON) on stdin and prints "
                   "{\"score\": ...} as its last stdout line")
    t.add_argument("--steps", type=integer("--steps", 1, MAX_STEPS), default=None,
                   help=f"number of sampling steps K in [1, {MAX_STEPS}]")
    t.add_argument("--sampler", default=None, choices=("stochastic", "count", "tpe", "cmaes"),
                   help="tpe or cmaes: search (log a, log b) in the grid's box with --trials trials; "
                   "stochastic (default) or count: the toy target's sampler (ancestral or LLaDA steps)")
    t.add_argument("--order", default="random", choices=("random", "confidence"),
                   help="count steps: which positions (default random)")
    t.add_argument("--temperature", type=number("--temperature", 0.0, hi=MAX_TEMPERATURE), default=None,
                   help="temperature of the token draws (default: 0 with --order confidence, else 1)")
    t.add_argument("--metric", default="kl", choices=("kl", "kl-reverse", "tv", "invalid"),
                   help="kl = KL(q||p) (default), kl-reverse = KL(p||q), tv, invalid = mass off the support of q")
    t.add_argument("--grid", type=_grid_spec, default="paper", help=f"the grid (or the box of tpe/cmaes): {GRID_SPECS}")
    t.add_argument("--method", default="grid", choices=("grid", "two-stage", "gradient", "model-only"),
                   help="toy targets without a study option: grid (default), two-stage, gradient; model-only: "
                   "the schedule from the dependence profile alone, no evaluation (docs/model_only.md)")
    t.add_argument("--per-step", default="second-order", choices=("second-order", "exact"),
                   help="model-only: minimize the second-order step costs (default) or the exact chain-rule "
                   "terms (exact targets only)")
    t.add_argument("--model", default=None, choices=("antibody", "code"),
                   help="model-only with a real model instead of --target: estimate its dependence profile "
                   "by Monte Carlo (costs model calls, reported)")
    t.add_argument("--profile-samples", type=integer("--profile-samples", 2, MAX_PROFILE_SAMPLES), default=256,
                   help=f"--model: Monte-Carlo samples of the path for the profile, in [1, {MAX_PROFILE_SAMPLES}] "
                   "(default 256)")
    t.add_argument("--coarse-size", type=integer("--coarse-size", 1, MAX_SAMPLES), default=64,
                   help="two-stage: items per schedule in the coarse pass (default 64)")
    t.add_argument("--fine-size", type=integer("--fine-size", 1, MAX_SAMPLES), default=1024,
                   help="two-stage: items per schedule in the fine pass (default 1024)")
    t.add_argument("--top-k", type=integer("--top-k", 1, MAX_GRID_SIDE ** 2), default=10, help="two-stage: shortlist size (default 10)")
    t.add_argument("--iterations", type=integer("--iterations", 1, MAX_ITERATIONS), default=100,
                   help="gradient: evaluations per start (default 100)")
    t.add_argument("--learning-rate", type=number("--learning-rate", strict=True), default=0.1,
                   help="gradient: Adam step size in log-parameter space (default 0.1)")
    t.add_argument("--restarts", type=integer("--restarts", 0, MAX_RESTARTS), default=0, help="gradient: extra random starts (default 0)")
    t.add_argument("--free-form", action="store_true",
                   help="also tune a free-form schedule on the K-step grid (differentiable objectives), "
                   "to see how far the best Beta schedule is from the best of any shape")
    t.add_argument("--seed", type=seed(), default=0,
                   help="seed of subsets, restarts and samplers (default 0)")
    t.add_argument("--json", action="store_true", help="one JSON object on stdout")
    t.add_argument("--plot", metavar="FILE.png", default=None,
                   help="toy search: save a heatmap of the objective over (a, b) with the best point marked")
    s = t.add_argument_group("study options (Optuna)")
    s.add_argument("--two-stage", action="store_true",
                   help="the paper's protocol: every grid point on --coarse-size items, the --top-k best and "
                   "their neighbours at +---fine-step on --fine-size items; Kendall's tau between the passes")
    s.add_argument("--fine-step", type=number("--fine-step", 0.0), default=None,
                   help="two-stage: the neighbourhood of each shortlisted point (default: half the grid step; "
                   "0: the shortlist only)")
    s.add_argument("--trials", type=integer("--trials", 1, MAX_TRIALS), default=None,
                   help="tpe/cmaes: trials in all (default 20)")
    s.add_argument("--direction", default=None, choices=("minimize", "maximize"),
                   help="is a smaller or a larger score better (default minimize; a toy target's own)")
    s.add_argument("--baseline", action="append", default=[], metavar="SPEC",
                   help="another baseline schedule besides linear, sin and sin2 (repeatable)")
    s.add_argument("--length", type=integer("--length", 1, MAX_LENGTH), default=None,
                   help="sequence length L: the requests carry tokens_per_step (count samplers)")
    s.add_argument("--storage", default=None, metavar="URL",
                   help="SQLAlchemy URL of the study's database: sqlite:///FILE, postgresql://..., mysql://... "
                   "(default: OUT/studies.db with --out, else ./mdm-ot-studies.db)")
    s.add_argument("--study", default=None, metavar="NAME", help="the study's name (default mdm-ot)")
    s.add_argument("--workers", type=integer("--workers", 1, MAX_WORKERS), default=None,
                   help="evaluations at once in this process (default 1, or one per --worker-env group)")
    s.add_argument("--worker-env", default=None, metavar="'VAR=V;VAR=W'",
                   help="one environment per worker, groups separated by ';', assignments by spaces, "
                   "e.g. 'CUDA_VISIBLE_DEVICES=0;CUDA_VISIBLE_DEVICES=1'")
    s.add_argument("--trial-timeout", type=number("--trial-timeout", strict=True), default=None, metavar="S",
                   help="--command: seconds before an evaluation is killed and its trial failed")
    s.add_argument("--retries", type=integer("--retries", 0, MAX_RETRIES), default=0,
                   help="how many times a failed trial is run again (default 0)")
    s.add_argument("--heartbeat", type=integer("--heartbeat", 1, MAX_HEARTBEAT), default=10,
                   help="seconds between heartbeats; a trial silent for 2 heartbeats + 2 s had its worker die "
                   "and is run again (default 10)")
    s.add_argument("--out", default=None, metavar="DIR",
                   help="write result.json, summary.md and heatmap.png there (and the default database)")
    s.add_argument("--report", action="store_true", help="re-render --study from --storage, evaluating nothing")
    t.set_defaults(func=_cmd_tune)


# ----------------------------------------------------------------------------- dispatch


def _is_study(args) -> bool:
    return args.sampler in ("tpe", "cmaes") or any(getattr(args, k) != v for k, v in _STUDY_OPTIONS.items())


def _cmd_tune(args) -> int:
    if args.report:
        return _cmd_report(args)
    if args.model is not None:
        return _cmd_model(args)
    if args.method != "model-only" and (args.per_step != "second-order" or args.profile_samples != 256):
        raise ValueError("--per-step / --profile-samples: only with --method model-only")
    if (args.target is None) == (args.command is None):
        raise ValueError("tune: give exactly one of --target (a toy target) and --command (your evaluator), "
                         "or --study NAME --report")
    if args.steps is None:
        raise ValueError("--steps: required (the number of sampling steps K >= 1)")
    if args.command is not None or _is_study(args):
        return _cmd_study(args)
    return _cmd_toy(args)


def _fmt(v, none="+inf"):
    return none if v is None else f"{v:.6g}"


# ----------------------------------------------------------------------------- a study


def _study_kwargs(args) -> dict:
    from mdm_ot.tuning import DEFAULT_BASELINES

    if args.method != "grid":
        raise ValueError(f"--method {args.method}: a study takes --two-stage or --sampler tpe|cmaes, not --method")
    if args.plot is not None or args.free_form:
        raise ValueError("--plot / --free-form belong to the toy search; a study writes its heat map with --out")
    if args.trial_timeout is not None and args.command is None:
        raise ValueError("--trial-timeout: only a --command evaluator can be timed out")
    workers = args.workers
    if workers is None:
        workers = 1 if args.worker_env is None else args.worker_env.count(";") + 1
    return dict(grid=args.grid, sampler=args.sampler if args.sampler in ("tpe", "cmaes") else "grid",
                trials=args.trials, direction=args.direction, two_stage=args.two_stage,
                coarse_size=args.coarse_size, fine_size=args.fine_size, top_k=args.top_k, fine_step=args.fine_step,
                baselines=[*DEFAULT_BASELINES, *args.baseline], length=args.length, seed=args.seed,
                study=args.study or "mdm-ot", workers=workers, worker_env=args.worker_env,
                trial_timeout=args.trial_timeout, retries=args.retries, heartbeat=args.heartbeat)


def _evaluator(args):
    if args.command is not None:
        if args.sampler in ("stochastic", "count") or args.order != "random" or args.temperature is not None \
                or args.metric != "kl":
            raise ValueError("--sampler stochastic|count, --order, --temperature, --metric: toy-target options; "
                             "your --command evaluates the schedule itself")
        return args.command
    from mdm_ot.tuning import make_objective, objective_evaluator, parse_target

    objective = make_objective(parse_target(args.target), args.steps,
                               sampler=args.sampler if args.sampler in ("stochastic", "count") else "stochastic",
                               order=args.order, temperature=args.temperature, metric=args.metric)
    return objective_evaluator(objective)


def _cmd_study(args) -> int:
    import optuna

    from mdm_ot._io import check_output_dir
    from mdm_ot.tuning import check_study, default_storage, run_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our progress lines instead
    kwargs = _study_kwargs(args)
    evaluate = _evaluator(args)
    if args.out is not None:
        check_output_dir(args.out)
    # everything is checked before anything is written (the default database lives in --out)
    check_study(evaluate, args.steps, storage=args.storage, **kwargs)
    storage = default_storage(args.out) if args.storage is None else args.storage
    if args.out is not None:
        os.makedirs(args.out, exist_ok=True)
    out = run_study(evaluate, args.steps, storage=storage, progress=True, **kwargs)
    return _emit(out, args)


def _cmd_report(args) -> int:
    import optuna

    from mdm_ot._io import check_output_dir
    from mdm_ot.tuning import default_storage, study_report

    if args.study is None:
        raise ValueError("--report: give --study NAME (and --storage URL unless it is the default)")
    if args.target is not None or args.command is not None:
        raise ValueError("--report: renders a stored study; drop --target / --command")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.out is not None:
        check_output_dir(args.out)
    storage = args.storage or default_storage(args.out)
    if args.storage is None and not os.path.exists(storage.split("///", 1)[1]):
        raise ValueError(f"--storage: no database at {storage} (give --storage URL)")
    out = study_report(storage, args.study)
    if args.out is not None:
        os.makedirs(args.out, exist_ok=True)
    return _emit(out, args)


# ----------------------------------------------------------------------------- output


def _emit(out: dict, args) -> int:
    if args.out is not None:
        _write_out(out, args.out)
    if args.json:
        write_json(out, allow_nan=False)
    else:
        sys.stdout.write(_summary(out))
    return 0


def _score(x) -> str:
    return "n/a" if x is None else f"{x:.6g}"


def _summary(out: dict) -> str:
    """The markdown summary (also the text output)."""
    s = out["settings"]
    b = out["best"]
    lines = [f"# Schedule study `{out['study']}`", "",
             f"K = {s['steps']} steps, {s['direction']} the score; search: "
             + (f"{s['mode']} ({s['trials']} trials) in the box of grid {s['grid']}" if s["mode"] != "grid"
                else f"grid {s['grid']}" + (" with the two-stage protocol" if s["two_stage"] else "")),
             f"evaluator: `{s['evaluator']}`", ""]
    if b["schedule"] is None:
        lines.append(f"**best**: none ({b.get('score_reason')})")
    else:
        lines.append(f"**best**: `{b['schedule']}` (a = {b['a']:g}, b = {b['b']:g}), score {_score(b['score'])}, "
                     f"{b['model_calls']} model calls" + (f" (stage {b['stage']}, {b['subset_size']} items)"
                                                          if b.get("subset_size") else ""))
    ts = out.get("two_stage")
    if ts is not None:
        tau = ts["kendall_tau"]
        lines.append(f"two-stage: shortlist of {len(ts['shortlist'])}, {ts['num_candidates']} fine candidates "
                     f"(step {ts['fine_step']:g}); Kendall tau coarse vs fine over the shortlist = "
                     + (f"{tau:.3f}" if tau is not None else f"undefined ({ts['kendall_tau_reason']})"))
    lines += ["", "| baseline | score | model calls |", "|---|---|---|"]
    for r in out["baselines"]:
        lines.append(f"| `{r['schedule']}` | {_score(r['score'])}"
                     + (f" ({r['score_reason']})" if r["score"] is None else "") + f" | {r['model_calls']} |")
    lines += ["", "| stage | study | items | complete | failed | pending |", "|---|---|---|---|---|---|"]
    for st in out["stages"]:
        lines.append(f"| {st['stage']} | `{st['study']}` | {st.get('subset_size') or 'all'} | {st['complete']} "
                     f"| {st['failed']} | {st['pending']} |")
    failed = [t for t in out["trials"] if t["state"] == "FAIL"]
    if failed:
        lines += ["", f"{len(failed)} failed trials (never scored), e.g. trial {failed[0]['number']} of "
                  f"`{failed[0]['study']}`: {failed[0]['fail_reason']}"]
    return "\n".join(lines) + "\n"


def _write_out(out: dict, folder: str) -> None:
    """result.json, summary.md and heatmap.png, each complete or absent (the study's
    database may share the folder, so the folder is not swapped as a whole)."""
    from mdm_ot._io import atomic_file

    with atomic_file(os.path.join(folder, "result.json")) as fh:
        json.dump(out, fh, allow_nan=False, indent=1)
        fh.write("\n")
    with atomic_file(os.path.join(folder, "summary.md")) as fh:
        fh.write(_summary(out))
    grid = out.get("grid")
    if grid is not None and out["best"]["schedule"] is not None:
        import numpy as np

        from mdm_ot._plotting import pyplot
        from mdm_ot.tuning import Best, GridResult, plot_grid

        vals = np.array([[math.nan if v is None else v for v in row] for row in grid["scores"]], float)
        b = out["best"]
        best = b if grid["stage"] != "coarse" else None
        s = out["settings"]
        res = GridResult(np.asarray(grid["a"]), np.asarray(grid["b"]), vals,
                         Best(b["a"], b["b"], math.nan if best is None else best["score"]),
                         {"maximize": s["direction"] == "maximize",
                          "label": "score" if grid["stage"] == "full" else f"coarse score ({s['coarse_size']} items)"})
        title = f"study {out['study']}, K={s['steps']}: {grid['stage']} scores"
        with atomic_file(os.path.join(folder, "heatmap.png"), "wb") as fh:
            fig = plot_grid(res, title=title)
            fig.tight_layout()
            fig.savefig(fh, format="png", dpi=120)
            pyplot().close(fig)


# ----------------------------------------------------------------------------- model-only


def _cmd_model(args) -> int:
    """``--model antibody|code --method model-only``: the profile from the model, then the grid."""
    if args.method != "model-only":
        raise ValueError(f"--model: only with --method model-only (got --method {args.method})")
    if args.target is not None or args.command is not None or _is_study(args):
        raise ValueError("--model: the model is the target; drop --target, --command and the study options")
    if args.steps is None:
        raise ValueError("--steps: required (the number of sampling steps K >= 1)")
    if args.per_step != "second-order":
        raise ValueError("--per-step exact: needs an exact target (--target); a model's profile is second-order")
    if args.order != "random" or args.temperature is not None or args.metric != "kl" or args.free_form \
            or args.plot is not None:
        raise ValueError("--order, --temperature, --metric, --free-form, --plot: not with --model")
    from mdm_ot.experiments.model_only import model_profile
    from mdm_ot.tuning import tune

    profile = model_profile(args.model, num_samples=args.profile_samples, seed=args.seed,
                            progress=not args.json and sys.stderr.isatty())
    sampler = args.sampler if args.sampler in ("stochastic", "count") else None
    out = tune(profile, "model-only", steps=args.steps, sampler=sampler)
    out["settings"]["model"] = args.model
    out["settings"]["profile_samples"] = args.profile_samples
    return _emit_model_only(out, args)


def _emit_model_only(out: dict, args) -> int:
    if args.json:
        write_json(out, allow_nan=False)
        return 0
    s = out["settings"]
    print(f"model-only schedule ({s['per_step']} steps), K = {s['steps']}, {out['sampler']} sampler: "
          f"{out['objective_evaluations']} objective evaluations, {out['profile_model_calls']} model calls "
          f"for the profile ({out['profile']['method']})")
    print("  alpha on the grid: " + " ".join(f"{a:.4f}" for a in out["alpha_grid"]))
    if out["tokens_per_step"] is not None:
        print("  tokens per step: " + " ".join(str(c) for c in out["tokens_per_step"]))
    print(f"  sampler model calls: {out['model_calls']}; predicted path KL {_fmt(out['predicted_path_kl'])}")
    if out["info"].get("note"):
        print(f"  note: {out['info']['note']}")
    if "after_the_fact" in out:
        a = out["after_the_fact"]
        print(f"  after the fact (not used for the choice): {a['label']} = {_fmt(a['value'])}, "
              f"exact path KL = {_fmt(a['chain_rule_path_kl'])}")
    return 0


# ----------------------------------------------------------------------------- a toy target


def _cmd_toy(args) -> int:
    from mdm_ot.tuning import tune_target

    out = tune_target(args.target, args.steps, sampler=args.sampler or "stochastic", order=args.order,
                      temperature=args.temperature, metric=args.metric, grid=args.grid, method=args.method,
                      coarse_size=args.coarse_size, fine_size=args.fine_size, top_k=args.top_k,
                      iterations=args.iterations, learning_rate=args.learning_rate, restarts=args.restarts,
                      free_form=args.free_form, seed=args.seed, plot=args.plot,
                      progress=not args.json and sys.stderr.isatty(), per_step=args.per_step)
    if args.method == "model-only":
        return _emit_model_only(out, args)
    if args.json:
        write_json(out, allow_nan=False)
        return 0
    s = out["settings"]
    print(f"target {s['target']}, K = {args.steps}: {s['objective']} ({'maximize' if s['maximize'] else 'minimize'})")
    print(f"method {args.method}, grid {args.grid} ({s.get('grid_shape', ['?', '?'])[0]} x {s.get('grid_shape', ['?', '?'])[1]})")
    best = out["best"]
    print(f"  best: a = {best['a']:.4g}, b = {best['b']:.4g}, value = {_fmt(best['value'])}"
          + (f" (from {best['source']})" if "source" in best else ""))
    if "model_calls" in best:
        expected = f" (expected {best['expected_model_calls']:.3g})" if "expected_model_calls" in best else ""
        print(f"  model calls: {best['model_calls']}{expected}")
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

r"""The model-only schedule on the real models (issue 16; our construction, not the paper's):
AntiBERTy on CDR infilling and the shipped code-line model on next-line completion.

**The profile** (:func:`model_profile`): :func:`mdm_ot.model_only.monte_carlo_profile` on the
count path (mask sets of ``m = round(f n)`` of a row's ``n`` infilled positions, ``f`` in
:data:`FRACTIONS`), from the task's *unlabeled* inputs of the **tune** split: for AntiBERTy the
V domains of human heavy chains with their CDR1 and CDR2 residues masked (the ``cdr12`` task;
the framework residues are the context), for the code model a previous line (the prompt)
with the next line's 64 positions masked. The masked positions are first completed by the
model itself (one token per step, random order, temperature 1), so no label and no task
metric enters the profile: it is the model's own dependence along its own path.

**The comparison** (:func:`compare`), on the **test** split with each table's own scoring
(docs/results/antibody/, docs/results/code/): per sampler and K, the model-only grid
(:func:`mdm_ot.model_only.model_only`, the count split for the count sampler, the grid of
equal :math:`\Phi` increments for the stochastic one) against linear and against the tuned
Beta schedule that the committed table found (AntiBERTy: two-stage tuning per sampler and K;
code: at K = 8 with the count sampler, used at every K), all with the same masks, prompts and
keys (paired differences). The cost of each choice in model calls: the profile's own
(``Profile.model_calls``, once per model) against the tuning's (grid evaluations x samples x
K, from the committed table's settings; an upper bound, a count step that reveals nothing
is no call).

The derivation covers random-order count steps and stochastic steps with an exact denoiser;
the tables' count sampler is LLaDA's *confidence* order, which it does not cover (reported
as measured, labelled).

Reproduce: ``python -m mdm_ot.experiments.model_only.real --out docs/results/model_only``
(``--quick``: a few sequences, for tests).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

from mdm_ot.model_only import Profile, model_only, monte_carlo_profile
from mdm_ot.stats import mean_and_se

__all__ = ["MODELS", "FRACTIONS", "model_profile", "compare", "to_markdown", "plot", "write", "main"]

MODELS = ("antibody", "code")
#: masked fractions f of the profile's levels (alpha = 1 - f); the last two reach m = 2..4
#: masked residues of a 64-position line, where a count split's late steps live.
FRACTIONS = (1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0.0625, 0.03125)
_RESULTS = Path(__file__).resolve().parents[3] / "docs" / "results"


def _log(progress: bool) -> Callable[[str], None]:
    return (lambda s: print(s, file=sys.stderr, flush=True)) if progress else (lambda s: None)


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")


# ----------------------------------------------------------------------------- the inputs


def _antibody(split: str, n: int, seed: int, root=None):
    """AntiBERTy and ``(x, hidden)`` of ``n`` human-H V domains of a split (cdr12 task)."""
    from mdm_ot.experiments.antibody import data, fetch, table
    from mdm_ot.experiments.antibody.model import load_antiberty

    missing = fetch.missing_files(root)
    if missing:
        raise ValueError(f"antibody: {', '.join(missing)} not in the cache ({fetch.antibody_dir(root)}); "
                         "run `mdm-ot antibody fetch` first")
    den = load_antiberty(root)
    tune_r, test_r = data.split(data.v_domains(data.load_germlines(root), "human", "H"))
    recs = tune_r if split == "tune" else test_r
    # the antibody table's subsets: tune with seed, test with seed + 1 (table.antibody_table)
    s = table.prepare(recs, "cdr12", seed + (split == "test"), min(n, len(recs)), f"human-H {split}")
    return den, s.x, s.hidden


def _code(split: str, n: int, seed: int, checkpoint=None, params_config=None):
    """The code model's completion denoiser and ``[prompt | line]`` rows of a split."""
    from mdm_ot.experiments.codelines import data as codedata
    from mdm_ot.experiments.codelines import evaluate as ev

    params, config, _ = params_config if params_config is not None else ev.load_model(checkpoint)
    td = ev.task_data(codedata.load_dataset(), "completion", split, n, seed)
    return ev.CompletionDenoiser(params, config), td, config


def model_profile(model: str, *, num_samples: int = 64, seed: int = 0, progress: bool = False,
                  fractions=FRACTIONS, root=None, checkpoint=None, params_config=None) -> Profile:
    r"""The count-path Monte-Carlo profile of a real model from its task's unlabeled inputs
    (module docstring); what ``mdm-ot tune --method model-only --model antibody|code`` uses.

    Args:
      model: ``"antibody"`` (AntiBERTy, cdr12; needs ``mdm-ot antibody fetch``) or ``"code"``
        (the shipped code-line model, next-line completion).
      num_samples: samples per level (>= 2); the inputs are the first ``num_samples`` rows of
        the tune split (AntiBERTy has 154, cycled beyond that).
      seed: the inputs' subset and the Monte-Carlo key.
      progress: one line per stage on stderr.
      fractions: masked fractions of the levels (``alpha = 1 - f``).
      root, checkpoint, params_config: the AntiBERTy cache root; the code model's checkpoint
        or ``(params, config, meta)`` (tests).

    Returns:
      :class:`~mdm_ot.model_only.Profile` (``sampler="count"``, ``length`` the mean number of
      infilled positions), ``info`` naming the model, task, split and inputs.

    Raises:
      ValueError: an unknown model, bad sizes, or AntiBERTy not fetched.
    """
    _check_model(model)
    if not isinstance(num_samples, (int, np.integer)) or isinstance(num_samples, bool) or num_samples < 2:
        raise ValueError(f"num_samples must be an integer >= 2, got {num_samples!r}")
    log = _log(progress)
    levels = 1.0 - np.asarray(sorted({float(f) for f in fractions}, reverse=True), np.float64)
    key = jax.random.fold_in(jax.random.key(seed), 16)
    t0 = time.perf_counter()
    if model == "antibody":
        from mdm_ot.experiments.antibody.model import MASK_ID

        den, x, hidden = _antibody("tune", num_samples, seed, root)
        inputs, positions, what = np.where(hidden, MASK_ID, x), hidden, "AntiBERTy, cdr12 (CDR1+CDR2 masked)"
        batch = 32
    else:
        den, td, config = _code("tune", num_samples, seed, checkpoint, params_config)
        L = config.line_length
        inputs = np.concatenate([td.prompts, np.full_like(td.prompts, config.mask_id)], axis=1)
        positions = np.arange(2 * L) >= L
        what, batch = "code-line model, completion (prompt = previous line)", 64
    log(f"{model}: profile from {len(inputs)} unlabeled tune inputs, {len(levels)} levels, {num_samples} samples each")
    prof = monte_carlo_profile(den, inputs.astype(np.int32), levels, num_samples=int(num_samples), key=key,
                               sampler="count", positions=positions, batch_size=min(batch, len(inputs)))
    prof.info.update(model=model, task=what, split="tune", seed=int(seed), fractions=[float(1 - a) for a in levels],
                     seconds=round(time.perf_counter() - t0, 1))
    log(f"{model}: {prof.model_calls} model calls, {prof.info['seconds']} s")
    return prof


# ----------------------------------------------------------------------------- evaluation


def _grids(profile: Profile, k: int) -> dict:
    """The model-only grids at K: the count split and the stochastic grid."""
    out = {}
    for sampler in ("count", "stochastic"):
        mo = model_only(profile, k, sampler=sampler)
        out[sampler] = np.asarray(mo.alpha_grid, np.float64)
    return out


def _diff(a, b) -> list[float]:
    return list(mean_and_se(np.asarray(a) - np.asarray(b), by_row=True, se_of_one=0.0))


def _cell(values, calls: dict, ref: dict) -> dict:
    cell = {"metric": list(mean_and_se(values, by_row=True, se_of_one=0.0))} | calls
    cell |= {f"minus_{name}": _diff(values, v) for name, v in ref.items()}
    return cell


def _antibody_calls(mode: str, alphas: np.ndarray, counts_per_seq: np.ndarray) -> dict:
    from mdm_ot import sampling

    a = jax.numpy.asarray(alphas)
    n = jax.numpy.asarray(counts_per_seq.astype(np.int32))
    if mode == "count":
        c = np.asarray(sampling.model_calls(jax.vmap(sampling.transfer_counts, (None, 0))(a, n)).total)
        return {"model_calls": float(c.mean()), "model_calls_range": [int(c.min()), int(c.max())]}
    st = jax.vmap(sampling.stochastic_model_calls, (None, 0))(a, n)
    return {"model_calls": int(np.asarray(st.steps)[0]), "expected_model_calls": float(np.asarray(st.expected).mean())}


def _compare_antibody(profile, steps, n_test, seed, log, root=None) -> dict:
    from mdm_ot.experiments.antibody import tasks

    committed = json.loads((_RESULTS / "antibody" / "cdr12.json").read_text())
    cfg = committed["config"]
    den, x, hidden = _antibody("test", n_test, seed, root)
    key = jax.random.fold_in(jax.random.key(seed), 2)
    out: dict = {"metric": "recovery", "test": {"set": "human-H test", "n": int(len(x))}, "samplers": {}}
    for smp in tasks.SAMPLERS:
        smp = tasks.Sampler(smp.name, smp.mode, smp.order, smp.temperature, samples=1)
        per_k: dict = {}
        for k in steps:
            tuned = committed["tuned"][smp.name][str(k)]
            al, om = tasks.alphas_on_grid(["linear"], k)
            ta, to = tasks.beta_alphas_on_grid(tuned["a"], tuned["b"], k)
            mo = _grids(profile, k)["count" if smp.mode == "count" else "stochastic"]
            alpha = np.concatenate([al, ta, mo[None]])
            omega = np.concatenate([om, to, 1.0 - mo[None]])
            t1 = time.perf_counter()
            rec = tasks.recovery(tasks.infill(den, smp, alpha, omega, x, hidden, key, batch_size=32), x, hidden)
            names = ("linear", f"tuned beta:{tuned['a']:g},{tuned['b']:g}", "model-only")
            ref = {"linear": rec[0], "tuned": rec[1]}
            # the tuning's cost: every stage's points x sequences x samples x K (an upper bound)
            cost = (len(tuned["stage1"]) * cfg["stage1_size"] + len(tuned["stage2"]) * cfg["stage2_size"]) \
                * cfg["samplers"][[s["name"] for s in cfg["samplers"]].index(smp.name)]["samples"] * k
            per_k[str(k)] = {
                "rows": {nm: _cell(rec[r], _antibody_calls(smp.mode, alpha[r], hidden.sum(1)), ref)
                         for r, nm in enumerate(names)},
                "alpha_grid": {"model-only": mo.tolist()},
                "choice_calls": {"tuned": int(cost), "model-only": int(profile.model_calls)},
            }
            log(f"  antibody {smp.name} K={k}: {time.perf_counter() - t1:.0f} s")
        out["samplers"][smp.name] = per_k
    out["tuning"] = {"protocol": "two-stage, per sampler and K (docs/results/antibody/cdr12.json)",
                     "coarse_points": len(cfg["coarse"]) ** 2, "stage1_size": cfg["stage1_size"],
                     "stage2_size": cfg["stage2_size"]}
    return out


def _tabulated(alpha_grid):
    from mdm_ot import sampling
    from mdm_ot.schedules import TabulatedSchedule

    grid = sampling.default_grid(len(alpha_grid) - 1)
    a = np.asarray(alpha_grid, np.float64)
    return TabulatedSchedule(grid, jax.numpy.asarray(a, grid.dtype), jax.numpy.asarray(1.0 - a, grid.dtype))


def _compare_code(profile, steps, n_test, seed, log, checkpoint=None, params_config=None) -> dict:
    from mdm_ot import sampling
    from mdm_ot.experiments.codelines import evaluate as ev
    from mdm_ot.experiments.codelines.table import SAMPLER_SETTINGS

    committed = json.loads((_RESULTS / "code" / "table.json").read_text())
    s, tuning = committed["settings"], committed["tuning"]["completion"]
    tuned_spec = tuning["best"]["spec"]
    params, config, _ = params_config if params_config is not None else ev.load_model(checkpoint)
    _, td, _ = _code("test", n_test, seed, params_config=(params, config, {}))
    L = config.line_length
    cost = (len(tuning["grid"]) * s["tune_small"] + len(tuning["stage2"]) * s["tune_large"]) * tuning["steps"]
    out: dict = {"metric": "similarity", "test": {"set": "completion test", "n": int(n_test)}, "samplers": {}}
    for si, (sname, sset) in enumerate(SAMPLER_SETTINGS.items()):
        per_k: dict = {}
        for k in steps:
            mo = _grids(profile, k)[sname]
            key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), 2 + si), k)
            t1 = time.perf_counter()
            sims, calls = {}, {}

            def run(name, sch, kk, _key=key, _sset=sset, _sname=sname, _sims=sims, _calls=calls):
                r = ev.evaluate_cell(params, config, sch, _key, td, num_samples=n_test, num_steps=kk,
                                     return_lines=True, **_sset)
                _sims[name] = np.array([ev.similarity(g, t) for g, t in zip(r["lines"], td.references, strict=True)])
                c = sampling.sampler_model_calls(ev.on_grid(sch, kk), L, kk, sampler=_sname)
                _calls[name] = {kk_: v for kk_, v in c.items() if kk_ in ("model_calls", "expected_model_calls")}

            run("linear", ev.schedule_from("linear"), k)
            run(f"tuned {tuned_spec}", ev.schedule_from(tuned_spec), k)
            run("model-only", _tabulated(mo), k)
            m = calls[f"tuned {tuned_spec}"]["model_calls"]
            if sname == "count" and m < k:
                # at equal model calls: the tuned schedule's empty steps make it an m-call sampler
                run(f"model-only, K={m}", _tabulated(_grids(profile, m)[sname]), m)
                run(f"linear, K={m}", ev.schedule_from("linear"), m)
            names = list(sims)
            ref = {"linear": sims[names[0]], "tuned": sims[names[1]]}
            per_k[str(k)] = {
                "rows": {nm: _cell(sims[nm], calls[nm], ref) for nm in names},
                "alpha_grid": {"model-only": mo.tolist()},
                "choice_calls": {"tuned": int(cost), "model-only": int(profile.model_calls)},
            }
            log(f"  code {sname} K={k}: {time.perf_counter() - t1:.0f} s")
        out["samplers"][sname] = per_k
    out["tuning"] = {"protocol": f"two-stage at K = {tuning['steps']}, count sampler, confidence order "
                                 "(docs/results/code/table.json), the same schedule at every K and for both samplers",
                     "coarse_points": len(tuning["grid"]), "stage1_size": s["tune_small"],
                     "stage2_points": len(tuning["stage2"]), "stage2_size": s["tune_large"]}
    return out


def compare(models=MODELS, *, profile_samples: int = 64, n_test: int = 64, steps=(2, 4, 8), code_steps=(4, 8, 16),
            seed: int = 0, progress: bool = False, antibody_profile_samples: int | None = None,
            antibody_test: int | None = None, root=None, checkpoint=None, params_config=None) -> dict:
    """Profiles and the test-split comparison for each model (module docstring); JSON-ready.

    ``steps``: AntiBERTy's K (its table has 2..32); ``code_steps``: the code model's (4..64).
    ``antibody_profile_samples``, ``antibody_test``: smaller sizes for AntiBERTy (a forward
    pass of the 26 M-parameter BERT on a V domain costs about 0.2 s of one CPU core).
    Each model's numbers depend only on its own settings and ``seed``.
    """
    log = _log(progress)
    result: dict = {"settings": {"models": list(models), "profile_samples": profile_samples, "n_test": n_test,
                                 "steps": list(steps), "code_steps": list(code_steps), "seed": seed, "fractions": list(FRACTIONS),
                                 "antibody_profile_samples": antibody_profile_samples or profile_samples,
                                 "antibody_test": antibody_test or n_test}, "models": {}}
    t0 = time.perf_counter()
    for model in models:
        _check_model(model)
        ab = model == "antibody"
        samples = (antibody_profile_samples or profile_samples) if ab else profile_samples
        prof = model_profile(model, num_samples=samples, seed=seed, progress=progress, root=root,
                             checkpoint=checkpoint, params_config=params_config)
        if ab:
            cmp = _compare_antibody(prof, steps, antibody_test or n_test, seed, log, root)
        else:
            cmp = _compare_code(prof, code_steps, n_test, seed, log, checkpoint, params_config)
        result["models"][model] = {"profile": prof.to_dict(), **cmp}
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


# ----------------------------------------------------------------------------- output


def _fmt(v) -> str:
    return f"{v[0]:+.3f} ± {v[1]:.3f}"


def to_markdown(result: dict) -> str:
    """The measured tables (generated; the discussion lives in real_models.md)."""
    lines = []
    for model, r in result["models"].items():
        p = r["profile"]
        lines += [f"## {model}: {p['info'].get('task', '')}", "",
                  f"Profile: {p['model_calls']} model calls ({p['info']['completion_calls']} to complete "
                  f"{p['info']['inputs']} unlabeled tune inputs, the rest 2 per sample), "
                  f"{p['info']['samples_per_level']} samples per level, n = {p['length']} infilled positions "
                  f"(range {p['info']['infilled_per_input']}).", "",
                  "| alpha | P(alpha) nats | c(alpha) |", "|---|---|---|"]
        for a, pv, se, c in zip(p["levels"], p["pair_dependence"], p["stderr"], p["c"], strict=True):
            lines.append(f"| {a:.4f} | {pv:.4f} ± {se:.4f} | {c:.3f} |")
        lines += ["", f"Test set {r['test']['set']}, n = {r['test']['n']}; metric: {r['metric']} "
                  "(mean ± standard error; differences paired: same masks or prompts and keys).", ""]
        for sampler, per_k in r["samplers"].items():
            lines += [f"### {model}, {sampler}", "",
                      "| K | schedule | " + r["metric"] + " | minus linear | minus tuned | model calls per sample "
                      "| calls to choose it |", "|---|---|---|---|---|---|---|"]
            for k, cell in per_k.items():
                for name, row in cell["rows"].items():
                    calls = row["model_calls"] if "expected_model_calls" not in row else \
                        f"{row['model_calls']} ({row['expected_model_calls']:.2f} expected)"
                    choose = "0" if name.startswith("linear") else str(
                        cell["choice_calls"]["tuned" if name.startswith("tuned") else "model-only"])
                    if name.startswith("tuned"):
                        choose = f"≤ {choose}"
                    lines.append(f"| {k} | {name} | {row['metric'][0]:.3f} ± {row['metric'][1]:.3f} | "
                                 f"{_fmt(row['minus_linear'])} | {_fmt(row['minus_tuned'])} | {calls} | {choose} |")
                grid = ", ".join(f"{a:.3f}" for a in cell["alpha_grid"]["model-only"])
                lines.append(f"| {k} | model-only alpha grid | {grid} | | | | |")
            lines.append("")
        lines += [f"Tuning: {r['tuning']['protocol']}.", ""]
    return "\n".join(lines)


def _profile_of(p: dict) -> Profile:
    return Profile(levels=np.asarray(p["levels"]), pair_dependence=np.asarray(p["pair_dependence"]),
                   stderr=np.asarray(p["stderr"]), sampler=p["sampler"], length=p["length"],
                   model_calls=p["model_calls"], method=p["method"], info=p["info"])


def plot(result: dict, path) -> Path:
    r"""Each model's c(alpha) with error bars (one standard error) against the paper's
    :math:`1/(\alpha(1-\alpha))`, each scaled to :math:`\int_0^1 \sqrt{c} = 1` (the schedule
    depends on c only up to a factor; the paper's curve becomes :math:`1/(\pi^2\alpha(1-\alpha))`);
    log scale; a lower bar that would reach 0 is cut at 1 % of the value."""
    from mdm_ot._io import atomic_file
    from mdm_ot._plotting import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    fine = np.linspace(0.0, 1.0, 4001)
    for model, r in result["models"].items():
        prof = _profile_of(r["profile"])
        lv = np.asarray(prof.levels)
        scale = float(np.trapezoid(np.sqrt(prof.c_at(fine)), fine)) ** 2
        keep = lv < 1
        c = prof.c[keep] / scale
        se = np.asarray(prof.stderr)[keep] / (1 - lv[keep]) ** 2 / scale
        ax.errorbar(lv[keep], c, yerr=[np.minimum(se, 0.99 * c), se], marker="o", ms=3, capsize=2,
                    label=f"{model} ({prof.model_calls} model calls)")
    inner = fine[(fine > 0) & (fine < 1)]
    ax.plot(inner, 1 / (np.pi**2 * inner * (1 - inner)), "--", color="k", label="paper: 1/(pi^2 alpha (1 - alpha))")
    ax.set_yscale("log")
    ax.set_xlabel("alpha (fraction unmasked)")
    ax.set_ylabel("c(alpha), scaled to int sqrt(c) = 1")
    ax.set_title("dependence profiles of the real models (count path, Monte Carlo)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    try:
        with atomic_file(str(path), "wb") as fh:
            fig.savefig(fh, format="png", dpi=120)
    finally:
        plt.close(fig)
    return path


def write(result: dict, out_dir) -> dict[str, str]:
    """``real_models.json``, ``real_models_tables.md`` and ``real_models.png`` (:func:`plot`),
    each atomically."""
    from mdm_ot._io import atomic_file

    text = json.dumps(result, indent=1, allow_nan=False)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "real_models.json", "md": out / "real_models_tables.md", "png": out / "real_models.png"}
    with atomic_file(str(paths["json"])) as fh:
        fh.write(text)
    with atomic_file(str(paths["md"])) as fh:
        fh.write(to_markdown(result))
    plot(result, paths["png"])
    return {k: str(v) for k, v in paths.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mdm_ot.experiments.model_only.real", description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="folder for real_models.json, real_models_tables.md, PNGs")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated: antibody, code")
    ap.add_argument("--profile-samples", type=int, default=128)
    ap.add_argument("--test", type=int, default=64, help="test sequences / prompts")
    ap.add_argument("--antibody-profile-samples", type=int, default=None, help="AntiBERTy's (default --profile-samples)")
    ap.add_argument("--antibody-test", type=int, default=None, help="AntiBERTy's (default --test)")
    ap.add_argument("--steps", default="2,4,8", help="AntiBERTy's K")
    ap.add_argument("--code-steps", default="4,8,16", help="the code model's K")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="8 profile samples, 8 test inputs, K = 4 (a smoke run)")
    args = ap.parse_args(argv)
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    steps = tuple(int(k) for k in args.steps.split(","))
    code_steps = tuple(int(k) for k in args.code_steps.split(","))
    if args.quick:
        args.profile_samples, args.test, steps, code_steps = 8, 8, (4,), (4,)
        args.antibody_profile_samples = args.antibody_test = None
    result = compare(models, profile_samples=args.profile_samples, n_test=args.test, steps=steps,
                     code_steps=code_steps, seed=args.seed, progress=True,
                     antibody_profile_samples=args.antibody_profile_samples, antibody_test=args.antibody_test)
    for kind, path in write(result, args.out).items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

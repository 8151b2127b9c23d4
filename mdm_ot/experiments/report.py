r"""``mdm-ot reproduce``: the report folder (``report.md``, PNG figures, ``results.json``).

Sections, in order:

1. the paper's statements checked on random cases (:mod:`mdm_ot.experiments.theorems`);
2. the energy landscape of the Beta family over (a, b) with the theoretical minima marked
   (the paper's Figure 2), for :math:`\gamma = t` and :math:`\gamma = I_t(1/2, 1/2)`;
3. schedule curves, tokens per step and model calls of a LLaDA-style count sampler;
4. the Figure-4 toy (n = 5, d = 2, 3 steps) with every sampler: exact output
   distributions and divergences, model calls beside K, and each schedule against linear
   at equal model calls (count sampler; docs/sampling.md, "Model calls");
5. schedules tuned per target and step budget against the hand-made baselines;
6. (``--full`` only) the code-line model's table and the antibody table, where available.

References:
  arXiv:2509.13866: Figure 2, Figure 4, Appendix E.1, Tables 1-3.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from mdm_ot._io import atomic_dir, check_output_dir
from mdm_ot._plotting import pyplot
from mdm_ot.schedules import PAPER_BASELINES, BetaCDF, Identity, beta_schedule, parse_alpha

__all__ = ["reproduce", "SAMPLERS"]

#: (label, sampler, order, temperature) of the samplers the toy section compares.
SAMPLERS = (
    ("stochastic", "stochastic", "random", 1.0),
    ("count, random order", "count", "random", 1.0),
    ("count, low-confidence order (T=0)", "count", "confidence", 0.0),
)


def _fmt(x, digits=4):
    if x is None:
        return "inf"
    if isinstance(x, float) and not math.isfinite(x):
        return "inf"
    return f"{x:.{digits}g}"


def _finite(x):
    x = float(x)
    return x if math.isfinite(x) else None




# ------------------------------------------------------------------------------ sections


def _section_theorems(out, quick):
    from mdm_ot.experiments.theorems import run_all

    res = run_all(seed=0, cases=1 if quick else 4)
    md = ["## 1. The paper's statements, checked numerically", "",
          "Brute force over the state space against the reduced formulas and closed forms "
          f"(seed {res['seed']}, relative deviations; `mdm-ot theorems` draws fresh cases; the "
          "property-based versions with hypotheses dropped are `pytest paper_checks`).", "",
          "| statement | reference | cases | worst deviation | verdict |", "|---|---|---|---|---|"]
    for r in res["checks"]:
        md.append(f"| {r['statement']} | {r['reference']} | {r['cases']} | "
                  f"{_fmt(r['worst_deviation'], 2)} | {r['verdict']} |")
    return res, md


def _section_landscape(out, quick):
    from mdm_ot.energies import reduced_energy

    plt = pyplot()
    side = 16 if quick else 56
    grid = np.linspace(0.1, 3.0, side)
    A, B = np.meshgrid(grid, grid, indexing="ij")
    panels = (("t", Identity(), (1.0, 1.0), "sin$^2$ = Beta(1,1)"),
              ("beta:0.5,0.5", BetaCDF(0.5, 0.5), (0.5, 0.5), "linear = Beta(1/2,1/2)"))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    res = {}
    for ax, (name, gamma, star, star_label) in zip(axes, panels, strict=True):
        f = jax.jit(jax.vmap(lambda a, b, g=gamma: reduced_energy(beta_schedule(a, b), g).value))
        E = np.asarray(f(jnp.asarray(A.ravel()), jnp.asarray(B.ravel()))).reshape(A.shape)
        fin = np.isfinite(E)
        i, j = np.unravel_index(np.argmin(np.where(fin, E, np.inf)), E.shape)
        e_star = float(reduced_energy(beta_schedule(*star), gamma).value)
        res[name] = {"grid_min": {"a": float(grid[i]), "b": float(grid[j]), "e": float(E[i, j])},
                     "theory_min": {"a": star[0], "b": star[1], "e": e_star},
                     "finite_fraction": float(fin.mean())}
        im = ax.pcolormesh(grid, grid, np.log10(np.where(fin, E, np.nan)).T, shading="auto",
                           cmap="viridis", vmax=np.log10(6 * math.pi**2))
        fig.colorbar(im, ax=ax, label=r"$\log_{10} e$  (white: $+\infty$)")
        ax.plot(*star, "r*", ms=14, label=f"theory: $\\pi^2$ at {star_label}")
        ax.plot(grid[i], grid[j], "wx", ms=8, label="grid minimum")
        ax.set_title(rf"$e(\alpha_{{a,b}}, \gamma)$, $\gamma$ = {name}")
        ax.set_xlabel("a")
        ax.set_ylabel("b")
        ax.legend(loc="upper right", fontsize=7)
    fig.suptitle(r"Energy of $\alpha = \sin^2(\frac{\pi}{2} I_t(a,b))$: minimum $\pi^2$ exactly where "
                 r"$\alpha = \sin^2(\frac{\pi}{2}\gamma)$")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "energy_landscape.png"), dpi=110)
    plt.close(fig)
    md = ["## 2. Energy landscape of the Beta family", "",
          "![energy landscape](energy_landscape.png)", "",
          "| gamma | theory: minimum at | e there | grid minimum at | e there | finite part of grid |",
          "|---|---|---|---|---|---|"]
    for name, r in res.items():
        t, g = r["theory_min"], r["grid_min"]
        md.append(f"| {name} | ({t['a']}, {t['b']}) | {t['e']:.12g} | ({g['a']:.3g}, {g['b']:.3g}) | "
                  f"{g['e']:.6g} | {r['finite_fraction']:.2f} |")
    md += ["", f"pi^2 = {math.pi**2:.12g}. With gamma = t the energy is finite iff a, b > 1/2."]
    return res, md


def _section_schedules(out, quick, extra_specs=()):
    from mdm_ot.sampling import num_transfer_tokens, sampler_model_calls

    plt = pyplot()
    specs = list(PAPER_BASELINES) + [s for s in extra_specs if s not in PAPER_BASELINES]
    length, steps = 256, 16
    t = jnp.linspace(0.0, 1.0, 201)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    counts, calls = {}, {}
    width = 0.8 / len(specs)
    for k, s in enumerate(specs):
        sched = parse_alpha(s)
        ax1.plot(t, sched(t), label=s)
        c = np.asarray(num_transfer_tokens(sched, length, steps)).astype(int)
        counts[s] = c.tolist()
        calls[s] = sampler_model_calls(sched, length, steps)["model_calls"]
        ax2.bar(np.arange(1, steps + 1) + (k - len(specs) / 2 + 0.5) * width, c, width=width, label=s)
    ax1.set_xlabel("t (0 = all masked)")
    ax1.set_ylabel(r"$\alpha(t)$")
    ax1.set_title("mask schedules")
    ax1.legend(fontsize=7)
    ax2.set_xlabel("step")
    ax2.set_ylabel("tokens revealed")
    ax2.set_title(f"tokens per step, L = {length}, K = {steps} (count sampler)")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "schedules.png"), dpi=110)
    plt.close(fig)
    md = ["## 3. Schedules and tokens per step", "", "![schedules](schedules.png)", "",
          f"Tokens revealed per step for L = {length}, K = {steps} (each is the floor or ceiling of "
          "L * (alpha(t_k) - alpha(t_(k-1))); linear matches LLaDA's split). Model calls: the steps "
          "that reveal at least one token (a step that reveals nothing needs no forward pass).", "",
          "| schedule | tokens per step | model calls |", "|---|---|---|"]
    for s, c in counts.items():
        md.append(f"| {s} | {' '.join(map(str, c))} | {calls[s]} |")
    return {"length": length, "steps": steps, "tokens_per_step": counts, "model_calls": calls}, md


def _on_grid(spec: str, steps: int):
    """The schedule tabulated on the K-step grid: the samplers see alpha there only, so
    nothing changes, and every family shares one compiled evaluation."""
    from mdm_ot.sampling import default_grid
    from mdm_ot.schedules import TabulatedSchedule

    return TabulatedSchedule.from_schedule(parse_alpha(spec), default_grid(steps))


def _toy_outputs(target, specs, steps, sampler, order, temperature, total_steps=None):
    """Exact outputs at ``steps`` steps; with ``total_steps``, on the grid padded to that many
    steps (zero-length steps reveal nothing: one compiled evaluation for every K)."""
    from mdm_ot.sampling import divergences, exact_output_table, padded_grid
    from mdm_ot.tuning import toy_target

    q = jnp.asarray(toy_target(target))
    total = total_steps or steps
    rows = {}
    for s in specs:
        p = exact_output_table(q, _on_grid(s, steps), num_steps=total, grid=padded_grid(steps, total),
                               sampler=sampler, order=order, temperature=temperature)
        dv = divergences(p, q)
        rows[s] = {"p": np.asarray(p).ravel(), "kl_data_to_model": _finite(dv.kl_data_to_model),
                   "kl_model_to_data": _finite(dv.kl_model_to_data), "tv": float(dv.tv)}
    return q, rows


def _calls_cell(c: dict) -> str:
    """Model calls in a cell: the count sampler's number; the stochastic sampler's grid steps
    with alpha_k > alpha_(k-1) and, in parentheses, the expected steps that reveal a token."""
    if "expected_model_calls" in c:
        return f"{c['model_calls']} ({c['expected_model_calls']:.2f})"
    return str(c["model_calls"])


def _winner(kl, kl_linear) -> str:
    """Which of two KL(q||p) (None: +inf) is lower: "schedule", "linear" or "tie"."""
    a, b = (math.inf if v is None else v for v in (kl, kl_linear))
    if a == b or (math.isfinite(a) and math.isfinite(b) and abs(a - b) <= 1e-9 * max(1.0, abs(b))):
        return "tie"
    return "schedule" if a < b else "linear"


def _equal_calls(target, specs, budgets, length):
    """Each schedule at K steps (m model calls of the count sampler) against linear at m steps,
    for both count samplers of :data:`SAMPLERS` (every K on one padded grid)."""
    from mdm_ot.sampling import num_transfer_tokens, sampler_model_calls

    counted = [(lab, smp, order, temp) for lab, smp, order, temp in SAMPLERS if smp == "count"]
    kmax = max(budgets)
    kl = {}
    rows = []
    for k in budgets:
        for lab, smp, order, temp in counted:
            kl[(k, lab)] = _toy_outputs(target, specs, k, smp, order, temp, kmax)[1]
        for s in specs:
            if s == "linear":
                continue  # linear at K steps and m = min(K, L) calls: the same split
            sched = _on_grid(s, k)
            m = sampler_model_calls(sched, length, k)["model_calls"]
            row = {"schedule": s, "steps": k, "model_calls": m,
                   "tokens_per_step": np.asarray(num_transfer_tokens(sched, length, k)).tolist(), "by_sampler": {}}
            for lab, smp, order, temp in counted:
                if (m, lab) not in kl:
                    kl[(m, lab)] = _toy_outputs(target, ["linear"], m, smp, order, temp, kmax)[1]
                mine, lin = kl[(k, lab)][s]["kl_data_to_model"], kl[(m, lab)]["linear"]["kl_data_to_model"]
                row["by_sampler"][lab] = {"kl_data_to_model": mine, "linear_kl_data_to_model": lin,
                                          "winner": _winner(mine, lin)}
            rows.append(row)
    head = ["schedule", "K", "tokens per step", "calls m"]
    for lab, *_ in counted:
        head += [f"{lab}: KL at K", "linear at m steps", "lower"]
    md = [f"#### At equal model calls (count sampler, target `{target}`)", "",
          "Each schedule at K steps uses m model calls (steps that reveal a token); next to its exact "
          "KL(q‖p) is linear's at m steps, which uses m calls too, and which of the two is lower "
          "(tie: equal to 1e-9).", "", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for r in rows:
        cells = [r["schedule"], str(r["steps"]), " ".join(map(str, r["tokens_per_step"])), str(r["model_calls"])]
        for lab, *_ in counted:
            c = r["by_sampler"][lab]
            cells += [_fmt(c["kl_data_to_model"]), _fmt(c["linear_kl_data_to_model"]), c["winner"]]
        md.append("| " + " | ".join(cells) + " |")
    wins = {lab: sum(r["by_sampler"][lab]["winner"] == "schedule" for r in rows) for lab, *_ in counted}
    md += ["", "Lower than linear at equal model calls: " + "; ".join(
        f"{lab}: {w} of {len(rows)}" for lab, w in wins.items()) + ".", ""]
    return rows, md


def _section_toy(out, quick):
    from mdm_ot.sampling import sampler_model_calls
    from mdm_ot.tuning import TOY_LENGTH, TOY_TARGETS, toy_sentences

    plt = pyplot()
    steps = 3
    specs = list(PAPER_BASELINES)
    budgets = (3,) if quick else (3, 4, 6)
    calls = {smp: {s: sampler_model_calls(_on_grid(s, steps), TOY_LENGTH, steps, sampler=smp) for s in specs}
             for smp in ("count", "stochastic")}
    res = {"model_calls": calls}
    md = ["## 4. The Figure-4 toy (n = 5, d = 2, 3 steps, exact)", "",
          "Targets: `modes` = uniform over {aaaaa, bbbbb}; `middle` = uniform over sentences with "
          "two or three a's. Exact oracle denoiser; exact output distribution of each sampler.", "",
          "![toy](toy.png)", ""]
    sentences = toy_sentences()
    fig, axes = plt.subplots(2, 1, figsize=(12, 7))
    for ax, target in zip(axes, TOY_TARGETS, strict=True):
        res[target] = {}
        md += [f"### target `{target}`", "",
               "Cells: KL(q‖p) / TV (KL is inf where the sampler misses part of q's support, e.g. "
               "the deterministic low-confidence order at T = 0). Model calls: the count sampler's "
               "steps that reveal a token; the stochastic sampler's steps with alpha_k > alpha_(k-1) "
               "and, in parentheses, the expected number of steps that reveal a token.", "",
               "| schedule | " + " | ".join(lab for lab, *_ in SAMPLERS) + " | calls: count | calls: stochastic |",
               "|---" * (len(SAMPLERS) + 3) + "|"]
        per = {}
        for label, sampler, order, temp in SAMPLERS:
            q, rows = _toy_outputs(target, specs, steps, sampler, order, temp)
            per[label] = rows
            res[target][label] = {s: {k: v for k, v in r.items() if k != "p"} for s, r in rows.items()}
        for s in specs:
            md.append(f"| {s} | " + " | ".join(
                f"{_fmt(per[lab][s]['kl_data_to_model'])} / {_fmt(per[lab][s]['tv'], 3)}" for lab, *_ in SAMPLERS)
                + f" | {_calls_cell(calls['count'][s])} | {_calls_cell(calls['stochastic'][s])} |")

        def rank_key(s, lab, per=per):
            kl = per[lab][s]["kl_data_to_model"]
            return (math.inf if kl is None else kl, per[lab][s]["tv"])

        best = {lab: min(specs, key=lambda s, lab=lab: rank_key(s, lab)) for lab, *_ in SAMPLERS}
        res[target]["best_by_sampler"] = best
        md += ["", "Best baseline (by KL(q‖p), then TV): "
               + "; ".join(f"{lab}: **{b}**" for lab, b in best.items()), ""]
        rows, lines = _equal_calls(target, specs, budgets, TOY_LENGTH)
        res[target]["equal_model_calls"] = rows
        md += lines
        x = np.arange(len(sentences))
        shown = ["linear", "sin2", "beta:0.9,0.3", "beta:0.3,0.9"]
        w = 0.8 / (len(shown) + 1)
        ax.bar(x - 0.4 + w / 2, np.asarray(q).ravel(), width=w, color="k", label="target q")
        for k, s in enumerate(shown):
            ax.bar(x - 0.4 + w * (k + 1.5), per["stochastic"][s]["p"], width=w, label=s)
        ax.set_xticks(x)
        ax.set_xticklabels(sentences, rotation=90, fontsize=7, family="monospace")
        ax.set_ylabel("probability")
        ax.set_title(f"target '{target}': exact output of the 3-step stochastic sampler")
        ax.legend(fontsize=7, ncol=5)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "toy.png"), dpi=110)
    plt.close(fig)
    md += ["KL(p‖q) for every schedule and sampler is in `results.json`.", ""]
    return res, md


def _section_tuning(out, quick):
    from mdm_ot.sampling import padded_grid, sampler_model_calls
    from mdm_ot.tuning import (
        TOY_LENGTH,
        ExactDivergence,
        grid_search,
        make_objective,
        parse_grid,
        plot_grid,
        toy_target,
        tune_beta,
        tune_free_form,
    )

    budgets = (2, 3) if quick else (2, 3, 4, 8)
    kmax = max(budgets)
    a_vals, b_vals = parse_grid("paper")
    res = {}
    md = ["## 5. Tuned schedules against the hand-made baselines", "",
          "Objective: exact KL(q‖p) of the stochastic sampler's output (lower is better). "
          "`grid` is the paper's grid (a, b in 0.1..1.0, step 0.1); `gradient` is Adam on "
          "(log a, log b) from the grid's best point; `free-form` is the best increasing "
          "schedule of any shape on the K-step grid (how far the Beta family is from the best "
          "possible). In parentheses: the expected number of model calls (steps that reveal a "
          "token) of the stochastic sampler with that schedule."
          + (" Quick mode: grid search only." if quick else ""), ""]
    all_steps_used = True

    def calls(sched, k):
        nonlocal all_steps_used
        c = sampler_model_calls(sched, TOY_LENGTH, k, sampler="stochastic")
        all_steps_used &= c["model_calls"] == k
        return c

    for target in ("modes", "middle"):
        res[target] = {}
        header = ["K", *PAPER_BASELINES, "grid best (a, b)", "gradient (a, b)", "free-form"]
        md += [f"### target `{target}`", "", "| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
        q = jnp.asarray(toy_target(target))
        for k in budgets:
            # Every budget on one padded grid: one compiled evaluation for all K.
            obj = ExactDivergence.create(q, kmax, sampler="stochastic", metric="kl",
                                         grid=padded_grid(k, kmax))
            base = {s: _finite(obj(parse_alpha(s))) for s in PAPER_BASELINES}
            base_calls = {s: calls(parse_alpha(s), k) for s in PAPER_BASELINES}
            g = grid_search(obj, a_vals, b_vals, progress=False)
            g_calls = calls(beta_schedule(g.best.a, g.best.b), k)
            row = {"baselines": base, "baseline_model_calls": base_calls,
                   "grid_best": g.best.to_dict() | {"model_calls": g_calls}}
            grad_cell = free_cell = "—"
            if not quick:
                exact_k = make_objective(target, k, sampler="stochastic", metric="kl")
                grad = tune_beta(exact_k, init=(g.best.a, g.best.b), steps=80)
                free = tune_free_form(exact_k, steps=200)
                grad_calls = calls(grad.schedule(), k)
                free_calls = calls(free.schedule(), k)
                row |= {"gradient_best": grad.best.to_dict() | {"model_calls": grad_calls},
                        "free_form_best": _finite(free.best_value), "free_form_model_calls": free_calls}
                grad_cell = (f"{_fmt(grad.best.value)} ({grad.best.a:.2f}, {grad.best.b:.2f}) "
                             f"({grad_calls['expected_model_calls']:.2f})")
                free_cell = f"{_fmt(free.best_value)} ({free_calls['expected_model_calls']:.2f})"
            res[target][k] = row
            if k == 3:
                plot_grid(g, os.path.join(out, f"tuning_{target}_K3.png"),
                          title=f"KL(q||p), target {target}, K = 3, stochastic sampler")
            md.append(f"| {k} | " + " | ".join(
                f"{_fmt(base[s])} ({base_calls[s]['expected_model_calls']:.2f})" for s in PAPER_BASELINES)
                + f" | {_fmt(g.best.value)} ({g.best.a:.1f}, {g.best.b:.1f}) "
                f"({g_calls['expected_model_calls']:.2f}) | {grad_cell} | {free_cell} |")
        md += ["", f"![tuning grid {target}](tuning_{target}_K3.png)", ""]
    if all_steps_used:
        md += ["Every schedule above has alpha_k > alpha_(k-1) at each of its K steps: a sampler that "
               "skips only the steps that surely reveal nothing makes K model calls.", ""]
    return res, md


def _nested(markdown: str) -> str:
    """A standalone table document as a subsection: its title in bold, its headings moved
    below the report's ``###`` level (one H1 per report)."""
    lines = [f"**{ln[2:]}**" if ln.startswith("# ") else "##" + ln if ln.startswith("##") else ln
             for ln in markdown.split("\n")]
    return "\n".join(lines).strip("\n")


def _antibody_section(out):
    """The AntiBERTy table (CPU-sized config) if the weights are cached, else how to get them."""
    from mdm_ot.experiments.antibody import fetch, table

    md = ["### AntiBERTy infilling (a pretrained denoiser nobody here trained)", ""]
    missing = fetch.missing_files()
    if missing:
        md += ["Not run: the AntiBERTy weights are not in the cache "
               f"({fetch.antibody_dir()}). Get them with `mdm-ot antibody fetch` (downloads two "
               "pinned wheels from PyPI); offline: " + fetch.OFFLINE_HINT + ".", ""]
        return {"available": False, "missing": missing}, md
    result = table.antibody_table(table.SMALL, log=lambda msg: None)
    paths = table.write(result, out, stem="antibody_table")
    md += ["CPU-sized configuration (`table.SMALL`: 4 test sequences, K = 2 and 4); the full "
           "table is `mdm-ot antibody table --out DIR` (an accelerator job).", "",
           _nested(table.to_markdown(result)), "", f"![antibody]({os.path.basename(paths['png'])})", ""]
    return {"available": True, "files": paths}, md


def _code_section(out):
    """The code-line model's table (default sizes) from the shipped checkpoint, in ``out/code``."""
    from mdm_ot.experiments.codelines import table as code_table

    md = ["### Code-line model trained by this project", ""]
    result = code_table.run_table(progress=False)
    paths = code_table.write_outputs(result, Path(out) / "code")
    md += ["The shipped checkpoint, the default sizes of `mdm-ot code table` "
           f"({result['settings']['samples']} samples per cell; more with "
           "`mdm-ot code table --samples N`).", "",
           _nested(code_table.to_markdown(result)), "", "![code table](code/table.png)", ""]
    return {"available": True, "files": {k: str(v) for k, v in paths.items()}}, md


def _section_full_tables(out):
    md = ["## 6. Real-data tables", ""]
    res = {}
    for name, fn in (("code", _code_section), ("antibody", _antibody_section)):
        try:
            r, lines = fn(out)
        except ImportError as exc:
            r, lines = {"available": False, "reason": str(exc)}, [f"Not available: {exc}.", ""]
        res[name] = r
        md += lines
    return res, md


# ------------------------------------------------------------------------------ driver


def reproduce(out: str = "report", *, quick: bool = False, full: bool = False,
              progress: bool = True) -> dict:
    """Write the report folder ``out`` and return its results (also in ``results.json``).

    The path is checked before any work (ValueError naming ``out``). The report is built in a
    temporary sibling folder and swapped into place at the end (:func:`mdm_ot._io.atomic_dir`):
    an interrupted or failed run leaves the previous report, if any, untouched, never a mix
    of old and new files. Paths in the results are relative to ``out``.
    """
    from tqdm.auto import tqdm

    check_output_dir(out, "out")
    sections: list[tuple[str, Callable]] = [
        ("theorems", _section_theorems),
        ("energy_landscape", _section_landscape),
        ("schedules", _section_schedules),
        ("toy", _section_toy),
        ("tuning", _section_tuning),
    ]
    if full:
        sections.append(("real_data", lambda o, q: _section_full_tables(o)))
    t_start = time.perf_counter()
    results: dict = {"settings": {"quick": quick, "full": full, "jax": jax.__version__,
                                  "platform": platform.platform(), "device": jax.devices()[0].platform,
                                  "x64": bool(jax.config.jax_enable_x64)}}
    md = ["# mdm_ot report", "",
          "Masked diffusion schedules as energy minimization (Chen et al., NeurIPS 2025, "
          "arXiv:2509.13866), reproduced with mdm_ot. Time runs from t = 0 (all masked) to t = 1 "
          "(data). Every number below was computed by this run.", ""]
    timings = {}
    with atomic_dir(out) as tmp:
        bar = tqdm(sections, desc="reproduce", disable=not progress)
        for name, fn in bar:
            bar.set_postfix_str(name)
            t0 = time.perf_counter()
            res, lines = fn(tmp, quick)
            timings[name] = round(time.perf_counter() - t0, 1)
            results[name] = _relative_paths(res, tmp)
            md += lines + [""]
        results["seconds"] = timings | {"total": round(time.perf_counter() - t_start, 1)}
        md += [f"_Generated in {results['seconds']['total']} s ({'quick' if quick else 'default'} mode"
               f"{', full' if full else ''}); machine-readable results: `results.json`._"]
        with open(os.path.join(tmp, "results.json"), "w") as fh:
            json.dump(results, fh, indent=1, default=_json_default)
        with open(os.path.join(tmp, "report.md"), "w") as fh:
            fh.write("\n".join(md) + "\n")
    return results


def _relative_paths(obj, root: str):
    """``obj`` with every string that is a path under ``root`` made relative to it (sections
    write into the temporary folder, which is renamed at the end)."""
    if isinstance(obj, dict):
        return {k: _relative_paths(v, root) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_relative_paths(v, root) for v in obj)
    if isinstance(obj, (str, Path)) and os.path.isabs(str(obj)):
        rel = os.path.relpath(str(obj), root)
        if not rel.startswith(os.pardir):
            return rel
    return obj


def _json_default(x):
    if isinstance(x, (np.floating, np.integer)):
        v = x.item()
        return v if not isinstance(v, float) or math.isfinite(v) else None
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON-serializable: {type(x).__name__}")

r"""The paper's table for the code-line model: schedules x steps, both samplers, both tasks.

Rows: linear, sin, sin², Beta(0.9,0.3), Beta(1,0.2), Beta(0.3,0.9), Beta(0.9,0.9), and the
schedule tuned by the paper's two-stage protocol (Appendix E.1) on the *tune* split.
Columns: K = 4, 8, 16, 32, 64 steps. Samplers: count with low-confidence order (LLaDA's)
and stochastic. Tasks: unconditional generation (main metric: the fraction of samples that
are valid and distinct, :func:`~mdm_ot.experiments.codelines.evaluate.valid_distinct_fraction`; validity
and distinct fraction are reported too) and next-line completion (main metric: similarity
to the true next line). Cells: mean ± standard error
over the samples of the cell; every schedule sees the same seeds and prompts.

**Tuning** (per task, count sampler with confidence order, at ``tune_steps`` = 8 steps by
default: the few-step regime where the schedule matters):

1. coarse pass: every (a, b) of the paper's grid {0.1, ..., 1.0}² (``beta:a,b``, i.e.
   α = sin²(π/2 · I_t(a, b))), scored on ``tune_small`` samples of the tune split;
2. the ``shortlist`` best points and the hand-made baselines are scored on ``tune_large``
   fresh samples of the tune split; the best shortlist point is the tuned schedule (with
   ``baselines_compete``, the best of shortlist and baselines).

(Beta(½,½) is the linear schedule and Beta(1,1) is sin², Proposition 3.7, so both are grid
points.) The search is :func:`mdm_ot.tuning.two_stage_search` (:func:`tune_schedule`
records it): a sampled score per spec, maximized.

**Does the ranking hold on test?** The stage-2 candidates (shortlist and baselines) are
also scored on the *test* split with the same number of samples and fresh seeds, and the
two rankings are compared with Kendall's tau-b (:func:`mdm_ot.stats.kendall_tau`). For
the unconditional task the splits play no role (no data enter generation), so "tune" and
"test" differ only in their seeds: the comparison then shows how much of a ranking is
sampling noise.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import jax

from mdm_ot._io import atomic_file
from mdm_ot.experiments.codelines import data as codedata
from mdm_ot.experiments.codelines import evaluate as ev
from mdm_ot.stats import kendall_tau
from mdm_ot.tuning import two_stage_search

BASELINES = ("linear", "sin", "sin2", "beta:0.9,0.3", "beta:1,0.2", "beta:0.3,0.9", "beta:0.9,0.9")
STEPS = (4, 8, 16, 32, 64)
PAPER_GRID = tuple(round(0.1 * i, 1) for i in range(1, 11))
MAIN_METRIC = {"unconditional": "valid_distinct", "completion": "similarity"}
SAMPLER_SETTINGS = {
    "count": {"sampler": "count", "order": "confidence"},
    "stochastic": {"sampler": "stochastic", "order": "random"},
}


@dataclasses.dataclass(frozen=True)
class TableSizes:
    """Samples per evaluation (defaults keep ``mdm-ot code table`` to minutes on 2 cores).

    Attributes:
        samples: per table cell (completions use that many test prompts).
        tune_small: per grid point in the coarse tuning pass.
        tune_large: per candidate in the second pass (and on test for the ranking check).
        shortlist: grid points carried from the coarse pass to the second.
    """

    samples: int = 32
    tune_small: int = 16
    tune_large: int = 32
    shortlist: int = 4

    def __post_init__(self):
        for f in dataclasses.fields(self):
            if getattr(self, f.name) < 1:
                raise ValueError(f"{f.name} must be >= 1")


# ---------------------------------------------------------------------------- tuning


def tune_schedule(score, grid_a, grid_b, *, n_small: int, n_large: int, shortlist: int, extra=(),
                  extra_compete: bool = False) -> dict:
    """The paper's two-stage protocol (Appendix E.1, :func:`mdm_ot.tuning.two_stage_search`)
    over the specs ``beta:a,b`` of a grid, as this table records it.

    Args:
        score: ``(spec, n, stage) -> float`` to maximise (``stage`` is 1 or 2, to pick seeds).
        grid_a, grid_b: the coarse grid's values of a and b (``a`` slow).
        n_small, n_large: samples per point in stages 1 and 2.
        shortlist: points kept from stage 1 (ties keep the grid's order).
        extra: specs scored in stage 2 besides the shortlist (baselines); not eligible as
            best (the paper's protocol) unless ``extra_compete``.
        extra_compete: let the ``extra`` specs win stage 2 too (a hand-made schedule that
            beats every shortlist point is then the answer; its ``a``, ``b`` are None
            unless it is a ``beta:a,b`` spec).

    Returns:
        dict with ``grid`` (every (a, b) and its stage-1 score), ``shortlist`` (specs),
        ``stage2`` (spec -> score) and ``best`` (spec, a, b, score).
    """
    points = [(float(a), float(b), f"beta:{a:g},{b:g}") for a in grid_a for b in grid_b]
    specs = [p[2] for p in points]
    record = two_stage_search(lambda batch, n, stage: [float(score(spec, n, stage)) for spec in batch], specs,
                              small=n_small, large=n_large, top_k=shortlist, maximize=True, extra=extra,
                              extra_compete=extra_compete)
    grid = [{"a": a, "b": b, "spec": spec, "value": float(v)} for (a, b, spec), v in zip(points, record.stage1, strict=True)]
    stage2 = {spec: float(v) for spec, v in zip(record.candidates, record.stage2, strict=True)}
    best_spec = record.best
    a = b = None
    if best_spec.startswith("beta:"):
        a, b = (float(v) for v in best_spec.split(":")[1].split(","))
    return {"grid": grid, "shortlist": list(record.shortlist), "stage2": stage2,
            "best": {"spec": best_spec, "a": a, "b": b, "value": stage2[best_spec]}}


# ---------------------------------------------------------------------------- the table


def _seed_key(seed: int, *parts: int):
    key = jax.random.PRNGKey(seed)
    for p in parts:
        key = jax.random.fold_in(key, p)
    return key


def run_table(
    *,
    task: str = "both",
    samples: int | None = None,
    steps_list: tuple[int, ...] | None = None,
    tune_steps: int | None = None,
    tune: bool = True,
    seed: int = 0,
    checkpoint: str | None = None,
    sizes: TableSizes | None = None,
    params_config=None,
    data: codedata.CodeLines | None = None,
    baselines: tuple[str, ...] = BASELINES,
    grid: tuple[float, ...] = PAPER_GRID,
    block_length: int | None = None,
    baselines_compete: bool = False,
    progress: bool = True,
) -> dict:
    """Compute the table (see the module docstring); returns plain JSON values.

    Args:
        task: ``"unconditional"``, ``"completion"`` or ``"both"``.
        samples: samples per cell (overrides ``sizes.samples``).
        steps_list: the columns (default 4, 8, 16, 32, 64).
        tune_steps: K at which the tuning runs (default 8).
        tune: add the tuned row.
        seed: base seed.
        checkpoint: model checkpoint (default: the shipped one).
        sizes: sample sizes.
        params_config: ``(params, config, meta)`` to use instead of a checkpoint (tests).
        data: the data set (default: this interpreter's standard library).
        baselines: the hand-made schedules.
        grid: coarse tuning grid values for a and b.
        block_length: semi-autoregressive blocks for the count sampler (LLaDA's remedy for
            early end-of-sequence tokens); None: the whole line is one block. The number of
            blocks must divide every K.
        baselines_compete: the hand-made schedules may win the tuning's second stage too
            (the paper's protocol picks among the grid shortlist only).
        progress: tqdm progress bar.
    """
    from tqdm.auto import tqdm

    tasks = ev.TASKS if task == "both" else (task,)
    for t in tasks:
        if t not in ev.TASKS:
            raise ValueError(f"task must be unconditional, completion or both, got {task!r}")
    sizes = sizes or TableSizes()
    if samples is not None:
        sizes = dataclasses.replace(sizes, samples=samples)
    steps_list = tuple(steps_list or STEPS)
    if any(k < 1 for k in steps_list):
        raise ValueError("every number of steps must be >= 1")
    tune_steps = tune_steps or 8
    samplers = {
        "count": dict(SAMPLER_SETTINGS["count"], block_length=block_length),
        "stochastic": dict(SAMPLER_SETTINGS["stochastic"], block_length=None),
    }
    if block_length is not None:
        if block_length < 1 or codedata.LINE_LENGTH % block_length:
            raise ValueError(f"the block length must divide {codedata.LINE_LENGTH}, got {block_length}")
        nb = codedata.LINE_LENGTH // block_length
        bad = [k for k in (*steps_list, tune_steps) if k % nb]
        if bad:
            raise ValueError(f"with {nb} blocks every number of steps must be a multiple of {nb}; not {bad}")
    for spec in baselines:
        ev.schedule_from(spec)  # bad specs fail before any work
    params, config, meta = params_config if params_config is not None else ev.load_model(checkpoint)
    data = data if data is not None else codedata.load_dataset()
    same = codedata.check_fingerprint(data, meta.get("data_fingerprint"))

    n_cells = len(tasks) * len(SAMPLER_SETTINGS) * (len(baselines) + int(tune)) * len(steps_list)
    n_tune = len(tasks) * (len(grid) ** 2 + 2 * (sizes.shortlist + len(baselines))) if tune else 0
    bar = tqdm(total=n_cells + n_tune, disable=not progress, desc="code table", unit="eval")
    t_start = time.perf_counter()
    results: dict = {}
    tuning: dict = {}
    equal_calls: dict = {}
    count_index = list(samplers).index("count")
    for ti, t in enumerate(tasks):
        metric = MAIN_METRIC[t]
        need = max(sizes.samples, sizes.tune_large)
        td_test = ev.task_data(data, t, "test", need if t == "completion" else 0, seed)
        td_tune = ev.task_data(data, t, "tune", need if t == "completion" else 0, seed)
        count = samplers["count"]
        rows_specs = list(baselines)
        if tune:
            def score(spec, n, stage, _td=td_tune, _ti=ti, _count=count, _metric=metric):
                r = ev.evaluate_cell(params, config, ev.schedule_from(spec), _seed_key(seed, 1, _ti, stage), _td,
                                     num_samples=n, num_steps=tune_steps, **_count)
                bar.update(1)
                return r[_metric][0]

            tuned = tune_schedule(score, grid, grid, n_small=sizes.tune_small, n_large=sizes.tune_large,
                                  shortlist=sizes.shortlist, extra=baselines, extra_compete=baselines_compete)
            tuning[t] = {"steps": tune_steps, "sampler": "count", "order": "confidence", "metric": metric,
                         "block_length": block_length, "split": "tune",
                         "baselines_compete": baselines_compete, **tuned}
            rows_specs.append(tuned["best"]["spec"])
        per_sampler: dict = {}
        for si, (sname, sset) in enumerate(samplers.items()):
            rows: dict = {}
            for ri, spec in enumerate(rows_specs):
                name = f"tuned {spec}" if (tune and ri == len(rows_specs) - 1) else spec
                cells = {}
                for k in steps_list:
                    # same key for every schedule at (task, sampler, K): common random numbers
                    r = ev.evaluate_cell(params, config, ev.schedule_from(spec), _seed_key(seed, 2, ti, si, k),
                                         td_test, num_samples=sizes.samples, num_steps=k, **sset)
                    cells[str(k)] = r | cell_model_calls(spec, k, sname, sset["block_length"])
                    bar.update(1)
                rows[name] = {"spec": spec, "cells": cells}
            per_sampler[sname] = rows
        results[t] = per_sampler

        def linear_at(m, _ti=ti, _td=td_test, _count=count, _rows=per_sampler["count"]):
            # linear at m steps, the count sampler's key for the column K = m (the table's own
            # cell where the table has that column)
            if "linear" in _rows and str(m) in _rows["linear"]["cells"]:
                return _rows["linear"]["cells"][str(m)]
            bar.total += 1
            r = ev.evaluate_cell(params, config, ev.schedule_from("linear"), _seed_key(seed, 2, _ti, count_index, m), _td,
                                 num_samples=sizes.samples, num_steps=m, **_count)
            bar.update(1)
            return r | cell_model_calls("linear", m, "count", _count["block_length"])

        equal_calls[t] = equal_model_calls(per_sampler["count"], metric, linear_at)
        if tune:
            # the ranking check: stage-2 candidates on the test split, fresh seeds
            cand = list(tuning[t]["stage2"])
            test_scores = {}
            for spec in cand:
                r = ev.evaluate_cell(params, config, ev.schedule_from(spec), _seed_key(seed, 3, ti), td_test,
                                     num_samples=sizes.tune_large, num_steps=tune_steps, **count)
                test_scores[spec] = r[metric][0]
                bar.update(1)
            tune_scores = [tuning[t]["stage2"][s] for s in cand]
            tuning[t]["test"] = test_scores
            tau = kendall_tau(tune_scores, [test_scores[s] for s in cand])
            # JSON has no NaN: tau-b is undefined when one ranking is all ties
            tuning[t]["kendall_tau_tune_vs_test"] = tau if math.isfinite(tau) else None
            if not math.isfinite(tau):
                tuning[t]["kendall_tau_tune_vs_test_reason"] = "undefined: the tune or the test scores are all tied"
            tuning[t]["best_on_test"] = max(cand, key=lambda s: test_scores[s])
    bar.close()
    need_ref = max(sizes.samples, 2)
    reference = ev.reference_metrics(data, "test", need_ref, seed)
    result = {
        "settings": {
            "tasks": list(tasks), "steps": list(steps_list), "baselines": list(baselines), "tune": tune,
            "tune_steps": tune_steps, "grid": list(grid), "seed": seed, **dataclasses.asdict(sizes),
            "samplers": samplers,
            "temperature": {t: ev.default_temperature(t) for t in tasks},
            "main_metric": {t: MAIN_METRIC[t] for t in tasks},
            "split": "test",
        },
        "results": results,
        "tuning": tuning,
        "reference": reference,
        "data": data.summary(),
        "data_fingerprint": data.fingerprint,
        "checkpoint": {
            "data_fingerprint": meta.get("data_fingerprint"),
            "fingerprint_matches": same,
            "step": meta.get("step"),
            "train_seconds": meta.get("train_seconds"),
            "heldout": meta.get("heldout"),
            "model": meta.get("model"),
        },
        "seconds": time.perf_counter() - t_start,
    }
    result["comparison"] = compare_with_linear(result)
    result["equal_model_calls"] = equal_calls
    return result


def cell_model_calls(spec: str, num_steps: int, sampler: str, block_length: int | None = None) -> dict:
    """The model calls of a cell's sampler on one line (:data:`~mdm_ot.experiments.codelines.data.LINE_LENGTH`
    masked positions, also for completion, whose prompt is given): ``model_calls``,
    ``model_calls_per_block`` and, for the stochastic sampler, ``expected_model_calls`` and
    ``expected_model_calls_per_block`` (:func:`mdm_ot.sampling.sampler_model_calls`, on the
    tabulated grid the samplers use; docs/sampling.md, "Model calls")."""
    from mdm_ot.sampling import check_sizes, sampler_model_calls

    nb, spb = check_sizes(num_steps, codedata.LINE_LENGTH, block_length)
    calls = sampler_model_calls(ev.on_grid(ev.schedule_from(spec), spb), codedata.LINE_LENGTH, num_steps,
                                sampler=sampler, block_length=block_length)
    return {k: v for k, v in calls.items() if k not in ("sampler", "steps")}


def equal_model_calls(rows: dict, metric: str, linear_at, reference: str = "linear") -> dict:
    """Each schedule against linear run with the same number of model calls (count sampler).

    For every cell ``(row, K)`` with ``m = model_calls < K`` (empty steps):
    row(K) - linear(m), as ``[difference, standard error]`` in ``metric`` (the standard
    error treats the two cells as independent, as :func:`compare_with_linear`; with the
    same keys they are positively correlated, so it is conservative). Linear at m steps
    makes m calls while m is at most the block length (checked: its ``model_calls`` must
    equal m).

    Args:
        rows: one sampler's rows, ``{name: {"spec", "cells": {K: cell}}}``, cells with
            ``model_calls``.
        metric: the main metric.
        linear_at: ``m -> cell`` of the reference at m steps (called once per distinct m).

    Returns:
        ``{"sampler": "count", "reference", "metric", "reference_cells": {m: cell},
        "rows": {name: {K: {"model_calls": m, "difference": [d, se]}}}}`` (rows without
        an empty step are left out).
    """
    ref_cells: dict = {}
    out_rows: dict = {}
    for name, row in rows.items():
        for k, cell in row["cells"].items():
            m = cell["model_calls"]
            if m >= int(k):
                continue
            if str(m) not in ref_cells:
                ref = linear_at(m)
                if ref["model_calls"] != m:
                    raise ValueError(f"{reference} at {m} steps makes {ref['model_calls']} model calls, not {m}")
                ref_cells[str(m)] = ref
            (mt, et), (mr, er) = cell[metric], ref_cells[str(m)][metric]
            out_rows.setdefault(name, {})[k] = {"model_calls": m, "difference": [mt - mr, math.hypot(et, er)]}
    return {"sampler": "count", "reference": reference, "metric": metric,
            "reference_cells": dict(sorted(ref_cells.items(), key=lambda kv: int(kv[0]))), "rows": out_rows}


def compare_with_linear(result: dict, reference: str = "linear") -> dict:
    """The tuned row against the reference row, per task and sampler (answers "half the steps?").

    For every K of the table: ``same_k`` = tuned(K) - reference(K) and, where 2K is also a
    column, ``half_steps`` = tuned(K) - reference(2K), each as ``[difference, standard error]``
    in the task's main metric. The standard error treats the two cells as independent; the
    cells share seeds and prompts (common random numbers), which correlates them positively,
    so it overstates the difference's true standard error (conservative).

    Returns:
        ``{task: {sampler: {"tuned": name, "reference": name, "same_k": {K: [d, se]},
        "half_steps": {K: [d, se]}}}}``; empty where the table has no tuned row.
    """
    s = result["settings"]
    steps = [int(k) for k in s["steps"]]
    out: dict = {}
    for task, per_sampler in result["results"].items():
        metric = s["main_metric"][task]
        for sampler, rows in per_sampler.items():
            tuned = [n for n in rows if n.startswith("tuned")]
            if not tuned or reference not in rows:
                continue
            t_cells, r_cells = rows[tuned[0]]["cells"], rows[reference]["cells"]

            def diff(k_t, k_r, t_cells=t_cells, r_cells=r_cells, metric=metric):
                (mt, et), (mr, er) = t_cells[str(k_t)][metric], r_cells[str(k_r)][metric]
                return [mt - mr, math.hypot(et, er)]

            out.setdefault(task, {})[sampler] = {
                "tuned": tuned[0], "reference": reference, "metric": metric,
                "same_k": {str(k): diff(k, k) for k in steps},
                "half_steps": {str(k): diff(k, 2 * k) for k in steps if 2 * k in steps},
            }
    return out


# ---------------------------------------------------------------------------- outputs


def _cell(m) -> str:
    return f"{m[0]:.3f} ± {m[1]:.3f}"


def to_markdown(result: dict) -> str:
    """The table(s) as markdown: one per task and sampler, main metric ± standard error."""
    s = result["settings"]
    out = ["# Code-line model: schedules x steps", ""]
    ck = result["checkpoint"]
    held = ck.get("heldout") or {}
    out.append(
        f"Data fingerprint `{result['data_fingerprint'][:16]}`"
        + ("" if ck.get("fingerprint_matches", True) else " (differs from the checkpoint's!)")
        + f"; model step {ck.get('step')}, held-out bits/char "
        + ", ".join(f"{k} {v['bits_per_char']:.3f}" for k, v in held.items())
        + f". Test split, {s['samples']} samples per cell (mean ± standard error); "
        f"tuning at K={s['tune_steps']} with {s['tune_small']} then {s['tune_large']} samples per point on the tune split."
    )
    ref = result["reference"]
    out.append(
        f"Reference (real test lines): validity {_cell(ref['real']['validity'])} "
        f"(all {ref['all_real_lines']} test lines: {ref['all_real_lines_validity']:.3f}), distinct {_cell(ref['real']['distinct'])}; "
        f"completion floors: copy the prompt {_cell(ref['copy_prompt']['similarity'])}, "
        f"a random real line {_cell(ref['random_line']['similarity'])} similarity."
    )
    out.append("")
    out += _calls_markdown(result)
    for task, per_sampler in result["results"].items():
        metric = s["main_metric"][task]
        for sampler, rows in per_sampler.items():
            sset = s["samplers"][sampler]
            out.append(f"## {task}: {metric}, {sampler} sampler"
                       + (f" ({sset['order']} order)" if sampler == "count" else "")
                       + (f", blocks of {sset['block_length']}" if sset.get("block_length") else "")
                       + f", temperature {s['temperature'][task]:g}")
            out.append("")
            out.append("| schedule | " + " | ".join(f"K={k}" for k in s["steps"]) + " |")
            out.append("|---|" + "---|" * len(s["steps"]))
            for name, row in rows.items():
                out.append(f"| {name} | " + " | ".join(_cell(row["cells"][str(k)][metric]) for k in s["steps"]) + " |")
            out.append("")
            out.append(f"Validity / distinct fraction / mean length ({task}, {sampler}):")
            out.append("")
            out.append("| schedule | " + " | ".join(f"K={k}" for k in s["steps"]) + " |")
            out.append("|---|" + "---|" * len(s["steps"]))
            for name, row in rows.items():
                cells = [row["cells"][str(k)] for k in s["steps"]]
                out.append(f"| {name} | " + " | ".join(
                    f"{c['validity'][0]:.2f} / {c['distinct'][0]:.2f} / {c['length'][0]:.0f}" for c in cells) + " |")
            out.append("")
        comp = (result.get("comparison") or compare_with_linear(result)).get(task, {})
        for sampler, c in comp.items():
            out.append(f"{c['tuned']} minus {c['reference']} ({task}, {sampler}; difference ± standard error, "
                       "conservative): at the same K, and at K against the reference at 2K (half the steps):")
            out.append("")
            out.append("| | " + " | ".join(f"K={k}" for k in s["steps"]) + " |")
            out.append("|---|" + "---|" * len(s["steps"]))
            out.append("| same K | " + " | ".join(f"{c['same_k'][str(k)][0]:+.3f} ± {c['same_k'][str(k)][1]:.3f}"
                                               for k in s["steps"]) + " |")
            out.append("| K vs 2K | " + " | ".join(
                f"{c['half_steps'][str(k)][0]:+.3f} ± {c['half_steps'][str(k)][1]:.3f}" if str(k) in c["half_steps"]
                else "" for k in s["steps"]) + " |")
            out.append("")
        out += _equal_calls_markdown(result, task)
        if task in result.get("tuning", {}):
            tu = result["tuning"][task]
            out.append(
                f"Tuned for {task} ({tu['metric']}, K={tu['steps']}): best "
                f"{'of shortlist and baselines' if tu.get('baselines_compete') else 'shortlist point'} "
                f"{tu['best']['spec']} "
                f"(tune {tu['best']['value']:.3f}); shortlist {', '.join(tu['shortlist'])}; "
                f"Kendall tau-b tune vs test over {len(tu['stage2'])} candidates: "
                f"{_tau_text(tu['kendall_tau_tune_vs_test'])}; best on test: {tu['best_on_test']}."
            )
            out.append("")
            out.append("| candidate | tune | test |")
            out.append("|---|---|---|")
            for spec, v in sorted(tu["stage2"].items(), key=lambda kv: -kv[1]):
                out.append(f"| {spec} | {v:.3f} | {tu['test'][spec]:.3f} |")
            out.append("")
    return "\n".join(out)


def _calls_markdown(result: dict) -> list[str]:
    """One table of model calls per sampler (the calls do not depend on the task); none for
    results written before the cells had ``model_calls``."""
    s = result["settings"]
    per_sampler = next(iter(result["results"].values()), {})
    out = []
    for sampler, rows in per_sampler.items():
        if not all("model_calls" in c for row in rows.values() for c in row["cells"].values()):
            continue
        stochastic = sampler == "stochastic"
        out.append(f"Model calls ({sampler} sampler): steps that reveal at least one token"
                   + (" (grid steps with alpha_k > alpha_(k-1); in parentheses the expected steps that reveal "
                      "a token)" if stochastic else "") + ", of K (docs/sampling.md, \"Model calls\"):")
        out.append("")
        out.append("| schedule | " + " | ".join(f"K={k}" for k in s["steps"]) + " |")
        out.append("|---|" + "---|" * len(s["steps"]))
        for name, row in rows.items():
            cells = [row["cells"][str(k)] for k in s["steps"]]
            out.append(f"| {name} | " + " | ".join(
                f"{c['model_calls']} ({c['expected_model_calls']:.2f})" if stochastic else str(c["model_calls"])
                for c in cells) + " |")
        out.append("")
    return out


def _equal_calls_markdown(result: dict, task: str) -> list[str]:
    """The "at equal model calls" table of a task (only for results that have one)."""
    eq = (result.get("equal_model_calls") or {}).get(task)
    if eq is None:
        return []
    s = result["settings"]
    out = [f"At equal model calls ({task}, {eq['sampler']} sampler): schedule at K with m < K model calls "
           f"minus {eq['reference']} at m steps (m calls), {eq['metric']}, difference ± standard error "
           "(conservative); blank where the schedule uses all K steps:", ""]
    if not eq["rows"]:
        return out[:1] + ["", "(every cell uses all K steps)", ""]
    out.append("| schedule | " + " | ".join(f"K={k}" for k in s["steps"]) + " |")
    out.append("|---|" + "---|" * len(s["steps"]))
    for name, row in eq["rows"].items():
        out.append(f"| {name} | " + " | ".join(
            f"m={row[str(k)]['model_calls']}: {row[str(k)]['difference'][0]:+.3f} ± {row[str(k)]['difference'][1]:.3f}"
            if str(k) in row else "" for k in s["steps"]) + " |")
    out.append("")
    out.append(f"{eq['reference']} at m steps: " + ", ".join(
        f"m={m} {_cell(c[eq['metric']])}" for m, c in eq["reference_cells"].items()) + ".")
    out.append("")
    return out


def _tau_text(tau) -> str:
    return "undefined (all scores tied)" if tau is None else f"{tau:.2f}"


def plot(result: dict, path: Path) -> Path:
    """Main metric against K per schedule (error bars: ± one standard error), one panel per
    task and sampler."""
    from mdm_ot._plotting import pyplot

    plt = pyplot()

    s = result["settings"]
    panels = [(t, smp) for t in result["results"] for smp in result["results"][t]]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (t, smp) in zip(axes[0], panels, strict=True):
        metric = s["main_metric"][t]
        for name, row in result["results"][t][smp].items():
            ks = s["steps"]
            m = [row["cells"][str(k)][metric][0] for k in ks]
            e = [row["cells"][str(k)][metric][1] for k in ks]
            style = dict(lw=2.5, color="k") if name.startswith("tuned") else dict(lw=1.2)
            ax.errorbar(ks, m, yerr=e, marker="o", ms=3, capsize=2, label=name, **style)
        ax.set_xscale("log", base=2)
        ax.set_xticks(s["steps"], [str(k) for k in s["steps"]])
        ax.set_xlabel("steps K")
        ax.set_ylabel(metric)
        ax.set_title(f"{t}, {smp}", fontsize=10)
        ax.grid(alpha=0.3)
    for ax, (t, smp) in zip(axes[0], panels, strict=True):
        if smp == list(result["results"][t])[-1]:  # one legend per task (the tuned row differs)
            ax.legend(fontsize=6, loc="best", framealpha=0.6)
    fig.suptitle(f"code-line MDM, test split, {s['samples']} samples per point", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_file(str(path), "wb") as fh:
            fig.savefig(fh, dpi=110, format="png")
    finally:
        plt.close(fig)
    return path


def write_outputs(result: dict, out_dir: Path) -> dict:
    """Write ``table.md``, ``table.png`` and ``table.json`` into ``out_dir``, each file
    atomically (other files in ``out_dir`` are left alone). The JSON is serialized first,
    without NaN, so a result JSON cannot hold writes nothing."""
    out_dir = Path(out_dir)
    text = json.dumps(result, indent=1, allow_nan=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "table.md"
    with atomic_file(str(md)) as fh:
        fh.write(to_markdown(result) + "\n")
    js = out_dir / "table.json"
    with atomic_file(str(js)) as fh:
        fh.write(text)
    png = plot(result, out_dir / "table.png")
    return {"markdown": md, "json": js, "png": png}

r"""The tuning package's face: :func:`tune` picks the method for an objective (as ott-jax's
``solve`` and diffrax's ``diffeqsolve`` do); :func:`tune_target` is the whole ``mdm-ot
tune`` command as a library call (target spec in, JSON-ready dict out).

Example:
  >>> from mdm_ot.tuning import make_objective, tune
  >>> res = tune(make_objective("modes", 3), "grid", grid="0.5:1:2,0.5:1:2")
  >>> sorted(res.to_dict())
  ['best', 'grid', 'settings']

References:
  The paper's section 4 and Appendix E.1; docs/tuning.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from mdm_ot.sampling import sampler_model_calls
from mdm_ot.schedules import TabulatedSchedule, beta_schedule
from mdm_ot.tuning._core import _json_number
from mdm_ot.tuning._engine import objective_evaluator, run_study
from mdm_ot.tuning._gradient import GradientResult, tune_beta, tune_free_form
from mdm_ot.tuning._objectives import CallableObjective, ExactDivergence, Objective, make_objective
from mdm_ot.tuning._plot import plot_grid
from mdm_ot.tuning._search import (
    GRID_SPECS,
    GridResult,
    TwoStageResult,
    grid_search,
    parse_grid,
    two_stage,
)
from mdm_ot.tuning._targets import parse_target

__all__ = ["METHODS", "tune", "tune_target"]

#: The methods of :func:`tune`.
METHODS = ("grid", "two-stage", "gradient", "free-form", "study", "model-only")


def tune(objective: Objective | Callable | str, method: str = "grid", *, grid=None,
         **options) -> GridResult | TwoStageResult | GradientResult | dict:
    """Tune a mask schedule for an objective with one of :data:`METHODS`.

    Args:
      objective: an :class:`Objective`, or a function ``schedule -> scalar`` to minimize
        (wrapped in :class:`CallableObjective`, evaluated in a Python loop). For
        ``"study"``: a function ``request -> answer`` called with each evaluation request
        (:func:`~mdm_ot.tuning.make_request`; the answer is a dict with ``score`` or a
        number), a shell command (a string), or an :class:`Objective`
        (:func:`~mdm_ot.tuning.objective_evaluator`).
      method: ``"grid"`` (:func:`grid_search`), ``"two-stage"`` (:func:`two_stage`),
        ``"gradient"`` (:func:`tune_beta`), ``"free-form"`` (:func:`tune_free_form`),
        ``"study"`` (a black-box Optuna study, :func:`~mdm_ot.tuning.run_study`: give
        ``steps=K``, and ``two_stage=True`` or ``sampler="tpe"`` etc.) or ``"model-only"``
        (the schedule from the dependence profile alone, no objective evaluation; issue 16:
        ``objective`` an :class:`ExactDivergence` (its exact profile; its sampler and K) or a
        :class:`mdm_ot.model_only.Profile` with ``steps=K``; options ``per_step`` and, for a
        profile, ``sampler``; docs/model_only.md).
      grid: the grid and two-stage methods' grid: a spec (:func:`parse_grid`, default
        ``"paper"``) or a pair ``(a_values, b_values)`` (a spec only for a study).
      **options: the chosen method's keyword arguments.

    Returns:
      The method's result; a study's or the model-only method's report (a JSON-ready dict).

    Raises:
      ValueError: for an unknown method, a grid with a gradient method, or the method's
        own errors.
    """
    if method == "model-only":
        if grid is not None:
            raise ValueError("the 'model-only' method takes no grid")
        return _model_only_report(objective, **options)
    if method == "study":
        if grid is not None and not isinstance(grid, str):
            raise ValueError(f"a study's grid is a spec; allowed: {GRID_SPECS}")
        if "steps" not in options:
            raise ValueError("a study needs steps=K, the number of sampling steps of its requests")
        evaluate = objective_evaluator(objective) if isinstance(objective, Objective) else objective
        return run_study(evaluate, options.pop("steps"), grid="paper" if grid is None else grid, **options)
    if not isinstance(objective, Objective):
        if not callable(objective):
            raise ValueError(f"expected an Objective or a function of a schedule, got {type(objective).__name__}")
        objective = CallableObjective(objective)
    if method in ("grid", "two-stage"):
        grid = "paper" if grid is None else grid
        a_values, b_values = parse_grid(grid) if isinstance(grid, str) else grid
        search = grid_search if method == "grid" else two_stage
        return search(objective, a_values, b_values, **options)
    if grid is not None:
        raise ValueError(f"the {method!r} method takes no grid")
    if method == "gradient":
        return tune_beta(objective, **options)
    if method == "free-form":
        return tune_free_form(objective, **options)
    raise ValueError(f"unknown method {method!r}; allowed: {', '.join(METHODS)}")


def tune_target(target: str, steps: int, *, sampler: str = "stochastic", order: str = "random",
                temperature: float | None = None, metric: str = "kl", grid: str = "paper", method: str = "grid",
                coarse_size: int = 64, fine_size: int = 1024, top_k: int = 10, iterations: int = 100,
                learning_rate: float = 0.1, restarts: int = 0, free_form: bool = False, seed: int = 0,
                plot: str | None = None, progress: bool = False, per_step: str = "second-order") -> dict:
    """Tune the Beta schedule for a target spec (:data:`TARGET_SPECS`) at ``steps`` steps:
    the ``mdm-ot tune`` command's result as a JSON-ready dict.

    ``method`` is ``"grid"``, ``"two-stage"`` or ``"gradient"`` (the grid search, then Adam
    from ``objective.default_init``; the better of the two is the best); ``free_form`` also
    tunes the free-form schedule and reports the gap between the best Beta schedule and it;
    ``plot`` saves the heatmap (a ``.png`` path). ``method="model-only"`` evaluates nothing: the
    grid comes from the target's exact dependence profile (``per_step``: ``"second-order"`` or
    ``"exact"``; issue 16, docs/model_only.md), and the objective's value of that grid is reported
    afterwards (``after_the_fact``), labelled as not used for the choice.

    Returns:
      Keys ``best`` (``a``, ``b``, ``value`` and, for grid and gradient, ``source``),
      ``grid`` (every grid point and its value), ``settings``, and per method ``two_stage``,
      ``gradient``, ``free_form``, ``plot``. For an exact target (a table: the toy, Markov
      and ``npy:`` targets) the best point, every grid point, the gradient's best and the
      free-form schedule also carry ``model_calls`` beside K (``settings["steps"]``): for
      the count sampler the steps that reveal at least one token; for the stochastic
      sampler the steps with alpha_k > alpha_(k-1), plus
      ``expected_model_calls``, the expected number of steps that reveal at least one token
      (:func:`mdm_ot.sampling.sampler_model_calls`, docs/sampling.md).

    Raises:
      ValueError: on bad input.
    """
    tgt = parse_target(target)
    if method == "model-only":
        if tgt.kind != "table":
            raise ValueError("--method model-only needs an exact target (modes, middle, markov:..., npy:...); "
                             "an energy has no denoiser to profile")
        if free_form or plot is not None:
            raise ValueError("--free-form / --plot: not with --method model-only (it evaluates no schedule)")
    objective = make_objective(tgt, steps, sampler=sampler, order=order, temperature=temperature, metric=metric)
    if method == "model-only":
        out = _model_only_report(objective, per_step=per_step)
        out["settings"].update(target=tgt.spec, target_info=tgt.info)
        return out
    if method == "gradient" or free_form:
        if not objective.differentiable:
            raise ValueError(objective.why_not_differentiable() + " (use --method grid or two-stage, without --free-form)")
    if method == "two-stage" and tgt.kind != "table":
        raise ValueError("--method two-stage needs a sampled estimate: use an exact target (modes, middle, markov:..., npy:...)")
    a_values, b_values = parse_grid(grid)
    if plot is not None and not str(plot).lower().endswith(".png"):
        raise ValueError(f"--plot must name a .png file, got {plot!r}")
    settings_extra = {"target": tgt.spec, "target_info": tgt.info, "grid": grid}
    trajectory = None
    if method == "two-stage":
        res = two_stage(objective, a_values, b_values, coarse_size=coarse_size, fine_size=fine_size, top_k=top_k,
                        seed=seed, full="all", progress=progress)
        out = res.to_dict()
        plotted = res
    else:
        res = grid_search(objective, a_values, b_values, progress=progress)
        out = res.to_dict()
        out["best"]["source"] = "grid"
        plotted = res
        if method == "gradient":
            trajectory = tune_beta(objective, steps=iterations, learning_rate=learning_rate, restarts=restarts, seed=seed)
            g = trajectory.to_dict()
            g["evaluations_to_reach_grid_best"] = trajectory.evaluations_to_reach(res.best.value)
            g["grid_best"] = res.best.to_dict()
            out["gradient"] = g
            better = (trajectory.best_value > res.best.value) if objective.maximize else (trajectory.best_value < res.best.value)
            if better or not math.isfinite(res.best.value):
                out["best"] = {**trajectory.best.to_dict(), "source": "gradient"}
    if free_form:
        ff = tune_free_form(objective, num_steps=steps, steps=max(iterations, 200), learning_rate=learning_rate,
                            restarts=restarts, seed=seed)
        beta_best = out["best"]["value"]
        out["free_form"] = {
            "alpha": [float(x) for x in ff.best_params],
            "time_grid": ff.settings["time_grid"],
            "value": _json_number(ff.best_value),
            "num_evaluations": ff.num_evaluations,
            "beta_best_value": beta_best,
            "gap_beta_minus_free": None if beta_best is None or not math.isfinite(ff.best_value)
            else (beta_best - ff.best_value) * (-1 if objective.maximize else 1),
        }
    _add_model_calls(out, objective, trajectory, ff if free_form else None)
    out["settings"] = {**out["settings"], **settings_extra, "method": method}
    if method == "gradient":
        out["settings"].update(iterations=iterations, learning_rate=learning_rate, restarts=restarts, seed=seed)
    if plot is not None:
        from mdm_ot._plotting import pyplot

        title = f"{tgt.spec}, K={steps}: {objective.describe()}"
        fig = plot_grid(plotted, plot, title=title, trajectory=trajectory)
        pyplot().close(fig)
        out["plot"] = str(plot)
    return out


def _add_model_calls(out: dict, objective: Objective, trajectory, free) -> None:
    """``model_calls`` (and, for the stochastic sampler, ``expected_model_calls``) on every
    point of ``out`` that names a schedule; exact (table) targets only."""
    if not isinstance(objective, ExactDivergence):
        return
    length, steps, grid = objective.q.ndim, objective.num_steps, objective.grid

    def fields(schedule) -> dict:
        c = sampler_model_calls(schedule, length, steps, sampler=objective.sampler, grid=grid)
        return {k: c[k] for k in ("model_calls", "expected_model_calls") if k in c}

    for point in out["grid"]:
        point.update(fields(beta_schedule(point["a"], point["b"])))
    out["best"].update(fields(beta_schedule(out["best"]["a"], out["best"]["b"])))
    if trajectory is not None:
        out["gradient"]["best"].update(fields(trajectory.schedule()))
    if free is not None:
        out["free_form"].update(fields(free.schedule()))


_CONFIDENCE_NOTE = ("confidence order is not covered by the derivation (it assumes random order): the grid is "
                    "the random-order one; the after-the-fact value is that of confidence order")


def _model_only_report(objective, *, steps: int | None = None, sampler: str | None = None,
                       per_step: str = "second-order") -> dict:
    """The ``"model-only"`` method of :func:`tune` (issue 16): the grid from the exact profile of
    an :class:`ExactDivergence`'s target, or from a given profile; no objective evaluation
    decides it. For an exact target the objective's value of the grid is reported afterwards,
    labelled as not used for the choice."""
    from mdm_ot.model_only import Profile, chain_rule_kl, exact_profile, model_only

    if isinstance(objective, ExactDivergence):
        g = np.asarray(objective.grid, np.float64)
        knots = g[np.concatenate([[True], np.diff(g) > 0])]
        k = knots.shape[0] - 1
        if steps is not None and steps != k:
            raise ValueError(f"steps={steps} differs from the objective's K = {k}")
        if sampler is not None and sampler != objective.sampler:
            raise ValueError(f"sampler={sampler!r} differs from the objective's {objective.sampler!r}")
        sampler = objective.sampler
        q = np.asarray(objective.q, np.float64)
        profile = exact_profile(q / q.sum(), sampler=sampler)
    elif isinstance(objective, Profile):
        if not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"the 'model-only' method with a profile needs steps=K >= 1, got {steps!r}")
        k = int(steps)
        knots = np.arange(k + 1) / k
        sampler = objective.sampler if sampler is None else sampler
        profile = objective
    else:
        raise ValueError("the 'model-only' method needs an ExactDivergence (an exact target) or a "
                         f"mdm_ot.model_only.Profile, got {type(objective).__name__}")
    res = model_only(profile, k, sampler=sampler, per_step=per_step)
    schedule = TabulatedSchedule.from_alphas(res.alpha_grid, knots)
    out = {"method": "model-only", **res.to_dict(), "time_grid": [float(t) for t in knots],
           "objective_evaluations": 0, "profile_model_calls": int(profile.model_calls), "profile": profile.to_dict()}
    calls = sampler_model_calls(schedule, profile.length, k, sampler=sampler, grid=knots)
    out.update({key: calls[key] for key in ("model_calls", "expected_model_calls") if key in calls})
    if isinstance(objective, ExactDivergence):
        value = float(objective(schedule))
        bound = chain_rule_kl(profile, res.alpha_grid, counts=res.counts)
        out["after_the_fact"] = {
            "metric": objective.metric, "label": objective.label(), "value": _json_number(value),
            "chain_rule_path_kl": _json_number(bound),
            "note": "computed after the choice and never used to make it; chain_rule_path_kl is the exact path KL "
                    "of the random-order sampler, an upper bound on KL(q||p)"}
        if objective.order == "confidence":
            out["info"]["order_note"] = _CONFIDENCE_NOTE
        settings = objective.settings()
    else:
        settings = {"steps": k, "sampler": sampler, "length": int(profile.length)}
    out["settings"] = {**settings, "method": "model-only", "per_step": per_step}
    return out

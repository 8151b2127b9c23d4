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

from mdm_ot.tuning._core import _json_number
from mdm_ot.tuning._gradient import GradientResult, tune_beta, tune_free_form
from mdm_ot.tuning._objectives import CallableObjective, Objective, make_objective
from mdm_ot.tuning._plot import plot_grid
from mdm_ot.tuning._search import GridResult, TwoStageResult, grid_search, parse_grid, two_stage
from mdm_ot.tuning._targets import parse_target

__all__ = ["METHODS", "tune", "tune_target"]

#: The methods of :func:`tune`.
METHODS = ("grid", "two-stage", "gradient", "free-form")


def tune(objective: Objective | Callable, method: str = "grid", *, grid=None,
         **options) -> GridResult | TwoStageResult | GradientResult:
    """Tune a mask schedule for an objective with one of :data:`METHODS`.

    Args:
      objective: an :class:`Objective`, or a function ``schedule -> scalar`` to minimize
        (wrapped in :class:`CallableObjective`, evaluated in a Python loop).
      method: ``"grid"`` (:func:`grid_search`), ``"two-stage"`` (:func:`two_stage`),
        ``"gradient"`` (:func:`tune_beta`) or ``"free-form"`` (:func:`tune_free_form`).
      grid: the grid and two-stage methods' grid: a spec (:func:`parse_grid`, default
        ``"paper"``) or a pair ``(a_values, b_values)``.
      **options: the chosen method's keyword arguments.

    Returns:
      The method's result.

    Raises:
      ValueError: for an unknown method, a grid with a gradient method, or the method's
        own errors.
    """
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
                plot: str | None = None, progress: bool = False) -> dict:
    """Tune the Beta schedule for a target spec (:data:`TARGET_SPECS`) at ``steps`` steps:
    the ``mdm-ot tune`` command's result as a JSON-ready dict.

    ``method`` is ``"grid"``, ``"two-stage"`` or ``"gradient"`` (the grid search, then Adam
    from ``objective.default_init``; the better of the two is the best); ``free_form`` also
    tunes the free-form schedule and reports the gap between the best Beta schedule and it;
    ``plot`` saves the heatmap (a ``.png`` path).

    Returns:
      Keys ``best`` (``a``, ``b``, ``value`` and, for grid and gradient, ``source``),
      ``grid`` (every grid point and its value), ``settings``, and per method ``two_stage``,
      ``gradient``, ``free_form``, ``plot``.

    Raises:
      ValueError: on bad input.
    """
    tgt = parse_target(target)
    objective = make_objective(tgt, steps, sampler=sampler, order=order, temperature=temperature, metric=metric)
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

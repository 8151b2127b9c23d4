r"""Gradient tuning with Adam (optax) for differentiable objectives: in the Beta family
over :math:`(\log a, \log b)` (:func:`tune_beta`) and over every increasing schedule on
the K-step grid (:func:`tune_free_form`).

Example:
  >>> from mdm_ot.tuning import ReducedEnergy, tune_beta
  >>> res = tune_beta(ReducedEnergy(), steps=5)
  >>> res.num_evaluations
  5

References:
  The paper's section 4 (Beta family); MATH.md section 4 (a K-step sampler sees alpha on
  its grid only); docs/tuning.md.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from mdm_ot.sampling import default_grid
from mdm_ot.schedules import MaskSchedule, TabulatedSchedule, beta_schedule, check_knots
from mdm_ot.tuning._core import Best, _best_index, _json_number, _sign
from mdm_ot.tuning._objectives import ExactDivergence, Objective

__all__ = ["GradientResult", "tune_beta", "tune_free_form"]


@dataclasses.dataclass(frozen=True)
class GradientResult:
    r"""The record of a gradient-based tuning run.

    Attributes:
      family: ``"beta"`` or ``"free"``.
      params: ``[E, P]`` the parameters at every evaluation: ``(a, b)`` for the Beta family,
        :math:`\alpha` on the K-step grid (``K + 1`` values) for the free-form family.
      values: ``[E]`` the objective at every evaluation (its own sign; ``+inf``, or ``-inf``
        when maximizing, where it was not finite, after which the step was undone and the
        learning rate halved).
      best_index: the evaluation with the best value.
      maximize: larger is better.
      settings: everything that produced the run.
    """

    family: str
    params: np.ndarray
    values: np.ndarray
    best_index: int
    maximize: bool
    settings: dict

    @property
    def num_evaluations(self) -> int:
        return int(self.values.shape[0])

    @property
    def best_value(self) -> float:
        return float(self.values[self.best_index])

    @property
    def best_params(self) -> np.ndarray:
        return self.params[self.best_index]

    @property
    def best(self) -> Best:
        """The best point (Beta family only)."""
        if self.family != "beta":
            raise ValueError("a free-form result has no (a, b); use best_params (alpha on the grid)")
        a, b = self.best_params
        return Best(float(a), float(b), self.best_value)

    def schedule(self) -> MaskSchedule:
        """The best schedule found."""
        if self.family == "beta":
            return beta_schedule(*self.best_params)
        return TabulatedSchedule.from_alphas(self.best_params, jnp.asarray(self.settings["time_grid"]))

    def evaluations_to_reach(self, value: float) -> int | None:
        """The number of evaluations until the objective was at least as good as ``value``
        (None if never)."""
        ok = self.values >= value if self.maximize else self.values <= value
        hits = np.flatnonzero(ok & np.isfinite(self.values))
        return int(hits[0]) + 1 if hits.size else None

    def to_dict(self) -> dict:
        traj = []
        for k, (p, v) in enumerate(zip(self.params, self.values, strict=True)):
            row = {"evaluation": k + 1, "value": _json_number(v)}
            if self.family == "beta":
                row.update(a=float(p[0]), b=float(p[1]))
            else:
                row["alpha"] = [float(x) for x in p]
            traj.append(row)
        best = {"value": _json_number(self.best_value)}
        if self.family == "beta":
            best.update(a=float(self.best_params[0]), b=float(self.best_params[1]))
        else:
            best["alpha"] = [float(x) for x in self.best_params]
        return {"family": self.family, "best": best, "num_evaluations": self.num_evaluations,
                "trajectory": traj, "settings": self.settings}


_LOG_MIN, _LOG_MAX = math.log(1e-2), math.log(1e2)


@jax.jit
def _beta_value_and_grad(objective, logab):
    sign = _sign(objective)

    def f(p):
        return sign * objective(beta_schedule(jnp.exp(p[0]), jnp.exp(p[1])))

    return jax.value_and_grad(f)(logab)


@jax.jit
def _free_value_and_grad(objective, logits, knots):
    sign = _sign(objective)

    def f(z):
        return sign * objective(TabulatedSchedule.from_logits(z, knots))

    return jax.value_and_grad(f)(logits)


def _check_differentiable(objective: Objective) -> Objective:
    """Validate; return the objective to differentiate (a padded grid unpadded)."""
    if not isinstance(objective, Objective):
        raise ValueError(f"expected an Objective, got {type(objective).__name__}")
    if not objective.jittable or not objective.differentiable:
        raise ValueError(objective.why_not_differentiable() + " (gradient tuning needs a differentiable objective)")
    if isinstance(objective, ExactDivergence):
        # A grid padded with repeated 1's (padded_grid) gives the same values, but the
        # exact evaluator's stochastic step factor (1 - rho)^0 has a NaN derivative at
        # rho = 1, which the last real step of a padded grid reaches: differentiate on the
        # distinct times instead (the same sampler).
        g = _objective_grid(objective, None)
        if g.shape[0] != objective.grid.shape[0]:
            objective = dataclasses.replace(objective, grid=g, num_steps=int(g.shape[0]) - 1)
    return objective


def _adam_loop(value_and_grad, x0, *, steps, learning_rate, project=None, skip_bad_start=False):
    """Adam on ``x``; a non-finite value or gradient undoes the last step and halves the
    learning rate. A non-finite start raises (or, with ``skip_bad_start``, ends this start
    after its one evaluation). Returns the evaluated points and their (signed) values."""
    import optax

    opt = optax.inject_hyperparams(optax.adam)(learning_rate=learning_rate)
    x = x0
    state = opt.init(x)
    good = None  # (x, state) of the last finite evaluation
    xs, vals = [], []
    for _ in range(steps):
        v, g = value_and_grad(x)
        v = float(v)
        xs.append(np.asarray(x))
        finite = math.isfinite(v) and bool(jnp.all(jnp.isfinite(g)))
        vals.append(v if finite else math.inf)
        if not finite:
            if good is None:
                if skip_bad_start:
                    break
                raise ValueError("the objective is not finite at the starting point; choose another init")
            x, state = good
            state.hyperparams["learning_rate"] = state.hyperparams["learning_rate"] * 0.5
            continue
        good = (x, state)
        updates, state = opt.update(g, state, x)
        x = optax.apply_updates(x, updates)
        if project is not None:
            x = project(x)
    return np.stack(xs), np.array(vals)


def tune_beta(objective: Objective, *, init: tuple[float, float] | None = None, steps: int = 100,
              learning_rate: float = 0.1, restarts: int = 0, seed: int = 0) -> GradientResult:
    r"""Gradient tuning in the Beta family with Adam over :math:`(\log a, \log b)`.

    Each of the ``steps`` iterations costs one evaluation (value and gradient together).
    Parameters are kept in :math:`[10^{-2}, 10^2]`. A step that lands where the objective
    is not finite (a divergent energy) is undone and the learning rate halved.

    Args:
      objective: a differentiable, jittable objective (the exact divergences of the
        stochastic sampler; energies; a differentiable user function).
      init: starting ``(a, b)``; default ``objective.default_init`` (linear, ``(0.5, 0.5)``,
        for sampler objectives).
      steps: evaluations per start.
      learning_rate: Adam's step size in log-parameter space.
      restarts: additional starts drawn log-uniformly in ``[0.1, 3]^2`` with ``seed``; a
        start where the objective is not finite costs one evaluation and is dropped.
      seed: seed of the restarts (the run is deterministic for a given seed).

    Returns:
      :class:`GradientResult` (``family="beta"``) over all starts, in order.

    Raises:
      ValueError: for a count-sampler objective (:data:`COUNT_NOT_DIFFERENTIABLE`) or any
        objective that is not differentiable, or bad settings.

    References:
      The paper's section 4 (Beta family).
    """
    objective = _check_differentiable(objective)
    _check_run(steps, learning_rate, restarts, seed)
    init = objective.default_init if init is None else init
    a0, b0 = (float(v) for v in init)
    if not (a0 > 0 and b0 > 0 and math.isfinite(a0) and math.isfinite(b0)):
        raise ValueError(f"init must be (a, b) with a, b > 0, got {init!r}")
    extra = np.exp(np.random.default_rng(seed).uniform(math.log(0.1), math.log(3.0), (restarts, 2)))
    starts = [(a0, b0)] + [(float(x), float(y)) for x, y in extra]
    dtype = jnp.result_type(float)

    def vg(x):
        return _beta_value_and_grad(objective, x)

    def project(x):
        return jnp.clip(x, _LOG_MIN, _LOG_MAX)

    all_x, all_v = [], []
    for r, (a_s, b_s) in enumerate(starts):
        x0 = jnp.log(jnp.asarray([a_s, b_s], dtype))
        xs, vs = _adam_loop(vg, x0, steps=int(steps), learning_rate=learning_rate, project=project,
                            skip_bad_start=r > 0)
        all_x.append(np.exp(xs))
        all_v.append(vs)
    params = np.concatenate(all_x)
    raw = np.concatenate(all_v)
    values = np.where(np.isinf(raw), np.inf if not objective.maximize else -np.inf, _sign(objective) * raw)
    best = _best_index(values, objective.maximize)
    settings = {**objective.settings(), "method": "gradient", "family": "beta", "init": [a0, b0], "steps": int(steps),
                "learning_rate": float(learning_rate), "restarts": int(restarts), "seed": int(seed), "optimizer": "adam"}
    return GradientResult("beta", params, values, best, bool(objective.maximize), settings)


def _objective_grid(objective: Objective, num_steps: int | None):
    grid = getattr(objective, "grid", None)
    if grid is not None:
        # the distinct times: a grid padded with repeated 1's (padded_grid) has fewer steps
        g = np.asarray(grid)
        return jnp.asarray(g[np.concatenate([[True], np.diff(g) > 0])], jnp.asarray(grid).dtype)
    if num_steps is None:
        raise ValueError("this objective has no time grid: give num_steps")
    return default_grid(int(num_steps))


def tune_free_form(objective: Objective, *, num_steps: int | None = None, init: ArrayLike | None = None,
                   steps: int = 200, learning_rate: float = 0.1, restarts: int = 0, seed: int = 0) -> GradientResult:
    r"""Gradient tuning over every increasing schedule on the K-step grid.

    The schedule is :class:`TabulatedSchedule` on the objective's time grid with increments
    :math:`\operatorname{softmax}(z)` of free logits :math:`z \in \mathbb R^K`, so
    :math:`\alpha_0 = 0`, :math:`\alpha_K = 1` and :math:`\alpha` increases. Adam over
    ``z``, starting from ``z = 0`` (the linear schedule) unless ``init`` (alpha on the grid,
    strictly increasing) is given. A K-step sampler sees a schedule only on its grid, so
    the result bounds every family from below (up to the optimizer's accuracy): compare
    it with :func:`tune_beta` to see how far the best Beta schedule is from the best
    schedule of any shape.

    Args:
      objective: differentiable and jittable; its time grid (``objective.grid``) fixes K,
        else ``num_steps``.
      init: optional starting alpha on the grid (``K + 1`` values from 0 to 1, increasing).
      steps, learning_rate, restarts, seed: as :func:`tune_beta` (restarts start from
        Gaussian logits of scale 1).

    Returns:
      :class:`GradientResult` (``family="free"``; ``params`` are alpha on the grid).

    References:
      MATH.md section 4 (the K-step sampler sees alpha on the grid only).
    """
    objective = _check_differentiable(objective)
    _check_run(steps, learning_rate, restarts, seed)
    knots = _objective_grid(objective, num_steps)
    k = knots.shape[0] - 1
    check_knots(knots, k)
    dtype = jnp.result_type(knots, float)
    if init is None:
        z0 = jnp.zeros(k, dtype)
    else:
        al = np.asarray(init, float)
        if al.shape != (k + 1,) or al[0] != 0 or al[-1] != 1 or np.any(np.diff(al) <= 0):
            raise ValueError(f"init must be alpha on the grid: {k + 1} strictly increasing values from 0 to 1")
        z0 = jnp.log(jnp.asarray(np.diff(al), dtype))
    rng = np.random.default_rng(seed)
    starts = [z0] + [jnp.asarray(rng.normal(size=k), dtype) for _ in range(restarts)]

    def vg(z):
        return _free_value_and_grad(objective, z, knots)

    all_x, all_v = [], []
    for r, z in enumerate(starts):
        zs, vs = _adam_loop(vg, z, steps=int(steps), learning_rate=learning_rate, skip_bad_start=r > 0)
        all_x.append(np.asarray(jax.vmap(lambda zz: TabulatedSchedule.from_logits(zz, knots).alphas())(jnp.asarray(zs))))
        all_v.append(vs)
    raw = np.concatenate(all_v)
    values = np.where(np.isinf(raw), np.inf if not objective.maximize else -np.inf, _sign(objective) * raw)
    best = _best_index(values, objective.maximize)
    settings = {**objective.settings(), "method": "gradient", "family": "free", "steps": int(steps),
                "learning_rate": float(learning_rate), "restarts": int(restarts), "seed": int(seed), "optimizer": "adam",
                "time_grid": [float(t) for t in np.asarray(knots)]}
    return GradientResult("free", np.concatenate(all_x), values, best, bool(objective.maximize), settings)


def _check_run(steps, learning_rate, restarts, seed) -> None:
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if not (isinstance(learning_rate, (int, float)) and math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a number > 0, got {learning_rate!r}")
    if not isinstance(restarts, (int, np.integer)) or restarts < 0:
        raise ValueError(f"restarts must be an integer >= 0, got {restarts!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")

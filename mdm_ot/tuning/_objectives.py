r"""Objectives of a mask schedule for tuning: exact divergences of the K-step sampler's
output from a target, the reduced and discrete energies, and user functions.

Objectives are pytrees, so one compiled evaluation serves every target of the same shape.
The count sampler's objectives are piecewise constant in the schedule
(:data:`COUNT_NOT_DIFFERENTIABLE`); docs/tuning.md explains each objective.

Example:
  >>> from mdm_ot.schedules import beta_schedule
  >>> from mdm_ot.tuning import make_objective
  >>> kl = make_objective("modes", 3)  # KL(q || p) of the 3-step stochastic sampler
  >>> float(kl(beta_schedule(0.5, 0.5))) > 0
  True

References:
  The paper's section 4, Eq. 14 and Appendix D.5; MATH.md sections 2-5.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from mdm_ot._pytree import frozen_pytree as _pytree
from mdm_ot._pytree import is_concrete
from mdm_ot.energies import discrete_geodesic_energy, reduced_energy
from mdm_ot.sampling import (
    check_grid,
    check_sizes,
    default_grid,
    divergences,
    exact_output_table,
    table_oracle,
)
from mdm_ot.schedules import Identity, InterpSchedule, MaskSchedule
from mdm_ot.tuning._core import _MAX_TRANSITIONS
from mdm_ot.tuning._targets import Target, parse_target

__all__ = [
    "COUNT_NOT_DIFFERENTIABLE",
    "METRICS",
    "CallableObjective",
    "DiscreteEnergy",
    "ExactDivergence",
    "Objective",
    "ReducedEnergy",
    "make_objective",
]

#: Metrics of :class:`ExactDivergence` (all to minimize).
METRICS = ("kl", "kl-reverse", "tv", "invalid")

COUNT_NOT_DIFFERENTIABLE = (
    "count-sampler objectives are piecewise constant in the schedule (the token counts are "
    "rounded), so their gradient is zero almost everywhere: tune them by grid search or the "
    "two-stage protocol"
)


class Objective(abc.ABC):
    """An objective of a mask schedule: ``objective(schedule) -> scalar``.

    Attributes (class-level or fields):
      maximize: larger is better (task metrics); otherwise smaller is better.
      jittable: ``__call__`` can be traced (jit / vmap / grad).
      differentiable: gradients in the schedule's parameters are meaningful.
      default_init: ``(a, b)`` where gradient tuning starts by default.
    """

    maximize: bool = False
    jittable: bool = True
    differentiable: bool = False
    default_init: tuple[float, float] = (0.5, 0.5)  # the linear schedule

    @abc.abstractmethod
    def __call__(self, schedule: MaskSchedule) -> jax.Array:
        """The objective's value for one schedule."""

    def subset(self, schedule: MaskSchedule, size: int, key: Any) -> jax.Array:
        """An estimate of the objective from a subset of ``size`` prompts / samples / seeds."""
        raise ValueError(f"the objective {self.describe()!r} has no subset estimate, so the "
                         "two-stage protocol does not apply; use grid search or gradient tuning")

    def bytes_per_eval(self) -> int:
        """A rough memory estimate of one evaluation (for chunking batched grids)."""
        return 1 << 16

    @abc.abstractmethod
    def describe(self) -> str:
        """A one-line description."""

    def label(self) -> str:
        """A short name for plot axes."""
        return self.describe()

    def settings(self) -> dict:
        """The settings that define the objective, JSON-ready."""
        return {"objective": self.describe(), "label": self.label(), "maximize": bool(self.maximize)}

    def why_not_differentiable(self) -> str:
        return f"the objective {self.describe()!r} is not differentiable"


@_pytree(data=("q", "temperature", "grid"), meta=("num_steps", "sampler", "order", "metric"))
class ExactDivergence(Objective):
    r"""A divergence between a target ``q`` and the exact output of the K-step sampler with
    the exact denoiser of ``q``.

    Build with :meth:`create` (validates). Metrics (all minimized): ``"kl"``
    :math:`KL(q \| p)`, ``"kl-reverse"`` :math:`KL(p \| q)` (``+inf`` as soon as ``p`` puts
    mass off the support of ``q``), ``"tv"``, ``"invalid"`` :math:`\sum_{x: q(x) = 0} p(x)`.
    Differentiable for the stochastic sampler only (:data:`COUNT_NOT_DIFFERENTIABLE`).

    References:
      MATH.md section 4 (exact output distribution of the K-step sampler).
    """

    q: jax.Array
    temperature: jax.Array
    grid: jax.Array
    num_steps: int
    sampler: str = "stochastic"
    order: str = "random"
    metric: str = "kl"

    @classmethod
    def create(cls, q: ArrayLike, num_steps: int, *, sampler: str = "stochastic", order: str = "random",
               temperature: float | None = None, metric: str = "kl", grid: ArrayLike | None = None) -> ExactDivergence:
        """Validate and build. ``temperature`` defaults to 0 for confidence order, else 1."""
        if sampler not in ("stochastic", "count"):
            raise ValueError(f"sampler must be 'stochastic' or 'count', got {sampler!r}")
        if order not in ("random", "confidence"):
            raise ValueError(f"order must be 'random' or 'confidence', got {order!r}")
        if sampler == "stochastic" and order != "random":
            raise ValueError("order 'confidence' needs the count sampler (stochastic steps reveal positions at random)")
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; allowed: {', '.join(METRICS)}")
        check_sizes(num_steps, 1, None)
        table_oracle(q)  # validates q
        q = jnp.asarray(q)
        if not jnp.issubdtype(q.dtype, jnp.floating):
            q = q.astype(jnp.result_type(float))
        n, d = q.ndim, q.shape[0]
        if (2 * d + 1) ** n > _MAX_TRANSITIONS:
            raise ValueError(f"a target with n = {n}, d = {d} is too large for the exact evaluation "
                             f"((2d+1)^n = {(2 * d + 1) ** n} transitions > {_MAX_TRANSITIONS})")
        if temperature is None:
            temperature = 0.0 if order == "confidence" else 1.0
        if not (math.isfinite(temperature) and temperature >= 0):
            raise ValueError(f"the temperature must be a finite number >= 0, got {temperature}")
        grid = default_grid(num_steps, q.dtype) if grid is None else jnp.asarray(grid, q.dtype)
        check_grid(grid, num_steps)
        return cls(q, jnp.asarray(temperature, q.dtype), grid, int(num_steps), sampler, order, metric)

    @property
    def differentiable(self) -> bool:  # type: ignore[override]
        return self.sampler == "stochastic"

    def why_not_differentiable(self) -> str:
        return COUNT_NOT_DIFFERENTIABLE

    def output(self, schedule: MaskSchedule) -> jax.Array:
        """The exact output distribution ``p`` of shape ``(d,) * n``."""
        return exact_output_table(self.q, schedule, num_steps=self.num_steps, sampler=self.sampler,
                                  order=self.order, temperature=self.temperature, grid=self.grid)

    def _metric(self, p: jax.Array) -> jax.Array:
        if self.metric == "invalid":
            return jnp.sum(jnp.where(self.q > 0, 0, p))
        div = divergences(p, self.q)
        return {"kl": div.kl_data_to_model, "kl-reverse": div.kl_model_to_data, "tv": div.tv}[self.metric]

    def __call__(self, schedule: MaskSchedule) -> jax.Array:
        return self._metric(self.output(schedule))

    def subset(self, schedule: MaskSchedule, size: int, key: Any) -> jax.Array:
        r"""The metric estimated from ``size`` outputs of the sampler, drawn with ``key``.

        The outputs are drawn from the exact output distribution ``p`` (inverse CDF over
        the :math:`d^n` sequences, one uniform per output): the same distribution as
        running the sampler ``size`` times (:mod:`mdm_ot.sampling` is checked against the
        samplers), at a fraction of the cost. The same key serves every schedule (common
        random numbers, as scoring every schedule on the same prompts), which couples the
        draws monotonically and makes rankings on a subset less noisy.

        Plug-in estimates from the empirical distribution :math:`\hat p`:
        ``"invalid"``: the fraction of outputs off the support of ``q`` (unbiased);
        ``"tv"``: :math:`\tfrac12 \sum |\hat p - q|`; ``"kl-reverse"``: :math:`KL(\hat p \| q)`;
        ``"kl"``: :math:`KL(q \| \hat p_{1/2})` with the add-1/2 (Krichevsky-Trofimov)
        estimate :math:`\hat p_{1/2} = (c + 1/2)/(N + d^n/2)`, finite for any sample.
        These are consistent (they tend to the exact metric as ``size`` grows) but biased
        for small ``size``; the two-stage protocol only needs their ranking.
        """
        return self.estimate(self.output(schedule), size, key)

    def estimate(self, p: jax.Array, size: int, key: Any) -> jax.Array:
        """:meth:`subset` from the exact output ``p`` (shape ``(d,) * n``)."""
        counts = _draw_counts(p.reshape(-1), size, key).reshape(self.q.shape)
        if self.metric == "kl":
            smooth = (counts + 0.5) / (size + 0.5 * counts.size)
            return divergences(smooth, self.q).kl_data_to_model
        return self._metric(counts / size)

    def bytes_per_eval(self) -> int:
        n, d = self.q.ndim, self.q.shape[0]
        return 128 * (2 * d + 1) ** n + 64 * (d + 1) ** n

    def label(self) -> str:
        return {"kl": "KL(q||p)", "kl-reverse": "KL(p||q)", "tv": "TV(p, q)", "invalid": "P(off the support of q)"}[self.metric]

    def describe(self) -> str:
        n, d = self.q.ndim, self.q.shape[0]
        how = "stochastic" if self.sampler == "stochastic" else f"count/{self.order}"
        k = int(np.sum(np.diff(np.asarray(self.grid)) > 0)) if is_concrete(self.grid) else self.num_steps
        return f"{self.label()} of the exact {how} sampler, K={k}, n={n}, d={d}"

    def settings(self) -> dict:
        return {
            **super().settings(), "metric": self.metric, "sampler": self.sampler, "order": self.order,
            "steps": int(np.sum(np.diff(np.asarray(self.grid)) > 0)), "compiled_steps": self.num_steps,
            "temperature": float(self.temperature), "length": self.q.ndim,
            "vocab_size": self.q.shape[0], "time_grid": [float(t) for t in np.asarray(self.grid)],
        }


def _draw_counts(p: jax.Array, size: int, key: jax.Array) -> jax.Array:
    """Counts of ``size`` draws from the categorical ``p`` by inverse CDF (one uniform each)."""
    cdf = jnp.cumsum(p)
    u = jax.random.uniform(key, (size,), p.dtype) * cdf[-1]
    idx = jnp.clip(jnp.searchsorted(cdf, u, side="right"), 0, p.shape[0] - 1)
    return jnp.zeros(p.shape, p.dtype).at[idx].add(1)


@_pytree(data=("gamma",))
class ReducedEnergy(Objective):
    r"""The reduced energy :math:`e(\alpha, \gamma)` (``+inf`` where it diverges), minimized.

    With ``gamma = t`` the Beta family gives
    :math:`\pi^2 B(2a-1, 2b-1)/B(a,b)^2`, minimal (:math:`\pi^2`) at ``(1, 1)``.

    References:
      The paper's Eq. 14 and Lemma 3.5.
    """

    gamma: InterpSchedule = dataclasses.field(default_factory=Identity)
    differentiable = True
    default_init = (2.0, 2.0)  # finite (a, b > 1/2 for gamma = t) and not the optimum

    def __call__(self, schedule):
        return reduced_energy(schedule, self.gamma).value

    def label(self) -> str:
        return "reduced energy e(alpha, gamma)"

    def describe(self) -> str:
        return f"reduced energy e(alpha, gamma={self.gamma.spec})"


@_pytree(data=("gamma", "grid"), meta=("num_steps",))
class DiscreteEnergy(Objective):
    r"""The discrete geodesic energy per token of the K-step grid, minimized; its minimum
    over schedules with equal :math:`\Delta\gamma` is :math:`8K^2(1 - \cos(\pi/2K))`.

    References:
      The paper's Appendix D.5.
    """

    gamma: InterpSchedule
    grid: jax.Array
    num_steps: int
    differentiable = True
    default_init = (2.0, 2.0)

    @classmethod
    def create(cls, num_steps: int, gamma: InterpSchedule | None = None) -> DiscreteEnergy:
        check_sizes(num_steps, 1, None)
        return cls(Identity() if gamma is None else gamma, default_grid(num_steps), int(num_steps))

    def __call__(self, schedule):
        return discrete_geodesic_energy(schedule, self.gamma, self.grid)

    def label(self) -> str:
        return "discrete geodesic energy"

    def describe(self) -> str:
        return f"discrete geodesic energy, K={self.num_steps}, gamma={self.gamma.spec}"


@_pytree(meta=("fn", "subset_fn", "maximize", "jittable", "differentiable", "name"))
class CallableObjective(Objective):
    """A user function ``fn(schedule) -> scalar`` (for instance a task metric of a real
    model on a fixed subset of prompts).

    Attributes:
      fn: the full evaluation.
      subset_fn: optional ``subset_fn(schedule, size, seed) -> scalar``: the metric on
        ``size`` prompts / seeds chosen with ``seed`` (an integer; a JAX PRNG key when the
        objective is jittable), the same for every schedule (enables :func:`two_stage`).
      maximize: larger is better (accuracy, pass@1).
      jittable: ``fn`` (and ``subset_fn``) can be traced and vmapped; otherwise they run
        in a Python loop, one schedule at a time, with a progress bar.
      differentiable: ``fn`` is jittable and differentiable (enables gradient tuning).
      name: a label for reports.
    """

    fn: Callable
    subset_fn: Callable | None = None
    maximize: bool = False
    jittable: bool = False
    differentiable: bool = False
    name: str = "user objective"

    def __post_init__(self):
        if not callable(self.fn):
            raise ValueError(f"fn must be callable, got {type(self.fn).__name__}")
        if self.differentiable and not self.jittable:
            raise ValueError("a differentiable objective must also be jittable")

    def __call__(self, schedule):
        return self.fn(schedule)

    def subset(self, schedule, size, key):
        if self.subset_fn is None:
            return super().subset(schedule, size, key)
        return self.subset_fn(schedule, size, key)

    def describe(self) -> str:
        return self.name


def make_objective(target: Target | str, num_steps: int, *, sampler: str = "stochastic", order: str = "random",
                   temperature: float | None = None, metric: str = "kl") -> Objective:
    """The objective of a target spec at ``num_steps`` steps (energies ignore the sampler)."""
    if isinstance(target, str):
        target = parse_target(target)
    if target.kind == "table":
        return ExactDivergence.create(jnp.asarray(target.q), num_steps, sampler=sampler, order=order,
                                      temperature=temperature, metric=metric)
    if target.kind == "energy":
        return ReducedEnergy(target.gamma)
    return DiscreteEnergy.create(num_steps, target.gamma)

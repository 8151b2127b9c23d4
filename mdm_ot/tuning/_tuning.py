r"""Post-training tuning of the mask schedule for a step budget K.

The paper's point (Proposition C.2, MATH.md section 3): training does not depend on the
mask schedule, so the schedule of a trained model can be tuned afterwards, for the number
of sampling steps one can afford. This module searches the Beta family
:math:`\alpha(t) = \sin^2(\tfrac{\pi}{2} I_t(a, b))` (the paper's section 4) and a
free-form family, for an objective to minimize or maximize.

**Objectives** (:class:`Objective`; pytrees, so one compiled evaluation serves every
target of the same shape):

* :class:`ExactDivergence`: an exact divergence between an explicit target ``q`` (the toy
  targets of Figure 4, a small Markov chain, any table) and the exact output distribution
  of the K-step sampler with the exact denoiser (:mod:`mdm_ot.exact`):
  ``"kl"`` = :math:`KL(q \| p)` (data to model; the default), ``"kl-reverse"`` =
  :math:`KL(p \| q)`, ``"tv"``, ``"invalid"`` = the mass :math:`p` puts off the support of
  ``q`` (a "task failure rate"). Its *subset* estimate (for the two-stage protocol) is the
  same metric computed from ``size`` samples of the sampler (a Monte-Carlo plug-in estimate,
  see :meth:`ExactDivergence.subset`), the analogue of scoring a task metric on ``size``
  prompts.
* :class:`ReducedEnergy` and :class:`DiscreteEnergy`: the reduced energy
  :math:`e(\alpha,\gamma)` (``+inf`` where it diverges) and the discrete geodesic energy of
  the K-step grid (the paper's Eq. 14 and Appendix D.5).
* :class:`CallableObjective`: any user function ``schedule -> scalar`` (a task metric of a
  real model, on a subset of prompts or seeds); if it is not jittable, it is evaluated in a
  Python loop with a progress bar.

**Methods**:

* :func:`grid_search`: every point of a grid of ``(a, b)`` (:func:`parse_grid`: the
  paper's grid, ``fine``, ``A0:A1:N,B0:B1:N``, grids beyond 1), batched with ``vmap``,
  chunked to bound memory, and sharded over all local devices with ``jax.sharding`` (a 1-D
  mesh over the batch axis) when there are several.
* :func:`two_stage`: the paper's protocol (Appendix E.1): a coarse pass on a small subset,
  a shortlist of the best ``top_k``, then a larger subset on the shortlist; the rank
  agreement between subset and full evaluation is Kendall's :math:`\tau_b`
  (:func:`kendall_tau`), as the paper's Table 1.
* :func:`tune_beta` and :func:`tune_free_form`: gradient descent with optax (Adam) for
  differentiable objectives: in the Beta family (over :math:`\log a, \log b`) and in the
  free-form family (any increasing schedule on the K-step grid, :class:`FreeFormSchedule`),
  so that one can see how far the best Beta schedule is from the best schedule of any
  shape. **The count sampler's output depends on the schedule only through rounded token
  counts: its objectives are piecewise constant in the schedule (zero gradient almost
  everywhere), so they are tuned by grid search or the two-stage protocol only.**

Every result carries the whole grid or trajectory, the best point and the settings that
produced it, and is deterministic for a given seed.

References:
  The paper's section 4 (Beta family), Appendix E.1 and Table 1 (tuning protocol, rank
  agreement), Proposition C.2 (training invariance); MATH.md sections 2-5.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from mdm_ot._pytree import frozen_pytree as _pytree, is_concrete
from mdm_ot.energies import discrete_geodesic_energy, reduced_energy
from mdm_ot.sampling import divergences, exact_output_table
from mdm_ot.sampling import MarkovOracle, markov_oracle, table_oracle
from mdm_ot.sampling import check_grid, check_sizes, alpha_on_grid, default_grid, num_transfer_tokens
from mdm_ot.schedules import (
    FreeFormSchedule,
    check_knots,
    Identity,
    InterpSchedule,
    MaskSchedule,
    beta_schedule,
    parse_alpha,
    parse_gamma,
)
from mdm_ot.tuning._targets import TOY_TARGETS, toy_target

__all__ = [
    "Best",
    "CallableObjective",
    "DiscreteEnergy",
    "ExactDivergence",
    "GradientResult",
    "GridResult",
    "METRICS",
    "Objective",
    "ReducedEnergy",
    "Target",
    "TwoStageResult",
    "grid_search",
    "kendall_tau",
    "make_objective",
    "markov_chain",
    "parse_grid",
    "parse_target",
    "plot_grid",
    "two_stage",
    "tune_beta",
    "tune_free_form",
]

#: Metrics of :class:`ExactDivergence` (all to minimize).
METRICS = ("kl", "kl-reverse", "tv", "invalid")

COUNT_NOT_DIFFERENTIABLE = (
    "count-sampler objectives are piecewise constant in the schedule (the token counts are "
    "rounded), so their gradient is zero almost everywhere: tune them by grid search or the "
    "two-stage protocol"
)

_PAPER_VALUES = tuple(round(0.1 * i, 10) for i in range(1, 11))
GRID_SPECS = "paper (a, b in 0.1..1.0 step 0.1), fine (0.05..2.0 step 0.05), A0:A1:N,B0:B1:N (N evenly spaced values, 0 < A0 <= A1)"
TARGET_SPECS = (
    "modes, middle (the paper's toy), markov:n=N,d=D,seed=S[,conc=C] (random chain), "
    "markov:n=N,init=P1/.../Pd,trans=P11/.../Pdd (explicit chain, rows of trans in order), "
    "npy:FILE (a table q of shape (d,)*n), energy[:GAMMA], discrete-energy[:GAMMA]"
)

# Bound on the exact evaluation: the stochastic step enumerates (2d+1)^n transitions.
_MAX_TRANSITIONS = 2_000_000



# ======================================================================================
# Objectives
# ======================================================================================


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
        running the sampler ``size`` times (:mod:`mdm_ot.exact` is checked against the
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


# ======================================================================================
# Targets and grids (string specs, for the command line)
# ======================================================================================


@dataclasses.dataclass(frozen=True)
class Target:
    """A parsed ``--target`` spec: a table ``q`` (oracle targets) or an energy."""

    spec: str
    kind: str  # "table" or "energy" or "discrete-energy"
    q: np.ndarray | None = None
    gamma: InterpSchedule | None = None
    info: dict = dataclasses.field(default_factory=dict)


def markov_chain(n: int, d: int, seed: int, concentration: float = 0.5) -> MarkovOracle:
    r"""A random Markov chain: initial distribution and every row of the transition matrix
    drawn from a symmetric Dirichlet(``concentration``) with ``numpy.random.default_rng(seed)``
    (smaller concentration: sparser, more structured chains).

    ``n`` is only validated here (the chain has any length).
    """
    for name, v, lo in (("n", n, 1), ("d", d, 2), ("seed", seed, 0)):
        if not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    if not (math.isfinite(concentration) and concentration > 0):
        raise ValueError(f"the Dirichlet concentration must be > 0, got {concentration}")
    rng = np.random.default_rng(seed)
    init = rng.dirichlet(np.full(d, concentration))
    trans = rng.dirichlet(np.full(d, concentration), size=d)
    return markov_oracle(init, trans)


def _parse_markov(spec: str, body: str) -> Target:
    fields: dict[str, str] = {}
    for part in body.split(","):
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq or not key or not value.strip():
            raise ValueError(f"bad target {spec!r}: expected key=value pairs; allowed: {TARGET_SPECS}")
        if key in fields:
            raise ValueError(f"bad target {spec!r}: {key} given twice")
        fields[key] = value.strip()

    def integer(key):
        try:
            return int(fields[key])
        except ValueError:
            raise ValueError(f"bad target {spec!r}: {key} must be an integer, got {fields[key]!r}") from None

    def vector(key):
        try:
            return np.array([float(x) for x in fields[key].split("/")])
        except ValueError:
            raise ValueError(f"bad target {spec!r}: {key} must be numbers separated by '/'") from None

    if "n" not in fields:
        raise ValueError(f"bad target {spec!r}: markov needs the length n=N; allowed: {TARGET_SPECS}")
    n = integer("n")
    if n < 1:
        raise ValueError(f"bad target {spec!r}: n must be >= 1")
    random_keys, explicit_keys = {"n", "d", "seed", "conc"}, {"n", "init", "trans"}
    if set(fields) <= random_keys and {"d", "seed"} <= set(fields):
        conc = float(fields.get("conc", "0.5"))
        chain = markov_chain(n, integer("d"), integer("seed"), conc)
        info = {"n": n, "d": integer("d"), "seed": integer("seed"), "conc": conc}
    elif set(fields) == explicit_keys:
        init, trans = vector("init"), vector("trans")
        d = init.shape[0]
        if trans.shape[0] != d * d:
            raise ValueError(f"bad target {spec!r}: trans needs d*d = {d * d} numbers for d = {d}, got {trans.shape[0]}")
        chain = markov_oracle(init, trans.reshape(d, d))
        info = {"n": n, "d": d}
    else:
        raise ValueError(f"bad target {spec!r}: give n, d, seed[, conc] or n, init, trans; allowed: {TARGET_SPECS}")
    d = chain.vocab_size
    if (2 * d + 1) ** n > _MAX_TRANSITIONS:
        raise ValueError(f"bad target {spec!r}: n = {n}, d = {d} is too large for the exact evaluation "
                         f"((2d+1)^n = {(2 * d + 1) ** n} > {_MAX_TRANSITIONS})")
    q = np.asarray(chain.table(n), np.float64)
    info.update(init=np.asarray(chain.init).tolist(), trans=np.asarray(chain.trans).tolist())
    return Target(spec, "table", q=q / q.sum(), info=info)


def parse_target(spec: str) -> Target:
    """Parse a target spec (:data:`TARGET_SPECS`).

    Markov grammar: ``markov:n=6,d=3,seed=0`` is a random chain (:func:`markov_chain`; an
    optional ``conc=C`` sets the Dirichlet concentration, default 0.5);
    ``markov:n=4,init=0.5/0.5,trans=0.9/0.1/0.2/0.8`` is an explicit chain (``trans`` row by
    row). The target is the chain's distribution over sequences of length ``n``; the exact
    evaluation limits the size to :math:`(2d+1)^n \\le 2 \\cdot 10^6`.

    Raises:
      ValueError: naming what was wrong and what is allowed.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"the target must be a non-empty string; allowed: {TARGET_SPECS}")
    s = spec.strip()
    if s in TOY_TARGETS:
        return Target(s, "table", q=toy_target(s), info={"n": 5, "d": 2})
    name, _, body = s.partition(":")
    if name == "markov" and body:
        return _parse_markov(spec, body)
    if name == "npy" and body:
        try:
            q = np.load(body, allow_pickle=False)
        except FileNotFoundError:
            raise ValueError(f"bad target {spec!r}: no such file {body!r}") from None
        except Exception as exc:  # noqa: BLE001 (any unreadable file is bad input)
            raise ValueError(f"bad target {spec!r}: cannot read {body!r} as .npy ({exc})") from None
        table_oracle(q)
        return Target(spec, "table", q=np.asarray(q, np.float64), info={"n": q.ndim, "d": q.shape[0]})
    if name in ("energy", "discrete-energy"):
        gamma = parse_gamma(body) if body else Identity()
        return Target(spec, name, gamma=gamma, info={"gamma": gamma.spec})
    raise ValueError(f"unknown target {spec!r}; allowed: {TARGET_SPECS}")


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


def _parse_axis(part: str, spec: str) -> np.ndarray:
    pieces = part.split(":")
    if len(pieces) != 3:
        raise ValueError(f"bad grid {spec!r}: each axis is A0:A1:N; allowed: {GRID_SPECS}")
    try:
        lo, hi = float(pieces[0]), float(pieces[1])
        num = int(pieces[2])
    except ValueError:
        raise ValueError(f"bad grid {spec!r}: A0, A1 must be numbers and N an integer; allowed: {GRID_SPECS}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 or hi < lo:
        raise ValueError(f"bad grid {spec!r}: need 0 < A0 <= A1 (Beta parameters are > 0); allowed: {GRID_SPECS}")
    if num < 1 or (num == 1 and hi != lo):
        raise ValueError(f"bad grid {spec!r}: N must be >= 1 (N = 1 only with A0 = A1); allowed: {GRID_SPECS}")
    return np.linspace(lo, hi, num)


def parse_grid(spec: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse a grid spec into the values of ``a`` and of ``b`` (:data:`GRID_SPECS`).

    ``paper``: a, b in {0.1, ..., 1.0} (the paper's coarse grid, Appendix E.1);
    ``fine``: a, b in {0.05, 0.10, ..., 2.0} (40 x 40, beyond 1);
    ``A0:A1:N,B0:B1:N``: ``N`` evenly spaced values from ``A0`` to ``A1`` (inclusive).
    """
    if not isinstance(spec, str):
        raise ValueError(f"the grid must be a string; allowed: {GRID_SPECS}")
    s = spec.strip().lower()
    if s == "paper":
        v = np.array(_PAPER_VALUES)
        return v, v.copy()
    if s == "fine":
        v = np.round(0.05 * np.arange(1, 41), 10)
        return v, v.copy()
    parts = s.split(",")
    if len(parts) != 2:
        raise ValueError(f"unknown grid {spec!r}; allowed: {GRID_SPECS}")
    return _parse_axis(parts[0], spec), _parse_axis(parts[1], spec)


# ======================================================================================
# Results
# ======================================================================================


@dataclasses.dataclass(frozen=True)
class Best:
    """The best point found: ``a``, ``b`` and the objective's ``value`` there."""

    a: float
    b: float
    value: float

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "value": _json_number(self.value)}


def _json_number(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _flat_points(a_values, b_values, values, **extra) -> list[dict]:
    out = []
    for i, a in enumerate(a_values):
        for j, b in enumerate(b_values):
            row = {"a": float(a), "b": float(b), "value": _json_number(values[i, j])}
            for key, arr in extra.items():
                row[key] = _json_number(arr[i, j])
            out.append(row)
    return out


@dataclasses.dataclass(frozen=True)
class GridResult:
    """Every grid point's value (``values[i, j]`` at ``a[i], b[j]``), the best point and
    the settings (non-finite values are ``inf``/``nan``; ``None`` in :meth:`to_dict`)."""

    a: np.ndarray
    b: np.ndarray
    values: np.ndarray
    best: Best
    settings: dict

    def to_dict(self) -> dict:
        return {"best": self.best.to_dict(), "grid": _flat_points(self.a, self.b, self.values),
                "settings": self.settings}


@dataclasses.dataclass(frozen=True)
class TwoStageResult:
    r"""The two-stage protocol's record.

    Attributes:
      a, b: the grid values.
      coarse: ``[Na, Nb]`` subset estimates (``coarse_size``) at every grid point.
      shortlist: ``[(i, j), ...]`` the ``top_k`` grid indices by the coarse estimate, best first.
      fine: ``[Na, Nb]`` larger-subset estimates (``fine_size``) on the shortlist, NaN elsewhere.
      full: ``[Na, Nb]`` full evaluations where made (``full="all"``: everywhere;
        ``"shortlist"``: on the shortlist), NaN elsewhere; None with ``full="none"``.
      best: the shortlist point that is best by the fine estimate, with its full value when
        known (else its fine estimate).
      best_full: the best point of the full evaluation (``full="all"`` only), to see whether
        the protocol found it.
      tau_coarse: Kendall's tau between the coarse estimate and the full evaluation (over
        the whole grid with ``full="all"``, over the shortlist with ``"shortlist"``).
      tau_fine: Kendall's tau between the fine estimate and the full evaluation, over the
        shortlist.
      settings: everything that produced the result.
    """

    a: np.ndarray
    b: np.ndarray
    coarse: np.ndarray
    shortlist: list
    fine: np.ndarray
    full: np.ndarray | None
    best: Best
    best_full: Best | None
    tau_coarse: float | None
    tau_fine: float | None
    settings: dict

    @property
    def values(self) -> np.ndarray:
        """The full values where known, else the coarse estimates (for plots)."""
        return self.coarse if self.full is None or np.all(np.isnan(self.full)) else np.where(np.isnan(self.full), self.coarse, self.full)

    def to_dict(self) -> dict:
        full = self.full if self.full is not None else np.full(self.coarse.shape, np.nan)
        points = _flat_points(self.a, self.b, full, coarse=self.coarse, fine=self.fine)
        short = [(float(self.a[i]), float(self.b[j])) for i, j in self.shortlist]
        return {
            "best": self.best.to_dict(),
            "grid": points,
            "settings": self.settings,
            "two_stage": {
                "shortlist": [{"a": a, "b": b} for a, b in short],
                "best_full": None if self.best_full is None else self.best_full.to_dict(),
                "kendall_tau_coarse_vs_full": _json_number(np.nan if self.tau_coarse is None else self.tau_coarse),
                "kendall_tau_fine_vs_full": _json_number(np.nan if self.tau_fine is None else self.tau_fine),
            },
        }


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
        return FreeFormSchedule.from_alphas(self.best_params, jnp.asarray(self.settings["time_grid"]))

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


# ======================================================================================
# Grid search
# ======================================================================================


def _sign(objective: Objective) -> float:
    return -1.0 if objective.maximize else 1.0


def _best_index(values: np.ndarray, maximize: bool) -> int:
    """Index of the best value (first among equals); NaN counts as worst."""
    v = np.asarray(values, float).ravel()
    key = np.where(np.isnan(v), np.inf, -v if maximize else v)
    return int(np.argmin(key))


def _order(values: np.ndarray, maximize: bool) -> np.ndarray:
    v = np.asarray(values, float).ravel()
    key = np.where(np.isnan(v), np.inf, -v if maximize else v)
    return np.argsort(key, kind="stable")


@jax.jit
def _values_batch(objective, a, b):
    return jax.vmap(lambda ai, bi: objective(beta_schedule(ai, bi)))(a, b)


@functools.partial(jax.jit, static_argnames=("size",))
def _subset_batch(objective, a, b, key, size):
    return jax.vmap(lambda ai, bi: objective.subset(beta_schedule(ai, bi), size, key))(a, b)


# Exact targets in two phases: the output distributions (the costly compile, shared by the
# full evaluation and every subset size), then the cheap metric or estimate.
@jax.jit
def _outputs_batch(objective, a, b):
    return jax.vmap(lambda ai, bi: objective.output(beta_schedule(ai, bi)))(a, b)


def _sampler_only(objective: ExactDivergence) -> ExactDivergence:
    """The same sampler with the default metric: the outputs do not depend on the metric,
    so every metric shares one compiled :func:`_outputs_batch`."""
    return dataclasses.replace(objective, metric="kl")


@jax.jit
def _metric_batch(objective, p):
    return jax.vmap(objective._metric)(p)


@functools.partial(jax.jit, static_argnames=("size",))
def _estimate_batch(objective, p, key, size):
    return jax.vmap(lambda pi: objective.estimate(pi, size, key))(p)


def _devices(devices) -> list:
    devs = list(jax.local_devices() if devices is None else devices)
    if not devs:
        raise ValueError("no devices to run on")
    return devs


def _evaluate_points(objective: Objective, a: np.ndarray, b: np.ndarray, *, devices=None, chunk_size=None,
                     progress=False, subset: tuple[int, int] | None = None, desc="grid",
                     outputs: bool = False) -> np.ndarray:
    """The objective (or its subset estimate with ``subset = (size, seed)``, or with
    ``outputs`` the exact output distributions of an :class:`ExactDivergence`) at every
    ``(a[i], b[i])``: batched, chunked, sharded; or a Python loop if not jittable."""
    a = np.asarray(a, float).ravel()
    b = np.asarray(b, float).ravel()
    num = a.shape[0]
    if num == 0:
        return np.zeros(0)
    if not objective.jittable:
        from tqdm.auto import tqdm

        out = np.empty(num)
        for i in tqdm(range(num), desc=desc, disable=not progress, leave=False):
            sched = beta_schedule(a[i], b[i])
            val = objective(sched) if subset is None else objective.subset(sched, subset[0], subset[1])
            out[i] = float(val)
        return out
    devs = _devices(devices)
    ndev = len(devs)
    if chunk_size is None:
        # a power of two (at least 16), so that grids of nearby sizes share a compilation
        chunk = min(max(1, (1 << 30) // max(1, objective.bytes_per_eval())), max(16, 1 << (num - 1).bit_length()))
    else:
        chunk = int(chunk_size)  # always this size, so that every batch reuses one compilation
        if chunk < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
    chunk = max(ndev, -(-chunk // ndev) * ndev)  # a multiple of the device count
    dtype = jnp.result_type(float)
    a_pad = np.concatenate([a, np.full((-num) % chunk, a[0])])
    b_pad = np.concatenate([b, np.full((-num) % chunk, b[0])])
    if ndev > 1:
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        sharding = NamedSharding(Mesh(np.array(devs), ("batch",)), PartitionSpec("batch"))
    else:
        sharding = jax.sharding.SingleDeviceSharding(devs[0])
    key = None if subset is None else jax.random.PRNGKey(subset[1])
    if key is not None and ndev > 1:
        key = jax.device_put(key, NamedSharding(sharding.mesh, PartitionSpec()))
    elif key is not None:
        key = jax.device_put(key, devs[0])
    from tqdm.auto import tqdm

    out = []
    starts = range(0, a_pad.shape[0], chunk)
    for s in tqdm(starts, desc=desc, disable=not progress or len(starts) < 2, leave=False):
        ac = jax.device_put(jnp.asarray(a_pad[s:s + chunk], dtype), sharding)
        bc = jax.device_put(jnp.asarray(b_pad[s:s + chunk], dtype), sharding)
        if outputs:
            vals = _outputs_batch(_sampler_only(objective), ac, bc)
        elif subset is None:
            vals = _values_batch(objective, ac, bc)
        else:
            vals = _subset_batch(objective, ac, bc, key, subset[0])
        out.append(np.asarray(vals, float))
    return np.concatenate(out)[:num]


def _exact_values(objective: ExactDivergence, p: np.ndarray, subset: tuple[int, int] | None = None) -> np.ndarray:
    """The metric (or its estimate with ``subset = (size, seed)``) from exact outputs ``p``."""
    p = jnp.asarray(p)
    if subset is None:
        return np.asarray(_metric_batch(objective, p), float)
    return np.asarray(_estimate_batch(objective, p, jax.random.PRNGKey(subset[1]), subset[0]), float)


def _points(objective: Objective, a, b, *, subset=None, desc="grid", **kw) -> np.ndarray:
    if isinstance(objective, ExactDivergence):
        p = _evaluate_points(objective, a, b, outputs=True, desc=desc, **kw)
        return _exact_values(objective, p, subset)
    return _evaluate_points(objective, a, b, subset=subset, desc=desc, **kw)


def _check_axis(values, name) -> np.ndarray:
    v = np.asarray(values, float).ravel()
    if v.size == 0 or not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(f"the {name} values must be finite numbers > 0 (Beta parameters), got {values!r}")
    return v


def grid_search(objective: Objective, a_values: ArrayLike, b_values: ArrayLike, *, devices: Sequence | None = None,
                chunk_size: int | None = None, progress: bool = False) -> GridResult:
    r"""Evaluate the objective on every Beta schedule of the grid ``a_values x b_values``.

    Jittable objectives are evaluated with ``vmap`` over a flat batch of schedules, in
    chunks of ``chunk_size`` (default: the number of schedules rounded up to a power of two,
    at least 16, at most what fits about 1 GiB by :meth:`Objective.bytes_per_eval`; a given ``chunk_size`` is used for every batch, padded,
    so that grids of any size share one compilation), each chunk padded to a multiple of
    the number of devices and sharded over them (``NamedSharding`` over a 1-D mesh ``("batch",)``) when
    there are several. Other objectives run in a Python loop (progress bar if ``progress``).

    Args:
      objective: an :class:`Objective`.
      a_values, b_values: positive grid values (:func:`parse_grid`).
      devices: devices to shard over (default: all local devices).
      chunk_size: schedules per batch.
      progress: show a progress bar.

    Returns:
      :class:`GridResult`; the best point is the first best in row-major order
      (``a`` slow, ``b`` fast), NaN counts as worst.

    References:
      The paper's section 4 (Beta family) and Appendix E.1 (grid a, b in 0.1..1.0).
    """
    a_values = _check_axis(a_values, "a")
    b_values = _check_axis(b_values, "b")
    A, B = np.meshgrid(a_values, b_values, indexing="ij")
    vals = _points(objective, A, B, devices=devices, chunk_size=chunk_size, progress=progress)
    vals = vals.reshape(A.shape)
    k = _best_index(vals, objective.maximize)
    best = Best(float(A.ravel()[k]), float(B.ravel()[k]), float(vals.ravel()[k]))
    settings = {**objective.settings(), "method": "grid", "grid_shape": list(A.shape),
                "num_devices": len(_devices(devices)) if objective.jittable else 1}
    return GridResult(a_values, b_values, vals, best, settings)


# ======================================================================================
# Kendall's tau and the two-stage protocol
# ======================================================================================


def kendall_tau(x: ArrayLike, y: ArrayLike) -> float:
    r"""Kendall's :math:`\tau_b` rank correlation (ties allowed; ``inf`` values rank last).

    .. math::
        \tau_b = \frac{n_c - n_d}{\sqrt{(n_0 - n_1)(n_0 - n_2)}},

    with :math:`n_c, n_d` the concordant and discordant pairs, :math:`n_0 = n(n-1)/2`, and
    :math:`n_1, n_2` the pairs tied in ``x`` and in ``y``. NaN when either side is constant
    (as ``scipy.stats.kendalltau``). :math:`O(n^2)` in blocks of rows.

    References:
      The paper's Table 1 (rank agreement between subset and full evaluation).

    Raises:
      ValueError: for inputs of different lengths, fewer than 2 values, or NaN.
    """
    x = np.asarray(x, float).ravel()
    y = np.asarray(y, float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.size} and {y.size}")
    if x.size < 2:
        raise ValueError("Kendall's tau needs at least 2 pairs")
    if np.isnan(x).any() or np.isnan(y).any():
        raise ValueError("Kendall's tau of NaN values is undefined")
    n = x.size
    conc = disc = tie_x = tie_y = 0
    step = max(1, 4_000_000 // n)
    for s in range(0, n, step):
        rows = slice(s, min(n, s + step))
        # comparisons, not differences: inf - inf would be NaN, equal infinities are ties
        sx = (x[rows, None] > x[None, :]).astype(np.int8) - (x[rows, None] < x[None, :])
        sy = (y[rows, None] > y[None, :]).astype(np.int8) - (y[rows, None] < y[None, :])
        upper = np.arange(s, rows.stop)[:, None] < np.arange(n)[None, :]
        prod = sx * sy
        conc += int(np.sum((prod > 0) & upper))
        disc += int(np.sum((prod < 0) & upper))
        tie_x += int(np.sum((sx == 0) & upper))
        tie_y += int(np.sum((sy == 0) & upper))
    n0 = n * (n - 1) // 2
    denom = math.sqrt(float(n0 - tie_x) * float(n0 - tie_y))
    return (conc - disc) / denom if denom > 0 else float("nan")


def two_stage(objective: Objective, a_values: ArrayLike, b_values: ArrayLike, *, coarse_size: int = 64,
              fine_size: int = 1024, top_k: int = 10, seed: int = 0, full: str = "all",
              devices: Sequence | None = None, chunk_size: int | None = None, progress: bool = False) -> TwoStageResult:
    r"""The paper's two-stage tuning protocol (Appendix E.1) on a Beta grid.

    1. Coarse pass: every grid point scored by :meth:`Objective.subset` on ``coarse_size``
       prompts / samples (subset seed ``seed``; the same subset for every schedule).
    2. Shortlist: the ``top_k`` best by the coarse score (first among equals).
    3. Fine pass: the shortlist scored on ``fine_size`` (a fresh subset, seed ``seed + 1``);
       the best by the fine score is the result.
    4. Rank agreement: Kendall's :math:`\tau_b` between subset and full evaluation
       (:meth:`Objective.__call__`), as the paper's Table 1: ``full="all"`` evaluates the
       whole grid fully (cheap for exact oracle targets), ``"shortlist"`` only the
       shortlist (an expensive task metric), ``"none"`` skips it.

    For an :class:`ExactDivergence` the subset estimate comes from ``size`` samples of the
    sampler and the full evaluation is exact.

    Raises:
      ValueError: for bad sizes, or an objective without a subset estimate.

    References:
      The paper's Appendix E.1 (coarse grid on 50-150 examples, then the shortlist on more)
      and Table 1 (subset and full-set rankings agree).
    """
    for name, v in (("coarse_size", coarse_size), ("fine_size", fine_size), ("top_k", top_k)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if full not in ("all", "shortlist", "none"):
        raise ValueError(f"full must be 'all', 'shortlist' or 'none', got {full!r}")
    a_values = _check_axis(a_values, "a")
    b_values = _check_axis(b_values, "b")
    if type(objective).subset is Objective.subset or (isinstance(objective, CallableObjective) and objective.subset_fn is None):
        objective.subset(None, 1, None)  # raises the explanation
    A, B = np.meshgrid(a_values, b_values, indexing="ij")
    shape = A.shape
    kw = dict(devices=devices, chunk_size=chunk_size, progress=progress)
    if isinstance(objective, ExactDivergence):
        # The exact outputs of every grid point serve the coarse, fine and full passes.
        outputs = _evaluate_points(objective, A, B, outputs=True, desc="outputs", **kw)

        def evaluate(rows, subset=None):
            return _exact_values(objective, outputs[rows], subset)
    else:
        def evaluate(rows, subset=None):
            return _evaluate_points(objective, A.ravel()[rows], B.ravel()[rows], subset=subset, **kw)

    everything = np.arange(A.size)
    coarse = evaluate(everything, (int(coarse_size), int(seed))).reshape(shape)
    order = _order(coarse, objective.maximize)[: min(int(top_k), coarse.size)]
    short_idx = [tuple(int(t) for t in np.unravel_index(k, shape)) for k in order]
    fine_vals = evaluate(order, (int(fine_size), int(seed) + 1))
    fine = np.full(shape, np.nan)
    np.put(fine, order, fine_vals)
    full_arr = None
    tau_c = tau_f = None
    best_full = None
    if full == "all":
        full_arr = evaluate(everything).reshape(shape)
        kb = _best_index(full_arr, objective.maximize)
        best_full = Best(float(A.ravel()[kb]), float(B.ravel()[kb]), float(full_arr.ravel()[kb]))
    elif full == "shortlist":
        full_arr = np.full(shape, np.nan)
        np.put(full_arr, order, evaluate(order))
    if full_arr is not None:
        short_full = np.array([full_arr[i, j] for i, j in short_idx])
        short_coarse = np.array([coarse[i, j] for i, j in short_idx])
        tau_c = _safe_tau(coarse.ravel(), full_arr.ravel()) if full == "all" else _safe_tau(short_coarse, short_full)
        tau_f = _safe_tau(fine_vals, short_full)
    kf = _best_index(fine_vals, objective.maximize)
    i, j = short_idx[kf]
    value = float(full_arr[i, j]) if full_arr is not None else float(fine_vals[kf])
    best = Best(float(A[i, j]), float(B[i, j]), value)
    settings = {**objective.settings(), "method": "two-stage", "grid_shape": list(shape), "coarse_size": int(coarse_size),
                "fine_size": int(fine_size), "top_k": int(top_k), "seed": int(seed), "full": full,
                "best_value_is": "full" if full_arr is not None else "fine estimate"}
    return TwoStageResult(a_values, b_values, coarse, short_idx, fine, full_arr, best, best_full, tau_c, tau_f, settings)


def _safe_tau(x, y) -> float | None:
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    ok = ~(np.isnan(x) | np.isnan(y))
    if ok.sum() < 2:
        return None
    return kendall_tau(x[ok], y[ok])


# ======================================================================================
# Gradient-based tuning
# ======================================================================================

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
        return sign * objective(FreeFormSchedule.from_logits(z, knots))

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

    The schedule is :class:`FreeFormSchedule` on the objective's time grid with increments
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
        all_x.append(np.asarray(jax.vmap(lambda zz: FreeFormSchedule.from_logits(zz, knots).alphas())(jnp.asarray(zs))))
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


# ======================================================================================
# Plots and export
# ======================================================================================


def plot_grid(result: GridResult | TwoStageResult, path: str | None = None, *, ax=None, title: str | None = None,
              trajectory: GradientResult | None = None, log: bool | None = None):
    """Heatmap of the objective over ``(a, b)`` with the best point marked (red star).

    Non-finite values (divergent energies, infinite KL) are grey. A two-stage result shows
    the exact values where known, its shortlist (circles) and the exact optimum (white
    star); a gradient trajectory in the Beta family is drawn over the map if given. The
    colour scale is logarithmic when the finite values are positive and span a factor
    between 20 and 1e8 (``log`` forces it either way). Saves a PNG to ``path`` if given.

    Returns:
      The matplotlib figure.
    """
    import matplotlib

    from mdm_ot._plotting import pyplot

    plt = pyplot()
    from matplotlib.colors import LogNorm, Normalize

    vals = np.asarray(result.values, float)
    finite = np.isfinite(vals)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.8, 4.8))
    else:
        fig = ax.figure
    a, b = np.asarray(result.a), np.asarray(result.b)
    maximize = bool(result.settings.get("maximize"))
    if log is None:
        pos = vals[finite]
        # not when the minimum is at rounding level (an exact zero computed in floating point)
        log = bool(pos.size and np.all(pos > 0) and 20 < pos.max() / pos.min() < 1e8)
    if finite.any():
        lo, hi = float(vals[finite].min()), float(vals[finite].max())
        norm = LogNorm(lo, hi) if log and lo > 0 else Normalize(lo, hi if hi > lo else lo + 1)
    else:
        norm = Normalize(0, 1)
    # bright = better, whichever the direction
    cmap = matplotlib.colormaps["viridis" if maximize else "viridis_r"].with_extremes(bad="0.75")
    ea, eb = _edges(a), _edges(b)
    mesh = ax.pcolormesh(ea, eb, np.ma.masked_invalid(vals.T), cmap=cmap, norm=norm, shading="flat")
    label = result.settings.get("label", result.settings.get("objective", "objective"))
    fig.colorbar(mesh, ax=ax, label=f"{label} ({'higher' if maximize else 'lower'} is better)")
    if isinstance(result, TwoStageResult):
        sa = [a[i] for i, _ in result.shortlist]
        sb = [b[j] for _, j in result.shortlist]
        ax.plot(sa, sb, "o", mfc="none", mec="k", ms=9, label=f"shortlist (top {len(sa)} on the coarse subset)")
        if result.best_full is not None:
            ax.plot(result.best_full.a, result.best_full.b, marker="*", color="white", ms=12, ls="none", mec="k",
                    label=f"exact optimum ({result.best_full.a:g}, {result.best_full.b:g})")
    if trajectory is not None and trajectory.family == "beta":
        ax.plot(trajectory.params[:, 0], trajectory.params[:, 1], ".-", color="k", lw=0.8, ms=2,
                label=f"gradient ({trajectory.num_evaluations} evaluations)")
        ga, gb = trajectory.best_params
        ax.plot(ga, gb, marker="*", color="orange", ms=13, ls="none", mec="k", label=f"gradient best ({ga:.2f}, {gb:.2f})")
    ax.plot(result.best.a, result.best.b, marker="*", color="red", ms=14, ls="none", mec="k",
            label=f"best ({result.best.a:g}, {result.best.b:g})")
    ax.set_xlabel("a")
    ax.set_ylabel("b")
    ax.set_xlim(ea[0], ea[-1])
    ax.set_ylim(eb[0], eb[-1])
    ax.legend(loc="best", fontsize=7, framealpha=0.8)
    ax.set_title(result.settings.get("objective", "") if title is None else title, fontsize=8)
    if path is not None:
        fig.tight_layout()
        fig.savefig(path, dpi=120)
    return fig


def _edges(v: np.ndarray) -> np.ndarray:
    if v.size == 1:
        return np.array([v[0] * 0.9, v[0] * 1.1])
    mid = 0.5 * (v[1:] + v[:-1])
    return np.concatenate([[max(v[0] - (mid[0] - v[0]), 0.0)], mid, [v[-1] + (v[-1] - mid[-1])]])

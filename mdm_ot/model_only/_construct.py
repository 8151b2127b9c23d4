r"""The model-only schedule: the mask schedule a dependence profile asks for, with no task
evaluation (issue 16; our construction, not the paper's; docs/model_only.md).

To second order, a step of the stochastic sampler from alpha to alpha + d alpha costs
:math:`c(\alpha)\, d\alpha^2` of path KL, so a schedule costs about
:math:`\int_0^1 c(\alpha)\, \alpha'(t)^2 dt`, minimized (Cauchy-Schwarz) by
:math:`\sqrt{c(\alpha)}\,\alpha' = \text{const}`:

.. math::
   t(\alpha) = \Phi(\alpha) / \Phi(1), \qquad \Phi(\alpha) = \int_0^\alpha \sqrt{c(u)}\, du.

With :math:`c = 1/(\alpha(1-\alpha))` (the paper's energy), :math:`\Phi = 2 \arcsin\sqrt\alpha` and
:math:`\alpha = \sin^2(\pi t / 2)`. On K steps, the squared :math:`\Phi`-length of each step
(the natural discretization) is minimized by equal :math:`\Phi` increments: for the paper's
profile the equal-angle grid of Appendix D.5. ``per_step="exact"`` instead minimizes the sum of
the exact chain-rule terms of an exact profile (:mod:`mdm_ot.model_only._exact`) by dynamic
programming on a fine lattice, refined coordinate by coordinate. The count sampler's grid is the
integer split of the tokens that minimizes the sum of its per-step terms (dynamic programming
over the number still masked).

References:
  Issue 16 (our construction); the paper's Eq. 14, Lemma 3.5 and Appendix D.5 (the special case
  c = 1/(alpha(1-alpha))); MATH.md sections 2-4.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from mdm_ot.model_only._core import Profile
from mdm_ot.model_only._exact import chain_rule_step, count_step_cost
from mdm_ot.sampling import transfer_counts
from mdm_ot.schedules import TabulatedSchedule

__all__ = ["PER_STEP", "ModelOnly", "model_only", "model_only_grid", "model_only_schedule", "paper_profile"]

#: The per-step costs the discrete grid can minimize.
PER_STEP = ("second-order", "exact")

#: Cells of the quadrature of Phi (two Gauss points each, in theta = arcsin sqrt(alpha)).
_CELLS = 4096
#: Knots of the continuous tabulated schedule (uniform in t).
_KNOTS = 512
#: The fine alpha lattice of the exact-per-step dynamic programme.
_LATTICE = 257
#: The largest dynamic programme (steps x lattice states^2).
_MAX_DP = 4 * 10**9

_HIGHER_NOTE = ("the pair profile is zero but the exact chain-rule terms are not (dependence of order >= 3, "
                "as in parity): the second-order construction sees nothing; the linear schedule is returned "
                "(use per_step='exact')")
_ZERO_NOTE = ("the profile is zero: the tokens are conditionally independent at every level, so every "
              "schedule is exact (no parallel-step error); the linear schedule is returned")


def paper_profile(alpha):
    r"""The paper's profile :math:`c(\alpha) = 1/(\alpha(1-\alpha))` (``+inf`` at 0 and 1), the
    one whose model-only schedule is :math:`\sin^2(\pi t/2)` (our reading of Eq. 14)."""
    a = np.asarray(alpha, np.float64)
    with np.errstate(divide="ignore"):
        return 1.0 / (a * (1.0 - a))


def _c_function(profile_or_c) -> tuple[Callable, Profile | None]:
    if isinstance(profile_or_c, Profile):
        return profile_or_c.c_at, profile_or_c
    if callable(profile_or_c):
        return profile_or_c, None
    raise ValueError(f"expected a Profile or a function c(alpha), got {type(profile_or_c).__name__}")


def _phi_table(cfun: Callable) -> tuple[np.ndarray, np.ndarray]:
    r"""Phi at the cell boundaries :math:`\theta_j` (alpha = sin^2 theta): in theta,
    :math:`\Phi = \int \sqrt{c(\sin^2\theta)} \sin 2\theta \, d\theta`, smooth for profiles that are
    bounded or blow up like 1/alpha, 1/(1-alpha) at the ends; two Gauss points per cell, never
    the end points."""
    edges = np.linspace(0.0, math.pi / 2, _CELLS + 1)
    h = edges[1] - edges[0]
    mid = 0.5 * (edges[:-1] + edges[1:])
    g = h / (2 * math.sqrt(3.0))
    total = np.zeros(_CELLS)
    for node in (mid - g, mid + g):
        c = np.asarray(cfun(np.sin(node) ** 2), np.float64)
        if c.shape != node.shape:
            c = np.broadcast_to(c, node.shape)
        if not np.all(np.isfinite(c)) or np.any(c < 0):
            raise ValueError("the profile c(alpha) must be finite and >= 0 inside (0, 1)")
        total += 0.5 * h * np.sqrt(c) * np.sin(2 * node)
    return edges, np.concatenate([[0.0], np.cumsum(total)])


def _phi_density(cfun: Callable, theta: np.ndarray) -> np.ndarray:
    r""":math:`d\Phi/d\theta = \sqrt{c(\sin^2\theta)} \sin 2\theta`."""
    c = np.broadcast_to(np.asarray(cfun(np.sin(theta) ** 2), np.float64), theta.shape)
    return np.sqrt(np.maximum(c, 0.0)) * np.sin(2 * theta)


def _phi_inverse(edges: np.ndarray, phi: np.ndarray, y: np.ndarray, cfun: Callable) -> np.ndarray:
    """The alpha with Phi(alpha) = y: the cell by search, linear interpolation in theta, then two
    Newton steps on the cell's own quadrature (the interpolation alone is O(cell^2)). On a flat
    stretch of Phi (c = 0), its right end (alpha jumps over it: those tokens are free)."""
    y = np.asarray(y, np.float64)
    j = np.clip(np.searchsorted(phi, y, side="right") - 1, 0, len(phi) - 2)
    lo, hi = phi[j], phi[j + 1]
    frac = np.where(hi > lo, (y - lo) / np.where(hi > lo, hi - lo, 1.0), 0.0)
    left, right = edges[j], edges[j + 1]
    theta = left + np.clip(frac, 0.0, 1.0) * (right - left)
    inside = (frac > 0) & (frac < 1) & (y < phi[-1])
    if np.any(inside):
        g = 1 / (2 * math.sqrt(3.0))
        for _ in range(2):
            th, lf = theta[inside], left[inside]
            mid, half = 0.5 * (lf + th), 0.5 * (th - lf)
            partial = half * (_phi_density(cfun, mid - 2 * g * half) + _phi_density(cfun, mid + 2 * g * half))
            slope = _phi_density(cfun, th)
            ok = np.isfinite(slope) & (slope > 0) & np.isfinite(partial)
            step = np.where(ok, (lo[inside] + partial - y[inside]) / np.where(ok, slope, 1.0), 0.0)
            theta[inside] = np.clip(th - step, lf, right[inside])
    return np.where(y >= phi[-1], 1.0, np.sin(theta) ** 2)


def model_only_schedule(profile_or_c, *, knots: int = _KNOTS) -> TabulatedSchedule:
    r"""The continuous model-only schedule :math:`\alpha(t) = \Phi^{-1}(t\,\Phi(1))`, tabulated on
    ``knots + 1`` uniform times (exact there up to quadrature, linear between).

    Args:
      profile_or_c: a :class:`Profile` or a function ``c(alpha)`` on arrays (e.g.
        :func:`paper_profile`).
      knots: the number of intervals of the table.

    Returns:
      :class:`~mdm_ot.schedules.TabulatedSchedule`; the linear schedule for a zero profile (every
      schedule is exact then; :func:`model_only` says so in ``info``).
    """
    if not isinstance(knots, (int, np.integer)) or knots < 1:
        raise ValueError(f"knots must be an integer >= 1, got {knots!r}")
    cfun, _ = _c_function(profile_or_c)
    edges, phi = _phi_table(cfun)
    t = np.linspace(0.0, 1.0, int(knots) + 1)
    if not phi[-1] > 0:
        return TabulatedSchedule.from_alphas(t, t)
    alpha = _phi_inverse(edges, phi, t * phi[-1], cfun)
    alpha[0], alpha[-1] = 0.0, 1.0
    return TabulatedSchedule.from_alphas(np.maximum.accumulate(alpha), t)


@dataclasses.dataclass(frozen=True)
class ModelOnly:
    """A model-only grid and how it was chosen.

    Attributes:
      alpha_grid: alpha on t_k = k/K, ``(K + 1,)``, 0 at t = 0 (all masked), 1 at t = 1.
      counts: the count sampler's tokens per step (``None`` for the stochastic sampler).
      sampler, per_step: as given to :func:`model_only`.
      predicted: the model's cost of the grid (nats): the sum of the second-order terms, or of
        the exact chain-rule terms (an upper bound on the output KL, for exact profiles).
      info: JSON-ready details (``zero_profile``, ``note``, the profile's method and model calls).
    """

    alpha_grid: np.ndarray
    counts: np.ndarray | None
    sampler: str
    per_step: str
    predicted: float
    info: dict

    def schedule(self) -> TabulatedSchedule:
        """The grid as a schedule on t_k = k/K (what a K-step sampler sees)."""
        k = self.alpha_grid.shape[0] - 1
        return TabulatedSchedule.from_alphas(self.alpha_grid, np.arange(k + 1) / k)

    def to_dict(self) -> dict:
        k = self.alpha_grid.shape[0] - 1
        return {"alpha_grid": [float(a) for a in self.alpha_grid], "time_grid": [j / k for j in range(k + 1)],
                "tokens_per_step": None if self.counts is None else [int(c) for c in self.counts],
                "sampler": self.sampler, "per_step": self.per_step,
                "predicted_path_kl": float(self.predicted) if math.isfinite(self.predicted) else None,
                "info": self.info}


def _dp(cost: np.ndarray, secondary: np.ndarray, num_steps: int) -> np.ndarray:
    """The path 0 = s_0 <= s_1 <= ... <= s_K = G - 1 over lattice states minimizing the sum of
    ``cost[s_(k-1), s_k]`` (``inf`` where not allowed), ties (within rounding) broken by the sum
    of ``secondary``. Returns the K + 1 states."""
    g = cost.shape[0]
    if num_steps * g * g > _MAX_DP:
        raise ValueError(f"the dynamic programme is too large: {num_steps} steps x {g}^2 states > {_MAX_DP}")
    finite = cost[np.isfinite(cost)]
    scale = float(np.max(np.abs(finite))) if finite.size else 1.0
    value = np.full(g, np.inf)
    value[0] = 0.0
    second = np.zeros(g)
    back = np.zeros((num_steps, g), np.int64)
    cols = np.arange(g)
    for k in range(num_steps):
        tot = value[:, None] + cost
        sec = second[:, None] + secondary
        best = tot.min(axis=0)
        ok = tot <= best + 1e-12 * np.abs(best) + 1e-14 * scale
        i = np.argmin(np.where(ok, sec, np.inf), axis=0)
        back[k] = i
        value, second = tot[i, cols], sec[i, cols]
    path = [g - 1]
    for k in range(num_steps - 1, -1, -1):
        path.append(int(back[k, path[-1]]))
    return np.array(path[::-1])


def _count_grid(profile_or_c, profile, num_steps, per_step, length):
    if profile is not None:
        if length is not None and length != profile.length:
            raise ValueError(f"length={length} differs from the profile's length {profile.length}")
        length = profile.length
    elif length is None:
        raise ValueError("the count sampler needs length=L (the positions to generate) with a function c")
    if not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"length must be an integer >= 1, got {length!r}")
    n = int(length)
    m = np.arange(n + 1)
    if per_step == "exact":
        if profile is None or profile.coefficients is None:
            raise ValueError("per_step='exact' needs an exact profile (exact_profile)")
        step_cost = count_step_cost(profile.coefficients)  # [m, c]
    else:
        if profile is not None and (profile.coefficients is not None or profile.sampler == "count"):
            pm = profile.pair_dependence_of_count()
        else:
            alpha = 1.0 - m / n
            cfun, _ = _c_function(profile_or_c)
            with np.errstate(all="ignore"):
                pm = np.asarray(cfun(alpha), np.float64) * (m / n) ** 2
            # a profile that blows up at alpha = 0 (the paper's) is read half a token in
            pm[n] = np.asarray(cfun(np.array([0.5 / n])), np.float64)[0] * (1 - 0.5 / n) ** 2 \
                if not np.isfinite(pm[n]) else pm[n]
            if not np.all(np.isfinite(pm[2:])) or np.any(pm < 0):
                raise ValueError("the profile c(alpha) must be finite and >= 0 at the levels 1 - m/L")
        c = m[None, :]
        mm = m[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            step_cost = np.where(mm >= 2, c * (c - 1) / np.where(mm >= 2, mm * (mm - 1), 1), 0.0) * pm[:, None]
    # lattice state r = tokens revealed so far; a step r -> r' reveals c = r' - r of m = n - r
    r = np.arange(n + 1)
    cnt = r[None, :] - r[:, None]
    masked = n - r[:, None]
    cost = np.where(cnt >= 0, step_cost[masked, np.clip(cnt, 0, n)], np.inf)
    cost = np.where((cnt >= 0) & (cnt <= masked), cost, np.inf)
    secondary = (cnt - n / num_steps) ** 2.0
    path = _dp(cost, secondary, num_steps)
    counts = np.diff(path)
    alpha_grid = path / n
    got = np.asarray(transfer_counts(alpha_grid, n))
    if not np.array_equal(got, counts):  # the library's rounding must give back the split
        raise RuntimeError(f"internal error: transfer_counts gives {got.tolist()} for the split {counts.tolist()}")
    masked_seq = n - path[:-1]
    predicted = float(sum(step_cost[mm_, c_] for mm_, c_ in zip(masked_seq, counts, strict=True)))
    return alpha_grid, counts, predicted


def _stochastic_exact(profile: Profile, num_steps: int, start: np.ndarray) -> np.ndarray:
    coef = profile.coefficients
    lattice = np.unique(np.concatenate([np.linspace(0, 1, _LATTICE),
                                        np.sin(np.linspace(0, math.pi / 2, _LATTICE)) ** 2, start]))
    a, b = lattice[:, None], lattice[None, :]
    cost = np.where(b >= a, chain_rule_step(coef, a, np.maximum(a, b)), np.inf)
    secondary = (b - a - 1.0 / num_steps) ** 2
    grid = lattice[_dp(cost, secondary, num_steps)]
    # refine each interior level within a lattice cell of its neighbours, a few sweeps
    from scipy.optimize import minimize_scalar

    delta = 2.0 / (_LATTICE - 1)
    for _ in range(8):
        moved = 0.0
        for k in range(1, num_steps):
            lo, hi = max(grid[k - 1], grid[k] - delta), min(grid[k + 1], grid[k] + delta)
            if hi <= lo:
                continue

            def f(x, k=k):
                return float(chain_rule_step(coef, grid[k - 1], x) + chain_rule_step(coef, x, grid[k + 1]))

            res = minimize_scalar(f, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12})
            if res.fun < f(grid[k]):
                moved = max(moved, abs(res.x - grid[k]))
                grid[k] = res.x
        if moved < 1e-12:
            break
    return grid


def model_only(profile_or_c, num_steps: int, *, sampler: str = "stochastic", per_step: str = "second-order",
               length: int | None = None) -> ModelOnly:
    r"""The model-only K-step grid of a profile (module docstring).

    Args:
      profile_or_c: a :class:`Profile` or a function ``c(alpha)``.
      num_steps: K >= 1.
      sampler: ``"stochastic"`` (grid of equal :math:`\Phi` increments, or the exact optimum) or
        ``"count"`` (the integer split of the tokens minimizing the sum of per-step terms; random
        order: the derivation does not cover confidence order).
      per_step: ``"second-order"`` or ``"exact"`` (exact profiles only: the exact chain-rule terms).
      length: the count sampler's number of positions (a function c only; a profile has its own).

    Returns:
      :class:`ModelOnly`. A zero profile gives the linear grid and says so in ``info``.
    """
    if sampler not in ("stochastic", "count"):
        raise ValueError(f"sampler must be 'stochastic' or 'count', got {sampler!r}")
    if per_step not in PER_STEP:
        raise ValueError(f"per_step must be one of {', '.join(PER_STEP)}, got {per_step!r}")
    if not isinstance(num_steps, (int, np.integer)) or num_steps < 1:
        raise ValueError(f"num_steps must be an integer >= 1, got {num_steps!r}")
    k = int(num_steps)
    cfun, profile = _c_function(profile_or_c)
    info: dict = {"profile_method": "formula" if profile is None else profile.method,
                  "profile_model_calls": 0 if profile is None else int(profile.model_calls), "zero_profile": False}
    if profile is not None and profile.coefficients is None and profile.sampler != sampler \
            and sampler == "count":
        raise ValueError(f"a {profile.sampler} Monte-Carlo profile cannot give the count sampler's split; "
                         "estimate the count profile")
    edges, phi = _phi_table(cfun)
    zero = not phi[-1] > 0
    if per_step == "exact":
        if profile is None or profile.coefficients is None:
            raise ValueError("per_step='exact' needs an exact profile (exact_profile)")
        zero = not np.any(profile.coefficients > 0)
    if zero:
        higher = profile is not None and profile.coefficients is not None and bool(np.any(profile.coefficients > 0))
        info.update(zero_profile=True, note=_HIGHER_NOTE if higher else _ZERO_NOTE)
        if sampler == "count":
            n = profile.length if profile is not None else length
            if not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError("the count sampler needs length=L (the positions to generate) with a function c")
            alpha_grid = np.arange(k + 1) / k
            counts = np.asarray(transfer_counts(alpha_grid, int(n)))
            return ModelOnly(alpha_grid, counts, sampler, per_step, 0.0, info)
        return ModelOnly(np.arange(k + 1) / k, None, sampler, per_step, 0.0, info)
    if sampler == "count":
        alpha_grid, counts, predicted = _count_grid(profile_or_c, profile, k, per_step, length)
        return ModelOnly(alpha_grid, counts, sampler, per_step, predicted, info)
    alpha_grid = _phi_inverse(edges, phi, np.arange(k + 1) / k * phi[-1], cfun)
    alpha_grid[0], alpha_grid[-1] = 0.0, 1.0
    alpha_grid = np.maximum.accumulate(alpha_grid)
    predicted = float(phi[-1] ** 2 / k)  # k equal steps of squared Phi-length (phi(1)/k)^2
    if per_step == "exact":
        alpha_grid = _stochastic_exact(profile, k, alpha_grid)
        predicted = float(np.sum(chain_rule_step(profile.coefficients, alpha_grid[:-1], alpha_grid[1:])))
    return ModelOnly(alpha_grid, None, sampler, per_step, predicted, info)


def model_only_grid(profile_or_c, num_steps: int, *, sampler: str = "stochastic", per_step: str = "second-order",
                    length: int | None = None) -> np.ndarray:
    """:func:`model_only`'s ``alpha_grid`` (``(K + 1,)``, t = 0 all masked)."""
    return model_only(profile_or_c, num_steps, sampler=sampler, per_step=per_step, length=length).alpha_grid

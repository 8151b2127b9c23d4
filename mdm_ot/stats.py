r"""Small statistics shared by the tuning package and the experiments: Kendall's
:math:`\tau_b` (rank agreement) and the sample mean with its standard error.

Example:
  >>> from mdm_ot.stats import kendall_tau, mean_and_se
  >>> kendall_tau([1, 2, 3], [3, 2, 1])
  -1.0
  >>> mean_and_se([0.0, 1.0])[0]
  0.5

References:
  The paper's Table 1 (rank agreement between subset and full evaluation) and
  Appendix E.1 (the two-stage tuning protocol).
"""

from __future__ import annotations

import math

import numpy as np
from jax.typing import ArrayLike

__all__ = ["kendall_tau", "mean_and_se"]


def kendall_tau(x: ArrayLike, y: ArrayLike) -> float:
    r"""Kendall's :math:`\tau_b` rank correlation (ties allowed; ``inf`` values rank last).

    .. math::
        \tau_b = \frac{n_c - n_d}{\sqrt{(n_0 - n_1)(n_0 - n_2)}},

    with :math:`n_c, n_d` the concordant and discordant pairs, :math:`n_0 = n(n-1)/2`, and
    :math:`n_1, n_2` the pairs tied in ``x`` and in ``y``. NaN when either side is constant
    (as ``scipy.stats.kendalltau``, which agrees to rounding: it divides by the two square
    roots in turn, so its last bit may differ). :math:`O(n^2)` in blocks of rows.

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


def mean_and_se(values: ArrayLike, *, by_row: bool = False, se_of_one: float = math.nan) -> tuple[float, float]:
    r"""The sample mean and its standard error :math:`s / \sqrt{n}` (:math:`s` with ``ddof=1``).

    Args:
      values: ``[n]`` values; with ``by_row``, ``[n, S]`` (or ``[n]``): ``S`` correlated
        samples per unit (the samples of one sequence), reduced to the ``n`` row means first,
        so that the unit is the row.
      by_row: take the row means first.
      se_of_one: the standard error reported when ``n = 1`` (undefined: NaN by default).

    Returns:
      ``(mean, standard error)``; ``(nan, nan)`` for no values.
    """
    x = np.asarray(values, dtype=float)
    if by_row:
        x = (x[:, None] if x.ndim == 1 else x).mean(axis=1)
    if x.size == 0:
        return float("nan"), float("nan")
    if x.size == 1:
        return float(x[0]), float(se_of_one)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))

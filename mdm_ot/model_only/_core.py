r"""The dependence profile of a denoiser: the one type the exact and Monte-Carlo estimators
return and the schedule construction reads (issue 16; our construction, not the paper's).

At mask level alpha (each token revealed independently with probability alpha, the path of
MATH.md section 1), the *pair dependence* is

.. math::
   P(\alpha) = \mathbb{E}_{z \sim p_\alpha}\Big[\sum_{i<j \in M(z)} I(x_i; x_j \mid z_{UM})\Big]

(nats; M(z) the masked positions), and the *profile* is
:math:`c(\alpha) = P(\alpha) / (1-\alpha)^2`. To second order in the step, a step from alpha to
alpha + d alpha of the stochastic sampler with an exact denoiser costs c(alpha) (d alpha)^2 in
path KL (the derivation and its assumptions: docs/model_only.md).

For the count sampler the path is indexed by the number of masked positions m = L, ..., 0
(alpha = 1 - m / L) and P(m) averages over the mask sets of size m drawn uniformly.

An exact profile (:func:`mdm_ot.model_only.exact_profile`) also carries the *chain-rule
coefficients* ``T[m, s]``: the sum over the mask sets M of size m and their subsets S of size s
of :math:`E[TC(x_S \mid z_{UM})]` (total correlation), from which every exact per-step term and
P itself are polynomials in alpha (:func:`mdm_ot.model_only.chain_rule_step`).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = ["Profile"]


@dataclasses.dataclass(frozen=True)
class Profile:
    """A dependence profile on a grid of mask levels.

    Attributes:
      levels: increasing mask levels alpha in [0, 1], shape ``(L,)``.
      pair_dependence: P(alpha) at each level (nats), shape ``(L,)``, >= 0.
      stderr: the standard error of each P (Monte Carlo), or ``None`` when exact.
      sampler: ``"stochastic"`` (binomial mask sets) or ``"count"`` (mask sets of a fixed
        size, ``levels = 1 - m / length``).
      length: the number of positions the schedule acts on (n, or the infilled length L).
      model_calls: denoiser forward passes the estimate cost (0 when exact from a table).
      method: ``"exact"``, ``"monte-carlo"`` or ``"formula"`` (a given function c).
      info: JSON-ready details (target, seed, samples per level, ...).
      coefficients: exact profiles only: the chain-rule coefficients ``T[m, s]``, shape
        ``(length + 1, length + 1)`` (module docstring); ``None`` otherwise.
    """

    levels: np.ndarray
    pair_dependence: np.ndarray
    stderr: np.ndarray | None
    sampler: str
    length: int
    model_calls: int
    method: str
    info: dict = dataclasses.field(default_factory=dict)
    coefficients: np.ndarray | None = None

    @property
    def c(self) -> np.ndarray:
        """c(alpha) = P(alpha) / (1 - alpha)^2 at the levels. At alpha = 1 (nothing masked)
        an exact stochastic profile gives the limit (the pair terms of the mask sets of size
        2); otherwise 0 there."""
        if self.coefficients is not None and self.sampler == "stochastic":
            return self.c_at(self.levels)
        one_minus = 1.0 - np.asarray(self.levels, dtype=np.float64)
        p = np.asarray(self.pair_dependence, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(one_minus > 0, p / np.where(one_minus > 0, one_minus, 1.0) ** 2, 0.0)

    def c_at(self, alpha) -> np.ndarray:
        r"""c at any levels in [0, 1]: exactly (a polynomial) for an exact stochastic profile,
        else by linear interpolation of c between the levels (constant beyond them)."""
        a = np.asarray(alpha, dtype=np.float64)
        if self.coefficients is not None and self.sampler == "stochastic":
            n = self.length
            pair = np.asarray(self.coefficients, np.float64)[:, 2] if n >= 2 else np.zeros(n + 1)
            # c = sum_m alpha^(n-m) (1-alpha)^(m-2) A_m (m >= 2): no division at alpha = 1
            out = np.zeros_like(a)
            for m in range(2, n + 1):
                if pair[m] != 0:
                    out = out + pair[m] * a ** (n - m) * (1 - a) ** (m - 2)
            return out
        lv = np.asarray(self.levels, np.float64)
        cv = self.c
        inner = lv < 1  # c at alpha = 1 is a convention (0), not a measurement
        if not np.any(inner):
            return np.zeros_like(a)
        return np.maximum(np.interp(a, lv[inner], cv[inner]), 0.0)

    def pair_dependence_of_count(self) -> np.ndarray:
        """P(m) for m = 0..length masked positions (count sampler): exact where the levels
        hold every ``1 - m / length``, else interpolated in alpha (0 for m < 2)."""
        n = self.length
        m = np.arange(n + 1)
        if self.coefficients is not None:
            pair = np.asarray(self.coefficients, np.float64)[:, 2] if n >= 2 else np.zeros(n + 1)
            return np.array([pair[k] / math.comb(n, k) if k >= 2 else 0.0 for k in m])
        alpha = 1.0 - m / n
        p = np.interp(alpha, np.asarray(self.levels, np.float64), np.asarray(self.pair_dependence, np.float64))
        return np.where(m >= 2, np.maximum(p, 0.0), 0.0)

    def to_dict(self) -> dict:
        """JSON-ready (no NaN: a non-finite value is ``None``)."""

        def nums(x):
            return None if x is None else [float(v) if math.isfinite(v) else None for v in np.asarray(x, float)]

        return {"levels": nums(self.levels), "pair_dependence": nums(self.pair_dependence),
                "c": nums(self.c), "stderr": nums(self.stderr), "sampler": self.sampler, "length": int(self.length),
                "model_calls": int(self.model_calls), "method": self.method, "info": self.info}

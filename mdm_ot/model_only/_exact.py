r"""Exact dependence profiles and exact chain-rule terms of an explicit target (issue 16; our
construction, not the paper's; derivation in docs/model_only.md).

With an exact denoiser, the K-step sampler errs only by drawing the tokens revealed in one step
independently. By the chain rule, the KL divergence between the true path's joint law over the
K steps and the sampler's is

.. math::
   \sum_k \varepsilon(\alpha_{k-1}, \alpha_k), \qquad
   \varepsilon(a, b) = \mathbb{E}\big[ TC(x_S \mid z_{UM}) \big]

with :math:`z \sim p_a` and S the set revealed by the step (each masked position with probability
:math:`(b - a)/(1 - a)`), and TC the total correlation. Writing the expectation over the mask
set M (size m) and S (size s) gives the polynomial

.. math::
   \varepsilon(a, b) = \sum_{m, s} T[m, s]\, a^{n-m} (b - a)^s (1 - b)^{m-s},

with :math:`T[m, s] = \sum_{|M| = m} \sum_{S \subset M, |S| = s} E[TC(x_S \mid x_U)]`, computed
from the :math:`2^n` marginal entropies :math:`H(x_A)`:
:math:`E[TC(x_S \mid x_U)] = \sum_{i \in S} (H_{U+i} - H_U) - (H_{U \cup S} - H_U)`.
The count sampler (random order) costs :math:`T[m, c] / (\binom{n}{m} \binom{m}{c})` to reveal
c of m masked positions. The pair terms (s = 2) are conditional mutual informations: P.
"""

from __future__ import annotations

import math

import numpy as np
from jax.typing import ArrayLike

from mdm_ot.model_only._core import Profile
from mdm_ot.sampling import MarkovOracle, table_oracle

__all__ = [
    "DEFAULT_LEVELS",
    "chain_rule_coefficients",
    "chain_rule_kl",
    "chain_rule_step",
    "count_step_cost",
    "exact_profile",
    "pair_dependence",
]

#: The default levels of an exact stochastic profile (it is exact at any level).
DEFAULT_LEVELS = 101

#: The largest target for the exact profile: (2d+1)^n, the size of the exact evaluation's
#: transition list (the same bound, mdm_ot.tuning's targets); the profile costs (2d)^n + 3^n.
_MAX_SIZE = 2 * 10**6


def _subset_entropies(q: np.ndarray) -> np.ndarray:
    """H(x_A) in nats for every subset A of positions, indexed by the bitmask of A (position i
    is bit n - 1 - i, so the bitmask reads like the state's digits). NumPy float64 throughout
    (JAX without x64 would round the marginals to float32)."""
    n = q.ndim
    out = np.zeros(1 << n)
    for a in range(1, 1 << n):
        drop = tuple(i for i in range(n) if not (a >> (n - 1 - i)) & 1)
        marg = q.sum(axis=drop) if drop else q
        nz = marg[marg > 0]
        out[a] = -np.sum(nz * np.log(nz))
    return out


def chain_rule_coefficients(q: ArrayLike) -> np.ndarray:
    r"""``T[m, s]`` (module docstring) of a table ``q`` of shape ``(d,) * n``: shape ``(n+1, n+1)``,
    float64, >= 0, zero for s < 2 and s > m.

    Each term :math:`E[TC(x_S | x_U)]` is a difference of entropies; terms within rounding of 0
    (``32 eps (|S| + 2) max H``) are set to 0, so that a product distribution gives exactly 0.
    Cost: :math:`3^n` terms and :math:`2^n` marginals of q.
    """
    q = np.asarray(q, np.float64)
    table_oracle(q)  # validates
    n, d = q.ndim, q.shape[0]
    if (2 * d + 1) ** n > _MAX_SIZE:
        raise ValueError(f"the exact profile needs (2d+1)^n <= {_MAX_SIZE}, got n = {n}, d = {d}")
    h = _subset_entropies(q)
    tol = 32 * np.finfo(np.float64).eps * max(1.0, float(np.max(np.abs(h))))
    out = np.zeros((n + 1, n + 1))
    bits = [1 << (n - 1 - i) for i in range(n)]
    for u in range(1 << n):
        pos = [b for b in bits if not u & b]  # the masked positions, as bits
        m = len(pos)
        if m < 2:
            continue
        gains = np.array([h[u | b] - h[u] for b in pos])
        idx = np.arange(1 << m)
        sub = np.zeros(1 << m, np.int64)
        gain = np.zeros(1 << m)
        size = np.zeros(1 << m, np.int64)
        for j, b in enumerate(pos):
            on = (idx >> j) & 1
            sub |= on * b
            gain += on * gains[j]
            size += on
        tc = gain - (h[u | sub] - h[u])
        tc = np.where(np.abs(tc) <= tol * (size + 2), 0.0, tc)
        out[m] += np.bincount(size, weights=tc, minlength=n + 1)
    out[:, :2] = 0.0
    return np.maximum(out, 0.0)


def _powers(x, k):
    """x ** k with 0 ** 0 = 1 (numpy already does so, stated for the reader)."""
    return np.power(x, k)


def chain_rule_step(coefficients: ArrayLike, a: ArrayLike, b: ArrayLike) -> np.ndarray:
    r"""The exact per-step chain-rule term :math:`\varepsilon(a, b)` of the stochastic sampler
    (module docstring), for arrays ``a <= b`` in [0, 1] (broadcast); nats."""
    t = np.asarray(coefficients, np.float64)
    n = t.shape[0] - 1
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    out = np.zeros(np.broadcast(a, b).shape)
    step = np.maximum(b - a, 0.0)
    for m in range(2, n + 1):
        for s in range(2, m + 1):
            if t[m, s] != 0:
                out = out + t[m, s] * _powers(a, n - m) * _powers(step, s) * _powers(1 - b, m - s)
    return out


def count_step_cost(coefficients: ArrayLike) -> np.ndarray:
    r"""``cost[m, c]``: the exact chain-rule term of a random-order count step that reveals c of
    m masked positions, :math:`T[m, c] / (\binom{n}{m}\binom{m}{c})`; shape ``(n+1, n+1)``."""
    t = np.asarray(coefficients, np.float64)
    n = t.shape[0] - 1
    norm = np.array([[math.comb(n, m) * math.comb(m, c) if c <= m else 1 for c in range(n + 1)] for m in range(n + 1)],
                    float)
    return t / norm


def chain_rule_kl(profile: Profile, alpha_grid: ArrayLike, *, counts: ArrayLike | None = None) -> float:
    r"""The exact path KL :math:`\sum_k \varepsilon(\alpha_{k-1}, \alpha_k)` of a grid (stochastic
    sampler), or of the token counts ``counts`` (count sampler, random order), from an exact
    profile; an upper bound on the output :math:`KL(q \| p)` (data processing)."""
    if profile.coefficients is None:
        raise ValueError("the exact chain-rule terms need an exact profile (exact_profile)")
    if profile.sampler == "count" or counts is not None:
        if counts is None:
            raise ValueError("the count sampler's chain-rule KL needs the token counts")
        cost = count_step_cost(profile.coefficients)
        m, total = profile.length, 0.0
        for c in np.asarray(counts, int):
            total += cost[m, c]
            m -= c
        return float(total)
    al = np.asarray(alpha_grid, np.float64)
    return float(np.sum(chain_rule_step(profile.coefficients, al[:-1], al[1:])))


def pair_dependence(coefficients: ArrayLike, alpha: ArrayLike) -> np.ndarray:
    r""":math:`P(\alpha) = \sum_m \alpha^{n-m} (1-\alpha)^m T[m, 2]` at any levels (stochastic path)."""
    t = np.asarray(coefficients, np.float64)
    n = t.shape[0] - 1
    a = np.asarray(alpha, np.float64)
    out = np.zeros_like(a)
    for m in range(2, n + 1):
        out = out + t[m, 2] * _powers(a, n - m) * _powers(1 - a, m)
    return out


def exact_profile(q: ArrayLike | MarkovOracle, levels: ArrayLike | None = None, *, sampler: str = "stochastic",
                  length: int | None = None) -> Profile:
    r"""The exact dependence profile of a target.

    Args:
      q: a table of shape ``(d,) * n``, or a :class:`~mdm_ot.sampling.MarkovOracle` with
        ``length`` (through its table: small n and d only).
      levels: stochastic sampler: the levels alpha to tabulate P at (default
        :data:`DEFAULT_LEVELS` equally spaced in [0, 1]; the profile is exact anywhere through
        its coefficients). Count sampler: must be ``None`` (the levels are ``1 - m / n``).
      sampler: ``"stochastic"`` or ``"count"`` (random order).
      length: the chain's length (Markov targets only).

    Returns:
      :class:`Profile` with ``method="exact"``, ``model_calls=0`` and ``coefficients``.

    References:
      Issue 16 (our construction); MATH.md sections 1 and 4 (the path, the exact oracle).
    """
    if sampler not in ("stochastic", "count"):
        raise ValueError(f"sampler must be 'stochastic' or 'count', got {sampler!r}")
    info: dict = {}
    if isinstance(q, MarkovOracle):
        if not isinstance(length, (int, np.integer)) or length < 1:
            raise ValueError(f"a Markov target needs length=N >= 1, got {length!r}")
        d = q.vocab_size
        if int(length) * math.log(2 * d + 1) > math.log(_MAX_SIZE) + 1e-9:
            raise ValueError(f"the exact profile needs (2d+1)^n <= {_MAX_SIZE}, got n = {length}, d = {d}")
        table = np.asarray(q.table(int(length)), np.float64)
        q = table / table.sum()
        info["target"] = "markov"
    elif length is not None:
        raise ValueError("length is for Markov targets; a table's length is its number of axes")
    q = np.asarray(q, np.float64)
    coef = chain_rule_coefficients(q)
    n = q.ndim
    info.update(n=n, d=int(q.shape[0]))
    if sampler == "count":
        if levels is not None:
            raise ValueError("the count sampler's levels are 1 - m/n (m = n..0): give levels=None")
        m = np.arange(n, -1, -1)
        lv = 1.0 - m / n
        pairs = np.array([coef[k, 2] / math.comb(n, k) if k >= 2 else 0.0 for k in m])
    else:
        lv = np.linspace(0.0, 1.0, DEFAULT_LEVELS) if levels is None else np.asarray(levels, np.float64)
        if lv.ndim != 1 or lv.size < 1 or not np.all(np.isfinite(lv)) or np.any(lv < 0) or np.any(lv > 1) \
                or np.any(np.diff(lv) <= 0):
            raise ValueError("levels must be a vector of increasing values in [0, 1]")
        pairs = pair_dependence(coef, lv)
    return Profile(levels=lv, pair_dependence=pairs, stderr=None, sampler=sampler, length=n, model_calls=0,
                   method="exact", info=info, coefficients=coef)

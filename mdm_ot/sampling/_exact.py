r"""Exact output distributions of the few-step samplers, divergences, and Monte-Carlo checks.

For small ``n`` and ``d`` the output distribution of a K-step sampler with a given
denoiser is computed exactly by propagating probability over the :math:`(d+1)^n` states
(no dense transition matrix: the nonzero transitions are enumerated once per ``(n, d)``;
how, in docs/sampling.md). A KL is ``+inf`` where infinite, never a finite stand-in.

Example:
  >>> import numpy as np
  >>> from mdm_ot.schedules import Linear
  >>> q = np.array([[0.5, 0.0], [0.0, 0.5]])
  >>> p = exact_output_table(q, Linear(), num_steps=1, sampler="count")
  >>> float(divergences(p, q).kl_model_to_data)  # one parallel step leaves the support
  inf

References:
  MATH.md section 4 ("the distribution of the K-step sampler's output can be computed
  exactly by propagating probability over the (d+1)^n states").
"""

from __future__ import annotations

import functools
import math
from statistics import NormalDist
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import xlogy
from jax.typing import ArrayLike

from mdm_ot._pytree import is_concrete
from mdm_ot.bruteforce import all_states, state_index
from mdm_ot.sampling._core import (
    _alpha_pair_jit,
    _merge_denoiser,
    _rank_with_ties,
    _reveal_probabilities,
    _split_denoiser,
    _tie_tol,
    temper,
)
from mdm_ot.sampling._grid import check_grid, check_sizes, default_grid, transfer_counts
from mdm_ot.sampling._oracles import MarkovOracle, table_oracle

__all__ = [
    "Divergences",
    "distribution_statistics",
    "divergences",
    "exact_output",
    "exact_output_table",
    "markov_statistics",
]

Sampler = Literal["stochastic", "count"]
_MAX_EXACT_STATES = 10**7
_MAX_EXACT_TRANSITIONS = 5 * 10**7


# ----------------------------------------------------------------------------- structures


@functools.lru_cache(maxsize=8)
def _reveal_pairs(n: int, d: int) -> dict[str, np.ndarray]:
    """Every (state, reveal pattern, tokens) triple: position options 0..d-1 (unmasked token),
    d (masked, stays masked), d+1+v (masked, revealed as v)."""
    # the 2d+1 options of every position: the digits of the states of a 2d-token vocabulary
    o = all_states(n, 2 * d)
    powers = (d + 1) ** np.arange(n - 1, -1, -1)
    revealed = o > d
    src_digit = np.where(o < d, o, d)
    dst_digit = np.where(o < d, o, np.where(o == d, d, o - d - 1))
    r = revealed.sum(1)
    m = (src_digit == d).sum(1)
    return {
        "src": (src_digit @ powers).astype(np.int32),
        "dst": (dst_digit @ powers).astype(np.int32),
        "revealed": revealed,
        "tok": np.where(revealed, o - d - 1, 0).astype(np.int32),
        "mr": (m * (n + 1) + r).astype(np.int32),
    }


@functools.lru_cache(maxsize=8)
def _proposal_pairs(n: int, d: int) -> dict[str, np.ndarray]:
    """Every (state, proposed tokens at its masked positions) pair: position options 0..d-1
    (unmasked token), d+v (masked, proposal v)."""
    # the 2d options of every position: the digits of the sequences of a 2d-token vocabulary
    o = all_states(n, 2 * d, masked=False)
    powers = (d + 1) ** np.arange(n - 1, -1, -1)
    masked = o >= d
    return {
        "src": (np.where(masked, d, o) @ powers).astype(np.int32),
        "masked": masked,
        "tok": np.where(masked, o - d, 0).astype(np.int32),
        "delta": (np.where(masked, o - 2 * d, 0) * powers[None, :]).astype(np.int32),
    }


def _binom_table(n: int) -> np.ndarray:
    return np.array([[math.comb(m, r) if r <= m else 1 for r in range(n + 1)] for m in range(n + 1)], float)


# ----------------------------------------------------------------------------- propagation


@functools.partial(jax.jit, static_argnames=("n", "d", "sampler", "order"))
def _propagate(probs, temperature, alphas, omegas, struct, *, n, d, sampler, order):
    num_states = (d + 1) ** n
    dtype = probs.dtype
    mass0 = jnp.zeros(num_states, dtype).at[num_states - 1].set(1)  # all masked
    tempered = temper(probs, temperature)
    src = struct["src"]

    if sampler == "count" and order == "confidence":
        tok = struct["tok"]
        masked = struct["masked"]
        rows = jnp.arange(n)[None, :]
        proposal = jnp.where(masked, tempered[src[:, None], rows, tok], 1).prod(axis=1)
        conf = probs[src[:, None], rows, tok]
        rank = _rank_with_ties(conf, masked, _tie_tol(dtype))
        # destination for every count c = 0..n: reveal the positions with rank < c
        cs = jnp.arange(n + 1)[:, None, None]
        dst_by_c = src[None, :] + jnp.sum(jnp.where(rank[None] < cs, struct["delta"][None], 0), axis=-1)
        counts = transfer_counts(alphas, n)

        def step(mass, c):
            return jax.ops.segment_sum(mass[src] * proposal, dst_by_c[c], num_states), None

        mass, _ = jax.lax.scan(step, mass0, counts)
        return mass

    rows = jnp.arange(n)[None, :]
    tokw = jnp.where(struct["revealed"], tempered[src[:, None], rows, struct["tok"]], 1).prod(axis=1)
    mr = struct["mr"]
    m = jnp.arange(n + 1, dtype=dtype)[:, None]
    r = jnp.arange(n + 1, dtype=dtype)[None, :]
    if sampler == "stochastic":
        xs = _reveal_probabilities(omegas)

        def factor(rho):  # rho^r (1 - rho)^(m - r), with 0^0 = 1
            # x ** k with k = 0 written so that its derivative is 0, not 0 * inf = NaN, at
            # x = 0 (rho = 0 or rho = 1, e.g. a grid padded with repeated end points).
            def power(x, k):
                return jnp.where(k == 0, 1.0, jnp.where(k == 0, 1.0, x) ** jnp.where(k == 0, 1, k))

            return jnp.where(r <= m, power(rho, r) * power(1 - rho, jnp.maximum(m - r, 0)), 0)

    else:
        xs = transfer_counts(alphas, n)
        inv_binom = 1 / jnp.asarray(_binom_table(n), dtype)

        def factor(c):
            return jnp.where(r == c, inv_binom, 0)

    def step(mass, x):
        w = factor(x).reshape(-1)[mr]
        return jax.ops.segment_sum(mass[src] * tokw * w, struct["dst"], num_states), None

    mass, _ = jax.lax.scan(step, mass0, xs)
    return mass


def exact_output(
    denoiser,
    schedule,
    *,
    length: int,
    num_steps: int,
    sampler: Sampler = "stochastic",
    order: Literal["random", "confidence"] = "random",
    temperature: ArrayLike = 1.0,
    grid: ArrayLike | None = None,
    return_states: bool = False,
) -> jax.Array:
    r"""Exact distribution of the output of a K-step sampler started from the all-masked state.

    The sampler is the one of :func:`mdm_ot.sampling.sample_stochastic` (``sampler=
    "stochastic"``) or :func:`mdm_ot.sampling.sample_count` (``sampler="count"``, with
    ``order``), with the same tempering and tie rules, no blocks and no prompt. The
    denoiser is evaluated once on all :math:`(d+1)^n` states.

    vmap over schedules works: ``jax.vmap(lambda s: exact_output(o, s, ...))(batch)``.

    Args:
      denoiser: ``z [S, n] -> probs [S, n, d]`` (e.g. :func:`mdm_ot.sampling.table_oracle`).
      schedule: mask schedule (pytree, may be traced).
      length: ``n`` (the state space has :math:`(d+1)^n` states: keep it small).
      num_steps: :math:`K \ge 1`.
      sampler: ``"stochastic"`` or ``"count"``.
      order: ``"random"`` or ``"confidence"`` (count sampler only).
      temperature: :math:`T \ge 0` of the token proposals.
      grid: time grid (``K + 1`` points, 0 to 1); default ``k / K``.
      return_states: return the mass on all :math:`(d+1)^n` states instead (checks that
        nothing is left masked).

    Returns:
      ``p`` of shape ``(d,) * n`` (or ``[(d+1)^n]``).

    References:
      MATH.md section 4 ("the distribution of the K-step sampler's output can be computed
      exactly by propagating probability over the (d+1)^n states").
    """
    if sampler not in ("stochastic", "count"):
        raise ValueError(f"sampler must be 'stochastic' or 'count', got {sampler!r}")
    if order not in ("random", "confidence"):
        raise ValueError(f"order must be 'random' or 'confidence', got {order!r}")
    if sampler == "stochastic":
        order = "random"
    check_sizes(num_steps, length, None)
    if grid is None:
        grid = default_grid(num_steps)
    check_grid(grid, num_steps)
    if is_concrete(temperature) and not float(temperature) >= 0:
        raise ValueError(f"the temperature must be >= 0, got {temperature!r}")
    out = jax.eval_shape(denoiser, jnp.zeros((1, length), jnp.int32))
    if len(out.shape) != 3 or out.shape[:2] != (1, length):
        raise ValueError(f"the denoiser must map [S, n] to [S, n, d], got {out.shape} for n = {length}")
    d = out.shape[-1]
    # Memory grows with the (2d+1)^n transitions, not the (d+1)^n states: about (43 + 19 n)
    # bytes each (benchmarks/scaling.py), so the transition bound keeps a call near 10 GiB.
    if length * math.log(d + 1) > math.log(_MAX_EXACT_STATES) or length * math.log(2 * d + 1) > math.log(_MAX_EXACT_TRANSITIONS):
        raise ValueError(f"n = {length}, d = {d} is too large for the exact evaluation: (d+1)^n states and (2d+1)^n "
                         f"transitions; allowed: (d+1)^n <= {_MAX_EXACT_STATES} and (2d+1)^n <= {_MAX_EXACT_TRANSITIONS}")
    raw = _proposal_pairs(length, d) if order == "confidence" else _reveal_pairs(length, d)
    struct = {k: jnp.asarray(v) for k, v in raw.items()}
    struct["states"] = jnp.asarray(all_states(length, d))
    # index, among the (d+1)^n states, of each complete sequence in the order of q.ravel()
    struct["complete"] = state_index(all_states(length, d, masked=False), d)
    probs = _evaluate_all(*_split_denoiser(denoiser), struct["states"])
    alphas, omegas = _alpha_pair_jit(schedule, jnp.asarray(grid))
    dtype = jnp.result_type(probs.dtype, alphas.dtype)
    mass = _propagate(probs.astype(dtype), jnp.asarray(temperature, dtype), alphas.astype(dtype), omegas.astype(dtype),
                      struct, n=length, d=d, sampler=sampler, order=order)
    if return_states:
        return mass
    return mass[struct["complete"]].reshape((d,) * length)


@functools.partial(jax.jit, static_argnames=("den_static",))
def _evaluate_all(den_dynamic, den_static, states):
    return _merge_denoiser(den_dynamic, den_static)(states)


def exact_output_table(q: ArrayLike, schedule, **kwargs) -> jax.Array:
    """:func:`exact_output` with the exact oracle of an explicit target ``q`` (shape
    ``(d,) * n``); keyword arguments as :func:`exact_output` (``length`` is ``q.ndim``)."""
    q = jnp.asarray(q)
    return exact_output(table_oracle(q), schedule, length=q.ndim, **kwargs)


# ----------------------------------------------------------------------------- divergences


class Divergences(NamedTuple):
    """Divergences between the target ``q`` (data) and the sampler's output ``p`` (model)."""

    kl_data_to_model: jax.Array  # KL(q || p), +inf if p misses part of q's support
    kl_model_to_data: jax.Array  # KL(p || q), +inf if p puts mass off q's support
    tv: jax.Array  # total variation, 0.5 * sum |p - q|


@jax.jit
def divergences(p: ArrayLike, q: ArrayLike) -> Divergences:
    r""":math:`KL(q \| p)`, :math:`KL(p \| q)` (each ``+inf`` where infinite) and total variation.

    Args:
      p: model (sampler output) probabilities, any shape.
      q: data probabilities, same shape.

    Returns:
      :class:`Divergences` of scalars (vmaps over a leading batch axis).

    References:
      MATH.md section 4 ("so KL and TV to q are exact").
    """
    p = jnp.asarray(p)
    q = jnp.asarray(q, p.dtype)
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape, got {p.shape} and {q.shape}")
    kl_qp = jnp.sum(xlogy(q, q) - xlogy(q, p))
    kl_pq = jnp.sum(xlogy(p, p) - xlogy(p, q))
    # x log 0 with x > 0 is -inf in xlogy, so a missed support gives +inf above; clean any
    # tiny negative rounding of an exact match.
    return Divergences(jnp.maximum(kl_qp, 0), jnp.maximum(kl_pq, 0), 0.5 * jnp.sum(jnp.abs(p - q)))


# ----------------------------------------------------------------------------- Monte Carlo


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"the confidence level must be in (0, 1), got {level}")
    return NormalDist().inv_cdf(0.5 + level / 2)


def _mean_ci(x: np.ndarray, z: float) -> dict[str, np.ndarray]:
    n = x.shape[0]
    mean = x.mean(axis=0)
    half = z * x.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.full_like(mean, np.inf)
    return {"mean": mean, "low": mean - half, "high": mean + half}


def _pair_fractions(x: jax.Array, d: int) -> jax.Array:
    onehot = jax.nn.one_hot(x, d)
    return jnp.einsum("bju,bjv->buv", onehot[:, :-1], onehot[:, 1:]) / (x.shape[1] - 1)


def markov_statistics(samples: ArrayLike, oracle: MarkovOracle, *, level: float = 0.99) -> dict:
    r"""Monte-Carlo estimates with confidence intervals for samples of a Markov-chain target.

    Per sample: the log-likelihood per token :math:`\log q(x)/n` and the fraction of
    adjacent pairs equal to ``(u, v)``; their means over the samples with normal-theory
    intervals (mean :math:`\pm z \cdot s/\sqrt N`); the fraction of samples off the support
    of ``q`` with a Wilson interval. If any sample is off the support the log-likelihood mean
    is ``-inf`` (said so, not hidden); the mean over on-support samples is also given.
    The exact values under ``q`` are given as ``reference`` for comparison
    (:math:`-H(q)/n` and the chain's pair frequencies).

    Args:
      samples: ``[N, n]`` integer sequences (no masks).
      oracle: the target chain.
      level: two-sided confidence level of the intervals.

    Returns:
      dict with ``num_samples``, ``loglik_per_token`` (``mean``, ``low``, ``high``,
      ``on_support``), ``offsupport_fraction`` (``mean``, ``low``, ``high``),
      ``pair_frequencies`` (``mean``, ``low``, ``high``, each ``[d, d]``) and ``reference``.

    References:
      MATH.md section 4 (evaluation of few-step samplers against an exact target).
    """
    x = jnp.asarray(samples)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"samples must be [N >= 2, n >= 2], got {x.shape}")
    d = oracle.vocab_size
    if is_concrete(x) and (int(x.min()) < 0 or int(x.max()) >= d):
        raise ValueError(f"samples must be complete sequences of tokens 0..{d - 1}")
    z = _z(level)
    num, n = x.shape
    ll = np.asarray(oracle.log_prob(x)) / n
    off = ~np.isfinite(ll)
    k = int(off.sum())
    phat = k / num
    centre = (phat + z * z / (2 * num)) / (1 + z * z / num)
    half = z * math.sqrt(phat * (1 - phat) / num + z * z / (4 * num * num)) / (1 + z * z / num)
    on = ll[~off]
    ll_stats = _mean_ci(on, z) if on.size > 1 else {"mean": np.nan, "low": np.nan, "high": np.nan}
    ll_out = {"on_support": ll_stats}
    if k:
        ll_out.update(mean=-np.inf, low=-np.inf, high=-np.inf)
    else:
        ll_out.update(ll_stats)
    pairs = np.asarray(_pair_fractions(x, d))
    return {
        "num_samples": num,
        "loglik_per_token": ll_out,
        "offsupport_fraction": {"mean": phat, "low": max(0.0, centre - half), "high": min(1.0, centre + half)},
        "pair_frequencies": _mean_ci(pairs, z),
        "reference": {
            "loglik_per_token": float(-oracle.entropy(n) / n),
            "pair_frequencies": np.asarray(oracle.pair_frequencies(n)),
        },
    }


def distribution_statistics(p: ArrayLike, oracle: MarkovOracle) -> dict:
    r"""The quantities of :func:`markov_statistics`, exactly, for an explicit distribution ``p``
    of shape ``(d,) * n``: :math:`E_p[\log q(x)]/n` (``-inf`` if ``p`` has mass off the
    support of ``q``), the mass off the support, and the expected pair fractions.
    """
    p = jnp.asarray(p)
    n, d = p.ndim, p.shape[0]
    xs = jnp.asarray(all_states(n, d, masked=False))
    pf = p.reshape(-1)
    lq = oracle.log_prob(xs)
    off = ~jnp.isfinite(lq)
    off_mass = jnp.sum(jnp.where(off, pf, 0))
    ll = jnp.where(off_mass > 0, -jnp.inf, jnp.sum(jnp.where(off, 0, pf * lq)) / n)
    pairs = jnp.einsum("s,suv->uv", pf, _pair_fractions(xs, d))
    return {"loglik_per_token": ll, "offsupport_fraction": off_mass, "pair_frequencies": pairs}

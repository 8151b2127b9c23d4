r"""The sampling kernel shared by the samplers, the grid rules and the exact evaluation.

The one tie rule (:func:`_rank_with_ties`, :func:`_argmax_with_ties`), the token proposals
(:func:`temper`, :func:`_propose`), the denoiser split into traced leaves and a static
part, :math:`(\hat\alpha, 1 - \hat\alpha)` on a grid and the stochastic reveal
probabilities. Conventions (ties, tolerances, randomness): docs/sampling.md.

Example:
  >>> import jax.numpy as jnp
  >>> temper(jnp.array([0.25, 0.75]), 0.0).tolist()  # temperature 0: the most probable token
  [0.0, 1.0]

References:
  MATH.md section 4.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

__all__ = ["temper"]

Denoiser = Callable[[jax.Array], jax.Array]
Order = Literal["random", "confidence"]
_TIE_EPS = 64


# ----------------------------------------------------------------------------- ties

def _float_dtype(*xs):
    dt = jnp.result_type(*xs)
    return dt if jnp.issubdtype(dt, jnp.floating) else jnp.result_type(float)

def _tie_tol(dtype, scale=1.0):
    return _TIE_EPS * jnp.finfo(dtype).eps * scale

def _rank_with_ties(scores: jax.Array, eligible: jax.Array, tol) -> jax.Array:
    r"""Rank of each entry (0 = first) when ordered by decreasing score.

    Eligible entries come before ineligible ones; scores within ``tol`` of each other are
    ties and ties go to the lower index. The result is a permutation of ``0 .. L-1`` along
    the last axis, so exactly ``c`` entries have rank ``< c``: if near-ties chain beyond
    ``tol`` (a within ``tol`` of b, b of c, but not a of c) the pairwise counts collide,
    and only then they are turned into a permutation by a stable sort. Costs
    :math:`O(L^2)` per row.
    """
    shape = scores.shape
    n = shape[-1]
    scores = scores.reshape((-1, n))
    eligible = eligible.reshape((-1, n))
    low = jnp.min(jnp.where(eligible, scores, jnp.inf), axis=-1, keepdims=True)
    sentinel = jnp.where(jnp.isfinite(low), low, 0) - 1 - 4 * tol  # below every eligible score
    key = jnp.where(eligible, scores, sentinel)
    ki = key[:, :, None]  # entry i
    kj = key[:, None, :]  # entry j, counted when it comes before i
    lower = jnp.arange(n)[None, :] < jnp.arange(n)[:, None]  # [i, j]: j < i
    raw = jnp.sum((kj > ki + tol) | ((kj >= ki - tol) & lower), axis=-1, dtype=jnp.int32)
    rows = jnp.arange(raw.shape[0])[:, None]
    is_perm = jnp.all(jnp.zeros(raw.shape, jnp.int32).at[rows, raw].add(1) == 1)

    def repair(r):
        perm = jnp.argsort(r, axis=-1, stable=True)
        return jnp.zeros_like(r).at[rows, perm].set(jnp.arange(n, dtype=r.dtype)[None, :])

    return jax.lax.cond(is_perm, lambda r: r, repair, raw).reshape(shape)

def _argmax_with_ties(probs: jax.Array, tol) -> jax.Array:
    """Lowest index whose value is within ``tol`` of the maximum."""
    top = jnp.max(probs, axis=-1, keepdims=True)
    return jnp.argmax(probs >= top - tol, axis=-1)

# ----------------------------------------------------------------------------- proposals

def temper(probs: ArrayLike, temperature: ArrayLike) -> jax.Array:
    r"""Tempered distributions :math:`p^{1/T} / \sum_v p^{1/T}`; at :math:`T = 0` the point
    mass on the most probable token (ties: lowest token id, docs/sampling.md).

    Args:
      probs: ``[..., d]`` probabilities.
      temperature: scalar :math:`T \ge 0`.

    Returns:
      ``[..., d]``.
    """
    probs = jnp.asarray(probs)
    t = jnp.asarray(temperature, probs.dtype)
    logits = jnp.log(probs) / jnp.where(t > 0, t, 1)
    soft = jax.nn.softmax(logits, axis=-1)
    hard = jax.nn.one_hot(_argmax_with_ties(probs, _tie_tol(probs.dtype)), probs.shape[-1], dtype=probs.dtype)
    return jnp.where(t > 0, soft, hard)

def _propose(u: jax.Array, probs: jax.Array, temperature) -> tuple[jax.Array, jax.Array]:
    """Draw from the tempered distribution by inverting its CDF at ``u`` (one uniform per
    position, shape ``probs.shape[:-1]``); the most probable token (ties: lowest id) at
    temperature 0."""
    t = jnp.asarray(temperature, probs.dtype)
    tempered = jnp.where(t == 1, probs, jax.nn.softmax(jnp.log(probs) / jnp.where(t > 0, t, 1), axis=-1))
    cdf = jnp.cumsum(tempered, axis=-1)
    # token v where cdf[v-1] <= u * total < cdf[v]: tokens of probability 0 are never drawn
    drawn = jnp.minimum(jnp.sum(cdf <= (u * cdf[..., -1])[..., None], axis=-1), probs.shape[-1] - 1)
    best = _argmax_with_ties(probs, _tie_tol(probs.dtype))
    tokens = jnp.where(t > 0, drawn, best).astype(jnp.int32)
    conf = jnp.take_along_axis(probs, tokens[..., None], axis=-1)[..., 0]
    return tokens, conf

def _uniform(key, shape, dtype):
    """Uniforms in (0, 1), drawn flat (XLA:CPU compiles the threefry hash of a flat draw
    much faster than of a multi-axis one)."""
    size = int(np.prod(shape))
    return jax.random.uniform(key, (size,), dtype=dtype, minval=jnp.finfo(dtype).tiny).reshape(shape)

# ----------------------------------------------------------------------------- denoisers

def _split_denoiser(denoiser):
    """Split a denoiser into traced array leaves and a hashable static part."""
    leaves, treedef = jax.tree_util.tree_flatten(denoiser)
    dynamic = tuple(x if isinstance(x, (jax.Array, np.ndarray)) else None for x in leaves)
    static = tuple(None if isinstance(x, (jax.Array, np.ndarray)) else x for x in leaves)
    return dynamic, (treedef, static)

def _merge_denoiser(dynamic, static):
    treedef, static_leaves = static
    leaves = [d if s is None else s for d, s in zip(dynamic, static_leaves, strict=True)]
    return jax.tree_util.tree_unflatten(treedef, leaves)

# ----------------------------------------------------------------------------- schedule on a grid

@jax.jit
def _alpha_pair_jit(schedule, grid):
    """:func:`_alpha_pair_on_grid`, compiled once per schedule family (so that the samplers'
    and the exact evaluation's own compilations do not depend on the schedule family)."""
    return _alpha_pair_on_grid(schedule, grid)

def _alpha_pair_on_grid(schedule, grid):
    """``(alpha_hat, 1 - alpha_hat)`` on the grid; the complement comes from the schedule's
    accurate ``pair`` when it has one."""
    grid = jnp.asarray(grid)
    if hasattr(schedule, "pair"):
        a, om = schedule.pair(grid, 1 - grid)
    else:
        a = schedule(grid)
        om = 1 - a
    span = a[-1] - a[0]
    return (a - a[0]) / span, (om - om[-1]) / span

def _reveal_probabilities(omegas: jax.Array) -> jax.Array:
    r"""Stochastic-step reveal probabilities :math:`(\alpha_k - \alpha_{k-1})/(1 - \alpha_{k-1})`
    from :math:`\omega = 1 - \alpha` on the grid (accurate near :math:`\alpha = 1`); 1 at the
    last step, and 1 where nothing is left masked."""
    prev = omegas[:-1]
    rho = jnp.where(prev > 0, (prev - omegas[1:]) / jnp.where(prev > 0, prev, 1), 1)
    return rho.at[-1].set(1)

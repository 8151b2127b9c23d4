r"""Few-step samplers of masked diffusion models, for any mask schedule and any denoiser.

Time runs from :math:`t = 0` (all masked) to :math:`t = 1` (data). A sampler walks an
increasing time grid :math:`0 = t_0 \le t_1 \le \dots \le t_K = 1` (default
:math:`t_k = k/K`; a zero-length step reveals nothing, so a grid padded with repeated
1's runs fewer effective steps with the same compiled code) and at step ``k`` reveals some masked positions with tokens drawn from the denoiser's
per-position distributions given the current state:

* **stochastic** (ancestral) step: each masked position is revealed independently with
  probability :math:`(\alpha_k - \alpha_{k-1}) / (1 - \alpha_{k-1})`;
* **count** step (the sampler of LLaDA): exactly :math:`c_k` positions are revealed, with
  :math:`c_k` from :func:`transfer_counts`; the positions are chosen uniformly at random
  (``order="random"``) or as the :math:`c_k` most confident ones (``order="confidence"``,
  LLaDA's "low-confidence remasking").

Denoiser protocol: ``denoiser(z) -> probs`` with ``z`` an integer array ``[batch, L]``
(tokens ``0 .. d-1``, mask token ``d``) and ``probs`` ``[batch, L, d]``, per-position
distributions over the vocabulary. The vocabulary size is read from the output shape.
A denoiser may be a plain function or a pytree with a ``__call__`` (such as the oracles of
:mod:`mdm_ot.oracles`); its array leaves are traced, so a new oracle of the same shape
does not recompile.

Prompt: the positions of the initial state ``z0`` that are not masked are the prompt and
never change; only masked positions are generated (:func:`initial_state` builds ``z0``).

Tokens and confidence (both samplers): the token proposed at a masked position is drawn
from the tempered distribution :math:`p^{1/T} / \sum p^{1/T}`; at temperature :math:`T = 0`
it is the most probable token. The confidence of a position is the (untempered)
probability of its proposed token, as in LLaDA.

Ties (one rule, shared with :mod:`mdm_ot.exact`): two scores closer than ``tol`` are
equal, and among equal scores the lower index wins: the lower token id for the argmax at
temperature 0, the lower position for confidence order, the earlier step when
:func:`transfer_counts` hands out the rounding remainder. ``tol`` is
``64 * eps(dtype)`` for probabilities and ``64 * eps(dtype) * L`` for token counts, so
that values equal in exact arithmetic but not in floating point are treated as equal.

Semi-autoregressive blocks (``block_length=B``): positions ``block_start ..`` are cut
into consecutive blocks of ``B`` positions (positions before ``block_start``, e.g. a
prompt prefix, join the first block). Blocks are generated left to right, each with
``K / (number of blocks)`` steps; the schedule and the grid apply inside each block,
and the token counts of a block come from its own number of masked positions. The
denoiser always sees the whole sequence.

Randomness: the key of step ``k`` (counted over all blocks) is
``jax.random.fold_in(key, k)``; it draws one uniform per position, and the proposed token
is the tempered distribution's inverse CDF at it. For stochastic steps and random order the positions do not depend on the
tokens, so the step at which each position is revealed is drawn once, up front, from
``fold_in(key, K)``: for stochastic steps independently per position (step ``s`` of its
block with probability :math:`\alpha_s - \alpha_{s-1}`, the law of the ancestral reveal
probabilities), for random order as a uniformly random order of each block's masked
positions cut into the counts. The same seed gives the same samples on any machine
(threefry keys).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from mdm_ot._pytree import is_concrete

__all__ = [
    "alpha_on_grid",
    "padded_grid",
    "default_grid",
    "initial_state",
    "num_transfer_tokens",
    "propose_tokens",
    "sample_count",
    "sample_stochastic",
    "temper",
    "transfer_counts",
]

Denoiser = Callable[[jax.Array], jax.Array]
Order = Literal["random", "confidence"]
_TIE_EPS = 64


# ----------------------------------------------------------------------------- helpers



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


def temper(probs: ArrayLike, temperature: ArrayLike) -> jax.Array:
    r"""Tempered distributions :math:`p^{1/T} / \sum_v p^{1/T}`; at :math:`T = 0` the point
    mass on the most probable token (ties: lowest token id, see the module docstring).

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


def propose_tokens(key: jax.Array, probs: ArrayLike, temperature: ArrayLike) -> tuple[jax.Array, jax.Array]:
    r"""Draw a token per position from the tempered distribution and return its confidence.

    Args:
      key: PRNG key.
      probs: ``[..., d]`` denoiser output.
      temperature: :math:`T \ge 0` (0: most probable token, ties to the lowest id).

    Returns:
      ``(tokens [...] int32, confidence [...])`` where the confidence is the untempered
      probability of the proposed token.

    References:
      MATH.md section 4 (count step, low-confidence remasking as in LLaDA).
    """
    probs = jnp.asarray(probs)
    return _propose(_uniform(key, probs.shape[:-1], probs.dtype), probs, temperature)


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


def default_grid(num_steps: int, dtype=None) -> jax.Array:
    """The uniform grid :math:`t_k = k / K`, ``k = 0..K``."""
    if num_steps < 1:
        raise ValueError(f"the number of steps must be >= 1, got {num_steps}")
    dtype = dtype or jnp.result_type(float)
    return jnp.arange(num_steps + 1, dtype=dtype) / num_steps


def check_grid(grid, num_steps: int) -> None:
    if np.shape(grid) != (num_steps + 1,):
        raise ValueError(f"the time grid must have {num_steps + 1} points, got shape {np.shape(grid)}")
    if not is_concrete(grid):
        return
    g = np.asarray(grid, dtype=float)
    if not np.all(np.isfinite(g)) or np.any(np.diff(g) < 0) or g[0] != 0 or g[-1] != 1:
        raise ValueError("the time grid must increase from t=0 (all masked) to t=1 (data)")


def padded_grid(num_steps: int, total_steps: int, dtype=None) -> jax.Array:
    r"""The uniform K-step grid padded with repeated 1's to ``total_steps + 1`` points.

    Zero-length steps reveal nothing, so a sampler on this grid is the K-step sampler,
    and objectives for every K up to ``total_steps`` share one compiled evaluation (the
    grid is an array leaf of :class:`ExactDivergence`, not a static size).

    References:
      MATH.md section 4 (few-step sampling on an increasing grid).
    """
    check_sizes(num_steps, 1, None)
    if not isinstance(total_steps, (int, np.integer)) or total_steps < num_steps:
        raise ValueError(f"total_steps must be an integer >= num_steps = {num_steps}, got {total_steps!r}")
    g = default_grid(num_steps, dtype)
    return jnp.concatenate([g, jnp.ones(total_steps - num_steps, g.dtype)])


def alpha_on_grid(schedule, grid: ArrayLike) -> jax.Array:
    r"""The schedule on the grid, rescaled to end exactly at 0 and 1:
    :math:`\hat\alpha_k = (\alpha(t_k) - \alpha(t_0)) / (\alpha(t_K) - \alpha(t_0))`.

    For a schedule with :math:`\alpha(0) = 0` and :math:`\alpha(1) = 1` in floating point
    this changes nothing; otherwise (rounding, or MDLM's log-linear schedule with
    :math:`\alpha(0) = \epsilon`) it makes the first step start from the all-masked state
    and the last step reveal every remaining token.

    References:
      MATH.md sections 1 and 4 (:math:`\alpha(0) = 0`, :math:`\alpha(1) = 1`).
    """
    return _alpha_pair_on_grid(schedule, grid)[0]


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


def transfer_counts(alphas: ArrayLike, length: ArrayLike) -> jax.Array:
    r"""Tokens revealed at each step by the count sampler.

    With :math:`x_k = L (\alpha_k - \alpha_{k-1}) / (\alpha_K - \alpha_0)` (so that
    :math:`\sum_k x_k = L`): every step gets :math:`\lfloor x_k \rfloor`, and the remaining
    :math:`L - \sum_k \lfloor x_k \rfloor` tokens go one each to the steps with the largest
    fractional parts, ties (within ``64 * eps * L``) to the earliest steps (the largest
    remainder rule). Hence every :math:`c_k` is the floor or the ceiling of :math:`x_k`,
    :math:`\sum_k c_k = L`, zero-token steps are allowed, and for the linear schedule on the
    uniform grid (all :math:`x_k = L/K`) it is LLaDA's split: ``L // K`` tokens per step and
    one more for each of the first ``L % K`` steps. (Rounding the cumulative
    :math:`L \alpha_k` would also give floors and ceilings but spreads the extra tokens
    instead of giving them to the first steps.)

    Jit- and vmap-friendly (``alphas`` and ``length`` may be traced).

    Args:
      alphas: :math:`\alpha` on the grid, ``[K+1]``, increasing.
      length: :math:`L`, the number of masked positions (an integer, may be traced).

    Returns:
      ``[K]`` int32 counts summing to ``L``.

    References:
      MATH.md section 4 (count step; LLaDA's ``get_num_transfer_tokens``).
    """
    alphas = jnp.asarray(alphas)
    dtype = _float_dtype(alphas)
    alphas = alphas.astype(dtype)
    length_f = jnp.asarray(length).astype(dtype)
    x = length_f * jnp.diff(alphas) / (alphas[-1] - alphas[0])
    fl = jnp.floor(x)
    frac = x - fl
    extra = length_f - jnp.sum(fl)
    rank = _rank_with_ties(frac, jnp.ones(frac.shape, bool), _tie_tol(dtype, jnp.maximum(length_f, 1)))
    return (fl + (rank < extra)).astype(jnp.int32)


def check_sizes(num_steps: int, length: int, block_length: int | None, block_start: int = 0) -> tuple[int, int]:
    """Validate sizes; return (number of blocks, steps per block)."""
    if not isinstance(num_steps, (int, np.integer)) or num_steps < 1:
        raise ValueError(f"the number of steps must be an integer >= 1, got {num_steps!r}")
    if not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"the length must be an integer >= 1, got {length!r}")
    if block_length is None:
        return 1, int(num_steps)
    if not isinstance(block_length, (int, np.integer)) or block_length < 1:
        raise ValueError(f"the block length must be an integer >= 1, got {block_length!r}")
    if not 0 <= block_start < length:
        raise ValueError(f"block_start must be in [0, {length}), got {block_start}")
    span = length - block_start
    if span % block_length:
        raise ValueError(f"the block length {block_length} does not divide the length {span}")
    nb = span // block_length
    if num_steps % nb:
        raise ValueError(f"the number of steps {num_steps} is not divisible by the number of blocks {nb}")
    return nb, num_steps // nb


def num_transfer_tokens(
    schedule, length: int, num_steps: int, *, block_length: int | None = None, grid: ArrayLike | None = None
) -> jax.Array:
    r"""Tokens revealed at each of the ``num_steps`` steps of a count sampler that starts from
    ``length`` masked positions: :func:`transfer_counts` on the schedule's grid, per block
    when ``block_length`` is given (the list runs over all steps, block after block).

    Args:
      schedule: a mask schedule (``schedule(t)`` gives :math:`\alpha(t)`).
      length: :math:`L \ge 1`.
      num_steps: :math:`K \ge 1`, divisible by the number of blocks.
      block_length: optional :math:`B` dividing :math:`L`.
      grid: optional time grid for one block's steps (``K / (L / B) + 1`` points from 0 to 1).

    Returns:
      ``[K]`` int32.

    References:
      MATH.md section 4 (count step, semi-autoregressive blocks).
    """
    nb, spb = check_sizes(num_steps, length, block_length)
    if grid is None:
        grid = default_grid(spb)
    check_grid(grid, spb)
    return _tiled_counts(schedule, jnp.asarray(grid), length // nb, num_blocks=nb)


@functools.partial(jax.jit, static_argnames=("num_blocks",))
def _tiled_counts(schedule, grid, block_tokens, *, num_blocks):
    return jnp.tile(transfer_counts(alpha_on_grid(schedule, grid), block_tokens), num_blocks)


def initial_state(
    length: int, vocab_size: int, *, batch: int = 1, prompt: ArrayLike | None = None, prompt_mask: ArrayLike | None = None
) -> jax.Array:
    """The all-masked state ``[batch, length]`` (mask token = ``vocab_size``), with the prompt
    tokens written where ``prompt_mask`` is True (``prompt`` and ``prompt_mask`` broadcast to
    ``[batch, length]``)."""
    z = jnp.full((batch, length), vocab_size, dtype=jnp.int32)
    if prompt is None:
        return z
    if prompt_mask is None:
        raise ValueError("a prompt needs a prompt_mask saying which positions are given")
    prompt = jnp.broadcast_to(jnp.asarray(prompt, jnp.int32), z.shape)
    if is_concrete(prompt) and (np.any(np.asarray(prompt)[np.asarray(jnp.broadcast_to(prompt_mask, z.shape))] >= vocab_size) or np.any(np.asarray(prompt) < 0)):
        raise ValueError(f"prompt tokens must be in 0..{vocab_size - 1}")
    return jnp.where(jnp.broadcast_to(jnp.asarray(prompt_mask, bool), z.shape), prompt, z)


# ----------------------------------------------------------------------------- samplers


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


@functools.partial(
    jax.jit,
    static_argnames=("den_static", "num_steps", "mode", "order", "block_length", "block_start", "return_steps"),
)
def _sample(
    den_dynamic, alphas, key, z0, temperature, *, den_static, num_steps, mode, order, block_length, block_start, return_steps
):
    denoiser = _merge_denoiser(den_dynamic, den_static)
    batch, length = z0.shape
    out = jax.eval_shape(denoiser, z0)
    if out.shape != (batch, length, out.shape[-1]):
        raise ValueError(f"the denoiser must return [batch, L, d] = [{batch}, {length}, d], got {out.shape}")
    d = out.shape[-1]
    nb, spb = check_sizes(num_steps, length, block_length, block_start)
    pos = np.arange(length)
    block_of = np.zeros(length, np.int32) if block_length is None else np.maximum(pos - block_start, 0) // block_length

    dtype = _float_dtype(alphas, out.dtype)
    alphas = alphas.astype(dtype)
    temperature = jnp.asarray(temperature, out.dtype)
    tol = _tie_tol(out.dtype)
    masked0 = z0 == d
    block_of = jnp.asarray(block_of)
    in_block = block_of[None, :] == jnp.arange(nb)[:, None]  # [nb, L]
    if mode == "count":
        per_block = jnp.sum(masked0[:, None, :] & in_block[None], axis=-1)  # [batch, nb]
        counts = jax.vmap(jax.vmap(transfer_counts, (None, 0)), (None, 0))(alphas, per_block)  # [batch, nb, spb]
    if mode == "stochastic" or order == "random":
        # The positions do not depend on the tokens, so the step at which each position is
        # revealed is drawn once, up front, from its own key (no sort inside the loop).
        u = _uniform(jax.random.fold_in(key, num_steps), (batch, length), dtype)
        if mode == "stochastic":
            # independently per position: step s of its block with probability
            # alpha_s - alpha_(s-1) (the law of the ancestral reveal probabilities)
            s_in = jnp.sum(u[..., None] >= alphas[1:-1], axis=-1)
        else:
            # a uniformly random order of the masked positions of each block; step s of the
            # block takes the next c_s of them
            order_key = jnp.where(masked0, block_of[None, :] + u, nb + 1.0)
            perm = jnp.argsort(order_key, axis=-1, stable=True)
            rows = jnp.arange(batch)[:, None]
            rank = jnp.zeros((batch, length), jnp.int32).at[rows, perm].set(jnp.arange(length, dtype=jnp.int32)[None, :])
            start = jnp.cumsum(per_block, axis=-1) - per_block  # masked positions in earlier blocks
            rank_in_block = rank - jnp.take_along_axis(start, jnp.broadcast_to(block_of, (batch, length)), axis=1)
            ends = jnp.cumsum(counts, axis=-1)[rows, block_of[None, :]]  # [batch, L, spb]
            s_in = jnp.sum(ends <= rank_in_block[..., None], axis=-1)
        reveal_step = jnp.where(masked0, block_of[None, :] * spb + s_in, -1).astype(jnp.int32)
    else:
        counts = counts.reshape((batch, num_steps))

    def step(carry, k):
        z, revealed_at = carry
        probs = denoiser(z)
        tokens, conf = _propose(_uniform(jax.random.fold_in(key, k), z.shape, probs.dtype), probs, temperature)
        if mode == "stochastic" or order == "random":
            chosen = reveal_step == k
        else:
            eligible = (z == d) & in_block[k // spb][None, :]
            chosen = eligible & (_rank_with_ties(conf, eligible, tol) < counts[:, k][:, None])
            if return_steps:
                revealed_at = jnp.where(chosen, k, revealed_at)
        return (jnp.where(chosen, tokens, z), revealed_at), None

    track = return_steps and mode == "count" and order == "confidence"
    init = (z0, jnp.full(z0.shape, -1, jnp.int32) if track else None)
    (z, revealed_at), _ = jax.lax.scan(step, init, jnp.arange(num_steps, dtype=jnp.int32))
    if not return_steps:
        return z
    return z, (revealed_at if track else reveal_step)


def _uniform(key, shape, dtype):
    """Uniforms in (0, 1), drawn flat (XLA:CPU compiles the threefry hash of a flat draw
    much faster than of a multi-axis one)."""
    size = int(np.prod(shape))
    return jax.random.uniform(key, (size,), dtype=dtype, minval=jnp.finfo(dtype).tiny).reshape(shape)


def _prepare(denoiser, z0, num_steps, grid, temperature, block_length, block_start):
    z0 = jnp.asarray(z0)
    if z0.ndim != 2 or not jnp.issubdtype(z0.dtype, jnp.integer):
        raise ValueError(f"z0 must be an integer array [batch, L], got {z0.dtype} {z0.shape}")
    nb, spb = check_sizes(num_steps, z0.shape[1], block_length, block_start)
    if grid is None:
        grid = default_grid(spb)
    check_grid(grid, spb)
    if is_concrete(temperature) and not float(temperature) >= 0:
        raise ValueError(f"the temperature must be >= 0, got {temperature!r}")
    dyn, static = _split_denoiser(denoiser)
    return dyn, static, z0.astype(jnp.int32), jnp.asarray(grid)


def _alphas_for(schedule, grid):
    return _alpha_pair_jit(schedule, grid)[0]


def sample_stochastic(
    denoiser: Denoiser,
    schedule,
    key: jax.Array,
    z0: ArrayLike,
    *,
    num_steps: int,
    temperature: ArrayLike = 1.0,
    grid: ArrayLike | None = None,
    block_length: int | None = None,
    block_start: int = 0,
    return_steps: bool = False,
):
    r"""Ancestral few-step sampling: each masked position is revealed independently with
    probability :math:`(\alpha_k - \alpha_{k-1})/(1 - \alpha_{k-1})` at step ``k``.

    Args:
      denoiser: ``z [batch, L] -> probs [batch, L, d]`` (module docstring).
      schedule: mask schedule, ``schedule(t)`` gives :math:`\alpha(t)` (a pytree; may be traced).
      key: PRNG key; step ``k`` uses ``fold_in(key, k)``.
      z0: initial state ``[batch, L]``; masked positions (= ``d``) are generated, the others
        are the prompt and stay.
      num_steps: :math:`K` (total over blocks).
      temperature: :math:`T \ge 0` for the token draws (1: the denoiser's distribution).
      grid: time grid of one block's steps (default ``k / (K / blocks)``), 0 to 1.
      block_length: semi-autoregressive block length :math:`B` (module docstring).
      block_start: first position cut into blocks (earlier ones join the first block).
      return_steps: also return the step at which each position was revealed (-1: prompt).

    Returns:
      samples ``[batch, L]`` int32 (and ``revealed_at [batch, L]`` if ``return_steps``).

    References:
      MATH.md section 4 (stochastic step); the paper's Eq. (3) (per-position masking path).
    """
    dyn, static, z0, grid = _prepare(denoiser, z0, num_steps, grid, temperature, block_length, block_start)
    return _sample(
        dyn, _alphas_for(schedule, grid), key, z0, temperature, den_static=static, num_steps=num_steps, mode="stochastic",
        order="random", block_length=block_length, block_start=block_start, return_steps=return_steps,
    )


def sample_count(
    denoiser: Denoiser,
    schedule,
    key: jax.Array,
    z0: ArrayLike,
    *,
    num_steps: int,
    order: Order = "random",
    temperature: ArrayLike = 1.0,
    grid: ArrayLike | None = None,
    block_length: int | None = None,
    block_start: int = 0,
    return_steps: bool = False,
):
    r"""Count sampling (LLaDA's sampler): exactly :math:`c_k` tokens revealed at step ``k``.

    The counts :math:`c_k` come from :func:`transfer_counts` applied to each sequence's
    number of masked positions (per block). ``order="random"`` reveals :math:`c_k` masked
    positions chosen uniformly; ``order="confidence"`` reveals the :math:`c_k` whose proposed
    token has the highest probability (ties to the lower position, module docstring). At
    temperature 0 with confidence order the sampler is deterministic. Confidence order costs
    :math:`O(L^2)` per sequence and step.

    Args: as :func:`sample_stochastic`, plus
      order: ``"random"`` or ``"confidence"``.

    Returns:
      samples ``[batch, L]`` int32 (and ``revealed_at`` if ``return_steps``).

    References:
      MATH.md section 4 (count step, random and low-confidence remasking, blocks).
    """
    if order not in ("random", "confidence"):
        raise ValueError(f"order must be 'random' or 'confidence', got {order!r}")
    dyn, static, z0, grid = _prepare(denoiser, z0, num_steps, grid, temperature, block_length, block_start)
    return _sample(
        dyn, _alphas_for(schedule, grid), key, z0, temperature, den_static=static, num_steps=num_steps, mode="count",
        order=order, block_length=block_length, block_start=block_start, return_steps=return_steps,
    )

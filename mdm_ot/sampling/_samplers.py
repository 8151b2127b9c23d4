r"""The few-step samplers: stochastic (ancestral) and count (LLaDA's), with blocks and prompts.

A sampler walks an increasing time grid from :math:`t = 0` (all masked) to :math:`t = 1`
and at each step reveals masked positions with tokens drawn from the denoiser. The
denoiser protocol, the tie rule, the blocks and the randomness are described in
docs/sampling.md.

Example:
  >>> import jax, numpy as np
  >>> from mdm_ot.sampling import table_oracle
  >>> from mdm_ot.schedules import Linear
  >>> oracle = table_oracle(np.full((2, 2, 2), 1 / 8))
  >>> z0 = initial_state(3, 2, batch=4)
  >>> sample_count(oracle, Linear(), jax.random.key(0), z0, num_steps=2).shape
  (4, 3)

References:
  MATH.md section 4; the paper's section 5 and Appendix E (LLaDA's count sampler).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from mdm_ot._pytree import is_concrete
from mdm_ot.sampling._core import (
    Denoiser,
    Order,
    _alpha_pair_jit,
    _float_dtype,
    _merge_denoiser,
    _propose,
    _rank_with_ties,
    _split_denoiser,
    _tie_tol,
    _uniform,
)
from mdm_ot.sampling._grid import check_grid, check_sizes, default_grid, transfer_counts

__all__ = ["initial_state", "propose_tokens", "sample_count", "sample_stochastic"]

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

# ----------------------------------------------------------------------------- samplers

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
      denoiser: ``z [batch, L] -> probs [batch, L, d]`` (docs/sampling.md).
      schedule: mask schedule, ``schedule(t)`` gives :math:`\alpha(t)` (a pytree; may be traced).
      key: PRNG key; step ``k`` uses ``fold_in(key, k)``.
      z0: initial state ``[batch, L]``; masked positions (= ``d``) are generated, the others
        are the prompt and stay.
      num_steps: :math:`K` (total over blocks).
      temperature: :math:`T \ge 0` for the token draws (1: the denoiser's distribution).
      grid: time grid of one block's steps (default ``k / (K / blocks)``), 0 to 1.
      block_length: semi-autoregressive block length :math:`B` (docs/sampling.md).
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
    token has the highest probability (ties to the lower position, docs/sampling.md). At
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

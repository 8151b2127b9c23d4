r"""The time grid, :math:`\alpha` on it, and the tokens revealed per step (count sampler).

Also the LLaDA-style export table of ``mdm-ot export`` (docs/export_llada.md).

Example:
  >>> from mdm_ot.schedules import Linear
  >>> num_transfer_tokens(Linear(), length=10, num_steps=4).tolist()  # LLaDA's split
  [3, 3, 2, 2]

References:
  MATH.md section 4 (few-step sampling on a grid; count step; semi-autoregressive blocks).
"""

from __future__ import annotations

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from mdm_ot._pytree import is_concrete
from mdm_ot.sampling._core import _alpha_pair_on_grid, _float_dtype, _rank_with_ties, _tie_tol
from mdm_ot.schedules import MaskSchedule, parse_alpha

__all__ = [
    "alpha_on_grid",
    "check_grid",
    "check_sizes",
    "default_export_name",
    "default_grid",
    "export_table",
    "num_transfer_tokens",
    "padded_grid",
    "transfer_counts",
]

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

# ----------------------------------------------------------------------------- export (LLaDA)

def export_table(alpha: str | MaskSchedule, length: int, num_steps: int, *, block_length: int | None = None) -> dict:
    r"""The α grid and tokens per step of a LLaDA-style (count) sampler, JSON-ready.

    LLaDA generates ``length`` tokens in ``length / block_length`` blocks, each with
    ``steps_per_block = num_steps / num_blocks`` steps, and asks ``get_num_transfer_tokens``
    how many of a block's masked tokens to reveal at each step. The table replaces that
    function: ``tokens_per_block_step[block][step]`` (every block starts with
    ``block_length`` masked tokens, so all rows are equal), computed with the largest
    remainder rule of :func:`mdm_ot.sampling.transfer_counts` (for the linear schedule
    it is exactly LLaDA's split). ``alpha_grid`` is :math:`\alpha` on one block's time grid,
    for samplers that recompute counts for other numbers of masked tokens.

    Raises:
      ValueError: for a bad spec or sizes (the block length must divide the length, the
        steps must be divisible by the number of blocks).

    References:
      MATH.md section 4 (count step, semi-autoregressive blocks).
    """
    nb, spb = check_sizes(num_steps, length, block_length)
    sched = parse_alpha(alpha) if isinstance(alpha, str) else alpha
    counts = np.asarray(num_transfer_tokens(sched, length, num_steps, block_length=block_length), np.int64)
    grid = default_grid(spb)
    return {
        "alpha": sched.spec,
        "length": int(length),
        "steps": int(num_steps),
        "block_length": int(length // nb) if block_length is None else int(block_length),
        "num_blocks": int(nb),
        "steps_per_block": int(spb),
        "time_grid": [float(t) for t in np.asarray(grid)],
        "alpha_grid": [float(x) for x in np.asarray(alpha_on_grid(sched, grid))],
        "tokens_per_step": [int(c) for c in counts],
        "tokens_per_block_step": counts.reshape(nb, spb).tolist(),
    }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_")


def default_export_name(table: dict) -> str:
    """``tokens_<alpha>_L<length>_K<steps>[_B<block>].npy``."""
    blk = f"_B{table['block_length']}" if table["num_blocks"] > 1 else ""
    return f"tokens_{_slug(table['alpha'])}_L{table['length']}_K{table['steps']}{blk}.npy"

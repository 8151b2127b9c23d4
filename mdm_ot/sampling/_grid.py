r"""The time grid, :math:`\alpha` on it, and the tokens revealed per step (count sampler).

Also the LLaDA-style export table of ``mdm-ot export`` (docs/export.md).

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
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from mdm_ot._pytree import is_concrete
from mdm_ot.sampling._core import _alpha_pair_jit, _alpha_pair_on_grid, _float_dtype, _tie_tol
from mdm_ot.schedules import MaskSchedule, parse_alpha

__all__ = [
    "CONVENTION",
    "ModelCalls",
    "StochasticModelCalls",
    "alpha_on_grid",
    "check_grid",
    "check_sizes",
    "default_export_name",
    "default_grid",
    "export_table",
    "model_calls",
    "num_transfer_tokens",
    "padded_grid",
    "rounding_rule",
    "sampler_model_calls",
    "stochastic_model_calls",
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

#: Up to this many steps the split's ranking compares every pair of steps (fast for the small
#: K of samplers and tuning, vmapped over many rows); above it, two sorts: O(K) memory.
_PAIRWISE_MAX_STEPS = 64


def _rank_steps(scores: jax.Array, tol) -> jax.Array:
    r"""Rank of each step (0 = first) by decreasing score, ``[K] -> [K]`` int32.

    The scores, sorted in decreasing order, are cut into tie classes wherever two neighbours
    differ by more than ``tol`` (so a chain of near-ties is one class); classes come in
    decreasing order and, within a class, the earlier step first. Where no class spans more
    than ``tol`` this is the tie rule of the samplers' ranking of positions (scores within
    ``tol`` are equal, the lower index first); chains are where the two differ, and here the
    rule stays a rule. Both branches below compute the same classes from the same float
    differences.
    """
    k = scores.shape[-1]
    idx = jnp.arange(k, dtype=jnp.int32)
    if k <= _PAIRWISE_MAX_STEPS:
        above = scores[None, :] > scores[:, None]  # [i, j]: score j above score i
        below = jnp.max(jnp.where(above.T, scores[None, :], -jnp.inf), axis=-1)  # next lower value of each j
        starts = scores - below > tol  # a class boundary just below the value of j
        # class ids in the order of the classes (equal scores count a boundary more than
        # once, which keeps the order; only the order matters)
        cls = jnp.sum(above & starts[None, :], axis=-1, dtype=jnp.int32)
        before = (cls[None, :] < cls[:, None]) | ((cls[None, :] == cls[:, None]) & (idx[None, :] < idx[:, None]))
        return jnp.sum(before, axis=-1, dtype=jnp.int32)
    neg, order = jax.lax.sort((-scores, idx), num_keys=1, is_stable=True)
    cls = jnp.concatenate([jnp.zeros(1, jnp.int32), jnp.cumsum(jnp.diff(neg) > tol, dtype=jnp.int32)])
    _, perm = jax.lax.sort((cls, order), num_keys=2)
    return jnp.zeros(k, jnp.int32).at[perm].set(idx)


def _largest_remainder(x: jax.Array, total: jax.Array, tol) -> jax.Array:
    """Floors of ``x >= 0``, plus one for the ``total - sum(floors)`` largest fractional parts
    (:func:`_rank_steps`)."""
    # One materialized x: XLA:CPU may recompute x (and the alphas behind it) inside each
    # fusion that reads it, with different roundings (a fused multiply-add in one, not in the
    # other), and the floors summed would not be the floors returned: the log-linear
    # schedule's 64 tokens over 8 steps came out as 63. It drops optimization barriers, but
    # never fuses a sort with what computes its operands: sorting by the step index is the
    # identity and leaves one x that every reader below shares.
    _, x = jax.lax.sort((jnp.arange(x.shape[-1], dtype=jnp.int32), jnp.maximum(x, 0)), num_keys=1)
    fl = jnp.floor(x)
    frac = x - fl
    extra = total - jnp.sum(fl.astype(jnp.int32))
    rank = _rank_steps(frac, tol)
    return (fl + (rank < extra)).astype(jnp.int32)


def _water_level(y: jax.Array, total: jax.Array) -> jax.Array:
    r""":math:`\lambda` with :math:`\sum_k \max(0, y_k - \lambda) = ` ``total`` :math:`\ge 0`
    (the Euclidean projection onto the scaled simplex, by one sort)."""
    s = -jnp.sort(-y)
    j = jnp.arange(1, y.shape[-1] + 1, dtype=y.dtype)
    lam = (jnp.cumsum(s) - total) / j
    n = jnp.maximum(jnp.sum(s > lam), 1)  # the condition holds on a prefix
    return lam[n - 1]


def transfer_counts(alphas: ArrayLike, length: ArrayLike, min_tokens_per_step: int = 0) -> jax.Array:
    r"""Tokens revealed at each step by the count sampler.

    With :math:`x_k = L (\alpha_k - \alpha_{k-1}) / (\alpha_K - \alpha_0)` (so that
    :math:`\sum_k x_k = L`): every step gets :math:`\lfloor x_k \rfloor`, and the remaining
    :math:`L - \sum_k \lfloor x_k \rfloor` tokens go one each to the steps with the largest
    fractional parts, ties to the earliest steps (the largest remainder rule). Hence every
    :math:`c_k` is the floor or the ceiling of :math:`x_k`, :math:`\sum_k c_k = L`,
    zero-token steps are allowed, and for the linear schedule on the uniform grid (all
    :math:`x_k = L/K`) it is LLaDA's split: ``L // K`` tokens per step and one more for each
    of the first ``L % K`` steps. (Rounding the cumulative :math:`L \alpha_k` would also give
    floors and ceilings but spreads the extra tokens instead of giving them to the first
    steps.) Ties: fractional parts within ``64 * eps * L`` of a neighbour in sorted order
    are one tie class (a chain of near-ties too), served earliest step first.

    The rule is ours, and so is its statement as an optimum: the counts minimize
    :math:`\sum_k (c_k - x_k)^2` over integer vectors with :math:`\sum_k c_k = L` (for the
    largest remainder rule this is the classical exchange argument), and among minimizers
    (they differ only between steps with tied fractional parts) the extra tokens go to the
    earliest steps.

    **At least M tokens per step** (``min_tokens_per_step = M``, ours): the counts minimize
    the same :math:`\sum_k (c_k - x_k)^2` over integer vectors with :math:`c_k \ge M` and
    :math:`\sum_k c_k = L`, extra tokens to the earliest steps among tied minimizers. It is
    computed as :math:`c_k = M + w'_k` with :math:`w_k = \max(0, x_k - M - \lambda)`, the
    water level :math:`\lambda` solving :math:`\sum_k w_k = L - MK`, and :math:`w'` the
    largest remainder split of :math:`L - MK` tokens by :math:`w`. When the ``M = 0`` split
    already has every :math:`c_k \ge M` it is returned unchanged (it is then optimal), and
    ``M = 0`` is the largest remainder split itself. Properties (tests/sampling/test_split.py):
    :math:`\sum_k c_k = L`, :math:`c_k \ge M`, :math:`c_k \le \max(M, \lceil x_k \rceil)`
    (tokens only move to steps raised to :math:`M`), and order preservation: if
    :math:`x_i > x_j` beyond the tie tolerance then :math:`c_i \ge c_j`.

    Jit- and vmap-friendly (``alphas`` and ``length`` may be traced; ``min_tokens_per_step``
    is a static integer). Memory :math:`O(K)`, time :math:`O(K \log K)` (sorts).

    Args:
      alphas: :math:`\alpha` on the grid, ``[K+1]``, increasing.
      length: :math:`L`, the number of masked positions (an integer, may be traced).
      min_tokens_per_step: :math:`M \ge 0` with :math:`MK \le L` (checked when ``length`` is
        concrete).

    Returns:
      ``[K]`` int32 counts summing to ``L`` (exactly: the integer floors and the number of
      extra tokens are computed from one materialized :math:`x`).

    Raises:
      ValueError: if ``min_tokens_per_step`` is not an integer >= 0, or M * K > L.

    References:
      MATH.md section 4 (count step; LLaDA's ``get_num_transfer_tokens``).
    """
    alphas = jnp.asarray(alphas)
    dtype = _float_dtype(alphas)
    alphas = alphas.astype(dtype)
    num_steps = alphas.shape[-1] - 1
    m = _check_min_tokens(min_tokens_per_step, length, num_steps)
    length_f = jnp.asarray(length).astype(dtype)
    total = jnp.asarray(length).astype(jnp.int32)
    tol = _tie_tol(dtype, jnp.maximum(length_f, 1))
    x = length_f * jnp.diff(alphas) / (alphas[-1] - alphas[0])
    counts = _largest_remainder(x, total, tol)
    if m == 0:
        return counts
    rest = total - m * num_steps
    w = jnp.maximum(x - m - _water_level(x - m, rest.astype(dtype)), 0)
    wsum = jnp.sum(w)
    w = w * jnp.where(wsum > 0, rest.astype(dtype) / jnp.where(wsum > 0, wsum, 1), 0)
    raised = m + _largest_remainder(w, rest, tol)
    return jnp.where(jnp.all(counts >= m), counts, raised)


def _check_min_tokens(m, length, num_steps: int, num_blocks: int = 1) -> int:
    """M as an int; ValueError if M is not an integer >= 0 or M * K > L (K, L per block)."""
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 0:
        raise ValueError(f"min_tokens_per_step must be an integer >= 0, got {m!r}")
    if m and is_concrete(length) and m * num_steps > int(length):
        where = f" (per block: {num_steps} steps, {int(length)} tokens)" if num_blocks > 1 else ""
        raise ValueError(
            f"min_tokens_per_step {m}: M*K = {m * num_steps} exceeds the length L = {int(length)}{where}; "
            f"allowed: M <= L // K = {int(length) // num_steps}"
        )
    return int(m)


class ModelCalls(NamedTuple):
    """Steps that reveal at least one token: ``total`` and ``per_block``."""

    total: jax.Array
    per_block: jax.Array


def model_calls(counts: ArrayLike, *, num_blocks: int = 1) -> ModelCalls:
    r"""The effective number of model calls of a token split: the steps that reveal at
    least one token (a step that reveals nothing needs no forward pass), per block and in
    total.

    Args:
      counts: ``[..., K]`` tokens per step, block after block (as
        :func:`num_transfer_tokens` returns them).
      num_blocks: the number of blocks (static; divides K).

    Returns:
      :class:`ModelCalls` with ``total`` ``[...]`` and ``per_block`` ``[..., num_blocks]``.

    Example:
      >>> import numpy as np
      >>> model_calls(np.array([0, 2, 0, 2]), num_blocks=2).per_block.tolist()
      [1, 1]
    """
    counts = jnp.asarray(counts)
    k = counts.shape[-1]
    if not isinstance(num_blocks, (int, np.integer)) or num_blocks < 1 or k % num_blocks:
        raise ValueError(f"num_blocks must be an integer >= 1 dividing the {k} steps, got {num_blocks!r}")
    per_block = jnp.sum(counts.reshape(counts.shape[:-1] + (num_blocks, k // num_blocks)) > 0, axis=-1)
    return ModelCalls(total=jnp.sum(per_block, axis=-1), per_block=per_block)


class StochasticModelCalls(NamedTuple):
    r"""Model calls of the stochastic sampler in one block of ``length`` masked positions:
    ``steps`` (grid steps with :math:`\alpha_k > \alpha_{k-1}`) and ``expected`` (the
    expected number of steps that reveal at least one token)."""

    steps: jax.Array
    expected: jax.Array


@jax.jit
def stochastic_model_calls(alphas: ArrayLike, length: ArrayLike) -> StochasticModelCalls:
    r"""Model calls of the stochastic (ancestral) sampler on a grid, for ``length`` masked
    positions (one block).

    A step with :math:`\alpha_k = \alpha_{k-1}` reveals nothing surely: a sampler skips it,
    and ``steps`` counts the others (the calls of a sampler that skips sure-empty steps).
    A step with :math:`\alpha_k > \alpha_{k-1}` can still reveal nothing by chance. The
    positions a stochastic step reveals do not depend on the denoiser, so a sampler that
    draws them first skips those steps too; ``expected`` is the expected number of steps
    that reveal at least one token. Exactly: with :math:`M` masked positions before step
    :math:`k`, :math:`M \sim \mathrm{Bin}(L, 1 - \alpha_{k-1})`, and the step reveals each
    independently with probability :math:`\rho_k = (\alpha_k - \alpha_{k-1})/(1 - \alpha_{k-1})`,

    .. math::
      P(\text{step } k \text{ reveals nothing}) = E[(1 - \rho_k)^M]
        = (\alpha_{k-1} + (1 - \alpha_{k-1})(1 - \rho_k))^L = (1 - (\alpha_k - \alpha_{k-1}))^L

    (the binomial theorem; equivalently, each position is revealed at step :math:`k` with
    probability :math:`\alpha_k - \alpha_{k-1}`, independently), so ``expected`` is
    :math:`\sum_k 1 - (1 - \Delta\alpha_k)^L`, computed as ``-expm1(L * log1p(-da))``.
    Both definitions are ours (the paper counts steps).

    Args:
      alphas: :math:`\alpha` on the grid, ``[..., K+1]``, increasing from 0 to 1
        (:func:`alpha_on_grid`).
      length: :math:`L`, masked positions per block (may be traced).

    Returns:
      :class:`StochasticModelCalls` of shape ``[...]`` (``steps`` int32; ``expected``
      float, between 1 and ``steps`` when :math:`L \ge 1`).

    References:
      MATH.md section 4 (stochastic step).
    """
    alphas = jnp.asarray(alphas)
    alphas = alphas.astype(_float_dtype(alphas))
    da = jnp.clip(jnp.diff(alphas, axis=-1), 0, 1)
    hit = -jnp.expm1(jnp.asarray(length, alphas.dtype) * jnp.log1p(-da))  # P(step reveals >= 1)
    return StochasticModelCalls(steps=jnp.sum(da > 0, axis=-1, dtype=jnp.int32),
                                expected=jnp.sum(jnp.where(da > 0, hit, 0), axis=-1))


def sampler_model_calls(
    schedule,
    length: int,
    num_steps: int,
    *,
    sampler: str = "count",
    block_length: int | None = None,
    grid: ArrayLike | None = None,
    min_tokens_per_step: int = 0,
) -> dict:
    r"""The model calls of a K-step sampler beside K, JSON-ready (the fields every table,
    toy result, tuning result and export reports).

    * ``sampler="count"`` (LLaDA-style): ``model_calls`` is the number of steps with
      :math:`c_k \ge 1` (:func:`model_calls` of :func:`num_transfer_tokens`), deterministic.
    * ``sampler="stochastic"``: ``model_calls`` is the number of steps with
      :math:`\alpha_k > \alpha_{k-1}` (a step with equal alphas reveals nothing surely) and
      ``expected_model_calls`` the expected number of steps that reveal at least one token
      (:func:`stochastic_model_calls`, exact).

    Every block starts with ``length / number of blocks`` masked positions (no prompt).

    Returns:
      ``{"sampler", "steps", "model_calls", "model_calls_per_block"}`` and, for the
      stochastic sampler, ``"expected_model_calls"`` and ``"expected_model_calls_per_block"``.

    Raises:
      ValueError: for an unknown sampler, bad sizes, a bad grid or M too large.
    """
    nb, spb = check_sizes(num_steps, length, block_length)
    out = {"sampler": sampler, "steps": int(num_steps)}
    if sampler == "count":
        counts = num_transfer_tokens(schedule, length, num_steps, block_length=block_length, grid=grid,
                                     min_tokens_per_step=min_tokens_per_step)
        calls = model_calls(counts, num_blocks=nb)
        return out | {"model_calls": int(calls.total), "model_calls_per_block": [int(c) for c in calls.per_block]}
    if sampler != "stochastic":
        raise ValueError(f"sampler must be 'count' or 'stochastic', got {sampler!r}")
    if min_tokens_per_step:
        raise ValueError("min_tokens_per_step applies to the count sampler only")
    grid = default_grid(spb) if grid is None else grid
    check_grid(grid, spb)
    calls = stochastic_model_calls(_alpha_pair_jit(schedule, jnp.asarray(grid))[0], length // nb)
    steps, expected = int(calls.steps), float(calls.expected)
    return out | {"model_calls": steps * nb, "model_calls_per_block": [steps] * nb,
                  "expected_model_calls": expected * nb, "expected_model_calls_per_block": [expected] * nb}



def num_transfer_tokens(
    schedule,
    length: int,
    num_steps: int,
    *,
    block_length: int | None = None,
    grid: ArrayLike | None = None,
    min_tokens_per_step: int = 0,
    drop_empty: bool = False,
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
      min_tokens_per_step: :math:`M \ge 0`: every step reveals at least M tokens
        (:func:`transfer_counts`; per block, M times the steps per block must not exceed
        the block length).
      drop_empty: remove the steps that reveal nothing (every block has the same counts, so
        each block loses the same steps); the result is then shorter than ``num_steps``.

    Returns:
      ``[K]`` int32 (fewer with ``drop_empty``).

    Raises:
      ValueError: on bad sizes, a bad grid or M too large.

    References:
      MATH.md section 4 (count step, semi-autoregressive blocks).
    """
    nb, spb = check_sizes(num_steps, length, block_length)
    if grid is None:
        grid = default_grid(spb)
    check_grid(grid, spb)
    m = _check_min_tokens(min_tokens_per_step, length // nb, spb, nb)
    counts = _tiled_counts(schedule, jnp.asarray(grid), length // nb, num_blocks=nb, min_tokens=m)
    if not drop_empty:
        return counts
    row = np.asarray(counts[:spb])
    return jnp.tile(counts[:spb][row > 0], nb)

@functools.partial(jax.jit, static_argnames=("num_blocks", "min_tokens"))
def _tiled_counts(schedule, grid, block_tokens, *, num_blocks, min_tokens=0):
    return jnp.tile(transfer_counts(alpha_on_grid(schedule, grid), block_tokens, min_tokens), num_blocks)

# ----------------------------------------------------------------------------- export (LLaDA)

#: The time direction of every exported grid (dllm, MDLM and MD4 run the other way).
CONVENTION = "t=0 all masked; alpha = P(unmasked)"
_TIE_ULPS = 64


def rounding_rule(min_tokens_per_step: int = 0) -> dict:
    """The rounding rule of :func:`transfer_counts` as ``{"name", "description"}`` (JSON)."""
    m = int(min_tokens_per_step)
    if m == 0:
        return {
            "name": "largest-remainder",
            "description": "floor(L*(alpha_k - alpha_(k-1))) per step, the remaining tokens one each to "
            "the largest fractional parts, ties to the earliest steps (LLaDA's split for linear)",
        }
    return {
        "name": f"largest-remainder-min{m}",
        "description": f"at least {m} token(s) per step: the integer counts >= {m} summing to L closest "
        "to L*(alpha_k - alpha_(k-1)) in squared error, ties to the earliest steps; the plain "
        f"largest-remainder split when it already has >= {m} per step",
    }


def export_table(
    alpha: str | MaskSchedule,
    length: int,
    num_steps: int,
    *,
    block_length: int | None = None,
    min_tokens_per_step: int = 0,
    drop_empty: bool = False,
) -> dict:
    r"""The α grid and tokens per step of a LLaDA-style (count) sampler, JSON-ready.

    LLaDA generates ``length`` tokens in ``length / block_length`` blocks, each with
    ``steps_per_block = num_steps / num_blocks`` steps, and asks ``get_num_transfer_tokens``
    how many of a block's masked tokens to reveal at each step. The table replaces that
    function: ``tokens_per_block_step[block][step]`` (every block starts with
    ``block_length`` masked tokens, so all rows are equal), computed with the rule of
    :func:`mdm_ot.sampling.transfer_counts` (largest remainder; for the linear schedule it
    is exactly LLaDA's split; at least ``min_tokens_per_step`` tokens per step when given).

    Keys: ``alpha`` and ``spec`` (the schedule's spec string), ``convention``
    (:data:`CONVENTION`), ``length``, ``steps`` (K), ``block_length``, ``num_blocks``,
    ``steps_per_block``, ``time_grid``, ``alpha_grid`` and ``mask_ratio_grid``
    (:math:`1 - \alpha` from the schedule's accurate complement, same order) on one block's
    K-step grid, ``tokens_per_step``, ``tokens_per_block_step``, ``model_calls`` (steps
    revealing at least one token, all blocks) and ``model_calls_per_block``, ``rounding``
    (:func:`rounding_rule`), ``min_tokens_per_step``, ``drop_empty``; with ``drop_empty``
    the rows hold only the steps that reveal tokens and ``steps_kept`` lists their indices
    in a block (the grids stay those of the K-step schedule).

    Raises:
      ValueError: for a bad spec or sizes (the block length must divide the length, the
        steps must be divisible by the number of blocks, M * steps per block must not
        exceed the block length), or a schedule that is not finite and increasing on the
        grid.

    References:
      MATH.md section 4 (count step, semi-autoregressive blocks).
    """
    nb, spb = check_sizes(num_steps, length, block_length)
    sched = parse_alpha(alpha) if isinstance(alpha, str) else alpha
    grid = default_grid(spb)
    pair = _alpha_pair_jit(sched, grid)
    slack = -_TIE_ULPS * float(np.finfo(pair[0].dtype).eps)  # an ulp of rounding is not a decrease
    a_hat, om_hat = (np.asarray(v, np.float64) for v in pair)
    if not (np.all(np.isfinite(a_hat)) and np.all(np.isfinite(om_hat)) and np.all(np.diff(a_hat) >= slack)):
        raise ValueError(f"alpha {sched.spec}: the schedule is not finite and increasing on the "
                         f"{spb}-step grid; allowed: a schedule from 0 to 1")
    counts = num_transfer_tokens(sched, length, num_steps, block_length=block_length,
                                 min_tokens_per_step=min_tokens_per_step)
    row = np.asarray(counts, np.int64)[:spb]  # every block has the same row
    kept = np.flatnonzero(row > 0) if drop_empty else np.arange(spb)
    rows = np.tile(row[kept], (nb, 1))
    calls = model_calls(counts, num_blocks=nb)
    table = {
        "alpha": sched.spec,
        "spec": sched.spec,
        "convention": CONVENTION,
        "length": int(length),
        "steps": int(num_steps),
        "block_length": int(length // nb) if block_length is None else int(block_length),
        "num_blocks": int(nb),
        "steps_per_block": int(spb),
        "time_grid": [float(t) for t in np.asarray(grid)],
        "alpha_grid": [float(x) for x in a_hat],
        "mask_ratio_grid": [float(x) for x in om_hat],
        "tokens_per_step": [int(c) for c in rows.reshape(-1)],
        "tokens_per_block_step": rows.tolist(),
        "model_calls": int(calls.total),
        "model_calls_per_block": [int(c) for c in calls.per_block],
        "rounding": rounding_rule(min_tokens_per_step),
        "min_tokens_per_step": int(min_tokens_per_step),
        "drop_empty": bool(drop_empty),
    }
    if drop_empty:
        table["steps_kept"] = [int(k) for k in kept]
    return table


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_")


def default_export_name(table: dict) -> str:
    """``tokens_<alpha>_L<length>_K<steps>[_B<block>].npy``."""
    blk = f"_B{table['block_length']}" if table["num_blocks"] > 1 else ""
    return f"tokens_{_slug(table['alpha'])}_L{table['length']}_K{table['steps']}{blk}.npy"

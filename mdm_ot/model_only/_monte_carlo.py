r"""The dependence profile of ANY denoiser, by Monte Carlo over the masking path (issue 16;
our construction, not the paper's).

For a level :math:`\alpha`, a sample draws a complete sequence :math:`x` (a data row, or a
row completed by the model itself), masks it to :math:`z` at level :math:`\alpha` (each
infilled position masked with probability :math:`1-\alpha` for the stochastic path, exactly
:math:`m = \mathrm{round}((1-\alpha) n)` of the :math:`n` infilled positions for the count
path), and then with two forward passes

1. reads the marginals :math:`p(x_j \mid z)` of every masked position,
2. picks a masked position :math:`i` uniformly, draws :math:`x_i \sim p(x_i \mid z)`, fills
   it in and reads :math:`p(x_j \mid z, x_i)`,

and scores

.. math::
   Y = \frac{|M|}{2} \sum_{j \in M, j \ne i} KL\big(p(x_j \mid z, x_i) \,\|\, p(x_j \mid z)\big).

**Unbiased for an exact denoiser** (our derivation, docs/model_only.md): given :math:`z`,
:math:`E_{x_i}[KL(q(x_j \mid z, x_i) \| q(x_j \mid z))] = I(x_i; x_j \mid z)`, and the
uniform :math:`i` turns the sum over :math:`j` into :math:`\frac{1}{|M|} \sum_{i \ne j} I
= \frac{2}{|M|} \sum_{i<j} I`, so :math:`E[Y \mid z] = \sum_{i<j \in M} I(x_i; x_j \mid z)`
and :math:`E[Y] = P(\alpha)` when :math:`x \sim q`.

**For a model that is not an exact conditional**, :math:`E_{x_i}[KL(p(x_j|z,x_i) \|
p(x_j|z))]` is the KL between the model's own *sequential* law of the pair (reveal
:math:`i`, then :math:`j` given it) and its *parallel* law (both from the marginals of
:math:`z`): exactly the error a sampler makes, by the model's own account, when it
reveals the two in one step. It is the mutual information of the sequential law plus
:math:`KL(\bar p_j \| p(x_j \mid z))` with :math:`\bar p_j` the sequential law's
marginal of :math:`x_j` (zero when the model's conditionals are consistent), and it is not
symmetric in :math:`(i, j)`; the uniform :math:`i` averages both orders. So the estimate
is the model's own dependence, with no labels and no task metric. Rows whose infilled
positions are given masked are first completed by the model itself, one token per step in
a uniformly random order at temperature 1 (for an exact denoiser that draws
:math:`x \sim q` exactly), so the path is then the model's own.

**Cost** (model calls: forward passes of one sequence, the project's unit, docs/sampling.md):
2 per sample with :math:`|M| \ge 2` (a sample with fewer masked positions scores exactly 0
and costs nothing), plus one per position completed by the model. Padding rows of a batch
are computed but not counted.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from mdm_ot import sampling
from mdm_ot.model_only._core import Profile
from mdm_ot.schedules import Linear

__all__ = ["monte_carlo_profile"]

_SAMPLERS = ("stochastic", "count")


def _check_inputs(inputs, positions, d):
    x = np.asarray(inputs)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1 or not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"inputs must be a non-empty integer array [N, L], got {x.dtype} {x.shape}")
    if positions is None:
        infilled = (x == d) if np.any(x == d) else np.ones(x.shape, bool)
    else:
        pos = np.asarray(positions)
        if pos.dtype != bool:
            raise ValueError(f"positions must be a bool array [L] or [N, L], got {pos.dtype}")
        try:
            infilled = np.broadcast_to(pos, x.shape).copy()
        except ValueError:
            raise ValueError(f"positions of shape {pos.shape} do not broadcast to inputs {x.shape}") from None
    if np.any((x == d) & ~infilled):
        raise ValueError("a masked input position lies outside positions (only infilled positions may be masked)")
    if np.any((x[infilled] < 0) | (x[infilled] > d)):
        raise ValueError(f"infilled positions must hold tokens 0..{d - 1} or the mask {d}")
    return x.astype(np.int32), infilled


def _check_levels(levels, sampler):
    if sampler not in _SAMPLERS:
        raise ValueError(f"sampler must be 'stochastic' or 'count', got {sampler!r}")
    lv = np.asarray(levels, dtype=np.float64)
    if lv.ndim != 1 or lv.size < 1 or not np.all(np.isfinite(lv)) or np.any(lv < 0) or np.any(lv > 1):
        raise ValueError(f"levels must be a non-empty 1-D array of mask levels in [0, 1], got {levels!r}")
    if np.any(np.diff(lv) <= 0):
        raise ValueError("levels must be strictly increasing")
    return lv


def _batched(fn, arrays, rows: int, batch_size: int):
    """``fn(*chunk)`` over row chunks of ``arrays`` (the last padded by repeating its last row,
    so that every call has one compiled shape); the outputs of the real rows, concatenated."""
    outs = []
    for start in range(0, rows, batch_size):
        chunk = [a[start:start + batch_size] for a in arrays]
        n = len(chunk[0])
        if n < batch_size:
            chunk = [np.concatenate([c, np.repeat(c[-1:], batch_size - n, axis=0)]) for c in chunk]
        outs.append(np.asarray(fn(*(jnp.asarray(c) for c in chunk)))[:n])
    return np.concatenate(outs) if outs else np.zeros((0,))


def _split(denoiser):
    """The denoiser's array leaves (traced by jit) and a hashable rest (static), so that one
    compiled score serves every call with the same model shape."""
    leaves, treedef = jax.tree_util.tree_flatten(denoiser)
    is_array = [isinstance(v, (jax.Array, np.ndarray)) for v in leaves]
    arrays = tuple(v for v, a in zip(leaves, is_array, strict=True) if a)
    static = (treedef, tuple(None if a else v for v, a in zip(leaves, is_array, strict=True)))
    return arrays, static


@functools.partial(jax.jit, static_argnames=("static", "d"))
def _pair_scores(arrays, z, pick, u, *, static, d):
    """The two-pass score ``Y`` of a batch of states (module docstring)."""
    treedef, rest = static
    it = iter(arrays)
    den = jax.tree_util.tree_unflatten(treedef, [next(it) if v is None else v for v in rest])
    rows = jnp.arange(z.shape[0])
    p0 = den(z)
    cdf = jnp.cumsum(p0[rows, pick], axis=-1)
    # inverse CDF at u (tokens of probability 0 are never drawn), as the samplers draw
    xi = jnp.minimum(jnp.sum(cdf <= (u * cdf[:, -1])[:, None], axis=-1), d - 1).astype(z.dtype)
    p1 = den(z.at[rows, pick].set(xi))
    masked = (z == d).at[rows, pick].set(False)
    log_ratio = jnp.log(jnp.where(p1 > 0, p1, 1)) - jnp.log(jnp.where(p1 > 0, p0, 1))
    kl = jnp.sum(jnp.where(p1 > 0, p1 * log_ratio, 0), axis=-1)  # +inf where p0 = 0 < p1
    m = jnp.sum(z == d, axis=-1)
    return 0.5 * m * jnp.sum(jnp.where(masked, kl, 0), axis=-1)


def _complete(denoiser, x, key, batch_size):
    """Fill each row's masked positions with the model's own draws, one token per step in a
    uniformly random order at temperature 1; returns ``(x, calls)``."""
    d = int(jax.eval_shape(denoiser, jnp.asarray(x[:1])).shape[-1])
    m = (x == d).sum(axis=1)
    if not m.any():
        return x, 0
    steps = int(m.max())

    def run(z, k):
        return sampling.sample_count(denoiser, Linear(), k, z, num_steps=steps, order="random", temperature=1.0)

    outs = []
    for c, start in enumerate(range(0, len(x), batch_size)):
        chunk = x[start:start + batch_size]
        n = len(chunk)
        if n < batch_size:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - n, axis=0)])
        outs.append(np.asarray(run(jnp.asarray(chunk), jax.random.fold_in(key, c)))[:n])
    # with K = max m steps of the linear split every step reveals at most one token of a row,
    # so a row with m masked positions costs m calls (steps revealing nothing are not calls)
    return np.concatenate(outs).astype(np.int32), int(m.sum())


def _masks(u, infilled, alpha, sampler):
    """Masked positions ``[S, L]`` at level ``alpha`` from uniforms ``u [S, L]``."""
    if sampler == "stochastic":
        return infilled & (u < 1.0 - alpha)
    n = infilled.sum(axis=1)
    m = np.floor((1.0 - alpha) * n + 0.5).astype(np.int64)
    rank = np.argsort(np.argsort(np.where(infilled, u, 2.0), axis=1, kind="stable"), axis=1, kind="stable")
    return infilled & (rank < m[:, None])


def _cluster_se(values, rows, num_rows):
    """Standard error of the mean of ``values`` with the input row as the unit (samples of
    one row share its completion): the cluster-robust formula, plain ``s / sqrt(S)`` when
    every row appears once."""
    s = len(values)
    mean = values.mean()
    totals = np.bincount(rows, weights=values - mean, minlength=num_rows)
    used = np.bincount(rows, minlength=num_rows) > 0
    g = int(used.sum())
    if g < 2:
        return math.nan
    return float(math.sqrt(g / (g - 1) * np.sum(totals[used] ** 2)) / s)


def monte_carlo_profile(
    denoiser,
    inputs: ArrayLike,
    levels: ArrayLike,
    *,
    num_samples: int,
    key: jax.Array,
    sampler: str = "stochastic",
    positions: ArrayLike | None = None,
    batch_size: int = 256,
) -> Profile:
    r"""Estimate the pair dependence :math:`P(\alpha)` of a denoiser at each level, with a
    standard error and the exact number of model calls (module docstring).

    Args:
      denoiser: ``z [B, L] -> probs [B, L, d]`` (the samplers' protocol, docs/sampling.md;
        mask token ``d``); a plain function or a pytree with ``__call__`` (its array leaves
        are traced, so a model's weights are not baked into the compiled code).
      inputs: ``[N, L]`` integer rows. Infilled positions hold data tokens (then ``x`` is the
        data) or the mask ``d`` (then the model completes them first, counted). Positions
        outside the infilled set are context and are never masked (any token the denoiser
        takes, e.g. padding).
      levels: increasing mask levels :math:`\alpha` in [0, 1]; for the count path the
        level means :math:`m = \mathrm{round}((1-\alpha) n)` masked of a row's ``n``
        infilled positions (``levels = 1 - m / n`` for a fixed ``n``).
      num_samples: samples per level (>= 2); sample ``s`` uses input row ``s mod N``.
      key: PRNG key.
      sampler: ``"stochastic"`` (binomial masks) or ``"count"`` (``m`` masks).
      positions: bool ``[L]`` or ``[N, L]``, the infilled set; default: the masked positions
        of ``inputs`` if any, else every position.
      batch_size: rows per forward pass (the last batch is padded to this size).

    Returns:
      :class:`Profile` with ``method="monte-carlo"``, ``stderr`` (the input row as the unit),
      ``model_calls`` and in ``info`` the calls per level, the completion's calls, the
      samples, the source of ``x`` and the infilled counts.

    Raises:
      ValueError: bad inputs, levels, sizes or sampler; a marginal with zero mass where its
        one-token update has mass (the KL is infinite: not an exact conditional).

    References:
      MATH.md section 1 (the masking path); issue 16 (the second-order step cost).
    """
    if not isinstance(num_samples, (int, np.integer)) or isinstance(num_samples, bool) or num_samples < 2:
        raise ValueError(f"num_samples must be an integer >= 2, got {num_samples!r}")
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    lv = _check_levels(levels, sampler)
    raw = np.asarray(inputs)
    if raw.ndim != 2 or raw.shape[0] < 1 or not np.issubdtype(raw.dtype, np.integer):
        raise ValueError(f"inputs must be a non-empty integer array [N, L], got {raw.dtype} {raw.shape}")
    out = jax.eval_shape(denoiser, jnp.asarray(raw[:1], jnp.int32))
    if len(out.shape) != 3 or out.shape[:2] != (1, raw.shape[1]):
        raise ValueError(f"the denoiser must return [B, L, d] = [1, {raw.shape[1]}, d], got {out.shape}")
    d = int(out.shape[-1])
    x, infilled = _check_inputs(raw, positions, d)
    from_model = bool(np.any(x == d))
    x, fill_calls = _complete(denoiser, x, jax.random.fold_in(key, 0), batch_size)

    arrays, static = _split(denoiser)
    n_rows = len(x)
    rows = np.arange(num_samples) % n_rows
    means, ses, calls = [], [], []
    for li, alpha in enumerate(lv):
        k_mask, k_pick, k_draw = jax.random.split(jax.random.fold_in(key, li + 1), 3)
        u = np.asarray(jax.random.uniform(k_mask, (num_samples, x.shape[1]), jnp.float32), np.float64)
        masked = _masks(u, infilled[rows], alpha, sampler)
        count = masked.sum(axis=1)
        active = np.flatnonzero(count >= 2)
        y = np.zeros(num_samples)
        if active.size:
            u_pick = np.asarray(jax.random.uniform(k_pick, (num_samples,), jnp.float32), np.float64)[active]
            # the pick-th masked position of each active row, uniformly
            pick_rank = np.minimum((u_pick * count[active]).astype(np.int64), count[active] - 1)
            order = np.argsort(~masked[active], axis=1, kind="stable")  # masked positions first
            pick = order[np.arange(active.size), pick_rank].astype(np.int32)
            dtype = jnp.result_type(out.dtype)
            u_draw = np.asarray(jax.random.uniform(k_draw, (num_samples,), dtype, minval=jnp.finfo(dtype).tiny))[active]
            z = np.where(masked[active], d, x[rows[active]]).astype(np.int32)
            y[active] = _batched(lambda zz, pp, uu: _pair_scores(arrays, zz, pp, uu, static=static, d=d),
                                 (z, pick, u_draw), active.size, batch_size)
        if not np.all(np.isfinite(y)):
            raise ValueError(
                f"at level {alpha:g} the denoiser's marginal puts zero mass where its one-token update does not "
                "(infinite KL); the estimator needs marginals that cover their updates"
            )
        means.append(float(y.mean()))
        ses.append(_cluster_se(y, rows, n_rows))
        calls.append(2 * int(active.size))
    n_inf = infilled.sum(axis=1)
    info = {
        "samples_per_level": int(num_samples),
        "inputs": int(n_rows),
        "x_source": "model (completed one token per step, random order, temperature 1)" if from_model else "data",
        "completion_calls": int(fill_calls),
        "calls_per_level": calls,
        "infilled_per_input": [int(n_inf.min()), int(n_inf.max())],
        "batch_size": int(batch_size),
    }
    return Profile(
        levels=lv,
        pair_dependence=np.maximum(np.asarray(means), 0.0),
        stderr=np.asarray(ses),
        sampler=sampler,
        length=int(round(float(n_inf.mean()))),
        model_calls=int(fill_calls + sum(calls)),
        method="monte-carlo",
        info=info,
    )

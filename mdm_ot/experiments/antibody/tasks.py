r"""Infilling tasks on antibody sequences, few-step sampling with AntiBERTy, and metrics.

A *task* says which residues of a real sequence are hidden; the sampler fills them in
from the all-masked state of those residues (the others are the prompt, MATH.md
section 4) in ``K`` steps. Task specs:

* ``cdr12``: the CDR1 and CDR2 residues (IMGT 27-38 and 56-65), in distribution for an
  MLM trained on antibody repertoires;
* ``random:F``: ``round(F n)`` residues chosen uniformly at random (``0 < F < 1``);
* ``span:F``: one contiguous span of ``round(F n)`` residues at a uniform random start.

The random masks depend only on ``(seed, sequence index)``, so every schedule sees the
same masks, and every schedule is run with the same PRNG key (common random numbers):
differences between schedules are paired.

Metrics, per sample, over the hidden residues :math:`M` of a sequence :math:`x` and the
infilled :math:`\hat x`:

* amino-acid recovery :math:`\frac{1}{|M|}\sum_{i \in M} 1\{\hat x_i = x_i\}`;
* pseudo-log-likelihood per residue of the infilled region,
  :math:`\frac{1}{|M|}\sum_{i \in M} \log p_\theta(\hat x_i \mid \hat x \text{ with } i
  \text{ masked})` (natural log; restricted to :math:`M`, which costs :math:`|M|`
  forward passes per sample instead of :math:`n`).

Means are over sequences and samples; standard errors treat the sequence as the unit
(the per-sequence means' standard deviation over :math:`\sqrt{N}`), since samples of one
sequence are correlated.

References:
    The paper (arXiv:2509.13866), section 4 and Appendix E.1 (two-stage Beta tuning);
    MATH.md section 4 (stochastic and count samplers); Salazar et al., "Masked Language
    Model Scoring", ACL 2020 (pseudo-log-likelihood).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from mdm_ot import sampling
from mdm_ot.experiments.antibody import data
from mdm_ot.experiments.antibody.model import MASK_ID, PAD_ID
from mdm_ot.schedules import TabulatedSchedule, beta_schedule, parse_alpha
from mdm_ot.stats import mean_and_se

__all__ = [
    "Sampler",
    "SAMPLERS",
    "parse_task",
    "task_mask",
    "alphas_on_grid",
    "beta_alphas_on_grid",
    "infill",
    "pseudo_log_likelihood",
    "recovery",
    "summarize",
]

_TASK_RE = re.compile(r"^(random|span):(0?\.\d+|0|1(\.0*)?)$")


# ----------------------------------------------------------------------------- tasks


def parse_task(spec: str) -> tuple[str, float | None]:
    """``cdr12`` -> ``("cdr12", None)``; ``random:0.3`` / ``span:0.5`` -> ``(kind, fraction)``.

    Raises:
        ValueError: an unknown spec or a fraction outside (0, 1).
    """
    s = spec.strip().lower()
    if s == "cdr12":
        return "cdr12", None
    m = _TASK_RE.match(s)
    if m:
        f = float(s.split(":")[1])
        if 0 < f < 1:
            return m.group(1), f
    raise ValueError(f"unknown task {spec!r}; allowed: cdr12, random:F, span:F with 0 < F < 1")


def task_mask(records: Sequence[data.Germline], task: str, seed: int = 0,
              length: int | None = None) -> np.ndarray:
    """Bool ``[N, L]``: the residues hidden by ``task`` (padding columns are False).

    Every sequence gets at least one hidden residue and keeps at least one visible.
    The masks of sequence ``i`` depend only on ``(seed, i, task)``.
    """
    kind, frac = parse_task(task)
    n_max = max(len(r.sequence) for r in records) if length is None else length
    out = np.zeros((len(records), n_max), bool)
    for i, r in enumerate(records):
        n = len(r.sequence)
        if kind == "cdr12":
            out[i, :n] = r.region(data.CDR1, data.CDR2)
            continue
        rng = np.random.default_rng([seed, i])
        k = min(max(int(round(frac * n)), 1), n - 1)
        if kind == "random":
            out[i, rng.choice(n, size=k, replace=False)] = True
        else:
            start = int(rng.integers(0, n - k + 1))
            out[i, start:start + k] = True
    if not out.any(axis=1).all():
        raise ValueError(f"task {task!r} hides nothing in some sequence")
    return out


# ----------------------------------------------------------------------------- schedules


def alphas_on_grid(specs: Sequence[str], num_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``(alpha, 1 - alpha)`` of each schedule spec on the uniform grid, ``[R, K+1]`` each."""
    grid = sampling.default_grid(num_steps)
    tables = [TabulatedSchedule.from_schedule(parse_alpha(s), grid) for s in specs]
    return (np.stack([np.asarray(t.alpha) for t in tables]),
            np.stack([np.asarray(t.omega) for t in tables]))


def beta_alphas_on_grid(a: ArrayLike, b: ArrayLike, num_steps: int) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`\alpha = \sin^2(\frac{\pi}{2} I_t(a, b))` on the uniform grid for arrays of ``(a, b)``."""
    grid = sampling.default_grid(num_steps)
    a, b = np.broadcast_arrays(np.atleast_1d(a), np.atleast_1d(b))
    tables = jax.vmap(lambda a_, b_: TabulatedSchedule.from_schedule(beta_schedule(a_, b_), grid))(
        jnp.asarray(a, grid.dtype), jnp.asarray(b, grid.dtype)
    )
    return np.asarray(tables.alpha), np.asarray(tables.omega)


# ----------------------------------------------------------------------------- sampling


@dataclass(frozen=True)
class Sampler:
    """A few-step sampler setting: ``mode`` "count" (with ``order``) or "stochastic"."""

    name: str
    mode: str
    order: str = "confidence"
    temperature: float = 1.0
    samples: int = 1  # samples per sequence


#: the two samplers of the table: LLaDA's count sampler with low-confidence order at
#: temperature 0 (as in the paper's real-world runs) and the ancestral sampler at T = 1.
SAMPLERS = (
    Sampler("count-confidence", "count", "confidence", temperature=0.0, samples=1),
    Sampler("stochastic", "stochastic", "random", temperature=1.0, samples=2),
)


def _run_sampler(den, sampler: Sampler, sched, key, z0, num_steps):
    if sampler.mode == "count":
        return sampling.sample_count(den, sched, key, z0, num_steps=num_steps,
                                     order=sampler.order, temperature=sampler.temperature)
    if sampler.mode == "stochastic":
        return sampling.sample_stochastic(den, sched, key, z0, num_steps=num_steps,
                                          temperature=sampler.temperature)
    raise ValueError(f"sampler mode {sampler.mode!r}: allowed 'count', 'stochastic'")


def infill(
    denoiser: Callable,
    sampler: Sampler,
    alpha: ArrayLike,
    omega: ArrayLike,
    x: ArrayLike,
    hidden: ArrayLike,
    key: jax.Array,
    *,
    batch_size: int = 64,
) -> np.ndarray:
    r"""Infill the hidden residues with each of ``R`` tabulated schedules.

    Args:
        denoiser: ``z [B, L] -> probs [B, L, 20]`` (e.g. :class:`~.model.AntibertyDenoiser`).
        sampler: the sampler setting; ``sampler.samples`` samples per sequence.
        alpha, omega: ``[R, K+1]`` schedules on the uniform grid (:func:`alphas_on_grid`).
        x: ``[N, L]`` true sequences (denoiser ids, right-padded with ``PAD_ID``).
        hidden: ``[N, L]`` bool, the residues to infill.
        key: PRNG key, shared by all schedules (common random numbers); chunk ``c`` of the
            batch uses ``fold_in(key, c)``.
        batch_size: rows (sequence-samples) per sampler call, times ``R`` in one vmap; the
            last chunk is padded to this size so that every call has one compiled shape.

    Returns:
        ``[R, N, S, L]`` int32 samples (``S = sampler.samples``).

    References:
        MATH.md section 4 (prompt = fixed positions; count and stochastic steps).
    """
    alpha, omega = np.atleast_2d(alpha), np.atleast_2d(omega)
    if alpha.shape != omega.shape:
        raise ValueError("alpha and omega must have the same shape [R, K+1]")
    num_steps = alpha.shape[1] - 1
    x, hidden = np.asarray(x), np.asarray(hidden, bool)
    if x.shape != hidden.shape or x.ndim != 2:
        raise ValueError(f"x and hidden must be [N, L] of one shape, got {x.shape}, {hidden.shape}")
    if np.any(hidden & (x == PAD_ID)):
        raise ValueError("padding positions cannot be hidden")
    S = sampler.samples
    z0 = np.repeat(np.where(hidden, MASK_ID, x), S, axis=0).astype(np.int32)
    grid = sampling.default_grid(num_steps)
    al, om = jnp.asarray(alpha, grid.dtype), jnp.asarray(omega, grid.dtype)

    def one(a, o, k, z):
        return _run_sampler(denoiser, sampler, TabulatedSchedule(grid, a, o), k, z, num_steps)

    run = jax.vmap(one, in_axes=(0, 0, None, None))
    outs = []
    for c, start in enumerate(range(0, len(z0), batch_size)):
        chunk = z0[start:start + batch_size]
        pad = batch_size - len(chunk)
        if pad:  # one compiled shape per (sampler, K, R, batch_size, L)
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
        out = np.asarray(run(al, om, jax.random.fold_in(key, c), jnp.asarray(chunk)))
        outs.append(out[:, : len(chunk) - pad])
    samples = np.concatenate(outs, axis=1)
    return samples.reshape(len(alpha), len(x), S, x.shape[1])


# ----------------------------------------------------------------------------- metrics


def recovery(samples: ArrayLike, x: ArrayLike, hidden: ArrayLike) -> np.ndarray:
    """Fraction of hidden residues recovered, per sample: ``[..., N, S]`` from ``[..., N, S, L]``."""
    samples, x, hidden = np.asarray(samples), np.asarray(x), np.asarray(hidden, bool)
    hit = (samples == x[:, None, :]) & hidden[:, None, :]
    return hit.sum(-1) / hidden.sum(-1)[:, None]


def _split(den):
    """Array leaves of a denoiser (traced) and the rest (static, hashable)."""
    leaves, treedef = jax.tree_util.tree_flatten(den)
    is_arr = [isinstance(v, (jax.Array, np.ndarray)) for v in leaves]
    dyn = tuple(v if a else None for v, a in zip(leaves, is_arr, strict=True))
    static = (treedef, tuple(None if a else v for v, a in zip(leaves, is_arr, strict=True)))
    return dyn, static


def _merge(dyn, static):
    treedef, rest = static
    return jax.tree_util.tree_unflatten(
        treedef, [d if r is None else r for d, r in zip(dyn, rest, strict=True)]
    )


@functools.partial(jax.jit, static_argnames=("den_static", "max_hidden"))
def _pll_batch(den_dyn, x, positions, *, den_static, max_hidden):
    den = _merge(den_dyn, den_static)
    rows = jnp.arange(x.shape[0])
    dtype = jax.eval_shape(den, x).dtype

    def step(total, j):
        pos = positions[:, j]
        valid = pos >= 0
        safe = jnp.where(valid, pos, 0)
        z = x.at[rows, safe].set(jnp.where(valid, MASK_ID, x[rows, safe]))
        probs = den(z)
        lp = jnp.log(probs[rows, safe, x[rows, safe]])
        return total + jnp.where(valid, lp, 0), None

    total, _ = jax.lax.scan(step, jnp.zeros(x.shape[0], dtype), jnp.arange(max_hidden))
    return total


def pseudo_log_likelihood(denoiser: Callable, x: ArrayLike, hidden: ArrayLike, *,
                          batch_size: int = 64) -> np.ndarray:
    r"""Per-residue pseudo-log-likelihood of the hidden region of each sequence.

    .. math:: \mathrm{PLL}(x; M) = \frac{1}{|M|} \sum_{i \in M}
              \log p_\theta(x_i \mid x_{\setminus i})

    where :math:`x_{\setminus i}` is ``x`` with position ``i`` masked (one forward pass
    per hidden position).

    Args:
        denoiser: ``z -> probs`` over the 20 amino acids.
        x: ``[B, L]`` complete sequences (right-padded with ``PAD_ID``).
        hidden: ``[B, L]`` bool, the region :math:`M` (non-empty per row).

    Returns:
        ``[B]`` float64.

    References:
        Salazar et al., ACL 2020 (pseudo-log-likelihood of masked language models).
    """
    x, hidden = np.asarray(x, np.int32), np.asarray(hidden, bool)
    counts = hidden.sum(-1)
    if np.any(counts == 0):
        raise ValueError("every row needs at least one hidden position")
    if np.any(x[hidden] >= MASK_ID):
        raise ValueError("hidden positions must hold amino acids")
    m = int(counts.max())
    m = -(-m // 8) * 8  # fewer distinct compiled scan lengths
    positions = np.full((len(x), m), -1, np.int32)
    for r in range(len(x)):
        idx = np.flatnonzero(hidden[r])
        positions[r, : len(idx)] = idx
    dyn, static = _split(denoiser)
    totals = []
    for start in range(0, len(x), batch_size):
        xb, pb = x[start:start + batch_size], positions[start:start + batch_size]
        pad = batch_size - len(xb)
        if pad:
            xb = np.concatenate([xb, np.repeat(xb[-1:], pad, axis=0)])
            pb = np.concatenate([pb, np.repeat(pb[-1:], pad, axis=0)])
        tot = np.asarray(_pll_batch(dyn, jnp.asarray(xb), jnp.asarray(pb),
                                    den_static=static, max_hidden=m))
        totals.append(tot[: len(tot) - pad])
    return np.concatenate(totals).astype(np.float64) / counts


def summarize(values: ArrayLike) -> tuple[float, float]:
    """Mean and standard error of ``[N, S]`` values, with the sequence as the unit:
    :func:`mdm_ot.stats.mean_and_se` of the per-sequence means (standard error 0 when ``N = 1``)."""
    return mean_and_se(values, by_row=True, se_of_one=0.0)

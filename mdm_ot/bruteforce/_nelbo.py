r"""The NELBO of Proposition C.2 by brute force: the exact denoiser, the entropy, the NELBO.

The expectation over :math:`x \sim q` and the mask pattern :math:`z \sim p_t(\cdot|x)` is
summed exactly over the states; the schedules enter through the node machinery of the
brute force (stage 1), so the same accuracy at both ends holds as for the energies.

References:
  The paper's Proposition C.2; MATH.md section 4.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from mdm_ot.bruteforce._core import (
    _check_q,
    _log_conditional_path,
    _Nodes,
    _nodewise,
    _safe_log,
    _schedule_nodes,
    _space_of,
)
from mdm_ot.quadrature import DEFAULT_LEVEL, QuadResult, integrate01
from mdm_ot.schedules import Identity, MaskSchedule

__all__ = ["entropy", "exact_denoiser", "nelbo", "nelbo_integrand"]


@jax.jit
def _exact_denoiser(q):
    sp = _space_of(q)
    qf = q.reshape(-1)
    compat = jnp.asarray(sp.compatible, qf.dtype)  # (S, D)
    den = compat @ qf  # q(z_UM)
    onehot_data = jnp.asarray(sp.data[:, :, None] == np.arange(sp.d), qf.dtype)  # (D, n, d)
    num = jnp.einsum("sx,x,xiv->siv", compat, qf, onehot_data)
    pos = den > 0
    uniform = jnp.full_like(num, 1.0 / sp.d)
    return jnp.where(pos[:, None, None], num / jnp.where(pos, den, 1.0)[:, None, None], uniform)


def exact_denoiser(q: ArrayLike) -> jax.Array:
    r"""The exact denoiser :math:`q(x_i = v \mid z_{UM})` for every state, shape ``(S, n, d)``.

    By summation over the data sequences compatible with ``z``; at a state with
    :math:`q(z_{UM}) = 0` the uniform distribution over ``V`` (MATH.md section 4). At an
    unmasked position it is the point mass on the token there.

    References:
      The paper's Proposition C.2 (the optimal denoiser); MATH.md section 4.
    """
    qf, sp = _check_q(q)
    return _exact_denoiser(qf.reshape((sp.d,) * sp.n))


def entropy(q: ArrayLike) -> jax.Array:
    r"""The entropy :math:`H(q) = -\sum_x q(x) \log q(x)` in nats (``0 log 0 = 0``)."""
    qf, _ = _check_q(q)
    pos = qf > 0
    return -jnp.sum(jnp.where(pos, qf * jnp.log(jnp.where(pos, qf, 1.0)), 0.0))


def _nelbo_support(q):
    sp = _space_of(q)
    qf = q.reshape(-1)
    return jnp.asarray(sp.compatible) & (qf > 0)[None, :] & (sp.num_masked > 0)[:, None]


def _masked_nll(probs, q):
    r"""``(S, D)``: :math:`\sum_{i: z_i = M} -\log p_\theta(x_i \mid z)` on the support of
    the expectation (``q(x) > 0``, ``z`` compatible with ``x``, one mask at least), 0 elsewhere."""
    sp = _space_of(q)
    gathered = probs[:, np.arange(sp.n)[None, :], sp.data]  # (S, D, n): p_theta(x_i | z)
    logp = _safe_log(gathered)
    nll = -jnp.sum(jnp.where(sp.masked[:, None, :], logp, 0.0), axis=-1)
    return jnp.where(_nelbo_support(q), nll, 0.0)


def _nelbo_point(nv: _Nodes, q, nll):
    sp = _space_of(q)
    qf = q.reshape(-1)
    lcond = _log_conditional_path(nv.la, nv.l1a, sp)  # (S, D)
    valid = _nelbo_support(q) & jnp.isfinite(lcond) & jnp.isfinite(nv.l1a)
    # (alpha' / (1 - alpha)) p_t(z | x) in logs: 1 - alpha and p_t(z | x) vanish together.
    lw = nv.lda - jnp.where(valid, nv.l1a, 0.0) + jnp.where(valid, lcond, 0.0)
    return jnp.sum(jnp.where(valid, qf[None, :] * jnp.exp(lw) * nll, 0.0))


@jax.jit
def _nelbo_nodes(nv, q, probs):
    return _nodewise(_nelbo_point, nv, q, _masked_nll(probs, q))


@functools.partial(jax.jit, static_argnames=("denoiser",))
def _nelbo_nodes_timed(nv, t, tc, q, *, denoiser):
    shape = nv.la.shape
    flat = _Nodes(*(jnp.reshape(x, (-1,)) for x in nv))

    def point(nv1, t1, tc1):
        return _nelbo_point(nv1, q, _masked_nll(denoiser(t1, tc1), q))

    return jax.vmap(point)(flat, jnp.reshape(t, (-1,)), jnp.reshape(tc, (-1,))).reshape(shape)


def nelbo_integrand(
    alpha: MaskSchedule,
    q: ArrayLike,
    denoiser: ArrayLike | Callable[[jax.Array, jax.Array], jax.Array] | None = None,
) -> Callable[[jax.Array, jax.Array], jax.Array]:
    r"""The integrand of the continuous-time NELBO as ``f(t, tc)``.

    .. math::
        \frac{\alpha'(t)}{1-\alpha(t)} \sum_x q(x) \sum_z p_t(z \mid x)
        \sum_{i:\, z_i = M} -\log p_\theta(x_i \mid z),

    the expectation over :math:`x \sim q` and the mask pattern :math:`z \sim p_t(\cdot|x)`
    summed exactly.

    Args:
      alpha: mask schedule; q: data distribution, shape ``(d,)*n``.
      denoiser: probabilities :math:`p_\theta(x_i = v \mid z)`, shape ``(S, n, d)``; or a
        time-dependent denoiser as a hashable function ``(t, tc) -> (S, n, d)`` of scalar
        times; default: the exact denoiser (:func:`exact_denoiser`).

    References:
      The paper's Proposition C.2.
    """
    if not isinstance(alpha, MaskSchedule):
        raise ValueError(f"alpha must be a MaskSchedule, got {type(alpha).__name__}")
    qf, sp = _check_q(q)
    qn = qf.reshape((sp.d,) * sp.n)
    gamma = Identity()
    if callable(denoiser):

        def f(t, tc):
            t = jnp.asarray(t)
            tc = jnp.broadcast_to(jnp.asarray(tc, t.dtype), t.shape)
            nv = _schedule_nodes(alpha, gamma, t, tc)
            return _nelbo_nodes_timed(nv, t, tc, qn, denoiser=denoiser)

        return f
    if denoiser is None:
        denoiser = _exact_denoiser(qn)
    shape = (sp.states.shape[0], sp.n, sp.d)
    if np.shape(denoiser) != shape:
        raise ValueError(f"denoiser must have shape (S, n, d) = {shape}, got {np.shape(denoiser)}")
    probs = jnp.asarray(denoiser)

    def f(t, tc):
        return _nelbo_nodes(_schedule_nodes(alpha, gamma, t, tc), qn, probs)

    return f


def nelbo(
    alpha: MaskSchedule,
    q: ArrayLike,
    denoiser: ArrayLike | Callable[[jax.Array, jax.Array], jax.Array] | None = None,
    *,
    level: int = DEFAULT_LEVEL,
) -> QuadResult:
    r"""The continuous-time NELBO (nats) of a denoiser under the mask schedule ``alpha``.

    .. math::
        \int_0^1 \frac{\alpha'}{1-\alpha}\,
        \mathbb{E}_{x\sim q,\; z\sim p_t(\cdot|x)}
        \Big[\sum_{i: z_i = M} -\log p_\theta(x_i \mid z)\Big]\,dt .

    With the exact denoiser (the default) it equals :math:`H(q)` for every schedule with
    :math:`\alpha(0) = 0`, :math:`\alpha(1) = 1` (Proposition C.2).

    Args:
      alpha: mask schedule; q: data distribution, shape ``(d,)*n``.
      denoiser: see :func:`nelbo_integrand`.
      level: quadrature level.

    References:
      The paper's Proposition C.2.
    """
    return integrate01(nelbo_integrand(alpha, q, denoiser), level=level)

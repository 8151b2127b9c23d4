r"""Shared machinery of the brute force: input checks, the schedules at quadrature nodes,
log-space sums over states.

Stage 1 (compiled once per schedule family and node shape) evaluates
:math:`\log\alpha`, :math:`\log(1-\alpha)`, :math:`\log\alpha'` and
:math:`\log\gamma'` at the nodes (:class:`_Nodes`); stage 2 (compiled once per
``(n, d)``) sums over the states. Why everything is in logs: docs/bruteforce.md.

References:
  MATH.md sections 1 and 3; the paper's Eq. 3.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from mdm_ot._numerics import safe_log
from mdm_ot.bruteforce._states import StateSpace, state_space
from mdm_ot.schedules import Identity, InterpSchedule, MaskSchedule

_LOG4 = math.log(4.0)


def _check_q(q: ArrayLike) -> tuple[jax.Array, StateSpace]:
    """Validate ``q`` (shape ``(d,)*n``; concrete values: finite, >= 0, summing to 1)."""
    shape = np.shape(q)
    if len(shape) < 1 or any(s != shape[0] for s in shape):
        raise ValueError(
            f"q must have shape (d,)*n (one axis per position, d tokens each), got {shape}"
        )
    sp = state_space(len(shape), int(shape[0]))
    if not isinstance(q, jax.core.Tracer):
        arr = np.asarray(q, dtype=float)
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError("q must hold finite probabilities >= 0")
        if abs(arr.sum() - 1.0) > 1e-8:
            raise ValueError(f"q must sum to 1, got {arr.sum()!r}")
    q = jnp.asarray(q)
    if not jnp.issubdtype(q.dtype, jnp.floating):
        q = q.astype(jnp.result_type(float))
    return q.reshape(-1), sp


def _check_t(t, tc):
    t = jnp.asarray(t)
    if t.ndim != 0:
        raise ValueError(f"t must be a scalar (use jax.vmap over times), got shape {t.shape}")
    if not isinstance(t, jax.core.Tracer) and not 0.0 <= float(t) <= 1.0:
        raise ValueError(f"t must lie in [0, 1], got {float(t)!r}")
    return t, tc


# --------------------------------------------------------------------------------------
# Stage 1: the schedules at the nodes (compiled once per schedule family and node shape)
# --------------------------------------------------------------------------------------


_safe_log = safe_log  # shared with this package's modules


class _Nodes(NamedTuple):
    """The schedules at a set of time points (each field has the shape of ``t``)."""

    la: jax.Array  # log alpha
    l1a: jax.Array  # log(1 - alpha)
    lda: jax.Array  # log alpha'
    lg: jax.Array  # log gamma'


@jax.jit
def _alpha_nodes(alpha: MaskSchedule, t, tc):
    r"""(:math:`\log\alpha`, :math:`\log(1-\alpha)`, :math:`\log\alpha'`) at the points ``(t, tc)``:
    the schedule's own :meth:`~mdm_ot.schedules.MaskSchedule.log_pair` and
    :meth:`~mdm_ot.schedules.MaskSchedule.log_rate` (closed forms where the family has
    them, accurate defaults otherwise; docs/schedules.md)."""
    t = jnp.asarray(t)
    tc = jnp.broadcast_to(jnp.asarray(tc, t.dtype), t.shape)
    la, l1a = alpha.log_pair(t, tc)
    return la, l1a, jnp.broadcast_to(alpha.log_rate(t, tc, logs=(la, l1a)), t.shape)


@jax.jit
def _gamma_log_rate(gamma: InterpSchedule, t, tc):
    r""":math:`\log\gamma'` at ``(t, tc)``, in log form where the family provides it
    (:meth:`~mdm_ot.schedules.InterpSchedule.log_rate`): the Beta density underflows at
    the last quadrature nodes once a or b exceeds ~2.3."""
    t = jnp.asarray(t)
    tc = jnp.broadcast_to(jnp.asarray(tc, t.dtype), t.shape)
    return jnp.broadcast_to(gamma.log_rate(t, tc), t.shape)


def _schedule_nodes(alpha: MaskSchedule, gamma: InterpSchedule, t, tc) -> _Nodes:
    """The schedules at the points ``(t, tc)`` (two compiled pieces, one per schedule, so
    that each family compiles once whatever it is paired with)."""
    return _Nodes(*_alpha_nodes(alpha, t, tc), _gamma_log_rate(gamma, t, tc))


# --------------------------------------------------------------------------------------
# Stage 2: sums over the states (compiled once per (n, d)); log-space building blocks
# --------------------------------------------------------------------------------------


def _log_conditional_path(la, l1a, sp: StateSpace):
    r"""``(S, D)``: :math:`\log p_t(z \mid x) = \sum_i \log[\alpha 1\{z_i = x_i\} + (1-\alpha)
    1\{z_i = M\}]` (Eq. 3), one factor per position, ``-inf`` where incompatible."""
    per_pos = jnp.where(sp.match, la, jnp.where(sp.masked[:, None, :], l1a, -jnp.inf))
    return jnp.sum(per_pos, axis=-1)


def _logsumexp_rows(a):
    """log sum_j exp(a[..., j]) with rows that are all -inf giving -inf (finite gradients)."""
    amax = jax.lax.stop_gradient(jnp.max(a, axis=-1))
    amax = jnp.where(jnp.isfinite(amax), amax, 0.0)
    s = jnp.sum(jnp.exp(a - amax[..., None]), axis=-1)
    pos = s > 0
    return jnp.where(pos, amax + jnp.log(jnp.where(pos, s, 1.0)), -jnp.inf)


def _space_of(q) -> StateSpace:
    return state_space(q.ndim, q.shape[0])


def _nodewise(point_fn, nv: _Nodes, *extra):
    """Apply ``point_fn(scalar _Nodes, *extra)`` at every node (vmap over the flattened nodes)."""
    shape = nv.la.shape
    flat = _Nodes(*(jnp.reshape(x, (-1,)) for x in nv))
    out = jax.vmap(point_fn, in_axes=(0,) + (None,) * len(extra))(flat, *extra)
    return out.reshape(shape)


def _nodes_at(alpha, t, tc):
    t, tc = _check_t(t, tc)
    tc = 1.0 - t if tc is None else tc
    if not isinstance(alpha, MaskSchedule):
        raise ValueError(f"alpha must be a MaskSchedule, got {type(alpha).__name__}")
    return _schedule_nodes(alpha, Identity(), t, tc)

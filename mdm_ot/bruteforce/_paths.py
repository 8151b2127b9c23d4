r"""The discrete MDM path by brute force over the state space, and the three energies.

For an explicit data distribution :math:`q` on :math:`V^n` (small ``n`` and ``d``) this
module enumerates the :math:`(d+1)^n` states :math:`z \in (V \cup \{M\})^n` and computes,
as dense arrays over states,

* the conditional path :math:`p_t(z \mid x) = \prod_i [\alpha 1\{z_i = x_i\} + (1-\alpha)
  1\{z_i = M\}]` (the paper's Eq. 3) and the marginal :math:`p_t(z) = \sum_x q(x) p_t(z|x)`;
* the marginal rate :math:`Q_t(z, x) = (\alpha'/\alpha)\, p_t(x)/p_t(z)` on the allowed
  (one-token unmasking) transitions (Eq. 2 with :math:`\sigma = \alpha'/\alpha`, Eq. 4) and
  the conditional rate :math:`Q_t(z, x \mid x_1) = \alpha'/(1-\alpha)`;
* the kinetic, conditional kinetic and geodesic energies (Definitions 2.1-2.3, weighted
  by :math:`1/\gamma'`), summed over states exactly as MATH.md section 3 defines them and
  integrated over ``t`` by :func:`mdm_ot.quadrature.integrate01`;
* the NELBO of Proposition C.2 for a given (by default the exact) denoiser, the
  expectation over mask patterns summed exactly.

These are the *definitions*, meant as the independent side of the paper checks; the
reduced forms (a constant times :math:`e(\alpha,\gamma)`) live in :mod:`mdm_ot.energies`.
Nothing here uses the reduced forms.

Accuracy at both ends. Every quantity is built from :math:`\log\alpha`,
:math:`\log(1-\alpha)` and :math:`\log\alpha'`, computed from factors that do not
underflow (``_log_pair``) with the node complement ``tc``: near ``t = 0`` the quadrature
evaluates at ``t ~ 1e-231``, where :math:`\alpha = \sin^2(\pi t/2)` is below the smallest
double but ratios such as :math:`p_t(x)/p_t(z)` are perfectly representable; sums over
states are log-sum-exps and the weight :math:`1/\gamma'` is applied in logs
(:meth:`~mdm_ot.schedules.InterpSchedule.log_rate`). Terms whose denominator is zero (a
state of probability zero) are dropped: they carry no probability. The drop is a "double
where" so that gradients stay finite.

Conventions. ``q`` is an array of shape ``(d,) * n`` (``n = q.ndim`` positions, ``d``
tokens); states are indexed by :math:`\sum_i z_i (d+1)^{n-1-i}` with the mask token
``d`` (first position most significant) and data sequences by :math:`\sum_i x_i d^{n-1-i}`,
i.e. ``q.reshape(-1)``. Time runs from ``t = 0`` (all masked) to ``t = 1`` (data).

Compilation and batching. Each energy is two compiled stages: the schedules at the
quadrature nodes (compiled once per schedule family) and the sums over states (compiled
once per ``(n, d)``), so a family meets a new ``(n, d)`` without recompiling the Beta CDF.
All functions are pure; under a caller's ``jax.jit`` the stages fuse into one computation.
The schedules are pytrees, so a batch of schedules (leaves with a batch axis) goes through
``jax.vmap``, and ``jax.grad`` differentiates with respect to schedule parameters.

References:
  The paper's Eq. 2-4 (path and rates), Definitions 2.1-2.3 (energies), Proposition C.2
  (NELBO); MATH.md sections 1 and 3.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from mdm_ot.quadrature import DEFAULT_LEVEL, QuadResult, integrate01
from mdm_ot.schedules import (
    Cosine,
    Identity,
    InterpSchedule,
    MaskSchedule,
    Optimal,
    Poly,
    Sine,
    Sine2,
)

__all__ = [
    "StateSpace",
    "state_space",
    "conditional_path",
    "marginal_path",
    "marginal_rate",
    "conditional_rate",
    "kinetic_integrand",
    "conditional_kinetic_integrand",
    "geodesic_integrand",
    "kinetic_energy",
    "conditional_kinetic_energy",
    "geodesic_energy",
    "exact_denoiser",
    "entropy",
    "nelbo_integrand",
    "nelbo",
]

# Above this many states the dense arrays stop being a sensible brute force.
_MAX_STATES = 4096
_HALF_PI = 0.5 * math.pi
_LOG2 = math.log(2.0)
_LOGPI = math.log(math.pi)
_LOG4 = math.log(4.0)


# --------------------------------------------------------------------------------------
# The state space (static: numpy, cached per (n, d))
# --------------------------------------------------------------------------------------


class StateSpace(NamedTuple):
    """Enumeration of the states of ``n`` positions over ``d`` tokens plus the mask ``d``.

    Attributes:
      n, d: sequence length and vocabulary size.
      states: ``(S, n)`` int, ``S = (d+1)**n``; entry ``d`` is the mask.
      data: ``(D, n)`` int, ``D = d**n``, the sequences of ``V^n`` in ``q.reshape(-1)`` order.
      masked: ``(S, n)`` bool, ``states == d``.
      num_masked: ``(S,)`` int, :math:`m(z)`.
      match: ``(S, D, n)`` bool, ``states[z, i] == data[x, i]``.
      compatible: ``(S, D)`` bool, :math:`z_i \\in \\{x_i, M\\}` for every ``i``.
      src, dst, pos, tok: ``(E,)`` int, the allowed transitions ``src -> dst``: ``dst`` is
        ``src`` with its masked position ``pos`` set to token ``tok``.
      cond_edge: ``(D, E)`` bool, transition ``e`` is the one the conditional rate given
        ``x1`` uses (``tok == x1[pos]`` and ``src`` compatible with ``x1``).
      by_value: ``(n * (d+1), S // (d+1))`` int, row ``i * (d+1) + v`` lists the states
        with ``z_i == v``.
    """

    n: int
    d: int
    states: np.ndarray
    data: np.ndarray
    masked: np.ndarray
    num_masked: np.ndarray
    match: np.ndarray
    compatible: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    pos: np.ndarray
    tok: np.ndarray
    cond_edge: np.ndarray
    by_value: np.ndarray


@functools.lru_cache(maxsize=32)
def _state_space(n: int, d: int) -> StateSpace:
    states = np.array(list(itertools.product(range(d + 1), repeat=n)), dtype=np.int64)
    data = np.array(list(itertools.product(range(d), repeat=n)), dtype=np.int64)
    masked = states == d
    match = states[:, None, :] == data[None, :, :]
    compatible = np.all(match | masked[:, None, :], axis=-1)
    radix = (d + 1) ** np.arange(n - 1, -1, -1)
    src, dst, pos, tok = [], [], [], []
    for z, row in enumerate(states):
        for i in np.flatnonzero(row == d):
            for v in range(d):
                src.append(z)
                dst.append(z + (v - d) * radix[i])
                pos.append(i)
                tok.append(v)
    src, dst, pos, tok = (np.array(a, dtype=np.int64) for a in (src, dst, pos, tok))
    cond_edge = (data[:, pos] == tok[None, :]) & compatible[src, :].T
    by_value = np.stack([np.flatnonzero(states[:, i] == v) for i in range(n) for v in range(d + 1)])
    arrays = [states, data, masked, masked.sum(-1), match, compatible, src, dst, pos, tok,
              cond_edge, by_value]
    for a in arrays:
        a.setflags(write=False)
    return StateSpace(n, d, *arrays)


def state_space(n: int, d: int) -> StateSpace:
    """The enumerated state space of ``n`` positions over ``d`` tokens (cached).

    Raises:
      ValueError: if ``n < 1``, ``d < 1`` or there are more than 4096 states.
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n (sequence length) must be an integer >= 1, got {n!r}")
    if not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 1:
        raise ValueError(f"d (vocabulary size) must be an integer >= 1, got {d!r}")
    if (d + 1) ** n > _MAX_STATES:
        raise ValueError(
            f"(d+1)^n = {(d + 1) ** n} states is too many for the brute force; "
            f"allowed: at most {_MAX_STATES}"
        )
    return _state_space(int(n), int(d))


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


def _safe_log(x):
    """log x with log 0 = -inf and a zero (not NaN) derivative there."""
    pos = x > 0
    return jnp.where(pos, jnp.log(jnp.where(pos, x, 1.0)), -jnp.inf)


def _log_pair(alpha: MaskSchedule, t, tc):
    r"""(:math:`\log\alpha(t)`, :math:`\log(1-\alpha(t))`), accurate where either is tiny.

    :math:`\alpha` itself underflows near the ends for the schedules that matter most
    (:math:`\alpha = \sin^2(\tfrac{\pi}{2}\gamma) \approx (\pi\gamma/2)^2` is below the
    smallest double for :math:`t < 10^{-154}`, where the quadrature still evaluates), so
    the logs are taken of factors that do not underflow: :math:`2\log\sin(\tfrac{\pi}{2}\gamma)`
    and :math:`2\log\sin(\tfrac{\pi}{2}(1-\gamma))` for the energy-optimal family and
    sin², :math:`p\log t` for :math:`t^p`, the half-angle forms for sine and cosine. A
    schedule may supply its own ``log_pair(t, tc)``; otherwise the logs of
    :meth:`~mdm_ot.schedules.MaskSchedule.pair` are used.
    """
    own = getattr(alpha, "log_pair", None)
    if own is not None:
        return own(t, tc)
    if isinstance(alpha, (Optimal, Sine2)):
        g, gc = alpha.gamma.pair(t, tc) if isinstance(alpha, Optimal) else (t, tc)
        return 2.0 * _safe_log(jnp.sin(_HALF_PI * g)), 2.0 * _safe_log(jnp.sin(_HALF_PI * gc))
    if isinstance(alpha, Poly):
        lower = t <= 0.5
        logt = jnp.where(lower, _safe_log(t), jnp.log1p(-jnp.where(lower, 0.5, tc)))
        la = alpha.p * logt
        return la, _safe_log(-jnp.expm1(la))
    if isinstance(alpha, Cosine):  # alpha = 2 sin^2(pi t / 4), 1 - alpha = sin(pi tc / 2)
        return (_LOG2 + 2.0 * _safe_log(jnp.sin(0.5 * _HALF_PI * t)),
                _safe_log(jnp.sin(_HALF_PI * tc)))
    if isinstance(alpha, Sine):  # alpha = sin(pi t / 2), 1 - alpha = 2 sin^2(pi tc / 4)
        return (_safe_log(jnp.sin(_HALF_PI * t)),
                _LOG2 + 2.0 * _safe_log(jnp.sin(0.5 * _HALF_PI * tc)))
    al, om = alpha.pair(t, tc)
    return _safe_log(al), _safe_log(om)


class _Nodes(NamedTuple):
    """The schedules at a set of time points (each field has the shape of ``t``)."""

    la: jax.Array  # log alpha
    l1a: jax.Array  # log(1 - alpha)
    lda: jax.Array  # log alpha'
    lg: jax.Array  # log gamma'


@jax.jit
def _alpha_nodes(alpha: MaskSchedule, t, tc):
    r"""(:math:`\log\alpha`, :math:`\log(1-\alpha)`, :math:`\log\alpha'`) at the points ``(t, tc)``.

    :math:`\alpha'` is the forward-mode derivative of :meth:`MaskSchedule.pair` in the
    direction :math:`(dt, d\,tc) = (1, -1)`, taken from whichever of :math:`\alpha`,
    :math:`1-\alpha` is the smaller: near ``t = 1`` the derivative of the ``alpha``
    branch (e.g. :math:`\pi\sin\cos(\pi t/2)` with ``t`` rounded to 1) has only absolute
    accuracy, that of the ``1 - alpha`` branch is accurate. Its log is taken directly
    (not as :math:`\log\alpha + \log(\log\alpha)'`), which keeps second derivatives in
    the schedule's parameters finite at the extreme nodes.
    """
    t = jnp.asarray(t)
    tc = jnp.broadcast_to(jnp.asarray(tc, t.dtype), t.shape)
    la, l1a = _log_pair(alpha, t, tc)
    if isinstance(alpha, (Optimal, Sine2)):
        # alpha' = pi sin(pi g/2) sin(pi (1-g)/2) g', every factor in log form (none of
        # them underflows where alpha' itself would).
        gamma = alpha.gamma if isinstance(alpha, Optimal) else Identity()
        lg = jnp.broadcast_to(gamma.log_rate(t, tc), t.shape)
        return la, l1a, _LOGPI + 0.5 * la + 0.5 * l1a + lg
    ones = (jnp.ones_like(t), -jnp.ones_like(tc))
    _, (dal, dom) = jax.jvp(alpha.pair, (t, tc), ones)
    lda = _safe_log(jnp.where(la <= l1a, dal, -dom))
    # Where alpha' itself underflows (alpha = t^2 at t = 1e-231) but log alpha does not,
    # take log alpha' = log alpha + log (log alpha)' from the log pair instead; dropping
    # those terms would hide an endpoint divergence from the quadrature's probes.
    _, (dla_log, dl1a_log) = jax.jvp(lambda a, b: _log_pair(alpha, a, b), (t, tc), ones)
    # (Held constant under differentiation: it only matters at nodes whose terms are below
    # 1e-290, and its derivative is NaN-prone where it is not selected.)
    via_logs = jax.lax.stop_gradient(
        jnp.where(la <= l1a, la + _safe_log(dla_log), l1a + _safe_log(-dl1a_log)))
    return la, l1a, jnp.where(jnp.isfinite(lda), lda, via_logs)


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


def _log_marginal_path(lcond, logq):
    r""":math:`\log p_t(z) = \log \sum_x q(x) p_t(z \mid x)`, shape ``(S,)``."""
    return _logsumexp_rows(lcond + logq[None, :])


def _log_marginal_rate_edges(la, lda, lp, sp: StateSpace):
    r"""On the allowed transitions ``src -> dst``: (valid, log p(src), log p(dst), log Q)
    with :math:`Q = (\alpha'/\alpha)\,p_t(x)/p_t(z)` (Eq. 4). Valid iff both states have
    positive probability; invalid entries hold harmless zeros (double-where)."""
    lsrc, ldst = lp[sp.src], lp[sp.dst]
    valid = jnp.isfinite(lsrc) & jnp.isfinite(ldst) & jnp.isfinite(la)
    lsrc = jnp.where(valid, lsrc, 0.0)
    ldst = jnp.where(valid, ldst, 0.0)
    la = jnp.where(valid, la, 0.0)
    return valid, lsrc, ldst, lda - la + ldst - lsrc


def _over_gamma_rate(log_total, lg):
    r"""``exp(log_total - log gamma')``: the weight :math:`1/\gamma'` applied in logs, so
    that neither a sum nor :math:`\gamma'` underflowing near an end turns into 0/0. A zero
    sum is zero (no flux); :math:`\gamma' = 0` under a positive sum is ``+inf``, which
    the quadrature reports as divergence."""
    zero = log_total == -jnp.inf
    return jnp.where(zero, 0.0, jnp.exp(jnp.where(zero, 0.0, log_total) - lg))


def _space_of(q) -> StateSpace:
    return _state_space(q.ndim, q.shape[0])


def _nodewise(point_fn, nv: _Nodes, *extra):
    """Apply ``point_fn(scalar _Nodes, *extra)`` at every node (vmap over the flattened nodes)."""
    shape = nv.la.shape
    flat = _Nodes(*(jnp.reshape(x, (-1,)) for x in nv))
    out = jax.vmap(point_fn, in_axes=(0,) + (None,) * len(extra))(flat, *extra)
    return out.reshape(shape)


def _kinetic_point(nv: _Nodes, q):
    sp = _space_of(q)
    lp = _log_marginal_path(_log_conditional_path(nv.la, nv.l1a, sp), _safe_log(q.reshape(-1)))
    valid, lsrc, ldst, lrate = _log_marginal_rate_edges(nv.la, nv.lda, lp, sp)
    log_flux = lsrc + lrate  # log of p_t(z) Q_t(z, x)
    log_terms = jnp.where(valid, 2.0 * log_flux - lsrc - ldst, -jnp.inf)
    return _over_gamma_rate(_logsumexp_rows(log_terms), nv.lg)


def _conditional_point(nv: _Nodes, q):
    sp = _space_of(q)
    qf = q.reshape(-1)
    lcond = _log_conditional_path(nv.la, nv.l1a, sp)  # (S, D)
    lsrc, ldst = lcond[sp.src, :].T, lcond[sp.dst, :].T  # (D, E)
    valid = jnp.asarray(sp.cond_edge) & jnp.isfinite(lsrc) & jnp.isfinite(ldst)
    valid = valid & jnp.isfinite(nv.l1a)
    lsrc = jnp.where(valid, lsrc, 0.0)
    ldst = jnp.where(valid, ldst, 0.0)
    lrate = nv.lda - jnp.where(valid, nv.l1a, 0.0)  # log of alpha' / (1 - alpha)
    log_flux = lsrc + lrate
    log_terms = jnp.where(valid, 2.0 * log_flux - lsrc - ldst, -jnp.inf)
    log_terms = log_terms + _safe_log(qf)[:, None]  # weight q(x1)
    return _over_gamma_rate(_logsumexp_rows(log_terms.reshape(-1)), nv.lg)


def _geodesic_point(nv: _Nodes, q):
    sp = _space_of(q)
    qf = q.reshape(-1)

    def root_marginals(la, l1a):
        lcond = _log_conditional_path(la, l1a, sp)  # (S, D)
        # log p_t(z_i = v | x1): log-sum over the states with z_i = v; shape (n*(d+1), D).
        lmarg = _logsumexp_rows(jnp.moveaxis(lcond[sp.by_value, :], 1, 2))
        pos = jnp.isfinite(lmarg)
        return jnp.where(pos, jnp.exp(0.5 * jnp.where(pos, lmarg, 0.0)), 0.0)  # sqrt(p)

    # d/dt sqrt(p) by forward-mode autodiff, chained through (log alpha, log(1-alpha)),
    # whose time derivatives are alpha'/alpha and -alpha'/(1-alpha).
    fin_a, fin_c = jnp.isfinite(nv.la), jnp.isfinite(nv.l1a)
    dla = jnp.where(fin_a, jnp.exp(nv.lda - jnp.where(fin_a, nv.la, 0.0)), 0.0)
    dl1a = -jnp.where(fin_c, jnp.exp(nv.lda - jnp.where(fin_c, nv.l1a, 0.0)), 0.0)
    _, dy = jax.jvp(root_marginals, (nv.la, nv.l1a), (dla, dl1a))
    # Sum 4 dy^2 q(x1) in logs: dy^2 alone overflows near an end where alpha'^2/alpha
    # exceeds the largest double although the integrand (divided by gamma') does not.
    log_terms = _LOG4 + 2.0 * _safe_log(jnp.abs(dy)) + _safe_log(qf)[None, :]
    return _over_gamma_rate(_logsumexp_rows(log_terms.reshape(-1)), nv.lg)


@jax.jit
def _kinetic_nodes(nv, q):
    return _nodewise(_kinetic_point, nv, q)


@jax.jit
def _conditional_nodes(nv, q):
    return _nodewise(_conditional_point, nv, q)


@jax.jit
def _geodesic_nodes(nv, q):
    return _nodewise(_geodesic_point, nv, q)


# --------------------------------------------------------------------------------------
# Dense arrays at one time point
# --------------------------------------------------------------------------------------


def _nodes_at(alpha, t, tc):
    t, tc = _check_t(t, tc)
    tc = 1.0 - t if tc is None else tc
    if not isinstance(alpha, MaskSchedule):
        raise ValueError(f"alpha must be a MaskSchedule, got {type(alpha).__name__}")
    return _schedule_nodes(alpha, Identity(), t, tc)


@functools.partial(jax.jit, static_argnames=("n", "d"))
def _conditional_path_dense(nv, *, n, d):
    return jnp.exp(_log_conditional_path(nv.la, nv.l1a, _state_space(n, d)))


def conditional_path(
    alpha: MaskSchedule, t: ArrayLike, tc: ArrayLike | None = None, *, n: int, d: int
) -> jax.Array:
    r"""The conditional path :math:`p_t(z \mid x)` as an ``(S, D)`` array (columns sum to 1).

    .. math::
        p_t(z \mid x) = \prod_{i=1}^n \big[\alpha(t) 1\{z_i = x_i\} + (1-\alpha(t)) 1\{z_i = M\}\big].

    Args:
      alpha: mask schedule.
      t: a scalar time in [0, 1]; ``tc``: its complement ``1 - t`` (accurate), optional.
      n, d: sequence length and vocabulary size.

    References:
      The paper's Eq. 3.
    """
    state_space(n, d)
    return _conditional_path_dense(_nodes_at(alpha, t, tc), n=int(n), d=int(d))


@jax.jit
def _marginal_path_dense(nv, q):
    sp = _space_of(q)
    lcond = _log_conditional_path(nv.la, nv.l1a, sp)
    return jnp.exp(_log_marginal_path(lcond, _safe_log(q.reshape(-1))))


def marginal_path(
    alpha: MaskSchedule, q: ArrayLike, t: ArrayLike, tc: ArrayLike | None = None
) -> jax.Array:
    r"""The marginal path :math:`p_t(z) = \sum_x q(x)\, p_t(z \mid x)`, shape ``(S,)``.

    Args:
      alpha: mask schedule; q: data distribution, shape ``(d,)*n``.
      t: a scalar time in [0, 1]; ``tc``: its accurate complement, optional.

    References:
      The paper's Eq. 3 (marginalized over :math:`x \sim q`).
    """
    qf, sp = _check_q(q)
    return _marginal_path_dense(_nodes_at(alpha, t, tc), qf.reshape((sp.d,) * sp.n))


@jax.jit
def _marginal_rate_dense(nv, q):
    sp = _space_of(q)
    lp = _log_marginal_path(_log_conditional_path(nv.la, nv.l1a, sp), _safe_log(q.reshape(-1)))
    valid, _, _, lrate = _log_marginal_rate_edges(nv.la, nv.lda, lp, sp)
    rate = jnp.where(valid, jnp.exp(lrate), 0.0)
    size = sp.states.shape[0]
    mat = jnp.zeros((size, size), rate.dtype).at[sp.src, sp.dst].add(rate)
    return mat - jnp.diag(jnp.sum(mat, axis=1))


def marginal_rate(
    alpha: MaskSchedule, q: ArrayLike, t: ArrayLike, tc: ArrayLike | None = None
) -> jax.Array:
    r"""The MDM marginal rate matrix :math:`Q_t`, shape ``(S, S)``, rows summing to zero.

    Off the diagonal, on an allowed transition :math:`z \to x` (``x`` is ``z`` with one
    masked position set to a token),

    .. math::
        Q_t(z, x) = \frac{\alpha'(t)}{\alpha(t)}\,\frac{p_t(x)}{p_t(z)},

    and 0 elsewhere; also 0 on rows of states with :math:`p_t(z) = 0` (no probability to
    move) and into states with :math:`p_t(x) = 0`. The diagonal is minus the row sum
    (generator convention).

    References:
      The paper's Eq. 2 (with :math:`\sigma = \alpha'/\alpha`) and Eq. 4.
    """
    qf, sp = _check_q(q)
    return _marginal_rate_dense(_nodes_at(alpha, t, tc), qf.reshape((sp.d,) * sp.n))


@functools.partial(jax.jit, static_argnames=("n", "d"))
def _conditional_rate_dense(nv, *, n, d):
    sp = _state_space(n, d)
    lcond = _log_conditional_path(nv.la, nv.l1a, sp)  # (S, D)
    valid = jnp.asarray(sp.cond_edge) & jnp.isfinite(lcond[sp.src, :].T) & jnp.isfinite(nv.l1a)
    rate = jnp.where(valid, jnp.exp(nv.lda - jnp.where(valid, nv.l1a, 0.0)), 0.0)
    size, num_data = sp.states.shape[0], sp.data.shape[0]
    mat = jnp.zeros((num_data, size, size), rate.dtype).at[:, sp.src, sp.dst].add(rate)
    return mat - jax.vmap(jnp.diag)(jnp.sum(mat, axis=2))


def conditional_rate(
    alpha: MaskSchedule, t: ArrayLike, tc: ArrayLike | None = None, *, n: int, d: int
) -> jax.Array:
    r"""The conditional rates :math:`Q_t(\cdot, \cdot \mid x_1)` for every ``x1``, shape ``(D, S, S)``.

    :math:`Q_t(z, x \mid x_1) = \alpha'(t)/(1-\alpha(t))` when ``x`` is ``z`` with one
    masked position ``i`` set to :math:`x_{1,i}` and ``z`` is compatible with :math:`x_1`;
    0 otherwise; diagonal = minus the row sum.

    References:
      MATH.md section 1; the paper's Eq. 2 for a point mass at :math:`x_1`.
    """
    state_space(n, d)
    return _conditional_rate_dense(_nodes_at(alpha, t, tc), n=int(n), d=int(d))


# --------------------------------------------------------------------------------------
# Energy integrands f(t, tc) and energies (Definitions 2.1-2.3, weighted by 1/gamma')
# --------------------------------------------------------------------------------------


def _integrand(stage2, alpha, q, gamma):
    if not isinstance(alpha, MaskSchedule):
        raise ValueError(f"alpha must be a MaskSchedule, got {type(alpha).__name__}")
    gamma = Identity() if gamma is None else gamma
    if not isinstance(gamma, InterpSchedule):
        raise ValueError(f"gamma must be an InterpSchedule or None, got {type(gamma).__name__}")
    qf, sp = _check_q(q)
    qn = qf.reshape((sp.d,) * sp.n)

    def f(t, tc):
        return stage2(_schedule_nodes(alpha, gamma, t, tc), qn)

    return f


def kinetic_integrand(
    alpha: MaskSchedule, q: ArrayLike, gamma: InterpSchedule | None = None
) -> Callable[[jax.Array, jax.Array], jax.Array]:
    r"""The integrand of the kinetic energy :math:`E_k` as an elementwise ``f(t, tc)``.

    .. math::
        \frac{1}{\gamma'(t)} \sum_z \sum_{x \ne z}
        \frac{(p_t(z) Q_t(z, x))^2}{p_t(z)\, p_t(x)},

    with the MDM marginal rate :math:`Q_t` (zero off the allowed transitions, whose terms
    vanish); terms with :math:`p_t(z) p_t(x) = 0` are dropped.

    References:
      The paper's Definition 2.1; Eq. 4.
    """
    return _integrand(_kinetic_nodes, alpha, q, gamma)


def conditional_kinetic_integrand(
    alpha: MaskSchedule, q: ArrayLike, gamma: InterpSchedule | None = None
) -> Callable[[jax.Array, jax.Array], jax.Array]:
    r"""The integrand of the conditional kinetic energy :math:`E_c` as ``f(t, tc)``.

    .. math::
        \frac{1}{\gamma'(t)} \sum_{x_1} q(x_1) \sum_z \sum_{x \ne z}
        \frac{(p_t(z|x_1) Q_t(z, x|x_1))^2}{p_t(z|x_1)\, p_t(x|x_1)}.

    References:
      The paper's Definition 2.2.
    """
    return _integrand(_conditional_nodes, alpha, q, gamma)


def geodesic_integrand(
    alpha: MaskSchedule, q: ArrayLike, gamma: InterpSchedule | None = None
) -> Callable[[jax.Array, jax.Array], jax.Array]:
    r"""The integrand of the geodesic energy :math:`E_g` as ``f(t, tc)``.

    .. math::
        \frac{1}{\gamma'(t)} \sum_{x_1} q(x_1) \sum_{i=1}^n \sum_{v \in V \cup \{M\}}
        4 \Big(\frac{d}{dt} \sqrt{p_t(z_i = v \mid x_1)}\Big)^2,

    with the per-position marginals :math:`p_t(z_i = v \mid x_1)` summed from the
    conditional path over the other positions and :math:`d/dt` by forward-mode autodiff.
    Entries with zero probability are dropped.

    References:
      The paper's Definition 2.3 (square-root embedding; the factor 4 makes it the
      Fisher-Rao energy, MATH.md section 3).
    """
    return _integrand(_geodesic_nodes, alpha, q, gamma)


def kinetic_energy(
    alpha: MaskSchedule,
    q: ArrayLike,
    gamma: InterpSchedule | None = None,
    *,
    level: int = DEFAULT_LEVEL,
) -> QuadResult:
    r"""The kinetic energy :math:`E_k(\alpha, \gamma)` by brute force over the states.

    .. math::
        E_k = \int_0^1 \frac{1}{\gamma'(t)} \sum_z \sum_{x \ne z}
        \frac{(p_t(z) Q_t(z,x))^2}{p_t(z)\,p_t(x)}\,dt .

    Args:
      alpha: mask schedule; gamma: interpolation schedule (default :math:`\gamma = t`).
      q: data distribution, shape ``(d,)*n``.
      level: quadrature level (see :func:`mdm_ot.quadrature.integrate01`).

    Returns:
      A :class:`~mdm_ot.quadrature.QuadResult`; ``value`` is ``+inf`` with a divergence
      status where the energy is infinite.

    References:
      The paper's Definition 2.1; MATH.md section 3.
    """
    return integrate01(kinetic_integrand(alpha, q, gamma), level=level)


def conditional_kinetic_energy(
    alpha: MaskSchedule,
    q: ArrayLike,
    gamma: InterpSchedule | None = None,
    *,
    level: int = DEFAULT_LEVEL,
) -> QuadResult:
    r"""The conditional kinetic energy :math:`E_c(\alpha, \gamma)` by brute force.

    The kinetic energy of the conditional paths and rates, averaged over :math:`x_1 \sim q`
    (see :func:`conditional_kinetic_integrand`).

    References:
      The paper's Definition 2.2; MATH.md section 3.
    """
    return integrate01(conditional_kinetic_integrand(alpha, q, gamma), level=level)


def geodesic_energy(
    alpha: MaskSchedule,
    q: ArrayLike,
    gamma: InterpSchedule | None = None,
    *,
    level: int = DEFAULT_LEVEL,
) -> QuadResult:
    r"""The geodesic (Fisher-Rao) energy :math:`E_g(\alpha, \gamma)` by brute force.

    See :func:`geodesic_integrand`.

    References:
      The paper's Definition 2.3; MATH.md section 3.
    """
    return integrate01(geodesic_integrand(alpha, q, gamma), level=level)


# --------------------------------------------------------------------------------------
# Proposition C.2: the NELBO
# --------------------------------------------------------------------------------------


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

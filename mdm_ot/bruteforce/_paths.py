r"""The discrete MDM path by brute force over the state space, the rates, and the three energies.

For an explicit data distribution :math:`q` on :math:`V^n` (small ``n`` and ``d``): the
conditional and marginal paths (Eq. 3), the marginal and conditional rates (Eqs. 2, 4) as
dense arrays over the states, and the kinetic, conditional kinetic and geodesic energies
(Definitions 2.1-2.3, weighted by :math:`1/\gamma'`) summed over states and integrated by
:func:`mdm_ot.quadrature.integrate01`. These are the *definitions*, the independent side
of the paper checks; nothing here uses the reduced forms of :mod:`mdm_ot.energies`.
Accuracy at both ends, conventions, compilation: docs/bruteforce.md.

Example:
  >>> import numpy as np
  >>> from mdm_ot.schedules import Sine2
  >>> q = np.array([0.5, 0.5])  # n = 1, d = 2
  >>> r = kinetic_energy(Sine2(), q)
  >>> bool(np.isfinite(r.value))
  True

References:
  The paper's Eq. 2-4 (path and rates), Definitions 2.1-2.3 (energies); MATH.md
  sections 1 and 3.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from mdm_ot.bruteforce._core import (
    _LOG4,
    _check_q,
    _log_conditional_path,
    _logsumexp_rows,
    _Nodes,
    _nodes_at,
    _nodewise,
    _safe_log,
    _schedule_nodes,
    _space_of,
)
from mdm_ot.bruteforce._states import StateSpace, state_space
from mdm_ot.quadrature import DEFAULT_LEVEL, QuadResult, integrate01
from mdm_ot.schedules import Identity, InterpSchedule, MaskSchedule

__all__ = [
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
]


# --------------------------------------------------------------------------------------
# Stage 2: sums over the states (compiled once per (n, d))
# --------------------------------------------------------------------------------------


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


@functools.partial(jax.jit, static_argnames=("n", "d"))
def _conditional_path_dense(nv, *, n, d):
    return jnp.exp(_log_conditional_path(nv.la, nv.l1a, state_space(n, d)))


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
    sp = state_space(n, d)
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

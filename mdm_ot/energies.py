r"""The paper's three energies in reduced form, their constants, and the discrete energy.

The reduced energy of a pair of schedules is

.. math::
    e(\alpha, \gamma) = \int_0^1 \frac{\alpha'(t)^2}{\gamma'(t)\,\alpha(t)(1-\alpha(t))}\,dt
                      = 4 \int_0^1 \frac{\theta'(t)^2}{\gamma'(t)}\,dt,
    \qquad \theta = \arcsin\sqrt{\alpha},

and the three energies of an MDM path over ``n`` positions and ``d`` tokens are constant
multiples of it: :math:`E_k = K(q)\,e`, :math:`E_c = n 2^{n-1} e`, :math:`E_g = n\,e`
(MATH.md section 3). The second form is the one integrated: it has no cancellation near
the ends, where :math:`\alpha` or :math:`1 - \alpha` is tiny.

Brute-force definitions over the state space, which the paper checks compare against,
live in :mod:`mdm_ot.bruteforce`.

References:
  The paper's Eq. 14 (reduced energy), Definitions 2.1-2.3, Theorems 3.1-3.2, Lemma 3.5,
  Appendix D.5 (discrete energy).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from mdm_ot._jacobi import integrate_power01
from mdm_ot.quadrature import QuadResult, describe_status, integrate01
from mdm_ot.schedules import Identity, InterpSchedule, MaskSchedule

__all__ = [
    "EnergyConstants",
    "reduced_integrand",
    "reduced_integrand_exponents",
    "reduced_energy",
    "energy_constants",
    "kinetic_constant",
    "minimum_reduced_energy",
    "discrete_geodesic_energy",
    "discrete_geodesic_minimum",
    "energy_summary",
]


def reduced_integrand(alpha: MaskSchedule, gamma: InterpSchedule | None = None):
    r"""The integrand :math:`4\theta'(t)^2/\gamma'(t)` of :math:`e(\alpha,\gamma)` as ``f(t, tc)``.

    References:
      The paper's Eq. 14; MATH.md section 3 (proof idea of Lemma 3.5).
    """
    gamma = Identity() if gamma is None else gamma

    def f(t, tc):
        # In log form: near an end both theta' and gamma' can underflow while their
        # ratio is finite (e.g. Beta(c, d) gamma with d > 1 at tc = 1e-231).
        return 4.0 * jnp.exp(2.0 * alpha.log_theta_rate(t, tc) - gamma.log_rate(t, tc))

    return f


def reduced_integrand_exponents(
    alpha: MaskSchedule, gamma: InterpSchedule | None = None
) -> tuple[jax.Array, jax.Array] | None:
    r"""Endpoint exponents :math:`(p, q)` of :math:`4\theta'^2/\gamma' = t^p (1-t)^q h(t)`
    where both schedules know theirs, else ``None``.

    :math:`p = 2p_\theta - p_\gamma`, :math:`q = 2q_\theta - q_\gamma` from
    :meth:`~mdm_ot.schedules.MaskSchedule.theta_rate_exponents` and
    :meth:`~mdm_ot.schedules.InterpSchedule.rate_exponents`; the energy is finite iff
    both exceed -1. For the Beta family with :math:`\gamma = t`: :math:`(2a-2, 2b-2)`.

    References:
      The paper's Eq. 14; MATH.md section 3 (finite iff a > 1/2 and b > 1/2).
    """
    gamma = Identity() if gamma is None else gamma
    theta_exp, gamma_exp = alpha.theta_rate_exponents(), gamma.rate_exponents()
    if theta_exp is None or gamma_exp is None:
        return None
    return 2.0 * theta_exp[0] - gamma_exp[0], 2.0 * theta_exp[1] - gamma_exp[1]


def reduced_energy(alpha: MaskSchedule, gamma: InterpSchedule | None = None) -> QuadResult:
    r"""The reduced energy :math:`e(\alpha, \gamma)` by quadrature, +inf where it diverges.

    Jit- and vmap-compatible: a batch of schedules (leaves with a batch axis) under
    ``jax.vmap`` gives a batch of results; differentiable in the schedules' parameters.

    Where both schedules know the endpoint exponents of their rates
    (:func:`reduced_integrand_exponents`: the Beta family, sin², linear, the optimal
    schedule of a Beta or identity ``gamma``, each with a Beta or identity ``gamma``),
    a two-node Gauss-Jacobi rule with weight :math:`t^p (1-t)^q` integrates the smooth
    rest, and the exponents decide divergence exactly (:math:`p \le -1` or
    :math:`q \le -1`); otherwise the general tanh-sinh rule
    :func:`~mdm_ot.quadrature.integrate01` does (docs/quadrature.md, "Which path a
    schedule takes").

    .. math::
        e(\alpha,\gamma) = 4\int_0^1 \theta'(t)^2 / \gamma'(t)\,dt \;\ge\; \pi^2,

    with equality iff :math:`\alpha = \sin^2(\tfrac{\pi}{2}\gamma)`.

    Returns:
      A :class:`~mdm_ot.quadrature.QuadResult` ``(value, error, status)``; ``value`` is
      ``+inf`` with a divergence status where the integral diverges.

    References:
      The paper's Eq. 14, Lemma 3.5.
    """
    gamma = Identity() if gamma is None else gamma
    exponents = reduced_integrand_exponents(alpha, gamma)
    if exponents is None:
        return integrate01(reduced_integrand(alpha, gamma))
    return integrate_power01(reduced_integrand(alpha, gamma), *exponents)


class EnergyConstants(NamedTuple):
    """Multipliers of the reduced energy: ``E = constant * e`` (MATH.md section 3)."""

    kinetic: float
    conditional: float
    geodesic: float


def kinetic_constant(q: ArrayLike, n: int, d: int) -> int:
    r""":math:`K(q) = \sum_{z:\,q(z_{UM})>0} m(z)`: masked positions summed over states whose
    unmasked tokens have positive probability under ``q``.

    Args:
      q: probabilities over :math:`V^n`, shape ``(d**n,)`` or ``(d,)*n``, row-major
        (position 0 is the most significant digit).
      n, d: sequence length and vocabulary size.

    References:
      MATH.md section 3 (Theorem 3.1's constant, derived by brute force).
    """
    q = np.asarray(q, dtype=float).reshape((d,) * n)
    total = 0
    for mask_bits in range(1 << n):
        masked = [i for i in range(n) if mask_bits >> i & 1]
        marg = q.sum(axis=tuple(masked)) if masked else q
        total += len(masked) * int(np.count_nonzero(np.asarray(marg) > 0))
    return total


def energy_constants(n: int, d: int, q: ArrayLike | None = None) -> EnergyConstants:
    r"""Constants of the three energies for ``n`` positions and ``d`` tokens.

    With ``q=None`` the data distribution has full support and
    :math:`K(q) = n (d+1)^{n-1}`.

    References:
      Theorem 3.1 (:math:`E_k = C_1 E_c`), Theorem 3.2 (:math:`E_c = 2^{n-1} E_g`),
      Example 3.3 (n = 1).
    """
    _check_nd(n, d)
    # In logs first: the exact integer n (d+1)^(n-1) of a huge n would take minutes to build
    # and then overflow float64 (issue 15); refuse before computing any power.
    log_kin = math.log(n) + (n - 1) * math.log(d + 1)
    if max(log_kin, math.log(n) + (n - 1) * math.log(2)) > _LOG_FLOAT_MAX:
        raise ValueError(f"n = {n}, d = {d}: the energy constant n (d+1)^(n-1) = exp({log_kin:.4g}) "
                         "exceeds the largest float64 (about exp(709.78)); allowed: smaller n or d")
    kin = n * (d + 1) ** (n - 1) if q is None else kinetic_constant(q, n, d)
    return EnergyConstants(float(kin), float(n * 2 ** (n - 1)), float(n))


#: log of the largest finite float64, with a margin for the factor pi^2 of the minima
_LOG_FLOAT_MAX = math.log(np.finfo(np.float64).max) - 3.0


def _check_nd(n: int, d: int) -> None:
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n (sequence length) must be an integer >= 1, got {n!r}")
    if not isinstance(d, (int, np.integer)) or d < 1:
        raise ValueError(f"d (vocabulary size) must be an integer >= 1, got {d!r}")


def minimum_reduced_energy() -> float:
    r"""The minimum of :math:`e(\cdot, \gamma)` over mask schedules, for every ``gamma``: :math:`\pi^2`.

    Attained exactly by :math:`\alpha^* = \sin^2(\tfrac{\pi}{2}\gamma)`; the three energies'
    minima are this times their constants (:func:`energy_constants`).

    References:
      The paper's Condition 3.4 and Lemma 3.5.
    """
    return math.pi**2


def energy_summary(alpha: MaskSchedule, gamma: InterpSchedule | None = None, n: int = 2, d: int = 2) -> dict:
    r"""The three energies of a schedule pair, its reduced energy and the minimum, as a dict.

    The full-support data distribution over ``n`` positions and ``d`` tokens; values are
    Python floats, ``+inf`` where the energy diverges (then ``"divergent"`` names the four
    energies). This is what ``mdm-ot energy`` prints.

    Example:
      >>> from mdm_ot.schedules import parse_alpha
      >>> round(energy_summary(parse_alpha("sin2"))["reduced"], 4)  # pi^2, the minimum
      9.8696

    Raises:
      ValueError: if ``n`` or ``d`` is not an integer >= 1.

    References:
      The paper's Eq. 14, Theorems 3.1-3.2, Lemma 3.5; MATH.md section 3.
    """
    gamma = Identity() if gamma is None else gamma
    consts = energy_constants(n, d)
    res = jax.jit(reduced_energy)(alpha, gamma)
    e = float(res.value)
    status = int(res.status)
    divergent = not math.isfinite(e)
    emin = minimum_reduced_energy()
    return {
        "alpha": alpha.spec,
        "gamma": gamma.spec,
        "n": n,
        "d": d,
        "reduced": e,
        "kinetic": consts.kinetic * e,
        "conditional": consts.conditional * e,
        "geodesic": consts.geodesic * e,
        "reduced_error": float(res.error),
        "minimum": {
            "reduced": emin,
            "kinetic": consts.kinetic * emin,
            "conditional": consts.conditional * emin,
            "geodesic": consts.geodesic * emin,
            "alpha": f"sin^2(pi/2 * gamma) with gamma = {gamma.spec}",
        },
        "constants": consts._asdict(),
        "divergent": ["kinetic", "conditional", "geodesic", "reduced"] if divergent else [],
        "status": describe_status(status),
    }


def discrete_geodesic_energy(
    alpha: MaskSchedule, gamma: InterpSchedule | None = None, grid: ArrayLike | int = 8
) -> jax.Array:
    r"""The discrete geodesic energy of a K-step grid, per token (comparable to ``e``).

    .. math::
        e_N = \sum_{k=1}^N \frac{4\,\|y_k - y_{k-1}\|^2}{\gamma_k - \gamma_{k-1}},
        \qquad \|y_k - y_{k-1}\|^2 = 2(1 - \cos(\theta_k - \theta_{k-1})),

    where :math:`y = \sqrt{p}` is the square-root embedding of a token's distribution
    :math:`(\alpha, 1-\alpha)` over {its data value, mask}. Multiply by ``n`` for the
    geodesic energy of ``n`` positions. Its minimum over schedules with equal
    :math:`\Delta\gamma` is :func:`discrete_geodesic_minimum`.

    Args:
      alpha, gamma: schedules (``gamma`` defaults to the identity).
      grid: an increasing array of times from 0 to 1, or a number of equal steps N.

    References:
      The paper's Appendix D.5.
    """
    gamma = Identity() if gamma is None else gamma
    if isinstance(grid, (int, np.integer)):
        if grid < 1:
            raise ValueError(f"number of steps must be >= 1, got {grid}")
        grid = jnp.linspace(0.0, 1.0, int(grid) + 1, dtype=jnp.result_type(float))
    grid = jnp.asarray(grid)
    theta = alpha.theta(grid, 1.0 - grid)
    g = gamma(grid)
    dtheta = jnp.diff(theta)
    chord2 = 2.0 * (1.0 - jnp.cos(dtheta))
    return jnp.sum(4.0 * chord2 / jnp.diff(g), axis=-1)


def discrete_geodesic_minimum(num_steps: ArrayLike) -> jax.Array:
    r""":math:`\min e_N = 8 N^2 (1 - \cos(\pi / (2N)))`, attained by equal :math:`\Delta\theta`
    on equal :math:`\Delta\gamma`; below :math:`\pi^2` and approaching it as :math:`O(1/N^2)`.

    References:
      The paper's Appendix D.5.
    """
    n = jnp.asarray(num_steps, jnp.result_type(float))
    # 1 - cos x = 2 sin^2(x/2), without cancellation for large N.
    return 16.0 * n**2 * jnp.sin(math.pi / (4.0 * n)) ** 2

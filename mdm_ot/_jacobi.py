r"""Gauss-Jacobi quadrature on :math:`[0, 1]` for integrands with known endpoint exponents.

For :math:`f(t) = t^p (1-t)^q g(t)` with the exponents known and :math:`g` smooth,

.. math::
    \int_0^1 f\,dt = B(p+1, q+1) \sum_j w_j\, g(t_j),

with the nodes and weights of the Gauss rule for the Beta(p + 1, q + 1) measure. Two nodes
integrate a cubic :math:`g` exactly, the one-node rule (the mean) a linear one; their
difference is the error estimate. The nodes and weights are closed forms in
:math:`(p, q)`, so the exponents may be traced (jit, vmap, grad over a schedule's
parameters). The divergence test is exact: the integral is :math:`+\infty` iff
:math:`p \le -1` or :math:`q \le -1`. Which schedules take this path: docs/quadrature.md.

References:
  The paper's Eq. 14 (the reduced energy, finite iff both exponents exceed -1);
  MATH.md section 3; G. H. Golub and J. H. Welsch, *Calculation of Gauss quadrature
  rules*, Math. Comp. 23 (1969) 221-230 (nodes as eigenvalues of the Jacobi matrix).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from mdm_ot.quadrature import (
    QuadResult,
    integrand_dtype,
    status_code,
)

__all__ = ["gauss_jacobi2", "integrate_power01"]


def gauss_jacobi2(a, b):
    r"""Two-node Gauss rule for the Beta(a, b) measure on :math:`[0, 1]` (a, b > 0).

    The Jacobi matrix of the monic orthogonal polynomials is
    :math:`\begin{pmatrix} \mu & \sqrt{\beta_1} \\ \sqrt{\beta_1} & \mu_1 \end{pmatrix}` with
    :math:`\mu = a/s`, :math:`\beta_1 = ab/(s^2(s+1))`,
    :math:`\mu_1 = (a^2 + ab + 2b)/(s(s+2))`, :math:`s = a + b`. Its eigenvalues are the
    nodes, computed without cancellation: the larger one as :math:`m + r`, the smaller as
    the product of both, :math:`a(a+1)/((s+1)(s+2))`, divided by it; the complements the
    same way from :math:`b(b+1)/((s+1)(s+2))`.

    Returns:
      ``(t, tc, w)``, each of shape ``(..., 2)``: nodes, accurate complements ``1 - t`` and
      weights summing to 1 (the measure is normalized).
    """
    s = a + b
    s1, s2 = s + 1.0, s + 2.0
    var = a * b / (s * s * s1)  # beta_1, the variance of the measure
    half_diff = (a - b) / (s * s2)  # (mu - mu_1) / 2
    r = jnp.sqrt(half_diff * half_diff + var)
    mid = (a / s + (a * a + a * b + 2.0 * b) / (s * s2)) / 2.0
    mid_c = (b / s + (a * b + 2.0 * a + b * b) / (s * s2)) / 2.0
    hi = mid + r  # the larger node; its complement is the smaller one of 1 - t
    lo_c = mid_c + r  # complement of the smaller node
    lo = a * (a + 1.0) / (s1 * s2) / hi
    hi_c = b * (b + 1.0) / (s1 * s2) / lo_c
    # Weights (r + d)/(2r) and (r - d)/(2r) with d = half_diff; r - |d| = var / (r + |d|).
    big = (r + jnp.abs(half_diff)) / (2.0 * r)
    small = var / (2.0 * r * (r + jnp.abs(half_diff)))
    w_hi = jnp.where(half_diff >= 0, big, small)
    w_lo = jnp.where(half_diff >= 0, small, big)
    return (jnp.stack([lo, hi], -1), jnp.stack([lo_c, hi_c], -1), jnp.stack([w_lo, w_hi], -1))


def integrate_power01(
    f: Callable[[jax.Array, jax.Array], jax.Array],
    p,
    q,
    *,
    rtol: float | None = None,
    atol: float = 0.0,
) -> QuadResult:
    r""":math:`\int_0^1 f\,dt` for a positive :math:`f = t^p (1-t)^q g` with known exponents.

    Args:
      f: the integrand ``f(t, tc) > 0``, elementwise, with ``tc = 1 - t`` accurate; it is
        evaluated at three interior points only, where it neither underflows nor overflows
        for any integral of reasonable size (if it does, the status is ``STATUS_NONFINITE``).
      p, q: the exponents at ``t = 0`` and ``t = 1`` (scalars, may be traced).
      rtol, atol: tolerances of the status, as for :func:`mdm_ot.quadrature.integrate01`
        (default ``rtol``: 1e-10 in float64, 1e-5 in float32).

    Returns:
      A :class:`~mdm_ot.quadrature.QuadResult`: ``+inf`` with ``STATUS_DIVERGENT_AT_0``
      (checked first) or ``STATUS_DIVERGENT_AT_1`` where an exponent is ``<= -1``;
      ``STATUS_NONFINITE`` with a non-finite value where ``f`` or an exponent is not
      finite; otherwise the two-node value with error ``|I_2 - I_1|`` plus rounding.
    """
    # The dtype f returns on weakly typed nodes, as integrate01 chooses it: both paths
    # of reduced_energy give the same dtype for the same schedules.
    dtype = integrand_dtype(f, None)
    p, q = jnp.asarray(p, dtype), jnp.asarray(q, dtype)
    eps = float(np.finfo(dtype).eps)
    if rtol is None:
        rtol = 1e-10 if dtype == np.dtype(np.float64) else 1e-5
    div0, div1 = p <= -1.0, q <= -1.0
    ok = ~(div0 | div1) & jnp.isfinite(p) & jnp.isfinite(q)
    # Beta(a, b) with a, b > 0 on every branch, so that no NaN reaches gradients.
    a = jnp.where(ok, p + 1.0, 1.0)
    b = jnp.where(ok, q + 1.0, 1.0)
    # Nodes and weights held constant under differentiation: the exact derivative where g
    # does not depend on t (every family that states exponents), and ~1/3 less work
    # (docs/quadrature.md, "Which path a schedule takes").
    t2, tc2, w2 = gauss_jacobi2(jax.lax.stop_gradient(a), jax.lax.stop_gradient(b))
    s = a + b
    t = jnp.concatenate([t2, jax.lax.stop_gradient(a / s)[None]])  # two nodes, then the mean
    tc = jnp.concatenate([tc2, jax.lax.stop_gradient(b / s)[None]])
    log_g = jnp.log(f(t, tc)) - p * jnp.log(t) - q * jnp.log(tc)
    log_beta = gammaln(a) + gammaln(b) - gammaln(s)
    g = jnp.exp(log_g + log_beta)
    value2 = jnp.sum(w2 * g[:2])
    # Rounding: exp of log-terms of size |log_beta| + |p log t| + ..., a few ulp each.
    scale = 1.0 + jnp.abs(log_beta) + jnp.max(jnp.abs(log_g))
    error = jnp.abs(value2 - g[2]) + 16.0 * eps * scale * jnp.abs(value2)
    # log f = -inf or +inf at a node (f underflowed or overflowed) is never taken as a value.
    finite = jnp.all(jnp.isfinite(log_g)) & jnp.isfinite(value2)
    inf = jnp.asarray(jnp.inf, dtype)
    divergent = div0 | div1
    value = jnp.where(divergent, inf, jnp.where(finite, value2, jnp.nan))
    error = jnp.where(divergent | ~finite, inf, error)
    accurate = error <= rtol * jnp.abs(value) + atol
    status = status_code(div0, div1, ~finite, accurate)
    return QuadResult(value.astype(dtype), error.astype(dtype), status)

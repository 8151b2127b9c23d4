r"""The schedule families: mask schedules :math:`\alpha(t)` and interpolation schedules :math:`\gamma(t)`.

Each family is a short frozen pytree over :class:`MaskSchedule` or :class:`InterpSchedule`:
its numeric parameters (``p``, ``a``, ``b``, ...) are array leaves, so ``jax.vmap`` and
``jax.grad`` work over them. Families whose :math:`\alpha` underflows at an end override
the log forms (:meth:`~MaskSchedule.log_pair`, :meth:`~MaskSchedule.log_rate`) with
closed forms (docs/schedules.md).

References:
  MATH.md section 2; the paper's Condition 3.4 (energy-optimal family) and section 4
  (Beta-CDF interpolation schedules), Proposition 3.7.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from mdm_ot._pytree import frozen_pytree as _pytree
from mdm_ot.schedules._betainc import betainc_pair, betaincinv, log_density
from mdm_ot.schedules._core import (
    _HALF_PI,
    _LOG2,
    _LOGPI,
    InterpSchedule,
    MaskSchedule,
    _as_float,
    _check_param,
    _fmt,
    _safe_log,
    _tc_of,
)

__all__ = [
    "Identity",
    "BetaCDF",
    "Linear",
    "Sine",
    "Sine2",
    "Poly",
    "Cosine",
    "LogLinear",
    "Optimal",
    "beta_schedule",
]


# Interpolation schedules gamma


@_pytree
class Identity(InterpSchedule):
    r""":math:`\gamma(t) = t`."""

    def pair(self, t, tc=None):
        t = _as_float(t)
        return t, _tc_of(t, tc)

    def inverse(self, g):
        return _as_float(g)

    def log_rate(self, t, tc=None):
        return jnp.zeros_like(_as_float(t))

    def rate_exponents(self):
        return 0.0, 0.0  # gamma' = 1

    @property
    def spec(self) -> str:
        return "t"


@_pytree(data=("a", "b"))
class BetaCDF(InterpSchedule):
    r""":math:`\gamma(t) = I_t(a, b)`, the CDF of Beta(a, b); a, b > 0.

    Differentiable in ``t``, ``a`` and ``b`` (``jax.scipy.special.betainc`` is not
    differentiable in a, b; see :func:`mdm_ot.schedules.betainc`).

    References:
      The paper's section 4; Proposition 3.7: :math:`I_t(1/2, 1/2) = (2/\pi)\arcsin\sqrt t`.
    """

    a: jax.Array
    b: jax.Array

    def pair(self, t, tc=None):
        t = _as_float(t, self.a, self.b)
        return betainc_pair(self.a, self.b, t, _tc_of(t, tc))

    def inverse(self, g):
        return betaincinv(self.a, self.b, _as_float(g, self.a, self.b))

    def log_rate(self, t, tc=None):
        # The log of the Beta density: the same function the CDF's custom JVP uses for
        # its t-derivative, kept in log form so it does not underflow at the ends.
        t = _as_float(t, self.a, self.b)
        return log_density(self.a, self.b, t, _tc_of(t, tc))

    def rate_exponents(self):
        return self.a - 1.0, self.b - 1.0  # gamma' = t^(a-1) (1-t)^(b-1) / B(a, b)

    @property
    def spec(self) -> str:
        return f"beta:{_fmt(self.a)},{_fmt(self.b)}"


# Mask schedules alpha


def _log_sin2_pair(g, gc):
    r"""(:math:`\log\sin^2(\tfrac{\pi}{2}g)`, :math:`\log\sin^2(\tfrac{\pi}{2}g_c)`) from
    the factors, which do not underflow where their squares do."""
    return 2.0 * _safe_log(jnp.sin(_HALF_PI * g)), 2.0 * _safe_log(jnp.sin(_HALF_PI * gc))


def _log_sin2_rate(la, l1a, lg):
    r""":math:`\log\alpha'` of :math:`\alpha = \sin^2(\tfrac{\pi}{2}\gamma)`:
    :math:`\alpha' = \pi \sin(\tfrac{\pi}{2}\gamma)\sin(\tfrac{\pi}{2}(1-\gamma))\gamma'`,
    every factor in log form."""
    return _LOGPI + 0.5 * la + 0.5 * l1a + lg


@_pytree
class Linear(MaskSchedule):
    r""":math:`\alpha(t) = t`."""

    def pair(self, t, tc=None):
        t = _as_float(t)
        return t, _tc_of(t, tc)

    def inverse(self, alpha):
        return _as_float(alpha)

    def theta_rate_exponents(self):
        return -0.5, -0.5  # theta = arcsin sqrt(t): theta' = t^(-1/2) (1-t)^(-1/2) / 2

    @property
    def spec(self) -> str:
        return "linear"


@_pytree
class Sine(MaskSchedule):
    r""":math:`\alpha(t) = \sin(\pi t / 2)`; :math:`1 - \alpha = 2\sin^2(\pi (1-t)/4)`."""

    def pair(self, t, tc=None):
        t = _as_float(t)
        tc = _tc_of(t, tc)
        return jnp.sin(_HALF_PI * t), 2.0 * jnp.sin(0.5 * _HALF_PI * tc) ** 2

    def theta(self, t, tc=None):
        # sqrt(1 - alpha) = sqrt(2) sin(pi tc / 4): no sqrt of an underflowed 1 - alpha
        # near t = 1 (tc = 1e-231 gives 1 - alpha ~ 1e-462).
        t = _as_float(t)
        tc = _tc_of(t, tc)
        return jnp.arctan2(jnp.sqrt(jnp.sin(_HALF_PI * t)), math.sqrt(2.0) * jnp.sin(0.5 * _HALF_PI * tc))

    def inverse(self, alpha):
        return jnp.arcsin(_as_float(alpha)) / _HALF_PI

    def log_pair(self, t, tc=None):
        # alpha = sin(pi t / 2), 1 - alpha = 2 sin^2(pi tc / 4)
        t = _as_float(t)
        tc = _tc_of(t, tc)
        return (_safe_log(jnp.sin(_HALF_PI * t)),
                _LOG2 + 2.0 * _safe_log(jnp.sin(0.5 * _HALF_PI * tc)))

    @property
    def spec(self) -> str:
        return "sin"


@_pytree
class Sine2(MaskSchedule):
    r""":math:`\alpha(t) = \sin^2(\pi t / 2)`; the optimum for :math:`\gamma = t`
    (Proposition 3.7 with Beta(1, 1))."""

    def pair(self, t, tc=None):
        t = _as_float(t)
        tc = _tc_of(t, tc)
        return jnp.sin(_HALF_PI * t) ** 2, jnp.sin(_HALF_PI * tc) ** 2

    def theta(self, t, tc=None):
        t = _as_float(t)
        return _HALF_PI * t

    def inverse(self, alpha):
        return jnp.arcsin(jnp.sqrt(_as_float(alpha))) / _HALF_PI

    def theta_rate_exponents(self):
        return 0.0, 0.0  # theta' = pi / 2

    def log_pair(self, t, tc=None):
        t = _as_float(t)
        return _log_sin2_pair(t, _tc_of(t, tc))

    def log_rate(self, t, tc=None, *, logs=None):
        t = _as_float(t)
        tc = jnp.broadcast_to(_tc_of(t, tc), t.shape)
        la, l1a = self.log_pair(t, tc) if logs is None else logs
        return _log_sin2_rate(la, l1a, jnp.zeros_like(t))  # gamma = t: log gamma' = 0

    @property
    def spec(self) -> str:
        return "sin2"


@_pytree(data=("p",))
class Poly(MaskSchedule):
    r""":math:`\alpha(t) = t^p`, ``p > 0``."""

    p: jax.Array

    def pair(self, t, tc=None):
        t = _as_float(t, self.p)
        tc = _tc_of(t, tc)
        # log t from whichever of t, tc is accurate.
        logt = jnp.where(t <= 0.5, jnp.log(jnp.where(t > 0, t, 1.0)), jnp.log1p(-tc))
        plog = self.p * logt
        al = jnp.where(t > 0, jnp.exp(plog), 0.0)
        om = jnp.where(t > 0, -jnp.expm1(plog), 1.0)
        return al, om

    def theta(self, t, tc=None):
        # sqrt(alpha) = t^(p/2) in log form: alpha = t^p underflows near t = 0 (t = 1e-231,
        # p = 2) and the derivative of sqrt at 0 would be inf * 0.
        t = _as_float(t, self.p)
        tc = _tc_of(t, tc)
        logt = jnp.where(t <= 0.5, jnp.log(jnp.where(t > 0, t, 1.0)), jnp.log1p(-tc))
        plog = self.p * logt
        root = jnp.where(t > 0, jnp.exp(0.5 * plog), 0.0)
        return jnp.arctan2(root, jnp.sqrt(jnp.where(t > 0, -jnp.expm1(plog), 1.0)))

    def inverse(self, alpha):
        return _as_float(alpha, self.p) ** (1.0 / self.p)

    def log_pair(self, t, tc=None):
        # log alpha = p log t, with log t from whichever of t, tc is accurate.
        t = _as_float(t)
        tc = _tc_of(t, tc)
        lower = t <= 0.5
        logt = jnp.where(lower, _safe_log(t), jnp.log1p(-jnp.where(lower, 0.5, tc)))
        la = self.p * logt
        return la, _safe_log(-jnp.expm1(la))

    @property
    def spec(self) -> str:
        return f"poly:{_fmt(self.p)}"


@_pytree
class Cosine(MaskSchedule):
    r"""The cosine schedule of MD4 in this convention: :math:`\alpha(t) = 1 - \cos(\pi t/2)`.

    MD4 (Shi et al. 2024) writes :math:`\alpha_s = 1 - \cos(\frac{\pi}{2}(1 - s))` with
    ``s = 0`` the data; here ``t = 1 - s``.
    """

    def pair(self, t, tc=None):
        t = _as_float(t)
        tc = _tc_of(t, tc)
        return 2.0 * jnp.sin(0.5 * _HALF_PI * t) ** 2, jnp.sin(_HALF_PI * tc)

    def theta(self, t, tc=None):
        # sqrt(alpha) = sqrt(2) sin(pi t / 4): no sqrt of an underflowed alpha near t = 0.
        t = _as_float(t)
        tc = _tc_of(t, tc)
        return jnp.arctan2(math.sqrt(2.0) * jnp.sin(0.5 * _HALF_PI * t), jnp.sqrt(jnp.sin(_HALF_PI * tc)))

    def inverse(self, alpha):
        return jnp.arccos(1.0 - _as_float(alpha)) / _HALF_PI

    def log_pair(self, t, tc=None):
        # alpha = 2 sin^2(pi t / 4), 1 - alpha = sin(pi tc / 2)
        t = _as_float(t)
        tc = _tc_of(t, tc)
        return (_LOG2 + 2.0 * _safe_log(jnp.sin(0.5 * _HALF_PI * t)),
                _safe_log(jnp.sin(_HALF_PI * tc)))

    @property
    def spec(self) -> str:
        return "cosine"


@_pytree(data=("eps",))
class LogLinear(MaskSchedule):
    r"""The log-linear noise of MDLM/SEDD in this convention: :math:`\alpha(t) = \epsilon + (1-\epsilon)t`.

    MDLM writes :math:`\sigma(s) = -\log(1 - (1-\epsilon)s)`, :math:`\alpha_s = e^{-\sigma(s)}`,
    with ``s = 0`` the data; here ``t = 1 - s``. Its truncation leaves
    :math:`\alpha(0) = \epsilon` (default ``1e-3``, MDLM's); with ``eps = 0`` it is the linear
    schedule.
    """

    eps: jax.Array = 1e-3

    def pair(self, t, tc=None):
        t = _as_float(t, self.eps)
        tc = _tc_of(t, tc)
        return self.eps + (1.0 - self.eps) * t, (1.0 - self.eps) * tc

    def inverse(self, alpha):
        alpha = _as_float(alpha, self.eps)
        return jnp.clip((alpha - self.eps) / (1.0 - self.eps), 0.0, 1.0)

    @property
    def spec(self) -> str:
        return "loglinear" if _fmt(self.eps) == "0.001" else f"loglinear:{_fmt(self.eps)}"


@_pytree(data=("gamma",))
class Optimal(MaskSchedule):
    r"""The energy-optimal mask schedule for ``gamma``: :math:`\alpha^* = \sin^2(\tfrac{\pi}{2}\gamma(t))`.

    Every mask schedule is of this form for exactly one increasing ``gamma``,
    :math:`\gamma = (2/\pi)\arcsin\sqrt\alpha`.

    For every ``gamma`` it minimizes the reduced energy :math:`e(\alpha, \gamma)` over mask
    schedules, with minimum :math:`\pi^2` (times each energy's constant): optimality over
    schedules, for every data distribution. The MDM rate it drives is not, in general,
    the least-energy rate generating its path: that "rate optimality" is our restatement,
    not the paper's; among unmasking rates it holds only when every proper marginal of q
    is uniform, among all rates only for n = 1
    (``paper_checks/test_rate_optimality_restatement.py``).

    References:
      The paper's Condition 3.4 and Lemma 3.5.
    """

    gamma: InterpSchedule

    def pair(self, t, tc=None):
        g, gc = self.gamma.pair(t, tc)
        return jnp.sin(_HALF_PI * g) ** 2, jnp.sin(_HALF_PI * gc) ** 2

    def theta(self, t, tc=None):
        return _HALF_PI * self.gamma.pair(t, tc)[0]

    def log_theta_rate(self, t, tc=None):
        return math.log(_HALF_PI) + self.gamma.log_rate(t, tc)

    def theta_rate_exponents(self):
        return self.gamma.rate_exponents()  # theta' = (pi/2) gamma'

    def log_pair(self, t, tc=None):
        return _log_sin2_pair(*self.gamma.pair(t, tc))

    def log_rate(self, t, tc=None, *, logs=None):
        t = _as_float(t)
        tc = jnp.broadcast_to(_tc_of(t, tc), t.shape)
        la, l1a = self.log_pair(t, tc) if logs is None else logs
        return _log_sin2_rate(la, l1a, jnp.broadcast_to(self.gamma.log_rate(t, tc), t.shape))

    def inverse(self, alpha):
        alpha = _as_float(alpha)
        return self.gamma.inverse(jnp.arcsin(jnp.sqrt(alpha)) / _HALF_PI)

    @property
    def spec(self) -> str:
        if isinstance(self.gamma, BetaCDF):
            return self.gamma.spec
        if isinstance(self.gamma, Identity):
            return "sin2"
        return f"optimal[{self.gamma.spec}]"


def beta_schedule(a: ArrayLike, b: ArrayLike) -> Optimal:
    r"""The paper's Beta family: :math:`\alpha(t) = \sin^2(\tfrac{\pi}{2} I_t(a, b))`.

    ``a`` and ``b`` may be arrays of the same shape (a batch of schedules, for ``vmap``).
    Beta(1/2, 1/2) is the linear schedule and Beta(1, 1) is sin² (Proposition 3.7).

    Raises:
      ValueError: if a concrete ``a`` or ``b`` is not a finite number > 0.
    """
    _check_param("a", a, allowed="a > 0 (Beta-CDF shape parameter)")
    _check_param("b", b, allowed="b > 0 (Beta-CDF shape parameter)")
    dtype = jnp.result_type(a, b, float)
    return Optimal(BetaCDF(jnp.asarray(a, dtype), jnp.asarray(b, dtype)))

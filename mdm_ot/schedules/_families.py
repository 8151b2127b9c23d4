r"""Mask schedules :math:`\alpha(t)` and interpolation schedules :math:`\gamma(t)` as pytrees.

Time runs from ``t = 0`` (every token masked) to ``t = 1`` (data), the paper's convention;
:math:`\alpha(t)` is the probability that a token is unmasked at time ``t``.

Every schedule is a frozen dataclass registered as a pytree: its numeric parameters
(``p``, ``a``, ``b``, ...) are array leaves, so a batch of schedules is one schedule whose
leaves carry a batch axis, and ``jax.vmap`` / ``jax.grad`` work over them. A schedule is
called on an array of times and is elementwise.

Precision at both ends. Energies integrate singular integrands right up to ``t = 0`` and
``t = 1``. Near ``t = 1`` the float ``t`` rounds to 1, so every schedule also evaluates
from the pair ``(t, tc)`` with ``tc = 1 - t`` supplied separately, and returns the pair
``(alpha, 1 - alpha)``, each accurate where it is small (:meth:`MaskSchedule.pair`).
Derivatives come from autodiff of these pairs (:func:`alpha_and_rate`,
:func:`theta_and_rate`, :func:`gamma_and_rate`).

References:
  MATH.md section 2; the paper's Condition 3.4 (energy-optimal family) and section 4
  (Beta-CDF interpolation schedules), Proposition 3.7.
"""

from __future__ import annotations

import abc
import math
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from mdm_ot.schedules import _betainc
from mdm_ot._pytree import frozen_pytree as _pytree

__all__ = [
    "MaskSchedule",
    "InterpSchedule",
    "Linear",
    "Sine",
    "Sine2",
    "Poly",
    "Cosine",
    "LogLinear",
    "Optimal",
    "Identity",
    "BetaCDF",
    "beta_schedule",
    "parse_alpha",
    "parse_gamma",
    "alpha_and_rate",
    "theta_and_rate",
    "gamma_and_rate",
    "PAPER_BASELINES",
]

_HALF_PI = 0.5 * math.pi


def _as_float(x: ArrayLike, *others: Any) -> jax.Array:
    dtype = jnp.result_type(x, *[o for o in others if o is not None], float)
    return jnp.asarray(x, dtype)


def _tc_of(t: jax.Array, tc: ArrayLike | None) -> jax.Array:
    return 1.0 - t if tc is None else jnp.asarray(tc, t.dtype)


def _check_param(name: str, value: Any, *, positive: bool = True, allowed: str) -> None:
    """Validate a concrete parameter at the boundary (tracers pass through unchecked)."""
    if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(value)):
        return
    import numpy as np

    arr = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a finite number, got {value!r}; allowed: {allowed}")
    if positive and not np.all(arr > 0):
        raise ValueError(f"{name} must be > 0, got {value!r}; allowed: {allowed}")


# --------------------------------------------------------------------------------------
# Interpolation schedules gamma
# --------------------------------------------------------------------------------------


class InterpSchedule(abc.ABC):
    r"""An interpolation (weighting) schedule :math:`\gamma: [0,1] \to [0,1]`, increasing,
    :math:`\gamma(0) = 0`, :math:`\gamma(1) = 1`."""

    @abc.abstractmethod
    def pair(self, t: ArrayLike, tc: ArrayLike | None = None) -> tuple[jax.Array, jax.Array]:
        r"""Return :math:`(\gamma(t), 1 - \gamma(t))` given ``t`` and ``tc = 1 - t``."""

    @abc.abstractmethod
    def inverse(self, g: ArrayLike) -> jax.Array:
        r"""Return ``t`` with :math:`\gamma(t) = g`."""

    @property
    @abc.abstractmethod
    def spec(self) -> str:
        """The spec string that :func:`parse_gamma` turns back into this schedule."""

    def __call__(self, t: ArrayLike) -> jax.Array:
        return self.pair(t)[0]

    def log_rate(self, t: ArrayLike, tc: ArrayLike | None = None) -> jax.Array:
        r""":math:`\log \gamma'(t)`, by autodiff unless a family knows it in log form.

        The log form matters where :math:`\gamma'` underflows near an end while the
        energy integrand :math:`\theta'^2/\gamma'` stays finite (a 0/0 otherwise).
        """
        return jnp.log(gamma_and_rate(self, t, tc)[2])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"


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

    @property
    def spec(self) -> str:
        return "t"


@_pytree(data=("a", "b"))
class BetaCDF(InterpSchedule):
    r""":math:`\gamma(t) = I_t(a, b)`, the CDF of Beta(a, b); a, b > 0.

    Differentiable in ``t``, ``a`` and ``b`` (``jax.scipy.special.betainc`` is not
    differentiable in a, b; see :mod:`mdm_ot.schedules._betainc`).

    References:
      The paper's section 4; Proposition 3.7: :math:`I_t(1/2, 1/2) = (2/\pi)\arcsin\sqrt t`.
    """

    a: jax.Array
    b: jax.Array

    def pair(self, t, tc=None):
        t = _as_float(t, self.a, self.b)
        return _betainc.betainc_pair(self.a, self.b, t, _tc_of(t, tc))

    def inverse(self, g):
        return _betainc.betaincinv(self.a, self.b, _as_float(g, self.a, self.b))

    def log_rate(self, t, tc=None):
        # The log of the Beta density: the same function the CDF's custom JVP uses for
        # its t-derivative, kept in log form so it does not underflow at the ends.
        t = _as_float(t, self.a, self.b)
        return _betainc.log_density(self.a, self.b, t, _tc_of(t, tc))

    @property
    def spec(self) -> str:
        return f"beta:{_fmt(self.a)},{_fmt(self.b)}"


def _fmt(x) -> str:
    try:
        return f"{float(x):g}"
    except (TypeError, jax.errors.ConcretizationTypeError):
        return "<traced>"


# --------------------------------------------------------------------------------------
# Mask schedules alpha
# --------------------------------------------------------------------------------------


class MaskSchedule(abc.ABC):
    r"""A mask schedule :math:`\alpha: [0,1] \to [0,1]`, increasing; :math:`\alpha(t)` is the
    probability that a token is unmasked at time ``t`` (``t = 0``: all masked)."""

    @abc.abstractmethod
    def pair(self, t: ArrayLike, tc: ArrayLike | None = None) -> tuple[jax.Array, jax.Array]:
        r"""Return :math:`(\alpha(t), 1 - \alpha(t))` given ``t`` and ``tc = 1 - t``.

        Both outputs are accurate where they are small, when ``tc`` is supplied accurately.
        """

    @abc.abstractmethod
    def inverse(self, alpha: ArrayLike) -> jax.Array:
        r"""Return ``t`` with :math:`\alpha(t) =` ``alpha`` (the schedule is increasing)."""

    @property
    @abc.abstractmethod
    def spec(self) -> str:
        """The spec string that :func:`parse_alpha` turns back into this schedule."""

    def __call__(self, t: ArrayLike) -> jax.Array:
        return self.pair(t)[0]

    def theta(self, t: ArrayLike, tc: ArrayLike | None = None) -> jax.Array:
        r""":math:`\theta(t) = \arcsin\sqrt{\alpha(t)}`, the angle on the unit sphere.

        Computed as :math:`\operatorname{atan2}(\sqrt\alpha, \sqrt{1-\alpha})`, accurate at
        both ends.

        References:
          MATH.md section 3 (proof of Lemma 3.5): :math:`e = 4\int \theta'^2/\gamma'\,dt`.
        """
        al, om = self.pair(t, tc)
        return jnp.arctan2(jnp.sqrt(al), jnp.sqrt(om))

    def log_theta_rate(self, t: ArrayLike, tc: ArrayLike | None = None) -> jax.Array:
        r""":math:`\log \theta'(t)`, by autodiff unless a family knows it in log form."""
        return jnp.log(theta_and_rate(self, t, tc)[1])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"


@_pytree
class Linear(MaskSchedule):
    r""":math:`\alpha(t) = t`."""

    def pair(self, t, tc=None):
        t = _as_float(t)
        return t, _tc_of(t, tc)

    def inverse(self, alpha):
        return _as_float(alpha)

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

    References:
      The paper's Condition 3.4 and Theorem 3.6.
    """

    gamma: InterpSchedule

    def pair(self, t, tc=None):
        g, gc = self.gamma.pair(t, tc)
        return jnp.sin(_HALF_PI * g) ** 2, jnp.sin(_HALF_PI * gc) ** 2

    def theta(self, t, tc=None):
        return _HALF_PI * self.gamma.pair(t, tc)[0]

    def log_theta_rate(self, t, tc=None):
        return math.log(_HALF_PI) + self.gamma.log_rate(t, tc)

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


# --------------------------------------------------------------------------------------
# Derivatives (autodiff of the pair maps, in the direction (dt, dtc) = (1, -1))
# --------------------------------------------------------------------------------------


def _jvp_pair(fn, t, tc):
    t = jnp.asarray(t)
    tc = 1.0 - t if tc is None else jnp.asarray(tc, t.dtype)
    return jax.jvp(fn, (t, tc), (jnp.ones_like(t), -jnp.ones_like(tc)))


def alpha_and_rate(
    schedule: MaskSchedule, t: ArrayLike, tc: ArrayLike | None = None
) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""Return :math:`(\alpha(t), 1 - \alpha(t), \alpha'(t))`, elementwise, by autodiff.

    :math:`\alpha'` is differentiated from whichever of :math:`\alpha`, :math:`1-\alpha`
    is smaller, the one computed with relative precision (near ``t = 1`` the derivative of
    the rounded :math:`\alpha` branch has only absolute accuracy).
    """
    (al, om), (dal, dom) = _jvp_pair(schedule.pair, _as_float(t), tc)
    return al, om, jnp.where(al <= om, dal, -dom)


def theta_and_rate(
    schedule: MaskSchedule, t: ArrayLike, tc: ArrayLike | None = None
) -> tuple[jax.Array, jax.Array]:
    r"""Return :math:`(\theta(t), \theta'(t))` with :math:`\theta = \arcsin\sqrt\alpha`."""
    return _jvp_pair(schedule.theta, _as_float(t), tc)


def gamma_and_rate(
    gamma: InterpSchedule, t: ArrayLike, tc: ArrayLike | None = None
) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""Return :math:`(\gamma(t), 1 - \gamma(t), \gamma'(t))`, elementwise, by autodiff."""
    (g, gc), (dg, _) = _jvp_pair(gamma.pair, _as_float(t), tc)
    return g, gc, dg


# --------------------------------------------------------------------------------------
# Spec grammar (the one parser, for the command line and configs)
# --------------------------------------------------------------------------------------

ALPHA_SPECS = "linear, sin, sin2, poly:P, cosine, loglinear[:EPS], beta:A,B (P, A, B > 0; 0 <= EPS < 1)"
GAMMA_SPECS = "t, beta:A,B (A, B > 0)"

def _num(text: str, name: str, spec: str, allowed: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} in {spec!r} is not a number; allowed: {allowed}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} in {spec!r} must be finite, got {text}; allowed: {allowed}")
    return value


def _parse_beta(spec: str, body: str, allowed: str) -> tuple[float, float]:
    parts = body.split(",")
    if len(parts) != 2:
        raise ValueError(f"bad spec {spec!r}: beta needs two numbers 'beta:A,B'; allowed: {allowed}")
    a = _num(parts[0].strip(), "A", spec, allowed)
    b = _num(parts[1].strip(), "B", spec, allowed)
    if a <= 0 or b <= 0:
        raise ValueError(f"bad spec {spec!r}: A and B must be > 0; allowed: {allowed}")
    return a, b


def parse_alpha(spec: str) -> MaskSchedule:
    """Parse a mask-schedule spec: ``linear``, ``sin``, ``sin2``, ``poly:P``, ``cosine``,
    ``loglinear`` (or ``loglinear:EPS``), ``beta:A,B``.

    Raises:
      ValueError: naming what was wrong and what is allowed.
    """
    if not isinstance(spec, str):
        raise ValueError(f"schedule spec must be a string, got {type(spec).__name__}")
    s = spec.strip().lower()
    simple = {"linear": Linear, "sin": Sine, "sin2": Sine2, "cosine": Cosine}
    if s in simple:
        return simple[s]()
    name, _, body = s.partition(":")
    if name == "poly" and body:
        p = _num(body, "P", spec, ALPHA_SPECS)
        if p <= 0:
            raise ValueError(f"bad spec {spec!r}: P must be > 0; allowed: {ALPHA_SPECS}")
        return Poly(jnp.asarray(p, jnp.result_type(float)))
    if name == "loglinear":
        eps = _num(body, "EPS", spec, ALPHA_SPECS) if body else 1e-3
        if not 0 <= eps < 1:
            raise ValueError(f"bad spec {spec!r}: EPS must be in [0, 1); allowed: {ALPHA_SPECS}")
        return LogLinear(jnp.asarray(eps, jnp.result_type(float)))
    if name == "beta" and body:
        a, b = _parse_beta(spec, body, ALPHA_SPECS)
        return beta_schedule(a, b)
    raise ValueError(f"unknown mask schedule {spec!r}; allowed: {ALPHA_SPECS}")


def parse_gamma(spec: str) -> InterpSchedule:
    """Parse an interpolation-schedule spec: ``t`` or ``beta:A,B``.

    Raises:
      ValueError: naming what was wrong and what is allowed.
    """
    if not isinstance(spec, str):
        raise ValueError(f"schedule spec must be a string, got {type(spec).__name__}")
    s = spec.strip().lower()
    if s in ("t", "identity", "linear"):
        return Identity()
    name, _, body = s.partition(":")
    if name == "beta" and body:
        a, b = _parse_beta(spec, body, GAMMA_SPECS)
        dtype = jnp.result_type(float)
        return BetaCDF(jnp.asarray(a, dtype), jnp.asarray(b, dtype))
    raise ValueError(f"unknown interpolation schedule {spec!r}; allowed: {GAMMA_SPECS}")


#: The hand-made schedules the paper compares against (MATH.md section 5).
PAPER_BASELINES = ("linear", "sin", "sin2", "beta:0.9,0.3", "beta:1,0.2", "beta:0.3,0.9")

r"""The two schedule bases, their derivatives by autodiff, and the package's shared helpers.

A schedule is evaluated from the pair ``(t, tc)`` with ``tc = 1 - t`` supplied separately
and returns a pair ``(value, 1 - value)``, each accurate where it is small; the log forms
(:meth:`MaskSchedule.log_pair`, :meth:`MaskSchedule.log_rate`,
:meth:`InterpSchedule.log_rate`) have defaults that any family may override with a closed
form. Why the ends need this care: docs/schedules.md.

References:
  MATH.md section 2; the paper's Condition 3.4.
"""

from __future__ import annotations

import abc
import math
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from mdm_ot._numerics import safe_log

__all__ = [
    "MaskSchedule",
    "InterpSchedule",
    "alpha_and_rate",
    "theta_and_rate",
    "gamma_and_rate",
]

_HALF_PI = 0.5 * math.pi
_LOG2 = math.log(2.0)
_LOGPI = math.log(math.pi)


def _as_float(x: ArrayLike, *others: Any) -> jax.Array:
    dtype = jnp.result_type(x, *[o for o in others if o is not None], float)
    return jnp.asarray(x, dtype)


def _tc_of(t: jax.Array, tc: ArrayLike | None) -> jax.Array:
    return 1.0 - t if tc is None else jnp.asarray(tc, t.dtype)


_safe_log = safe_log  # shared with this package's modules


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


def _fmt(x) -> str:
    try:
        return f"{float(x):g}"
    except (TypeError, jax.errors.ConcretizationTypeError):
        return "<traced>"


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

    def rate_exponents(self) -> tuple[jax.Array, jax.Array] | None:
        r"""Exponents :math:`(p, q)` with :math:`\gamma'(t) = t^p (1-t)^q h(t)`, :math:`h`
        smooth and positive on :math:`[0, 1]`; ``None`` (the default) where the family does
        not know them.

        A family that knows them lets :func:`mdm_ot.energies.reduced_energy` take its
        Gauss-Jacobi path and decide divergence from the exponents exactly
        (docs/quadrature.md, "Which path a schedule takes").
        """
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"


class MaskSchedule(abc.ABC):
    r"""A mask schedule :math:`\alpha: [0,1] \to [0,1]`, increasing; :math:`\alpha(t)` is the
    probability that a token is unmasked at time ``t`` (``t = 0``: all masked).

    A family implements :meth:`pair`, :meth:`inverse` and :attr:`spec`; :meth:`theta`,
    :meth:`log_theta_rate`, :meth:`log_pair` and :meth:`log_rate` have defaults (from
    ``pair`` by autodiff) that a family overrides where it knows a form accurate at the ends.
    """

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

    def theta_rate_exponents(self) -> tuple[jax.Array, jax.Array] | None:
        r"""Exponents :math:`(p, q)` with :math:`\theta'(t) = t^p (1-t)^q h(t)`, :math:`h`
        smooth and positive on :math:`[0, 1]`; ``None`` (the default) where the family does
        not know them.

        With :meth:`InterpSchedule.rate_exponents` they give the endpoint exponents of the
        energy integrand :math:`4\theta'^2/\gamma'`: :math:`2p - p_\gamma` and
        :math:`2q - q_\gamma` (docs/quadrature.md, "Which path a schedule takes").
        """
        return None

    def log_pair(self, t: ArrayLike, tc: ArrayLike | None = None) -> tuple[jax.Array, jax.Array]:
        r"""Return :math:`(\log\alpha(t), \log(1 - \alpha(t)))`.

        The default takes the logs of :meth:`pair` (:math:`\log 0 = -\infty` with a zero,
        not NaN, derivative). A family overrides it where :math:`\alpha` or
        :math:`1-\alpha` underflows although its log does not (:math:`\sin^2(\pi t/2)` at
        ``t = 1e-231``): the brute-force energies evaluate there.

        References:
          MATH.md section 3; docs/schedules.md (accuracy at the ends).
        """
        t = _as_float(t)
        al, om = self.pair(t, _tc_of(t, tc))
        return _safe_log(al), _safe_log(om)

    def log_rate(
        self, t: ArrayLike, tc: ArrayLike | None = None, *, logs: tuple[jax.Array, jax.Array] | None = None
    ) -> jax.Array:
        r""":math:`\log\alpha'(t)`, elementwise.

        ``logs``: the caller's ``self.log_pair(t, tc)``, if it has it (not recomputed, so
        gradients through it are summed once).

        The default differentiates :meth:`pair` forward in the direction
        :math:`(dt, d\,tc) = (1, -1)`, taking the smaller of :math:`\alpha`,
        :math:`1-\alpha` (near ``t = 1`` the rounded :math:`\alpha` branch has only
        absolute accuracy), and takes its log directly, which keeps second derivatives in
        the parameters finite at extreme nodes. Where :math:`\alpha'` itself underflows
        but :math:`\log\alpha` does not (:math:`t^2` at ``t = 1e-231``) it uses
        :math:`\log\alpha + \log(\log\alpha)'` from :meth:`log_pair` instead (dropping
        those terms would hide an endpoint divergence from a quadrature's probes), held
        constant under differentiation (it matters only for terms below ``1e-290``, and its
        derivative is NaN-prone where it is not selected). A family overrides it with a
        closed form in logs.

        References:
          MATH.md section 3; docs/schedules.md (accuracy at the ends).
        """
        t = _as_float(t)
        tc = jnp.broadcast_to(_tc_of(t, tc), t.shape)
        la, l1a = self.log_pair(t, tc) if logs is None else logs
        ones = (jnp.ones_like(t), -jnp.ones_like(tc))
        _, (dal, dom) = jax.jvp(self.pair, (t, tc), ones)
        lda = _safe_log(jnp.where(la <= l1a, dal, -dom))
        _, (dla_log, dl1a_log) = jax.jvp(self.log_pair, (t, tc), ones)
        via_logs = jax.lax.stop_gradient(
            jnp.where(la <= l1a, la + _safe_log(dla_log), l1a + _safe_log(-dl1a_log)))
        return jnp.where(jnp.isfinite(lda), lda, via_logs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"


# Derivatives: autodiff of the pair maps, in the direction (dt, dtc) = (1, -1).


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

r"""The schedule spec grammar: the one parser (:func:`parse_alpha`, :func:`parse_gamma`) and
its help text (:data:`ALPHA_SPECS`, :data:`GAMMA_SPECS`), for the command line and configs.

References:
  MATH.md section 5 (the paper's baselines, :data:`PAPER_BASELINES`).
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from mdm_ot.schedules._core import InterpSchedule, MaskSchedule
from mdm_ot.schedules._families import (
    BetaCDF,
    Cosine,
    Identity,
    Linear,
    LogLinear,
    Poly,
    Sine,
    Sine2,
    beta_schedule,
)
from mdm_ot.schedules._tabulated import TabulatedSchedule

__all__ = ["ALPHA_SPECS", "GAMMA_SPECS", "PAPER_BASELINES", "parse_alpha", "parse_gamma"]

ALPHA_SPECS = ("linear, sin, sin2, poly:P, cosine, loglinear[:EPS], beta:A,B, free:A0,...,AK "
               "(P > 0; 1e-300 <= A, B <= 1e6; 0 <= EPS < 1; free: alpha on t_k = k/K, "
               "nondecreasing from 0 to 1)")
GAMMA_SPECS = "t, beta:A,B (1e-300 <= A, B <= 1e6)"

# The range of Beta parameters in which our continued fraction for I_t(A, B) is trustworthy
# (our measurement against scipy.special.betainc on t near the mean +- 8 sd and a uniform
# grid): max |alpha error| 2e-9 at A = B = 1e6, 6e-8 at 1e7, 1e-6 at 1e8, 1e-3 at 1e10, not
# monotone at 1e11, NaN from 1e30 (the prefactor x^A (1-x)^B / B(A, B) loses ~A * eps).
# Below 1e-300 the parameters approach float64's subnormals, where 1/A overflows (NaN at 1e-310).
_BETA_MIN, _BETA_MAX = 1e-300, 1e6


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
    if not (_BETA_MIN <= a <= _BETA_MAX and _BETA_MIN <= b <= _BETA_MAX):
        raise ValueError(f"bad spec {spec!r}: A and B must be in [{_BETA_MIN:g}, {_BETA_MAX:g}] "
                         f"(where the Beta CDF is accurate); allowed: {allowed}")
    return a, b


def parse_alpha(spec: str) -> MaskSchedule:
    """Parse a mask-schedule spec: ``linear``, ``sin``, ``sin2``, ``poly:P``, ``cosine``,
    ``loglinear`` (or ``loglinear:EPS``), ``beta:A,B``, ``free:A0,...,AK`` (alpha on the
    grid t_k = k/K, as :attr:`TabulatedSchedule.spec` prints it: a free-form or model-only
    grid).

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
    if name == "free" and body:
        # What TabulatedSchedule.spec prints (a tuned free-form or model-only grid), read back.
        values = [_num(v, "A_k", spec, ALPHA_SPECS) for v in body.split(",")]
        if len(values) < 2 or values[0] != 0.0 or values[-1] != 1.0 or any(y < x for x, y in zip(values[:-1], values[1:], strict=True)):
            raise ValueError(f"bad spec {spec!r}: the values must be K + 1 >= 2 numbers, nondecreasing from 0 to 1; "
                             f"allowed: {ALPHA_SPECS}")
        return TabulatedSchedule.from_alphas(jnp.asarray(values, jnp.result_type(float)))
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

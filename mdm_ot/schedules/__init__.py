r"""Mask schedules :math:`\alpha(t)` and interpolation schedules :math:`\gamma(t)` as pytrees.

Time runs from ``t = 0`` (every token masked) to ``t = 1`` (data); :math:`\alpha(t)` is
the probability that a token is unmasked. Schedules are frozen pytrees: numeric
parameters are array leaves, so ``jax.vmap`` and ``jax.grad`` work over them. A new family
subclasses :class:`MaskSchedule` (``pair``, ``inverse``, ``spec``); the log forms used at
the ends have defaults it may override (docs/schedules.md).

Example:
  >>> from mdm_ot.schedules import beta_schedule
  >>> alpha = beta_schedule(1.0, 1.0)  # sin^2(pi t / 2)
  >>> round(float(alpha(0.5)), 4)
  0.5

References:
  MATH.md section 2; the paper's Condition 3.4, section 4, Proposition 3.7.
"""

from mdm_ot.schedules._betainc import betainc, betainc_pair, betaincinv
from mdm_ot.schedules._core import (
    InterpSchedule,
    MaskSchedule,
    alpha_and_rate,
    gamma_and_rate,
    theta_and_rate,
)
from mdm_ot.schedules._families import (
    BetaCDF,
    Cosine,
    Identity,
    Linear,
    LogLinear,
    Optimal,
    Poly,
    Sine,
    Sine2,
    beta_schedule,
)
from mdm_ot.schedules._spec import (
    ALPHA_SPECS,
    GAMMA_SPECS,
    PAPER_BASELINES,
    parse_alpha,
    parse_gamma,
)
from mdm_ot.schedules._tabulated import TabulatedSchedule, check_knots

__all__ = [
    "ALPHA_SPECS",
    "GAMMA_SPECS",
    "PAPER_BASELINES",
    "BetaCDF",
    "Cosine",
    "Identity",
    "InterpSchedule",
    "Linear",
    "LogLinear",
    "MaskSchedule",
    "Optimal",
    "Poly",
    "Sine",
    "Sine2",
    "TabulatedSchedule",
    "alpha_and_rate",
    "beta_schedule",
    "betainc",
    "betainc_pair",
    "betaincinv",
    "check_knots",
    "gamma_and_rate",
    "parse_alpha",
    "parse_gamma",
    "theta_and_rate",
]

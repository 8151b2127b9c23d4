r"""Mask schedules :math:`\alpha(t)` and interpolation schedules :math:`\gamma(t)` as pytrees.

Time runs from ``t = 0`` (every token masked) to ``t = 1`` (data); :math:`\alpha(t)` is
the probability that a token is unmasked. Schedules are frozen pytrees: numeric
parameters are array leaves, so ``jax.vmap`` and ``jax.grad`` work over them.

References:
  MATH.md section 2; the paper's Condition 3.4, section 4, Proposition 3.7.
"""

from mdm_ot.schedules._tabulated import FreeFormSchedule, check_knots
from mdm_ot.schedules._families import (
    ALPHA_SPECS,
    GAMMA_SPECS,
    PAPER_BASELINES,
    BetaCDF,
    Cosine,
    Identity,
    InterpSchedule,
    Linear,
    LogLinear,
    MaskSchedule,
    Optimal,
    Poly,
    Sine,
    Sine2,
    alpha_and_rate,
    beta_schedule,
    gamma_and_rate,
    parse_alpha,
    parse_gamma,
    theta_and_rate,
)

__all__ = [
    "ALPHA_SPECS",
    "GAMMA_SPECS",
    "PAPER_BASELINES",
    "BetaCDF",
    "Cosine",
    "FreeFormSchedule",
    "Identity",
    "InterpSchedule",
    "Linear",
    "LogLinear",
    "MaskSchedule",
    "Optimal",
    "Poly",
    "Sine",
    "Sine2",
    "alpha_and_rate",
    "beta_schedule",
    "check_knots",
    "gamma_and_rate",
    "parse_alpha",
    "parse_gamma",
    "theta_and_rate",
]

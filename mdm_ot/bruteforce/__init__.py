r"""Brute force over the :math:`(d+1)^n` states: paths, rates, the three energies, the NELBO.

The independent side of every paper check: sums over the state space, never the
reduced formulas of :mod:`mdm_ot.energies`.

References:
  MATH.md sections 1 and 3; the paper's Definitions 2.1-2.3, Eqs. 2-4, Proposition C.2.
"""

from mdm_ot.bruteforce._paths import (
    StateSpace,
    conditional_kinetic_energy,
    conditional_kinetic_integrand,
    conditional_path,
    conditional_rate,
    entropy,
    exact_denoiser,
    geodesic_energy,
    geodesic_integrand,
    kinetic_energy,
    kinetic_integrand,
    marginal_path,
    marginal_rate,
    nelbo,
    nelbo_integrand,
    state_space,
)

__all__ = [
    "StateSpace",
    "conditional_kinetic_energy",
    "conditional_kinetic_integrand",
    "conditional_path",
    "conditional_rate",
    "entropy",
    "exact_denoiser",
    "geodesic_energy",
    "geodesic_integrand",
    "kinetic_energy",
    "kinetic_integrand",
    "marginal_path",
    "marginal_rate",
    "nelbo",
    "nelbo_integrand",
    "state_space",
]

r"""Brute force over the :math:`(d+1)^n` states: the states, paths, rates, the three energies, the NELBO.

The independent side of every paper check: sums over the state space, never the
reduced formulas of :mod:`mdm_ot.energies`. The enumeration of the states
(:func:`all_states`, :func:`state_index`, :func:`state_space`) is the library's only one;
:mod:`mdm_ot.sampling` uses it too. Accuracy and compilation notes: docs/bruteforce.md.

Example:
  >>> import numpy as np
  >>> from mdm_ot import bruteforce
  >>> from mdm_ot.schedules import Linear
  >>> q = np.full((2, 2), 0.25)
  >>> float(bruteforce.nelbo(Linear(), q).value)  # = H(q) = log 4 (Proposition C.2)
  1.386...

References:
  MATH.md sections 1 and 3; the paper's Definitions 2.1-2.3, Eqs. 2-4, Proposition C.2.
"""

from mdm_ot.bruteforce._nelbo import entropy, exact_denoiser, nelbo, nelbo_integrand
from mdm_ot.bruteforce._paths import (
    conditional_kinetic_energy,
    conditional_kinetic_integrand,
    conditional_path,
    conditional_rate,
    geodesic_energy,
    geodesic_integrand,
    kinetic_energy,
    kinetic_integrand,
    marginal_path,
    marginal_rate,
)
from mdm_ot.bruteforce._states import StateSpace, all_states, state_index, state_space

__all__ = [
    "StateSpace",
    "all_states",
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
    "state_index",
    "state_space",
]

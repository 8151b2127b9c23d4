r"""mdm_ot: schedules of masked diffusion models as energy minimization, in JAX.

Implements arXiv:2509.13866 (Chen et al., NeurIPS 2025). Time runs from ``t = 0`` (all
masked) to ``t = 1`` (data); ``alpha(t)`` is the probability that a token is unmasked.
The core API is re-exported here by name; the packages hold the rest:

- :mod:`mdm_ot.schedules`: mask schedules alpha and interpolation schedules gamma (pytrees);
- :mod:`mdm_ot.quadrature`, :mod:`mdm_ot.energies`: the reduced energy e(alpha, gamma) and
  the constants of the three energies;
- :mod:`mdm_ot.bruteforce`: paths, rates and energies by summing over the state space;
- :mod:`mdm_ot.sampling`: few-step samplers, exact oracles, exact output distributions;
- :mod:`mdm_ot.tuning`: objectives and the search for a schedule (:func:`tune`);
- :mod:`mdm_ot.stats`: Kendall's tau, means and standard errors.

Example:
  >>> import mdm_ot
  >>> alpha = mdm_ot.beta_schedule(0.9, 0.3)
  >>> mdm_ot.reduced_energy(alpha).status  # doctest: +SKIP
"""

from mdm_ot import bruteforce, energies, quadrature, sampling, schedules, stats, tuning
from mdm_ot._pytree import frozen_pytree, register_dataclass
from mdm_ot.bruteforce import conditional_kinetic_energy, geodesic_energy, kinetic_energy, nelbo
from mdm_ot.energies import (
    discrete_geodesic_energy,
    energy_constants,
    energy_summary,
    minimum_reduced_energy,
    reduced_energy,
)
from mdm_ot.quadrature import QuadResult, integrate01
from mdm_ot.sampling import (
    divergences,
    exact_output,
    export_table,
    markov_oracle,
    num_transfer_tokens,
    sample_count,
    sample_stochastic,
    table_oracle,
)
from mdm_ot.schedules import (
    BetaCDF,
    Identity,
    InterpSchedule,
    MaskSchedule,
    Optimal,
    TabulatedSchedule,
    beta_schedule,
    parse_alpha,
    parse_gamma,
)
from mdm_ot.tuning import make_objective, parse_target, tune

__version__ = "0.1.0"

__all__ = [
    "BetaCDF",
    "Identity",
    "InterpSchedule",
    "MaskSchedule",
    "Optimal",
    "QuadResult",
    "TabulatedSchedule",
    "beta_schedule",
    "bruteforce",
    "conditional_kinetic_energy",
    "discrete_geodesic_energy",
    "divergences",
    "energies",
    "energy_constants",
    "energy_summary",
    "exact_output",
    "export_table",
    "frozen_pytree",
    "geodesic_energy",
    "integrate01",
    "kinetic_energy",
    "make_objective",
    "markov_oracle",
    "minimum_reduced_energy",
    "nelbo",
    "num_transfer_tokens",
    "parse_alpha",
    "parse_gamma",
    "parse_target",
    "quadrature",
    "reduced_energy",
    "register_dataclass",
    "sample_count",
    "sample_stochastic",
    "sampling",
    "schedules",
    "stats",
    "table_oracle",
    "tune",
    "tuning",
]

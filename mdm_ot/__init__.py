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
- :mod:`mdm_ot.model_only`: the schedule from a denoiser's own dependence profile, with no
  task evaluation (our construction beyond the paper, docs/model_only.md);
- :mod:`mdm_ot.stats`: Kendall's tau, means and standard errors.

Example:
  >>> import mdm_ot
  >>> alpha = mdm_ot.beta_schedule(0.9, 0.3)
  >>> mdm_ot.reduced_energy(alpha).status  # doctest: +SKIP
"""

from __future__ import annotations

import importlib

# The face, name by name: module -> the names it lends to ``mdm_ot``. Loaded on first use
# (PEP 562 ``__getattr__``), so that ``import mdm_ot.cli`` does not load JAX before the
# command line has installed its signal handlers (a Ctrl-C during JAX's import would
# otherwise end in a traceback; issue 15).
_FACE: dict[str, tuple[str, ...]] = {
    "mdm_ot._pytree": ("frozen_pytree", "register_dataclass"),
    "mdm_ot.bruteforce": ("conditional_kinetic_energy", "geodesic_energy", "kinetic_energy", "nelbo"),
    "mdm_ot.energies": ("discrete_geodesic_energy", "energy_constants", "energy_summary",
                        "minimum_reduced_energy", "reduced_energy", "reduced_integrand_exponents"),
    "mdm_ot.model_only": ("exact_profile", "model_only_grid", "model_only_schedule", "monte_carlo_profile"),
    "mdm_ot.quadrature": ("QuadResult", "integrate01"),
    "mdm_ot.sampling": ("divergences", "exact_output", "export_table", "markov_oracle", "model_calls",
                        "num_transfer_tokens", "sample_count", "sample_stochastic", "sampler_model_calls",
                        "table_oracle"),
    "mdm_ot.schedules": ("BetaCDF", "Identity", "InterpSchedule", "MaskSchedule", "Optimal",
                         "TabulatedSchedule", "beta_schedule", "parse_alpha", "parse_gamma"),
    "mdm_ot.tuning": ("make_objective", "parse_target", "tune"),
}
#: The packages reachable as attributes (``mdm_ot.sampling``) without an explicit import.
_PACKAGES = ("bruteforce", "energies", "model_only", "quadrature", "sampling", "schedules", "stats", "tuning")
_WHERE = {name: module for module, names in _FACE.items() for name in names}

__version__ = "0.1.0"
__all__ = sorted([*_WHERE, *_PACKAGES])


def __getattr__(name: str):
    if name in _PACKAGES:
        value = importlib.import_module(f"mdm_ot.{name}")
    elif name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
    else:
        raise AttributeError(f"module 'mdm_ot' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

r"""The schedule from the model alone (issue 16; our construction, not the paper's): the
dependence profile c(alpha) of a denoiser, exact for explicit targets (Monte Carlo for any
denoiser: :mod:`mdm_ot.model_only._monte_carlo`), and the mask schedule it asks for, with no task
evaluation. The derivation, its assumptions and where it fails: docs/model_only.md.

Example:
  >>> from mdm_ot.model_only import model_only_grid, paper_profile
  >>> [round(float(a), 6) for a in model_only_grid(paper_profile, 2)]
  [0.0, 0.5, 1.0]

References:
  Issue 16; the paper's Eq. 14 and Appendix D.5 (the special case c = 1/(alpha(1 - alpha))).
"""

from mdm_ot.model_only._construct import (
    PER_STEP,
    ModelOnly,
    model_only,
    model_only_grid,
    model_only_schedule,
    paper_profile,
)
from mdm_ot.model_only._core import Profile
from mdm_ot.model_only._exact import (
    DEFAULT_LEVELS,
    chain_rule_coefficients,
    chain_rule_kl,
    chain_rule_step,
    count_step_cost,
    exact_profile,
    pair_dependence,
)
from mdm_ot.model_only._monte_carlo import monte_carlo_profile
from mdm_ot.model_only._plot import plot_profile

__all__ = [
    "DEFAULT_LEVELS",
    "PER_STEP",
    "ModelOnly",
    "Profile",
    "chain_rule_coefficients",
    "chain_rule_kl",
    "chain_rule_step",
    "count_step_cost",
    "exact_profile",
    "model_only",
    "model_only_grid",
    "model_only_schedule",
    "monte_carlo_profile",
    "pair_dependence",
    "paper_profile",
    "plot_profile",
]

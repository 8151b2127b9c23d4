r"""Tuning a mask schedule for a target, a step budget and a sampler: objectives, grid and
two-stage search, gradient descent, plots. The guide is docs/tuning.md.

Example:
  >>> from mdm_ot import tuning
  >>> objective = tuning.make_objective("middle", 3)  # KL(q || p), 3 stochastic steps
  >>> result = tuning.tune(objective, "grid", grid="paper")
  >>> round(result.best.a, 1), round(result.best.b, 1)  # doctest: +SKIP

References:
  The paper's section 4 and Appendix E.1 (the two-stage grid protocol).
"""

from mdm_ot.tuning._api import METHODS, tune, tune_target
from mdm_ot.tuning._core import Best
from mdm_ot.tuning._gradient import GradientResult, tune_beta, tune_free_form
from mdm_ot.tuning._objectives import (
    COUNT_NOT_DIFFERENTIABLE,
    METRICS,
    CallableObjective,
    DiscreteEnergy,
    ExactDivergence,
    Objective,
    ReducedEnergy,
    make_objective,
)
from mdm_ot.tuning._plot import plot_grid
from mdm_ot.tuning._search import (
    GRID_SPECS,
    GridResult,
    TwoStageRecord,
    TwoStageResult,
    grid_neighbours,
    grid_search,
    parse_grid,
    two_stage,
    two_stage_search,
)
from mdm_ot.tuning._targets import (
    LETTERS,
    TARGET_SPECS,
    TOY_LENGTH,
    TOY_TARGETS,
    TOY_VOCAB,
    Target,
    markov_chain,
    parse_target,
    sentence,
    toy_sentences,
    toy_target,
)

__all__ = [
    "COUNT_NOT_DIFFERENTIABLE",
    "GRID_SPECS",
    "LETTERS",
    "METHODS",
    "METRICS",
    "TARGET_SPECS",
    "TOY_LENGTH",
    "TOY_TARGETS",
    "TOY_VOCAB",
    "Best",
    "CallableObjective",
    "DiscreteEnergy",
    "ExactDivergence",
    "GradientResult",
    "GridResult",
    "Objective",
    "ReducedEnergy",
    "Target",
    "TwoStageRecord",
    "TwoStageResult",
    "grid_neighbours",
    "grid_search",
    "make_objective",
    "markov_chain",
    "parse_grid",
    "parse_target",
    "plot_grid",
    "sentence",
    "toy_sentences",
    "toy_target",
    "tune",
    "tune_beta",
    "tune_free_form",
    "tune_target",
    "two_stage",
    "two_stage_search",
]

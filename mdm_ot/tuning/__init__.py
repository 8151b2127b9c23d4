r"""Tuning a mask schedule for a target, a step budget and a sampler: objectives, grid and
two-stage search, gradient descent, plots; black-box studies of any model on Optuna (the
evaluator protocol, :func:`run_study`). The guide is docs/tuning.md.

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
from mdm_ot.tuning._driver import open_storage, parse_worker_env
from mdm_ot.tuning._engine import (
    DEFAULT_BASELINES,
    DEFAULT_STORAGE_FILE,
    SAMPLERS,
    check_study,
    default_storage,
    objective_evaluator,
    run_study,
    study_report,
)
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
from mdm_ot.tuning._protocol import (
    REQUEST_FIELDS,
    STAGES,
    EvaluationError,
    call_evaluator,
    check_command,
    check_request,
    make_request,
    parse_answer,
    run_command_evaluator,
    schedule_spec,
)
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
    "DEFAULT_BASELINES",
    "DEFAULT_STORAGE_FILE",
    "GRID_SPECS",
    "LETTERS",
    "METHODS",
    "METRICS",
    "REQUEST_FIELDS",
    "SAMPLERS",
    "STAGES",
    "TARGET_SPECS",
    "TOY_LENGTH",
    "TOY_TARGETS",
    "TOY_VOCAB",
    "Best",
    "CallableObjective",
    "DiscreteEnergy",
    "EvaluationError",
    "ExactDivergence",
    "GradientResult",
    "GridResult",
    "Objective",
    "ReducedEnergy",
    "Target",
    "TwoStageRecord",
    "TwoStageResult",
    "call_evaluator",
    "check_command",
    "check_request",
    "check_study",
    "default_storage",
    "grid_neighbours",
    "grid_search",
    "make_objective",
    "make_request",
    "markov_chain",
    "objective_evaluator",
    "open_storage",
    "parse_answer",
    "parse_grid",
    "parse_target",
    "parse_worker_env",
    "plot_grid",
    "run_command_evaluator",
    "run_study",
    "schedule_spec",
    "sentence",
    "study_report",
    "toy_sentences",
    "toy_target",
    "tune",
    "tune_beta",
    "tune_free_form",
    "tune_target",
    "two_stage",
    "two_stage_search",
]

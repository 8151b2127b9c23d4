r"""Few-step samplers, exact oracle denoisers, exact output distributions.

Samplers walk a time grid from all masked (``t = 0``) to data (``t = 1``) and reveal
masked positions with tokens from a denoiser; for small targets the exact output
distribution and its divergences to the target are computed by propagation over the
states. Conventions (denoiser protocol, ties, blocks, randomness): docs/sampling.md.

Example:
  >>> import numpy as np
  >>> from mdm_ot import sampling
  >>> from mdm_ot.schedules import Linear
  >>> q = np.full((2, 2), 0.25)
  >>> p = sampling.exact_output_table(q, Linear(), num_steps=2, sampler="count")
  >>> float(sampling.divergences(p, q).tv) < 1e-6
  True

References:
  MATH.md section 4; the paper's section 5 and Appendix E (LLaDA's count sampler).
"""

from mdm_ot.sampling._core import temper
from mdm_ot.sampling._exact import (
    Divergences,
    distribution_statistics,
    divergences,
    exact_output,
    exact_output_table,
    markov_statistics,
)
from mdm_ot.sampling._grid import (
    CONVENTION,
    ModelCalls,
    StochasticModelCalls,
    alpha_on_grid,
    check_grid,
    check_sizes,
    default_export_name,
    default_grid,
    export_table,
    model_calls,
    num_transfer_tokens,
    padded_grid,
    rounding_rule,
    sampler_model_calls,
    stochastic_model_calls,
    transfer_counts,
)
from mdm_ot.sampling._oracles import (
    MarkovOracle,
    TableOracle,
    conditional_table,
    marginal_table,
    markov_conditionals,
    markov_oracle,
    table_oracle,
)
from mdm_ot.sampling._samplers import initial_state, propose_tokens, sample_count, sample_stochastic

__all__ = [
    "CONVENTION",
    "Divergences",
    "MarkovOracle",
    "ModelCalls",
    "StochasticModelCalls",
    "TableOracle",
    "alpha_on_grid",
    "check_grid",
    "check_sizes",
    "conditional_table",
    "default_export_name",
    "default_grid",
    "distribution_statistics",
    "divergences",
    "exact_output",
    "exact_output_table",
    "export_table",
    "initial_state",
    "marginal_table",
    "markov_conditionals",
    "markov_oracle",
    "markov_statistics",
    "model_calls",
    "num_transfer_tokens",
    "padded_grid",
    "propose_tokens",
    "rounding_rule",
    "sample_count",
    "sample_stochastic",
    "sampler_model_calls",
    "stochastic_model_calls",
    "table_oracle",
    "temper",
    "transfer_counts",
]

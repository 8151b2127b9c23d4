r"""Few-step samplers, exact oracle denoisers, exact output distributions.

References:
  MATH.md section 4; the paper's section 5 and Appendix E (LLaDA's count sampler).
"""

from mdm_ot.sampling._core import (
    alpha_on_grid,
    check_grid,
    check_sizes,
    default_grid,
    initial_state,
    num_transfer_tokens,
    padded_grid,
    propose_tokens,
    sample_count,
    sample_stochastic,
    temper,
    transfer_counts,
)
from mdm_ot.sampling._export import default_export_name, export_table
from mdm_ot.sampling._exact import (
    Divergences,
    distribution_statistics,
    divergences,
    exact_output,
    exact_output_table,
    markov_statistics,
)
from mdm_ot.sampling._oracles import (
    MarkovOracle,
    TableOracle,
    all_states,
    conditional_table,
    marginal_table,
    markov_conditionals,
    markov_oracle,
    state_index,
    table_oracle,
)

__all__ = [
    "Divergences",
    "MarkovOracle",
    "TableOracle",
    "all_states",
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
    "num_transfer_tokens",
    "padded_grid",
    "propose_tokens",
    "sample_count",
    "sample_stochastic",
    "state_index",
    "table_oracle",
    "temper",
    "transfer_counts",
]

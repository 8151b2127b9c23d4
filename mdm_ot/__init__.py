"""mdm_ot: schedules of masked diffusion models as energy minimization.

Implements arXiv:2509.13866 (Chen et al., NeurIPS 2025). Time runs from t = 0 (all
masked) to t = 1 (data). See ``../shared/MATH.md`` in the project for the conventions.
"""

__version__ = "0.1.0"

"""A code-line masked diffusion model trained on this interpreter's standard library.

Real-data evidence for the paper's finding that tuned Beta schedules match the linear
schedule with fewer steps on code (arXiv:2509.13866, section 4 and Table 2). Modules:
``data`` (lines, split, vocabulary, fingerprint), ``model`` (a small bidirectional
transformer denoiser in plain JAX), ``train`` (the MDM NELBO, Proposition C.2, with optax),
``evaluate`` (few-step generation with the project's samplers and the metrics), ``table``
(the paper's table format). Import the submodules directly; this package imports nothing
heavy.
"""

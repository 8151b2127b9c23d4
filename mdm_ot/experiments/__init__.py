"""Applications built on the core library: the report, the theorem table, the code-line
model and the antibody tables. The core (everything outside ``experiments/`` and ``cli/``)
never imports this package."""

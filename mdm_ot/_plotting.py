"""The one way the library gets matplotlib: imported lazily (plots are optional), on the
non-interactive Agg backend unless the user chose a backend with ``MPLBACKEND``."""

from __future__ import annotations

import os

__all__ = ["pyplot"]


def pyplot():
    """``matplotlib.pyplot``, on Agg unless ``MPLBACKEND`` names another backend."""
    import matplotlib

    if not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt

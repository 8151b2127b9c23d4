"""A plot of a dependence profile against the paper's 1/(alpha(1 - alpha)) (issue 16)."""

from __future__ import annotations

import numpy as np

from mdm_ot.model_only._core import Profile

__all__ = ["plot_profile"]


def plot_profile(profile: Profile, path: str | None = None, *, title: str | None = None):
    r"""c(alpha) of ``profile`` (with its standard error band when Monte Carlo) against the
    paper's :math:`1/(\alpha(1-\alpha))`, scaled to the same :math:`\int\sqrt c` so that the
    shapes compare; log scale. Saved as PNG when ``path`` is given.

    Returns:
      The matplotlib figure.
    """
    from mdm_ot._plotting import pyplot

    if path is not None and not str(path).lower().endswith(".png"):
        raise ValueError(f"the plot must be a .png file, got {path!r}")
    plt = pyplot()
    lv = np.asarray(profile.levels, float)
    inner = (lv > 0) & (lv < 1)
    c = profile.c
    fig, ax = plt.subplots(figsize=(6, 4))
    fine = np.linspace(1e-3, 1 - 1e-3, 999)
    cf = profile.c_at(fine) if profile.coefficients is not None else np.interp(fine, lv[inner], c[inner])
    ax.plot(fine if profile.coefficients is not None else lv[inner], cf if profile.coefficients is not None
            else c[inner], label=f"c(alpha), {profile.method} ({profile.sampler})")
    if profile.stderr is not None:
        se = np.asarray(profile.stderr, float)[inner] / (1 - lv[inner]) ** 2
        ax.fill_between(lv[inner], np.maximum(c[inner] - 2 * se, 1e-300), c[inner] + 2 * se, alpha=0.3,
                        label="+- 2 standard errors")
    # the paper's profile with the same total sqrt-length (int sqrt(c) = pi for it)
    length = float(np.trapezoid(np.sqrt(np.maximum(cf, 0)), fine))
    scale = (length / np.pi) ** 2 if length > 0 else 1.0
    ax.plot(fine, scale / (fine * (1 - fine)), "--", label=f"{scale:.3g} / (alpha (1 - alpha)) (the paper's shape)")
    ax.set_yscale("log")
    ax.set_xlabel("alpha (fraction unmasked)")
    ax.set_ylabel("c(alpha), nats")
    ax.set_title(title or f"dependence profile (n = {profile.length})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        from mdm_ot._io import atomic_file

        with atomic_file(str(path), "wb") as fh:
            fig.savefig(fh, format="png", dpi=120)
    return fig

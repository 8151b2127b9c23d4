r"""Heatmaps of a grid or two-stage search over ``(a, b)``, with a gradient trajectory.

Example:
  >>> from mdm_ot.tuning import grid_search, make_objective, parse_grid, plot_grid
  >>> fig = plot_grid(grid_search(make_objective("modes", 3), *parse_grid("0.5:1:2,0.5:1:2")))

References:
  The paper's section 4 (Beta family) and Appendix E.1 (grid).
"""

from __future__ import annotations

import numpy as np

from mdm_ot.tuning._gradient import GradientResult
from mdm_ot.tuning._search import GridResult, TwoStageResult

__all__ = ["plot_grid"]


def plot_grid(result: GridResult | TwoStageResult, path: str | None = None, *, ax=None, title: str | None = None,
              trajectory: GradientResult | None = None, log: bool | None = None):
    """Heatmap of the objective over ``(a, b)`` with the best point marked (red star).

    Non-finite values (divergent energies, infinite KL) are grey. A two-stage result shows
    the exact values where known, its shortlist (circles) and the exact optimum (white
    star); a gradient trajectory in the Beta family is drawn over the map if given. The
    colour scale is logarithmic when the finite values are positive and span a factor
    between 20 and 1e8 (``log`` forces it either way). Saves a PNG to ``path`` if given.

    Returns:
      The matplotlib figure.
    """
    import matplotlib

    from mdm_ot._plotting import pyplot

    plt = pyplot()
    from matplotlib.colors import LogNorm, Normalize

    vals = np.asarray(result.values, float)
    finite = np.isfinite(vals)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.8, 4.8))
    else:
        fig = ax.figure
    a, b = np.asarray(result.a), np.asarray(result.b)
    maximize = bool(result.settings.get("maximize"))
    if log is None:
        pos = vals[finite]
        # not when the minimum is at rounding level (an exact zero computed in floating point)
        log = bool(pos.size and np.all(pos > 0) and 20 < pos.max() / pos.min() < 1e8)
    if finite.any():
        lo, hi = float(vals[finite].min()), float(vals[finite].max())
        norm = LogNorm(lo, hi) if log and lo > 0 else Normalize(lo, hi if hi > lo else lo + 1)
    else:
        norm = Normalize(0, 1)
    # bright = better, whichever the direction
    cmap = matplotlib.colormaps["viridis" if maximize else "viridis_r"].with_extremes(bad="0.75")
    ea, eb = _edges(a), _edges(b)
    mesh = ax.pcolormesh(ea, eb, np.ma.masked_invalid(vals.T), cmap=cmap, norm=norm, shading="flat")
    label = result.settings.get("label", result.settings.get("objective", "objective"))
    fig.colorbar(mesh, ax=ax, label=f"{label} ({'higher' if maximize else 'lower'} is better)")
    if isinstance(result, TwoStageResult):
        sa = [a[i] for i, _ in result.shortlist]
        sb = [b[j] for _, j in result.shortlist]
        ax.plot(sa, sb, "o", mfc="none", mec="k", ms=9, label=f"shortlist (top {len(sa)} on the coarse subset)")
        if result.best_full is not None:
            ax.plot(result.best_full.a, result.best_full.b, marker="*", color="white", ms=12, ls="none", mec="k",
                    label=f"exact optimum ({result.best_full.a:g}, {result.best_full.b:g})")
    if trajectory is not None and trajectory.family == "beta":
        ax.plot(trajectory.params[:, 0], trajectory.params[:, 1], ".-", color="k", lw=0.8, ms=2,
                label=f"gradient ({trajectory.num_evaluations} evaluations)")
        ga, gb = trajectory.best_params
        ax.plot(ga, gb, marker="*", color="orange", ms=13, ls="none", mec="k", label=f"gradient best ({ga:.2f}, {gb:.2f})")
    ax.plot(result.best.a, result.best.b, marker="*", color="red", ms=14, ls="none", mec="k",
            label=f"best ({result.best.a:g}, {result.best.b:g})")
    ax.set_xlabel("a")
    ax.set_ylabel("b")
    ax.set_xlim(ea[0], ea[-1])
    ax.set_ylim(eb[0], eb[-1])
    ax.legend(loc="best", fontsize=7, framealpha=0.8)
    ax.set_title(result.settings.get("objective", "") if title is None else title, fontsize=8)
    if path is not None:
        fig.tight_layout()
        fig.savefig(path, dpi=120)
    return fig


def _edges(v: np.ndarray) -> np.ndarray:
    if v.size == 1:
        return np.array([v[0] * 0.9, v[0] * 1.1])
    mid = 0.5 * (v[1:] + v[:-1])
    return np.concatenate([[max(v[0] - (mid[0] - v[0]), 0.0)], mid, [v[-1] + (v[-1] - mid[-1])]])

# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Schedules and their energies
#
# Masked diffusion schedules as energy minimization (Chen et al., NeurIPS 2025,
# arXiv:2509.13866). Time runs from t = 0 (all masked) to t = 1 (data).
#
# 1. The mask schedules mdm_ot knows, side by side.
# 2. The reduced energy e(alpha, gamma) of the Beta family over (a, b), with gamma = t:
#    finite iff a, b > 1/2, minimum pi^2 at (1, 1) (sin^2), as the paper's Figure 2.
# 3. For several interpolation schedules gamma, the optimum alpha* = sin^2(pi/2 gamma)
#    attains pi^2 and perturbations cost energy.
#
# Set `MDM_OT_SMALL=1` for a fast run (coarser grids); figures go to `$MDM_OT_OUT`
# (default: a temporary folder).

# %%
import math
import os
import tempfile

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

from mdm_ot.energies import reduced_energy  # noqa: E402
from mdm_ot.schedules import BetaCDF, Identity, Optimal, beta_schedule, parse_alpha  # noqa: E402

SMALL = os.environ.get("MDM_OT_SMALL", "0") == "1"
OUT = os.environ.get("MDM_OT_OUT") or tempfile.mkdtemp(prefix="mdm_ot_nb01_")
os.makedirs(OUT, exist_ok=True)
print("figures go to", OUT)

# %% [markdown]
# ## 1. Mask schedules

# %%
t = jnp.linspace(0.0, 1.0, 201)
specs = ["linear", "sin", "sin2", "cosine", "poly:2", "beta:0.9,0.3", "beta:1,0.2", "beta:0.3,0.9"]
fig, ax = plt.subplots(figsize=(6, 4))
for s in specs:
    ax.plot(t, parse_alpha(s)(t), label=s)
ax.set_xlabel("t (0 = all masked, 1 = data)")
ax.set_ylabel(r"$\alpha(t)$ = P(token unmasked)")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(OUT, "schedules.png"), dpi=120)

# %% [markdown]
# ## 2. Energy landscape of the Beta family (gamma = t)
#
# e(a, b) = pi^2 B(2a-1, 2b-1) / B(a, b)^2 for a, b > 1/2 and +inf otherwise. The
# quadrature says so by itself: divergent points come back as +inf.

# %%
n_side = 16 if SMALL else 60
grid = np.linspace(0.1, 3.0, n_side)
A, B = np.meshgrid(grid, grid, indexing="ij")
energy_of = jax.jit(jax.vmap(lambda a, b: reduced_energy(beta_schedule(a, b)).value))
E = np.asarray(energy_of(jnp.asarray(A.ravel()), jnp.asarray(B.ravel()))).reshape(A.shape)
finite = np.isfinite(E)
print(f"{finite.sum()} of {E.size} grid points finite; min e = {np.nanmin(np.where(finite, E, np.nan)):.6f}"
      f" (pi^2 = {math.pi**2:.6f})")
fig, ax = plt.subplots(figsize=(5.5, 4.5))
im = ax.pcolormesh(grid, grid, np.log10(np.where(finite, E, np.nan)).T, shading="auto", cmap="viridis")
fig.colorbar(im, ax=ax, label=r"$\log_{10} e(\alpha_{a,b}, t)$ (blank: $+\infty$)")
ax.plot([1.0], [1.0], "r*", ms=12, label=r"minimum $\pi^2$: Beta(1,1) = sin$^2$")
ax.axvline(0.5, color="gray", lw=0.8, ls="--")
ax.axhline(0.5, color="gray", lw=0.8, ls="--")
ax.set_xlabel("a")
ax.set_ylabel("b")
ax.legend(loc="upper right", fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(OUT, "energy_landscape.png"), dpi=120)

# %% [markdown]
# ## 3. The optimum for several gamma
#
# For each gamma, alpha* = sin^2(pi/2 gamma) gives e = pi^2 exactly; a perturbation
# alpha = sin^2(pi/2 u(gamma)) with u(g) = g + eps sin(pi g)/pi costs pi^2 eps^2 / 2.

# %%
gammas = {"t": Identity(), "beta:0.5,0.5": BetaCDF(0.5, 0.5), "beta:2,3": BetaCDF(2.0, 3.0),
          "beta:0.7,1.5": BetaCDF(0.7, 1.5)}
for name, g in gammas.items():
    e_opt = float(reduced_energy(Optimal(g), g).value)
    print(f"gamma = {name:<14} e(alpha*, gamma) = {e_opt:.12f}   pi^2 = {math.pi**2:.12f}")
    assert abs(e_opt - math.pi**2) < 1e-9 * math.pi**2

fig, ax = plt.subplots(figsize=(6, 4))
for name, g in gammas.items():
    ax.plot(t, Optimal(g)(t), label=rf"$\alpha^*$ for $\gamma$ = {name}")
ax.set_xlabel("t")
ax.set_ylabel(r"$\alpha^*(t) = \sin^2(\frac{\pi}{2}\gamma(t))$")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(OUT, "optimal_schedules.png"), dpi=120)
print("saved", sorted(os.listdir(OUT)))

# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Tuning the schedule after training
#
# Masked diffusion schedules as energy minimization (Chen et al., NeurIPS 2025,
# arXiv:2509.13866). Training does not depend on the mask schedule (Proposition C.2), so
# the schedule of a trained model can be tuned for the number of sampling steps K one can
# afford. Here the model is exact (the oracle denoiser of a known target), so the output
# distribution of the K-step sampler is exact and so is the objective:
# KL(q || p), data to model.
#
# 1. The objective over the Beta family (a, b) on the paper's toy (Figure 4), stochastic
#    and count (LLaDA) samplers.
# 2. Gradient tuning in the Beta family and in the free-form family (any increasing
#    schedule on the K-step grid): how far is the best Beta schedule from the best of
#    any shape?
# 3. A Markov-chain target and the paper's two-stage protocol: rank agreement between a
#    small sample and the exact values (Kendall's tau, as the paper's Table 1).
#
# Set `MDM_OT_SMALL=1` for a fast run (fewer step budgets and iterations); figures go to
# `$MDM_OT_OUT` (default: a temporary folder).

# %%
import os
import tempfile

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

from mdm_ot import tuning as T  # noqa: E402
from mdm_ot.sampling import padded_grid  # noqa: E402
from mdm_ot.tuning import toy_target  # noqa: E402

SMALL = os.environ.get("MDM_OT_SMALL", "0") == "1"
OUT = os.environ.get("MDM_OT_OUT") or tempfile.mkdtemp(prefix="mdm_ot_nb03_")
os.makedirs(OUT, exist_ok=True)
print("figures go to", OUT)

K_MAX = 3 if SMALL else 8
STEPS = [3] if SMALL else list(range(2, 9))
FREE_STEPS = [3] if SMALL else STEPS
ITERS = 60 if SMALL else 150
CHUNK = 128  # every grid in one compiled batch shape


def toy_objective(name: str, k: int, **kw) -> T.ExactDivergence:
    """KL(q || p) at k steps, on the K_MAX-step grid padded with 1's: one compilation serves every k."""
    return T.ExactDivergence.create(jnp.asarray(toy_target(name)), K_MAX, grid=padded_grid(k, K_MAX), **kw)


a_paper, b_paper = T.parse_grid("paper")

# %% [markdown]
# ## 1. The objective over (a, b) at K = 3
#
# Stochastic steps (each masked token revealed independently) and count steps (LLaDA:
# exactly c_k tokens, random positions). The best schedule depends on the target, as the
# paper's Figure 4 says. The count sampler's objective is piecewise constant in (a, b):
# only the rounded token counts matter, so it is tuned by grid search only. (At K = 3 the
# right counts make it exact on both toys: 1 then 4 tokens for 'modes', 3, 1, 1 for
# 'middle'.)

# %%
fig, axes = plt.subplots(2, 2, figsize=(11, 9))
grids = {}
for row, sampler in enumerate(["stochastic", "count"]):
    for col, name in enumerate(["modes", "middle"]):
        obj = toy_objective(name, 3, sampler=sampler)
        res = T.grid_search(obj, a_paper, b_paper, chunk_size=CHUNK)
        grids[(sampler, name)] = res
        T.plot_grid(res, ax=axes[row, col], title=f"{name}, K = 3, {sampler} steps")
        print(f"{name:6s} {sampler:10s} best Beta({res.best.a:g}, {res.best.b:g}) KL = {res.best.value:.4f}"
              f"   linear (0.5, 0.5): {res.values[4, 4]:.4f}")
fig.tight_layout()
fig.savefig(os.path.join(OUT, "toy_heatmaps.png"), dpi=110)

# %% [markdown]
# ## 2. Gradient tuning: Beta family and free form
#
# Adam over (log a, log b) from the linear schedule, and over the K free logits of the
# increments of alpha on the grid (softmax: alpha_0 = 0, alpha_K = 1, increasing). The
# free-form family contains every schedule's effect on the grid, so its optimum bounds
# every family from below. (Gradients run on the unpadded K-step grid: one compilation
# per K.)

# %%
rows = []
runs = {}
for name in ["modes", "middle"]:
    for k in STEPS:
        obj = toy_objective(name, k)
        grid_res = T.grid_search(obj, a_paper, b_paper, chunk_size=CHUNK)
        beta = T.tune_beta(obj, steps=ITERS)
        free = T.tune_free_form(obj, steps=2 * ITERS) if k in FREE_STEPS else None
        runs[(name, k)] = (grid_res, beta, free)
        rows.append((name, k, grid_res.values[4, 4], grid_res.best.value, beta.best_value,
                     free.best_value if free else np.nan, beta.evaluations_to_reach(grid_res.best.value)))

print(f"{'target':7s} {'K':>2s} {'linear':>9s} {'Beta grid':>10s} {'Beta grad':>10s} {'free form':>10s}"
      f" {'Beta-free':>10s} {'evals':>6s}")
for name, k, lin, g, b, f, n in rows:
    print(f"{name:7s} {k:2d} {lin:9.5f} {g:10.5f} {b:10.5f} {f:10.5f} {b - f:10.2e} {str(n):>6s}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for ax, name in zip(axes, ["modes", "middle"], strict=True):
    sel = [r for r in rows if r[0] == name]
    ks = [r[1] for r in sel]
    ax.plot(ks, [r[2] for r in sel], "o-", label="linear")
    ax.plot(ks, [r[3] for r in sel], "s-", label="best Beta on the paper grid")
    ax.plot(ks, [r[4] for r in sel], "^-", label="Beta, gradient-tuned")
    fk = [r for r in sel if np.isfinite(r[5])]
    ax.plot([r[1] for r in fk], [r[5] for r in fk], "k*", ms=10, label="free form (any schedule)")
    ax.set_yscale("log")
    ax.set_xlabel("sampling steps K")
    ax.set_ylabel("KL(q || p)")
    ax.set_title(f"target {name}")
    ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(OUT, "beta_vs_free_form.png"), dpi=110)

# %% [markdown]
# The schedules themselves at the largest K with a free-form run: the tuned Beta curve
# alpha(t) and the free-form alpha on the grid.

# %%
k_show = FREE_STEPS[-1]
t = jnp.linspace(0, 1, 201)
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for ax, name in zip(axes, ["modes", "middle"], strict=True):
    grid_res, beta, free = runs[(name, k_show)]
    ax.plot(t, t, color="0.6", lw=1, label="linear")
    ax.plot(t, beta.schedule()(t), label=f"Beta({beta.best_params[0]:.2f}, {beta.best_params[1]:.2f}) tuned")
    knots = np.asarray(free.settings["time_grid"])
    ax.plot(knots, free.best_params, "ko--", label="free form on the grid")
    ax.set_xlabel("t (0 = all masked)")
    ax.set_ylabel("alpha(t)")
    ax.set_title(f"{name}, K = {k_show}")
    ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(OUT, "tuned_schedules.png"), dpi=110)

# %% [markdown]
# ## 3. A Markov-chain target and the two-stage protocol
#
# A random chain (`markov:n=N,d=3,seed=0`); the coarse pass scores every grid point on a
# small sample of sampler outputs, the shortlist gets a larger sample, and Kendall's tau
# compares the sample rankings with the exact ones.

# %%
spec = "markov:n=4,d=3,seed=0" if SMALL else "markov:n=6,d=3,seed=0"
chain = T.make_objective(spec, 4)
full = T.grid_search(chain, a_paper, b_paper, chunk_size=CHUNK)
print(f"{spec}, K = 4: best Beta({full.best.a:g}, {full.best.b:g}) KL = {full.best.value:.5f},"
      f" linear {full.values[4, 4]:.5f}")
sizes = [16, 64, 256] if SMALL else [16, 64, 256, 1024, 4096]
print("coarse size   Kendall tau (coarse vs exact, 100 points)   chosen (a, b)   exact KL there")
for size in sizes:
    ts = T.two_stage(chain, a_paper, b_paper, coarse_size=size, fine_size=16 * size, top_k=10, seed=0,
                     chunk_size=CHUNK)
    print(f"{size:11d}   {ts.tau_coarse:42.3f}   ({ts.best.a:g}, {ts.best.b:g})        {ts.best.value:.5f}")
fig = T.plot_grid(ts, os.path.join(OUT, "markov_two_stage.png"), title=f"{spec}, K = 4, two-stage (coarse {sizes[-1]})")
plt.close(fig)
print("saved", sorted(os.listdir(OUT)))

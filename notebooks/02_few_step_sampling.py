# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Few-step sampling: which schedule, for which target?
#
# Masked diffusion schedules as energy minimization (Chen et al., NeurIPS 2025,
# arXiv:2509.13866), section 5 and Figure 4. Time runs from t = 0 (all masked) to t = 1
# (data). With an exact denoiser, every error of a K-step sampler comes from revealing
# several tokens in one step independently; the mask schedule decides how many.
#
# 1. The paper's toy (n = 5 tokens over {a, b}, 3 steps): the exact output distribution of
#    the stochastic and count samplers next to the target and a histogram of samples.
# 2. KL(q || p) against the number of steps, for several schedules and both targets.
# 3. KL over the paper's Beta grid (a, b): the best schedule depends on the target.
# 4. A Markov-chain target of realistic length: Monte-Carlo log-likelihood with intervals.
#
# Set `MDM_OT_SMALL=1` for a fast run; figures go to `$MDM_OT_OUT` (default: a temporary
# folder).

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

from mdm_ot.sampling import divergences, exact_output, markov_statistics  # noqa: E402
from mdm_ot.sampling import markov_oracle, table_oracle  # noqa: E402
from mdm_ot.sampling import initial_state, num_transfer_tokens, sample_count  # noqa: E402
from mdm_ot.schedules import beta_schedule, parse_alpha  # noqa: E402
from mdm_ot.tuning import toy_sentences, toy_target  # noqa: E402

SMALL = os.environ.get("MDM_OT_SMALL") == "1"
OUT = os.environ.get("MDM_OT_OUT") or tempfile.mkdtemp(prefix="mdm_ot_02_")
os.makedirs(OUT, exist_ok=True)
NUM_SAMPLES = 2000 if SMALL else 20000
MAX_STEPS = 4 if SMALL else 8
GRID = np.round(np.arange(1, 11) * (0.2 if SMALL else 0.1), 10)
GRID = GRID[GRID <= 1.0]
SPECS = ["linear", "sin2", "beta:0.9,0.3"] if SMALL else ["linear", "sin", "sin2", "beta:0.9,0.3", "beta:1,0.2", "beta:0.3,0.9"]
SAMPLERS = {"stochastic": dict(sampler="stochastic"), "count": dict(sampler="count", order="random")}
print(f"small={SMALL}, figures in {OUT}")

# %% [markdown]
# ## 1. The toy: exact output distributions and samples (K = 3)

# %%
K = 3
sentences = toy_sentences()
fig, axes = plt.subplots(2, 2, figsize=(14, 7), sharey=True)
for row, target in enumerate(("modes", "middle")):
    q = toy_target(target)
    oracle = table_oracle(q)
    for col, (sname, kw) in enumerate(SAMPLERS.items()):
        ax = axes[row, col]
        width = 0.8 / 4
        ax.bar(np.arange(32) - 1.5 * width, q.ravel(), width, label="target q", color="black")
        for j, spec in enumerate(("linear", "sin2", "beta:0.9,0.3")):
            sched = parse_alpha(spec)
            p = np.asarray(exact_output(oracle, sched, length=5, num_steps=K, **kw)).ravel()
            kl = float(divergences(p, q.ravel()).kl_data_to_model)
            ax.bar(np.arange(32) + (j - 0.5) * width, p, width, label=f"{spec} (KL {kl:.3f})", alpha=0.8)
        ax.set_title(f"{target}, {sname} sampler, K = {K}")
        ax.set_xticks(np.arange(32), sentences, rotation=90, fontsize=6)
        ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(os.path.join(OUT, "toy_exact_distributions.png"), dpi=110)

# %% [markdown]
# Samples from the jit-compiled samplers agree with the exact distributions (histogram of
# `NUM_SAMPLES` draws, count sampler, schedule Beta(0.9, 0.3)).

# %%
sched = beta_schedule(0.9, 0.3)
print("tokens per step (count sampler, L = 5):", np.asarray(num_transfer_tokens(sched, 5, K)))
fig, axes = plt.subplots(1, 2, figsize=(14, 3.5), sharey=True)
for ax, target in zip(axes, ("modes", "middle"), strict=True):
    q = toy_target(target)
    oracle = table_oracle(q)
    p = np.asarray(exact_output(oracle, sched, length=5, num_steps=K, sampler="count")).ravel()
    x = np.asarray(sample_count(oracle, sched, jax.random.key(0), initial_state(5, 2, batch=NUM_SAMPLES), num_steps=K))
    freq = np.bincount(x @ (2 ** np.arange(4, -1, -1)), minlength=32) / NUM_SAMPLES
    ax.bar(np.arange(32) - 0.2, p, 0.4, label="exact p")
    ax.bar(np.arange(32) + 0.2, freq, 0.4, label=f"{NUM_SAMPLES} samples")
    ax.set_xticks(np.arange(32), sentences, rotation=90, fontsize=6)
    ax.set_title(f"{target}: count sampler, Beta(0.9, 0.3), K = {K}")
    ax.legend(fontsize=8)
    print(f"{target}: max |freq - p| = {np.max(np.abs(freq - p)):.4f}")
fig.tight_layout()
fig.savefig(os.path.join(OUT, "toy_samples_vs_exact.png"), dpi=110)

# %% [markdown]
# ## 2. KL(q || p) against the number of steps
#
# One compilation per schedule family and sampler: the grid of K steps is padded with
# zero-length steps (t = 1 repeated) up to `MAX_STEPS`.

# %%
steps = np.arange(1, MAX_STEPS + 1)
grids = jnp.asarray(np.stack([np.minimum(np.arange(MAX_STEPS + 1) / k, 1.0) for k in steps]))
fig, axes = plt.subplots(2, 2, figsize=(11, 7))
for row, target in enumerate(("modes", "middle")):
    q = jnp.asarray(toy_target(target))
    oracle = table_oracle(q)
    for col, (sname, kw) in enumerate(SAMPLERS.items()):
        ax = axes[row, col]
        for spec in SPECS:
            s = parse_alpha(spec)
            kls = jax.vmap(lambda g, s=s, kw=kw, oracle=oracle, q=q: divergences(
                exact_output(oracle, s, length=5, num_steps=MAX_STEPS, grid=g, **kw), q).kl_data_to_model)(grids)
            kls = np.asarray(kls)
            ax.plot(steps, np.maximum(kls, 1e-6), marker="o", label=spec)
        ax.set_yscale("log")
        ax.set_xlabel("steps K")
        ax.set_ylabel("KL(q || p)  (floored at 1e-6)")
        ax.set_title(f"{target}, {sname} sampler")
        ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(os.path.join(OUT, "toy_kl_vs_steps.png"), dpi=110)

# %% [markdown]
# ## 3. The Beta grid: the best (a, b) depends on the target (K = 3)

# %%
a, b = (jnp.asarray(v.ravel()) for v in np.meshgrid(GRID, GRID, indexing="ij"))
fig, axes = plt.subplots(2, 2, figsize=(10, 8))
for row, target in enumerate(("modes", "middle")):
    q = jnp.asarray(toy_target(target))
    oracle = table_oracle(q)
    for col, (sname, kw) in enumerate(SAMPLERS.items()):
        kls = np.asarray(jax.vmap(lambda s, kw=kw, oracle=oracle, q=q: divergences(
            exact_output(oracle, s, length=5, num_steps=K, **kw), q).kl_data_to_model)(beta_schedule(a, b)))
        kls = kls.reshape(len(GRID), len(GRID))
        ax = axes[row, col]
        im = ax.imshow(np.log10(np.maximum(kls, 1e-6)).T, origin="lower", cmap="viridis",
                       extent=(GRID[0] - 0.05, GRID[-1] + 0.05, GRID[0] - 0.05, GRID[-1] + 0.05))
        i, j = np.unravel_index(np.argmin(kls), kls.shape)
        ax.plot(GRID[i], GRID[j], "r*", markersize=14)
        ax.set_xlabel("a")
        ax.set_ylabel("b")
        ax.set_title(f"{target}, {sname}: best ({GRID[i]:.1f}, {GRID[j]:.1f}), KL {kls[i, j]:.3g}")
        fig.colorbar(im, ax=ax, label="log10 KL(q || p)")
        print(f"{target:6s} {sname:10s} best (a, b) = ({GRID[i]:.1f}, {GRID[j]:.1f}), KL = {kls[i, j]:.4g}")
fig.tight_layout()
fig.savefig(os.path.join(OUT, "toy_beta_grid.png"), dpi=110)

# %% [markdown]
# ## 4. A Markov-chain target of realistic length
#
# Exact conditionals for any mask pattern (matrix powers of the transition matrix), a
# sticky chain over 4 tokens. The log-likelihood per token of the samples under q, with
# 99% intervals, against the number of steps; the dashed line is -H(q)/n, what exact
# samples give.

# %%
n_chain = 32 if SMALL else 128
batch = 256 if SMALL else 1024
trans = np.full((4, 4), 0.04) + np.eye(4) * 0.84
chain = markov_oracle(np.full(4, 0.25), trans / trans.sum(axis=1, keepdims=True))
chain_steps = [2, 8] if SMALL else [2, 4, 8, 16, 32, 64]
chain_specs = ("linear", "beta:0.9,0.3") if SMALL else ("linear", "sin2", "beta:0.9,0.3", "beta:0.3,0.9")
fig, ax = plt.subplots(figsize=(7, 4))
z0 = initial_state(n_chain, 4, batch=batch)
for spec in chain_specs:
    s = parse_alpha(spec)
    means, lows, highs = [], [], []
    for k in chain_steps:
        x = sample_count(chain, s, jax.random.key(k), z0, num_steps=k)
        ll = markov_statistics(x, chain, level=0.99)["loglik_per_token"]
        means.append(ll["mean"])
        lows.append(ll["low"])
        highs.append(ll["high"])
    ax.errorbar(chain_steps, means, yerr=[np.subtract(means, lows), np.subtract(highs, means)], marker="o",
                capsize=3, label=spec)
ax.axhline(float(-chain.entropy(n_chain) / n_chain), color="k", ls="--", label="-H(q)/n (exact samples)")
ax.set_xscale("log", base=2)
ax.set_xlabel("steps K (count sampler)")
ax.set_ylabel("log q(x) / n")
ax.set_title(f"Markov chain, n = {n_chain}, {batch} samples")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(OUT, "markov_loglik_vs_steps.png"), dpi=110)
print("saved:", sorted(f for f in os.listdir(OUT) if f.endswith(".png")))

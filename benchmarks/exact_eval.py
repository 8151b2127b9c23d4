"""Benchmark: exact KL over the paper's 10 x 10 Beta grid (a, b in 0.1 .. 1.0).

Goals (issue 3): the n = 5, d = 2 toy grid at K = 2, 3, 4, 8 in under 10 s in total; the
n = 6, d = 4 grid at K = 8 in under 60 s. Times are wall-clock and include compilation:
first one compile per K and sampler, then all four K in one call (grids padded with
zero-length steps, one compile per sampler). The baseline, timed in the same run, is a
Python loop over the 100 schedules calling the same jitted evaluation one schedule at a
time (warm); the ratio is loop / vmap. Process CPU time is printed at the end (the
machine may be shared).

Run: .venv/bin/python benchmarks/exact_eval.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from mdm_ot.sampling import (  # noqa: E402
    divergences,
    exact_output,
    table_oracle,  # noqa: E402
)
from mdm_ot.schedules import beta_schedule  # noqa: E402
from mdm_ot.tuning import toy_target  # noqa: E402

SAMPLERS = {
    "stochastic": dict(sampler="stochastic"),
    "count-random": dict(sampler="count", order="random"),
    "count-confidence-T0": dict(sampler="count", order="confidence", temperature=0.0),
}


def grid_kl(oracle, q, a, b, n, k, kw):
    """KL(q || p) for every (a, b): vmap over the batch of schedules."""

    def one(sched):
        p = exact_output(oracle, sched, length=n, num_steps=k, **kw)
        return divergences(p, q).kl_data_to_model

    return jax.vmap(one)(beta_schedule(a, b))


def grid_kl_all_k(oracle, q, a, b, n, ks, kw):
    """KL(q || p) for every K in ks and every (a, b), with one compilation: each K's
    uniform grid is padded with zero-length steps (t = 1 repeated) up to max(ks)."""
    kmax = max(ks)
    grids = jnp.asarray(np.stack([np.minimum(np.arange(kmax + 1) / k, 1.0) for k in ks]))

    def one(sched, grid):
        p = exact_output(oracle, sched, length=n, num_steps=kmax, grid=grid, **kw)
        return divergences(p, q).kl_data_to_model

    over_schedules = jax.vmap(one, in_axes=(0, None))
    return jax.vmap(over_schedules, in_axes=(None, 0))(beta_schedule(a, b), grids)  # [len(ks), 100]


def loop_kl(oracle, q, a, b, n, k, kw):
    out = []
    for ai, bi in zip(a, b, strict=True):
        p = exact_output(oracle, beta_schedule(ai, bi), length=n, num_steps=k, **kw)
        out.append(divergences(p, q).kl_data_to_model)
    return jnp.stack(out)


def timed(fn):
    t = time.perf_counter()
    out = jax.block_until_ready(fn())
    return out, time.perf_counter() - t


def main() -> None:
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="toy only, count sampler only")
    args = ap.parse_args()
    vals = np.round(np.arange(1, 11) * 0.1, 10)
    a, b = (x.ravel() for x in np.meshgrid(vals, vals, indexing="ij"))
    a, b = jnp.asarray(a), jnp.asarray(b)
    samplers = {"count-random": SAMPLERS["count-random"]} if args.quick else SAMPLERS

    print("== toy n=5 d=2 (target 'middle'), 10x10 grid, K = 2, 3, 4, 8 ==")
    q = jnp.asarray(toy_target("middle"))
    oracle = table_oracle(q)
    grand = 0.0
    for name, kw in samplers.items():
        total = 0.0
        for k in (2, 3, 4, 8):
            kl, dt = timed(lambda k=k, kw=kw: grid_kl(oracle, q, a, b, 5, k, kw))
            total += dt
            finite = np.isfinite(np.asarray(kl))
            best = int(np.argmin(np.where(finite, kl, np.inf))) if finite.any() else -1
            where = f"best (a,b)=({float(a[best]):.1f},{float(b[best]):.1f}) KL={float(kl[best]):.4f}" if best >= 0 else "all inf"
            print(f"  {name:22s} K={k}: {dt:6.2f} s  {where}")
        print(f"  {name:22s} all four K: {total:.2f} s (goal < 10 s)")
        kl_all, dt = timed(lambda kw=kw: grid_kl_all_k(oracle, q, a, b, 5, (2, 3, 4, 8), kw))
        again, dt2 = timed(lambda kw=kw: grid_kl_all_k(oracle, q, a, b, 5, (2, 3, 4, 8), kw))
        print(f"  {name:22s} all four K in one call (padded grids, one compile): {dt:.2f} s "
              f"(warm: {dt2:.3f} s)")
        grand += dt
    print(f"  all samplers, one call each: {grand:.2f} s in total")
    # baseline: one schedule at a time, K = 3, same compiled function
    kw = SAMPLERS["count-random"]
    _, t_vmap = timed(lambda: grid_kl(oracle, q, a, b, 5, 3, kw))
    _, t_loop = timed(lambda: loop_kl(oracle, q, a, b, 5, 3, kw))
    print(f"  count-random K=3, warm: vmap {t_vmap:.3f} s, python loop over schedules {t_loop:.3f} s, ratio {t_loop / t_vmap:.1f}x")

    if args.quick:
        return
    print("== n=6 d=4 (random target, seed 0), 10x10 grid, K = 8 ==")
    rng = np.random.default_rng(0)
    q6 = rng.dirichlet(np.full(4**6, 0.3)).reshape((4,) * 6)
    q6 = jnp.asarray(q6)
    oracle6 = table_oracle(q6)
    for name, kw in samplers.items():
        kl, dt = timed(lambda kw=kw: grid_kl(oracle6, q6, a, b, 6, 8, kw))
        finite = np.isfinite(np.asarray(kl))
        best = int(np.argmin(np.where(finite, kl, np.inf))) if finite.any() else -1
        where = f"best (a,b)=({float(a[best]):.1f},{float(b[best]):.1f}) KL={float(kl[best]):.4f}" if best >= 0 else "all inf"
        print(f"  {name:22s} K=8: {dt:6.2f} s (goal < 60 s)  {where}")
    print(f"total: wall {time.perf_counter() - wall0:.1f} s, process CPU {time.process_time() - cpu0:.1f} s")


if __name__ == "__main__":
    main()

"""Benchmark: tokens per second of the jit/scan samplers against a Python loop over steps.

Setting (issue 3): a Markov-chain oracle over d = 8 tokens, n = 128 positions, batch 256,
K = 32 steps. The baseline, timed in the same run, is a straightforward Python loop over
the steps doing the same work with the same building blocks, timed two ways: calling the
jitted oracle then eager jax.numpy for the rest, and with nothing compiled at all
(jax.disable_jit(), the straightforward loop). Goal: the jit/scan sampler at least 10x
faster. Times are after a warm-up call (compilation excluded and reported separately);
each figure is the best of --repeats runs (one run for the uncompiled loop).

Run: .venv/bin/python benchmarks/sampler_throughput.py [--n 128 --batch 256 --steps 32]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from mdm_ot.sampling import (
    default_grid,
    initial_state,
    markov_oracle,
    sample_count,
    sample_stochastic,
    transfer_counts,
)

# The baseline rebuilds the sampler step by step from the same kernel pieces, so it
# reads the sampling package's internal kernel on purpose.
from mdm_ot.sampling._core import _alpha_pair_jit, _propose, _rank_with_ties, _tie_tol, _uniform
from mdm_ot.schedules import beta_schedule


def python_loop(oracle, sched, key, z0, num_steps, mode, order):
    """The same sampler written as a plain Python loop over the steps: the same draws
    (positions up front for stochastic steps and random order, token noise per step), the
    same oracle call, the same choice of positions, one eager jax.numpy call after another."""
    d = oracle.vocab_size
    batch, length = z0.shape
    alphas = _alpha_pair_jit(sched, default_grid(num_steps))[0]
    masked = z0 == d
    u = _uniform(jax.random.fold_in(key, num_steps), (batch, length), alphas.dtype)
    counts = jax.vmap(transfer_counts, (None, 0))(alphas, jnp.sum(masked, axis=1))  # [batch, K]
    if mode == "stochastic":
        reveal = jnp.where(masked, jnp.sum(u[..., None] >= alphas[1:-1], axis=-1), -1)
    elif order == "random":
        rank = jnp.argsort(jnp.argsort(jnp.where(masked, u, 2.0), axis=-1), axis=-1)
        ends = jnp.cumsum(counts, axis=-1)
        reveal = jnp.where(masked, jnp.sum(ends[:, None, :] <= rank[..., None], axis=-1), -1)
    z = z0
    for k in range(num_steps):
        probs = oracle(z)
        tokens, conf = _propose(_uniform(jax.random.fold_in(key, k), z.shape, probs.dtype), probs, 1.0)
        if mode == "stochastic" or order == "random":
            chosen = reveal == k
        else:
            eligible = z == d
            chosen = eligible & (_rank_with_ties(conf, eligible, _tie_tol(conf.dtype)) < counts[:, k][:, None])
        z = jnp.where(chosen, tokens, z)
    return z


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--vocab", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    oracle = markov_oracle(rng.dirichlet(np.ones(args.vocab)), rng.dirichlet(np.full(args.vocab, 0.5), size=args.vocab))
    sched = beta_schedule(0.9, 0.3)
    z0 = initial_state(args.n, args.vocab, batch=args.batch)
    key = jax.random.key(0)
    tokens = args.n * args.batch
    print(f"Markov oracle d={args.vocab}, n={args.n}, batch={args.batch}, K={args.steps}, "
          f"backend={jax.default_backend()}, dtype={jnp.result_type(float)}")
    cases = [
        ("stochastic", lambda: sample_stochastic(oracle, sched, key, z0, num_steps=args.steps), ("stochastic", "random")),
        ("count, random order", lambda: sample_count(oracle, sched, key, z0, num_steps=args.steps), ("count", "random")),
        ("count, confidence order",
         lambda: sample_count(oracle, sched, key, z0, num_steps=args.steps, order="confidence"), ("count", "confidence")),
    ]
    for name, fast, (mode, order) in cases:
        t = time.perf_counter()
        jax.block_until_ready(fast())
        compile_s = time.perf_counter() - t
        t_fast = best_of(fast, args.repeats)
        slow = lambda mode=mode, order=order: python_loop(oracle, sched, key, z0, args.steps, mode, order)  # noqa: E731
        jax.block_until_ready(slow())  # warm the eager op caches too
        t_slow = best_of(slow, args.repeats)
        with jax.disable_jit():  # the same loop with nothing compiled, the oracle included
            jax.block_until_ready(slow())  # warm the per-primitive kernels
            t_eager = best_of(slow, 1)
        print(f"  {name:24s} jit/scan {tokens / t_fast:9.0f} tok/s ({t_fast * 1e3:7.1f} ms; first call {compile_s:4.1f} s)")
        print(f"  {'':24s} python loop, jitted oracle {tokens / t_slow:9.0f} tok/s ({t_slow * 1e3:7.1f} ms)  "
              f"ratio {t_slow / t_fast:5.1f}x")
        print(f"  {'':24s} python loop, nothing jitted {tokens / t_eager:8.0f} tok/s ({t_eager * 1e3:7.1f} ms)  "
              f"ratio {t_eager / t_fast:5.1f}x (goal >= 10x)")


if __name__ == "__main__":
    main()

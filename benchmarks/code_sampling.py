"""Throughput of few-step sampling with the code-line model: jit/scan sampler vs a naive loop.

Measures, in one process and on the same machine:

* the model's forward time for a batch (unconditional: 64 positions; completion: 128);
* sequences per second of :func:`mdm_ot.sampling.sample_count` (low-confidence order,
  temperature 1, K = 16 steps, batch 256, unconditional lines), compiled once, timed on
  later calls;
* the same work done naively: a Python loop over the K steps that calls the network
  without jit (operation by operation) and does the token draw and the top-c selection in
  numpy;

and prints the ratio. Usage::

    python benchmarks/code_sampling.py [--batch 256] [--steps 16] [--repeats 3]

(``MDM_OT_SMALL=1`` runs a batch of 32 with one repeat, for a quick look.)
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from mdm_ot import sampling
from mdm_ot.experiments.codelines import evaluate as ev
from mdm_ot.experiments.codelines import model as M
from mdm_ot.experiments.codelines import train as T
from mdm_ot.schedules import parse_alpha


def _model():
    try:
        params, config, _ = ev.load_model()
        return params, config, "shipped checkpoint"
    except FileNotFoundError:
        config = T.DEFAULT_MODEL
        return M.init_params(0, config), config, "random init (no checkpoint found)"


def naive_count_sampler(params, config, schedule, seed, batch, num_steps, temperature=1.0):
    """LLaDA-style count sampling written plainly: Python loop, un-jitted network, numpy."""
    rng = np.random.default_rng(seed)
    L, V = config.line_length, config.vocab_size
    counts = np.asarray(sampling.num_transfer_tokens(schedule, L, num_steps))
    z = np.full((batch, L), V, dtype=np.int32)
    with jax.disable_jit():
        for k in range(num_steps):
            logits = np.asarray(M.apply(params, jnp.asarray(z), None, config=config), dtype=np.float64)
            probs = np.exp(logits - logits.max(-1, keepdims=True))
            probs /= probs.sum(-1, keepdims=True)
            g = rng.gumbel(size=probs.shape)
            tokens = np.argmax(np.log(probs) / temperature + g, axis=-1)
            conf = np.take_along_axis(probs, tokens[..., None], -1)[..., 0]
            conf = np.where(z == V, conf, -np.inf)
            order = np.argsort(-conf, axis=1, kind="stable")
            chosen = np.zeros_like(z, dtype=bool)
            np.put_along_axis(chosen, order[:, : counts[k]], True, axis=1)
            chosen &= z == V
            z = np.where(chosen, tokens, z)
    return z


def main(argv=None) -> int:
    small = os.environ.get("MDM_OT_SMALL") == "1"
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32 if small else 256)
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--repeats", type=int, default=1 if small else 3)
    args = p.parse_args(argv)
    params, config, origin = _model()
    B, K = args.batch, args.steps
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}); model: {origin}, "
          f"{M.num_params(params)} parameters; batch {B}, K = {K}")

    z = jnp.full((B, config.line_length), config.mask_id, jnp.int32)
    fwd_u = jax.jit(lambda p, z: M.apply(p, z, None, config=config))
    fwd_c = jax.jit(lambda p, z: M.apply(p, z, z, config=config))
    for name, f in (("unconditional (64 positions)", fwd_u), ("completion (128 positions)", fwd_c)):
        f(params, z).block_until_ready()
        t = time.perf_counter()
        for _ in range(args.repeats):
            f(params, z).block_until_ready()
        dt = (time.perf_counter() - t) / args.repeats
        print(f"forward, {name}: {dt * 1e3:.1f} ms per batch ({dt / B * 1e6:.1f} us per sequence)")

    sched = parse_alpha("linear")
    den = ev.LineDenoiser(params, config)
    z0 = sampling.initial_state(config.line_length, config.vocab_size, batch=B)
    run = lambda seed: sampling.sample_count(  # noqa: E731
        den, sched, jax.random.PRNGKey(seed), z0, num_steps=K, order="confidence", temperature=1.0)
    t = time.perf_counter()
    run(0).block_until_ready()
    compile_s = time.perf_counter() - t
    t = time.perf_counter()
    for r in range(args.repeats):
        run(r + 1).block_until_ready()
    jit_s = (time.perf_counter() - t) / args.repeats
    print(f"jit/scan sampler: {B / jit_s:.1f} sequences/s ({jit_s:.3f} s per batch; first call "
          f"with compilation {compile_s:.1f} s)")

    t = time.perf_counter()
    out = naive_count_sampler(params, config, sched, 0, B, K)
    naive_s = time.perf_counter() - t
    assert out.max() < config.vocab_size  # every position was filled
    print(f"naive Python loop, no jit: {B / naive_s:.1f} sequences/s ({naive_s:.3f} s per batch)")
    print(f"ratio jit/scan vs naive: {naive_s / jit_s:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Cost of registering pytrees through mdm_ot._pytree instead of jax's register_dataclass.

mdm_ot._pytree flattens in Python (so that tree structures of different classes never
compare equal; see its docstring), where jax.tree_util.register_dataclass flattens in C++.
This prints the per-call time of a jitted function taking a schedule-like pytree, both
ways, in the same process, and the ratio against jax's register_dataclass (the baseline):
  1. a trivial function (dispatch only: the worst case for the Python flatten);
  2. the library's reduced energy of one Beta schedule (a typical small call).

Usage: python benchmarks/pytree_dispatch.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

from mdm_ot import register_dataclass  # noqa: E402
from mdm_ot.energies import reduced_energy  # noqa: E402
from mdm_ot.schedules import BetaCDF, Optimal  # noqa: E402


@dataclasses.dataclass(frozen=True)
class _Ours:
    a: jax.Array
    b: jax.Array


@dataclasses.dataclass(frozen=True)
class _Jax:
    a: jax.Array
    b: jax.Array


register_dataclass(_Ours, data_fields=["a", "b"], meta_fields=[])
jax.tree_util.register_dataclass(_Jax, data_fields=["a", "b"], meta_fields=[])


def _per_call(fn, args, calls):
    jax.block_until_ready(fn(*args))  # compile
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(calls):
            out = fn(*args)
        jax.block_until_ready(out)
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20_000)
    args = ap.parse_args()
    if args.calls < 1:
        ap.error("--calls must be an integer >= 1")

    f = jax.jit(lambda s, t: s.a * t + s.b)
    t = jnp.asarray(0.3)
    base = _per_call(f, (_Jax(jnp.asarray(1.0), jnp.asarray(2.0)), t), args.calls)
    ours = _per_call(f, (_Ours(jnp.asarray(1.0), jnp.asarray(2.0)), t), args.calls)
    print(f"1. trivial jitted call: register_dataclass {base * 1e6:.2f} us, "
          f"mdm_ot._pytree {ours * 1e6:.2f} us, ratio {ours / base:.2f}")

    # The library's schedules are registered through mdm_ot._pytree; for the baseline,
    # the same call with the Beta parameters handed over as a register_dataclass node.
    @jax.jit
    def energy_jax(p):
        return reduced_energy(Optimal(BetaCDF(p.a, p.b)))[0]

    @jax.jit
    def energy_ours(s):
        return reduced_energy(s)[0]

    calls = max(args.calls // 20, 1)
    a, b = jnp.asarray(1.3), jnp.asarray(0.8)
    base = _per_call(energy_jax, (_Jax(a, b),), calls)
    ours = _per_call(energy_ours, (Optimal(BetaCDF(a, b)),), calls)
    print(f"2. reduced energy of one Beta schedule: register_dataclass node {base * 1e6:.1f} us, "
          f"library schedule {ours * 1e6:.1f} us, ratio {ours / base:.2f}")


if __name__ == "__main__":
    main()

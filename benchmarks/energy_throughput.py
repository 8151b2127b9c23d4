"""Throughput and accuracy of the reduced energy over a batch of Beta schedules.

Prints, in one run:
1. e(alpha_ab, gamma = t) for N (a, b) pairs in [0.55, 10]^2 with jit + vmap, against a
   loop of scipy.integrate.quad on the same integrals (a subset is timed and scaled), the
   speed ratio, and the worst relative error against the closed form
   pi^2 B(2a-1, 2b-1) / B(a, b)^2 (MATH.md section 3).
2. The same with gamma a Beta CDF of its own (no closed form): worst relative error against
   mpmath's tanh-sinh quadrature at 40 digits on a sample of pairs.
3. The time of the (a, b)-gradients of the same batch, as a ratio to the values' time.

Usage: python benchmarks/energy_throughput.py [--pairs 10000] [--quad-subset 300]
Goals (issue 2): >= 200x faster than the quad loop; worst relative error <= 1e-10;
gradients <= 3x the values' time.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import scipy.integrate
import scipy.special as sps

jax.config.update("jax_enable_x64", True)

from mdm_ot.energies import reduced_energy  # noqa: E402
from mdm_ot.schedules import BetaCDF, beta_schedule  # noqa: E402


def _timeit(fn, repeat=3):
    best = math.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=10_000)
    ap.add_argument("--quad-subset", type=int, default=300)
    ap.add_argument("--mp-subset", type=int, default=40)
    args = ap.parse_args(argv)

    rng = np.random.default_rng(0)
    side = int(round(math.sqrt(args.pairs)))
    grid = np.linspace(0.55, 10.0, side)
    a, b = (x.ravel() for x in np.meshgrid(grid, grid, indexing="ij"))
    n = a.size
    print(f"device: {jax.devices()[0].platform}, pairs: {n} (a, b on a {side}x{side} grid in [0.55, 10])")

    # ---- 1. gamma = t, closed form
    @jax.jit
    def energies(a, b):
        return jax.vmap(lambda x, y: reduced_energy(beta_schedule(x, y)))(a, b)

    aj, bj = jnp.asarray(a), jnp.asarray(b)
    t0 = time.perf_counter()
    jax.block_until_ready(energies(aj, bj))
    compile_s = time.perf_counter() - t0
    t_jax, res = _timeit(lambda: energies(aj, bj))
    val = np.asarray(res.value)
    closed = math.pi**2 * np.exp(sps.betaln(2 * a - 1, 2 * b - 1) - 2 * sps.betaln(a, b))
    rel = np.abs(val - closed) / closed
    worst = int(np.argmax(rel))

    sub = rng.choice(n, size=min(args.quad_subset, n), replace=False)

    def integrand(t, x, y):
        return math.pi**2 * np.exp(2 * ((x - 1) * np.log(t) + (y - 1) * np.log1p(-t) - sps.betaln(x, y)))

    t0 = time.perf_counter()
    quad_vals = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in sub:
            quad_vals.append(scipy.integrate.quad(integrand, 0, 1, args=(a[i], b[i]), limit=200,
                                                  epsabs=0, epsrel=1e-12)[0])
    t_quad = (time.perf_counter() - t0) / len(sub) * n
    quad_rel = np.max(np.abs(np.array(quad_vals) - closed[sub]) / closed[sub])
    print("\n[1] gamma = t (closed form pi^2 B(2a-1,2b-1)/B(a,b)^2)")
    print(f"  jit+vmap: {t_jax:.4f} s for {n} energies (compile {compile_s:.1f} s)")
    print(f"  scipy.integrate.quad loop: {t_quad:.2f} s (timed on {len(sub)}, scaled to {n})")
    print(f"  speed ratio quad/jax: {t_quad / t_jax:.0f}x   (goal >= 200x)")
    print(f"  worst relative error (jax): {rel.max():.3e} at a={a[worst]:.3f}, b={b[worst]:.3f}"
          f"   (goal <= 1e-10); quad on its subset: {quad_rel:.3e}")
    print(f"  status not ok: {int(np.sum(np.asarray(res.status) != 0))} of {n}")

    # ---- 2. gamma a Beta CDF of its own
    c = rng.uniform(0.6, 3.0, n)
    d = rng.uniform(0.6, 3.0, n)

    @jax.jit
    def energies2(a, b, c, d):
        return jax.vmap(lambda x, y, u, v: reduced_energy(beta_schedule(x, y), BetaCDF(u, v)))(a, b, c, d)

    cj, dj = jnp.asarray(c), jnp.asarray(d)
    jax.block_until_ready(energies2(aj, bj, cj, dj))
    t_jax2, res2 = _timeit(lambda: energies2(aj, bj, cj, dj))
    val2 = np.asarray(res2.value)
    import mpmath

    mpmath.mp.dps = 40
    sub2 = rng.choice(n, size=min(args.mp_subset, n), replace=False)
    rels = []
    finite = 0
    for i in sub2:
        x, y, u, v = (mpmath.mpf(float(z)) for z in (a[i], b[i], c[i], d[i]))
        lbx, lbu = mpmath.log(mpmath.beta(x, y)), mpmath.log(mpmath.beta(u, v))

        def f(t, x=x, y=y, u=u, v=v, lbx=lbx, lbu=lbu):
            # pi^2 dens_ab(t)^2 / dens_cd(t)
            return mpmath.pi**2 * mpmath.exp(
                (2 * (x - 1) - (u - 1)) * mpmath.log(t) + (2 * (y - 1) - (v - 1)) * mpmath.log(1 - t)
                - 2 * lbx + lbu)

        conv = (2 * a[i] - c[i] > 0) and (2 * b[i] - d[i] > 0)
        if not conv:
            ok = not np.isfinite(val2[i])
            rels.append(0.0 if ok else math.inf)
            continue
        finite += 1
        ref = mpmath.quad(f, [0, mpmath.mpf(1) / 2, 1])
        rels.append(abs(val2[i] - float(ref)) / float(ref))
    print("\n[2] gamma = Beta CDF I_t(c, d), c, d in [0.6, 3] (no closed form)")
    print(f"  jit+vmap: {t_jax2:.4f} s for {n} energies")
    print(f"  worst relative error vs mpmath (40 digits) on {len(sub2)} pairs "
          f"({finite} finite, the rest must be +inf): {max(rels):.3e}")
    print(f"  divergent (+inf) in the batch: {int(np.sum(~np.isfinite(val2)))} of {n} "
          "(finite iff 2a > c and 2b > d: integrand ~ t^(2a-c-1) (1-t)^(2b-d-1))")
    pred_conv = (2 * a - c > 0) & (2 * b - d > 0)
    print(f"  divergence verdicts matching the exponent rule: {int(np.sum(np.isfinite(val2) == pred_conv))} of {n}")

    # ---- 3. gradients
    @jax.jit
    def grads(a, b):
        return jax.vmap(jax.grad(lambda x, y: reduced_energy(beta_schedule(x, y)).value,
                                 argnums=(0, 1)))(a, b)

    jax.block_until_ready(grads(aj, bj))
    t_grad, g = _timeit(lambda: grads(aj, bj))
    # d/da of the closed form: pi^2 B(2a-1,2b-1)/B(a,b)^2 * (2 psi(2a-1) - 2 psi(2a+2b-2) - 2 psi(a) + 2 psi(a+b))
    dga = closed * (2 * sps.digamma(2 * a - 1) - 2 * sps.digamma(2 * a + 2 * b - 2)
                    - 2 * sps.digamma(a) + 2 * sps.digamma(a + b))
    grel = np.max(np.abs(np.asarray(g[0]) - dga) / np.abs(dga).clip(1e-300))
    print("\n[3] (a, b)-gradients of the batch in [1]")
    print(f"  time {t_grad:.4f} s; ratio to values {t_grad / t_jax:.2f}x   (goal <= 3x)")
    print(f"  worst relative error of d e/d a against the closed form's derivative: {grel:.3e}")


if __name__ == "__main__":
    main()

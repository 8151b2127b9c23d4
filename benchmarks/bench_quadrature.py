"""Accuracy and speed of mdm_ot.quadrature.integrate01 on the Beta energy family.

Integrand t^(2a-2) (1-t)^(2b-2) / B(a,b)^2, exact value B(2a-1, 2b-1) / B(a,b)^2 (mpmath),
on an n x n grid of (a, b) in [0.55, 10]. Prints the worst relative error per level and
the time of the jitted, vmapped evaluation against a baseline run in the same process:
evaluating the same integrand at the same number of points (what any rule with that many
nodes must pay). Run: .venv/bin/python benchmarks/bench_quadrature.py [n]
"""

import sys
import time

import jax
import jax.numpy as jnp
import mpmath
import numpy as np

from mdm_ot.quadrature import DEFAULT_LEVEL, integrate01, num_nodes

jax.config.update("jax_enable_x64", True)


def best_time(fn, *args, repeats=5):
    jax.block_until_ready(fn(*args))  # compile
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return min(times)


def main(n: int = 100) -> None:
    grid = np.linspace(0.55, 10.0, n)
    a, b = (x.ravel() for x in np.meshgrid(grid, grid, indexing="ij"))
    # 1/B(a,b)^2 from mpmath, passed in (jax.scipy.special.betaln is only ~1e-7 accurate,
    # and exp(-2 betaln) in float64 would add ~50 ulp of its own): the measured error is
    # then the rule's.
    mpmath.mp.dps = 30
    c = np.array([float(1 / mpmath.beta(x, y) ** 2) for x, y in zip(a, b, strict=True)])
    exact = np.array(
        [
            float(mpmath.beta(2 * x - 1, 2 * y - 1) / mpmath.beta(x, y) ** 2)
            for x, y in zip(a, b, strict=True)
        ]
    )
    args = (jnp.asarray(a), jnp.asarray(b), jnp.asarray(c))

    def integrand(a, b, c):
        return lambda t, tc: c * t ** (2 * a - 2) * tc ** (2 * b - 2)

    print(f"{n * n} integrals, (a, b) in [0.55, 10]^2, float64, {jax.devices()[0].platform}")
    for level in (4, DEFAULT_LEVEL, 6):
        quad = jax.jit(
            jax.vmap(lambda a, b, c, lv=level: integrate01(integrand(a, b, c), level=lv))
        )
        res = quad(*args)
        rel = np.abs(np.asarray(res.value) / exact - 1.0)
        worst = int(rel.argmax())
        status = np.bincount(np.asarray(res.status), minlength=5)
        bound = np.asarray(res.error) >= np.abs(np.asarray(res.value) - exact)
        m = num_nodes(level)
        t_quad = best_time(quad, *args)
        pts = jnp.linspace(1e-3, 1 - 1e-3, m)
        base = jax.jit(jax.vmap(lambda a, b, c, p=pts: jnp.sum(integrand(a, b, c)(p, 1 - p))))
        t_base = best_time(base, *args)
        print(
            f"level {level}{' (default)' if level == DEFAULT_LEVEL else ''}: {m} points; "
            f"worst rel. error {rel.max():.2e} at (a, b) = ({a[worst]:.3f}, {b[worst]:.3f}), "
            f"median {np.median(rel):.1e}; status counts (ok, div0, div1, nonfinite, "
            f"inaccurate) {status.tolist()}; error estimate >= actual in "
            f"{100 * bound.mean():.0f}% ; time {t_quad:.3f} s = {t_quad / t_base:.2f} x "
            f"the bare integrand at {m} points ({t_base:.3f} s)"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)

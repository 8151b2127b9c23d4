"""Benchmark: schedule tuning (issue 4).

1. Wall time of the paper's 10 x 10 Beta grid at K = 3 on the toy (target 'modes',
   stochastic sampler, KL(q || p)) with one device, and with 8 forced host devices
   (a subprocess with XLA_FLAGS=--xla_force_host_platform_device_count=8 set before jax
   starts). Both the first call (with compilation) and the median of repeated calls; the
   ratio is one device / eight devices (on a machine with few cores the forced devices
   share them, so expect no speed-up there: the point is that sharding works and costs
   little).
2. The number of objective evaluations (value and gradient) the gradient method (Adam on
   log a, log b from the linear schedule, learning rate 0.1) needs to reach a value at least
   as good as the best grid point. Goal: fewer than 100.
3. With --table: for each toy target and K = 2..8, the best Beta value on the paper grid,
   the best gradient-tuned Beta value, the best free-form value (any increasing schedule on
   the K-step grid), and the gap Beta - free form.

Run: .venv/bin/python benchmarks/tuning.py [--table] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def _grid_timing(repeats: int) -> dict:
    import jax

    jax.config.update("jax_enable_x64", True)
    from mdm_ot import tuning as T

    obj = T.make_objective("modes", 3)
    a, b = T.parse_grid("paper")
    t0 = time.perf_counter()
    res = T.grid_search(obj, a, b)
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        again = T.grid_search(obj, a, b)
        times.append(time.perf_counter() - t0)
    assert (again.values == res.values).all()
    return {"devices": len(jax.local_devices()), "first_s": first, "median_s": statistics.median(times),
            "best": [res.best.a, res.best.b, res.best.value], "values": res.values.tolist()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", action="store_true", help="also the K = 2..8 table (several minutes)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_grid_timing(args.repeats)))
        return

    print("== 1. paper grid (100 schedules), toy 'modes', K = 3, stochastic, KL(q||p) ==")
    one = _grid_timing(args.repeats)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, __file__, "--child", "--repeats", str(args.repeats)], env=env,
                          capture_output=True, text=True, check=True)
    eight = json.loads(proc.stdout.strip().splitlines()[-1])
    for r in (one, eight):
        print(f"  {r['devices']} device(s): first call {r['first_s']:.2f} s (with compilation), "
              f"then median {1000 * r['median_s']:.1f} ms per grid")
    print(f"  ratio 1 device / 8 devices (median): {one['median_s'] / eight['median_s']:.2f}x; "
          f"identical values: {one['values'] == eight['values']}; best {one['best']}")

    import jax

    jax.config.update("jax_enable_x64", True)
    from mdm_ot import tuning as T

    print("== 2. gradient method (Adam 0.1 on log a, log b, from linear): evaluations to reach the grid optimum ==")
    a, b = T.parse_grid("paper")
    for name in ("modes", "middle"):
        obj = T.make_objective(name, 3)
        grid = T.grid_search(obj, a, b)
        t0 = time.perf_counter()
        run = T.tune_beta(obj, steps=100)
        dt = time.perf_counter() - t0
        n = run.evaluations_to_reach(grid.best.value)
        print(f"  {name:6s} K=3: grid best {grid.best.value:.6f} at ({grid.best.a:g}, {grid.best.b:g}); gradient "
              f"reaches it after {n} evaluations (goal < 100: {'met' if n is not None and n < 100 else 'NOT met'}); "
              f"best after 100: {run.best_value:.6f} at ({run.best.a:.3f}, {run.best.b:.3f}); {dt:.1f} s incl. compile")

    if not args.table:
        return
    print("== 3. Beta vs free form, KL(q||p), stochastic sampler ==")
    print(f"  {'target':6s} {'K':>2s} {'linear':>9s} {'Beta grid':>10s} {'(a, b)':>11s} {'Beta grad':>10s} "
          f"{'(a, b)':>13s} {'free form':>10s} {'Beta-free':>10s} {'rel gap':>8s}")
    for name in ("modes", "middle"):
        for k in range(2, 9):
            obj = T.make_objective(name, k)
            grid = T.grid_search(obj, a, b)
            beta = T.tune_beta(obj, steps=150, restarts=2, seed=0)
            free = T.tune_free_form(obj, steps=400, restarts=2, seed=0)
            best_beta = min(beta.best_value, grid.best.value)
            gap = best_beta - free.best_value
            print(f"  {name:6s} {k:2d} {grid.values[4, 4]:9.5f} {grid.best.value:10.5f} ({grid.best.a:.1f}, {grid.best.b:.1f})"
                  f" {beta.best_value:10.5f} ({beta.best.a:.3f}, {beta.best.b:.3f}) {free.best_value:10.5f}"
                  f" {gap:10.2e} {gap / free.best_value:8.1e}", flush=True)


if __name__ == "__main__":
    main()

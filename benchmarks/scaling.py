"""Benchmark: how time and peak memory grow with the size of the problem (issue 14, part 3).

Curves (each point is one measurement; sizes in the table):

* exact K-step output distribution (``mdm_ot.sampling.exact_output``, stochastic sampler,
  Markov oracle, K = 8) against the number of states (d+1)^n, for d = 1, 2, 4 (n grows)
  and n = 2 (d grows); and against K (n = 8, d = 2);
* brute-force kinetic energy (``mdm_ot.bruteforce.kinetic_energy``, sin^2 schedule,
  gamma = t, 377 quadrature nodes) against S x D = (d+1)^n d^n (states times data
  sequences, the size of the conditional-path table), for d = 2, d = 3 (n grows) and n = 2
  (d grows);
* sampler throughput (Markov oracle, d = 8, K = 32) against the batch (n = 128) and the
  sequence length (batch 64), stochastic and count/confidence samplers;
* tuning grid (``mdm_ot.tuning.grid_search``, toy 'modes', K = 3) against the number of
  grid points, and against the number of devices (forced host devices, 1..8).

How it is measured. Full mode runs every point in a fresh subprocess (``--child``). Peak
memory is the process's peak resident set size (``VmHWM`` of /proc/self/status, reset to
the current RSS just before the point through /proc/self/clear_refs; where that is not
possible, ``resource.getrusage(RUSAGE_SELF).ru_maxrss``) minus the RSS just before the
point, so it counts everything the point allocates: the numpy enumeration, XLA's
compilation, the buffers (jax's ``memory_stats()`` is ``None`` on CPU). ``first`` is the
first call (enumeration and compilation included), ``warm`` the best of up to 3 further
calls. The device curve needs ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` before
jax is imported, so its points always run in subprocesses. ``--quick`` (tiny sizes, for
the test) and ``--inprocess`` run the other points in this process (the peak is still reset
per point; compiled code and caches of earlier points stay). The JSON says which.

Noise. The machine may be shared: every point also times a fixed calibration workload
(a jitted float64 matmul chain) in its own process, and the table prints warm / calibration
beside the seconds; the calibration's spread over the run says how steady the machine was.

Exponents are log-log least-squares slopes over the points at or past each curve's
``fit_from`` (past the warm-up regime where fixed costs dominate), printed next to the
exponent the cost model predicts. The largest problem each path handles in 24 GiB is
extrapolated from linear least-squares memory models fitted to the measured points
(nothing near 24 GiB is allocated: no measured point is run if its predicted memory is
above the safe limit ``--safe-gib``, default 2.5 GiB).

Run: .venv/bin/python benchmarks/scaling.py [--quick] [--json PATH] [--plot PATH]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

GIB = 1 << 30
BUDGET_BYTES = 24 * GIB  # the smallest machine the project supports (mdm_ot/cli/_limits.py)
EXACT_MAX_STATES = 10**7  # exact_output's own limit on (d+1)^n (mdm_ot/sampling/_exact.py)
BRUTE_MAX_STATES = 4096  # state_space's own limit on (d+1)^n (mdm_ot/bruteforce/_states.py)
PATHS = ("exact", "brute", "sampler", "tuning")
DEFAULT_PLOT = Path(__file__).with_name("scaling.png")


# ----------------------------------------------------------------------------- fits


def fit_exponent(x, y, *, fit_from: float = 0.0) -> dict | None:
    """Log-log least-squares slope of ``y`` against ``x`` over the points with ``x >= fit_from``.

    Points with a missing, non-finite or non-positive ``x`` or ``y`` are left out. Returns
    ``None`` when fewer than two distinct ``x`` remain, else ``exponent`` (the slope),
    ``prefactor`` (``y ~ prefactor * x**exponent``), ``points`` and ``stderr`` (the slope's
    standard error, ``None`` with two points).
    """
    pairs = [(float(a), float(b)) for a, b in zip(x, y, strict=True)
             if a is not None and b is not None and math.isfinite(a) and math.isfinite(b)
             and a > 0 and b > 0 and a >= fit_from]
    if len({a for a, _ in pairs}) < 2:
        return None
    lx = np.log([a for a, _ in pairs])
    ly = np.log([b for _, b in pairs])
    slope, icept = np.polyfit(lx, ly, 1)
    stderr = None
    if len(pairs) > 2:
        resid = ly - (slope * lx + icept)
        stderr = float(math.sqrt(np.sum(resid**2) / (len(pairs) - 2) / np.sum((lx - lx.mean()) ** 2)))
    return {"exponent": float(slope), "prefactor": float(math.exp(icept)), "points": len(pairs), "stderr": stderr}


def fit_linear(features: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Nonnegative least squares ``y ~ features @ coef`` (each column scaled to unit size first)."""
    from scipy.optimize import nnls

    scale = np.maximum(np.abs(features).max(axis=0), 1e-300)
    coef, _ = nnls(features / scale, y)
    return coef / scale


# ----------------------------------------------------------------------------- one point


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0); False if not
    possible, and then the peak is ``ru_maxrss``, the high-water mark of the whole process."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss(reset: bool) -> int:
    if reset:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _block(x):
    import jax

    return jax.block_until_ready(x)


def _calibration() -> float:
    """Seconds of a fixed jitted float64 workload (best of 5), the in-process baseline."""
    import jax
    import jax.numpy as jnp

    @jax.jit
    def work(m):
        return jax.lax.fori_loop(0, 20, lambda _, x: jnp.tanh(x @ m), m)

    m = jnp.eye(256, dtype=jnp.float64) * 0.5 + 0.001
    _block(work(m))
    best = math.inf
    for _ in range(5):
        t = time.perf_counter()
        _block(work(m))
        best = min(best, time.perf_counter() - t)
    return best


def _markov(d: int):
    from mdm_ot.sampling import markov_oracle

    rng = np.random.default_rng(0)
    return markov_oracle(rng.dirichlet(np.ones(d)), rng.dirichlet(np.ones(d), size=d))


def _setup(p: dict):
    """The call to time for point ``p``, and extra fields (sizes, sanity values)."""
    import jax
    import jax.numpy as jnp

    path = p["path"]
    if path == "exact":
        from mdm_ot.bruteforce import all_states
        from mdm_ot.sampling import exact_output
        from mdm_ot.schedules import beta_schedule

        n, d, k = p["n"], p["d"], p["K"]
        oracle, sched = _markov(d), beta_schedule(0.9, 0.3)
        states = jnp.asarray(all_states(n, d))
        den = jax.jit(lambda o, z: o(z))

        def extra(out):  # the denoiser alone on every state: its share of a warm call
            _block(den(oracle, states))
            t = time.perf_counter()
            _block(den(oracle, states))
            return {"mass": float(jnp.sum(out)), "denoiser_s": time.perf_counter() - t}

        return (lambda: exact_output(oracle, sched, length=n, num_steps=k)), extra
    if path == "brute":
        from mdm_ot.bruteforce import kinetic_energy
        from mdm_ot.schedules import Sine2

        n, d = p["n"], p["d"]
        q = np.random.default_rng(0).dirichlet(np.ones(d**n)).reshape((d,) * n)
        return (lambda: kinetic_energy(Sine2(), q).value), lambda out: {"value": float(out)}
    if path == "sampler":
        from mdm_ot.sampling import initial_state, sample_count, sample_stochastic
        from mdm_ot.schedules import beta_schedule

        oracle, sched = _markov(p["d"]), beta_schedule(0.9, 0.3)
        z0 = initial_state(p["n"], p["d"], batch=p["batch"])
        key = jax.random.key(0)
        if p["sampler"] == "stochastic":
            fn = lambda: sample_stochastic(oracle, sched, key, z0, num_steps=p["K"])  # noqa: E731
        else:
            fn = lambda: sample_count(oracle, sched, key, z0, num_steps=p["K"], order="confidence")  # noqa: E731
        return fn, lambda out: {"masked_left": int(jnp.sum(out == p["d"]))}
    if path == "tuning":
        from mdm_ot.tuning import grid_search, make_objective

        obj = make_objective("modes", p["K"])
        axis = np.linspace(0.1, 1.0, p["side"])
        return (lambda: grid_search(obj, axis, axis).values), lambda out: {
            "devices": len(jax.local_devices()), "best": float(np.min(out))}
    raise ValueError(f"unknown path {path!r}")


def measure(fn, extra=None) -> dict:
    """Time ``fn()`` (first call, then the best of up to 3 warm calls) and the peak memory
    of all of it above the resident set size just before (see the module docstring)."""
    rss0 = _rss()
    reset = _reset_peak()
    t = time.perf_counter()
    out = _block(fn())
    first = time.perf_counter() - t
    warm, spent = math.inf, 0.0
    for _ in range(3):  # best of up to 3 warm calls, fewer when one takes over a second
        t = time.perf_counter()
        out = _block(fn())
        dt = time.perf_counter() - t
        warm, spent = min(warm, dt), spent + dt
        if spent > 1.0:
            break
    peak = _peak_rss(reset) - rss0
    return {"first_s": first, "warm_s": warm, "peak_bytes": max(peak, 0), "peak_reset": reset,
            **(extra(out) if extra else {})}


def run_point(p: dict) -> dict:
    """Time and peak memory of one point, in this process, with the calibration beside it."""
    import jax

    jax.config.update("jax_enable_x64", True)
    cal = _calibration()
    return {**measure(*_setup(p)), "calibration_s": cal, "backend": jax.default_backend()}


def run_child(p: dict, timeout: float) -> dict:
    """:func:`run_point` in a fresh subprocess (``devices`` > 1 forces host devices)."""
    env = dict(os.environ)
    if p.get("devices"):
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={p['devices']}"
        env["JAX_PLATFORMS"] = "cpu"
    try:
        done = subprocess.run([sys.executable, __file__, "--child", json.dumps(p)], env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": f"exit {done.returncode}: {tail[:200]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- the curves


def sizes(p: dict) -> dict:
    """The size measures of point ``p`` (computed here, never measured)."""
    if p["path"] == "exact":
        n, d = p["n"], p["d"]
        return {"states": (d + 1) ** n, "transitions": (2 * d + 1) ** n, "outputs": (d + 1) ** n * n * d, "K": p["K"]}
    if p["path"] == "brute":
        n, d = p["n"], p["d"]
        return {"states": (d + 1) ** n, "data": d**n, "table": (d + 1) ** n * d**n, "d": d}
    if p["path"] == "sampler":
        tokens = p["batch"] * p["n"]
        return {"batch": p["batch"], "length": p["n"], "tokens": tokens, "pairs": tokens * p["n"]}
    return {"points": p["side"] ** 2, "devices": p.get("devices") or 1}


@dataclasses.dataclass(frozen=True)
class Curve:
    """One curve: its points, the size on the x axis, where the fit starts, the exponents
    the cost model predicts (time, memory; None where it predicts none) and why."""

    name: str
    path: str
    x: str
    points: tuple
    fit_from: float
    expected_time: float | None
    expected_memory: float | None
    why: str
    mem_x: str = ""  # the size memory grows with (the safe-limit guard extrapolates along it)
    child: bool = False  # always a subprocess (forced host devices)


def _pts(path, key, values, **fixed):
    return tuple({"path": path, **fixed, key: v} for v in values)


def curves(quick: bool) -> list[Curve]:
    lg = lambda d: math.log(2 * d + 1) / math.log(d + 1)  # noqa: E731 (transitions = states^lg)
    ex = "exact"
    why_n = "time and memory grow with the (2d+1)^n transitions = states^(log(2d+1)/log(d+1))"
    why_d = ("transitions ~ states^1; the Markov oracle's S n d^2 work and S n d outputs ~ states^1.5 "
             "and ^2 dominate as d grows")
    if quick:
        return [
            Curve("exact: states, d=2", ex, "states", _pts(ex, "n", (2, 3), d=2, K=4), 0, lg(2), lg(2), why_n, "transitions"),
            Curve("exact: K, n=3 d=2", ex, "K", _pts(ex, "K", (2, 4), n=3, d=2), 0, 1.0, 0.0, "one scan step per K", "K"),
            Curve("brute: n, d=2", "brute", "table", _pts("brute", "n", (1, 2), d=2), 0, 1.0, 1.0, "S x D table", "table"),
            Curve("sampler: batch, stochastic", "sampler", "batch",
                  _pts("sampler", "batch", (4, 8), n=8, d=8, K=4, sampler="stochastic"), 0, 1.0, 1.0, "per token", "tokens"),
            Curve("sampler: length, stochastic", "sampler", "length",
                  _pts("sampler", "n", (8, 16), batch=4, d=8, K=4, sampler="stochastic"), 0, 1.0, 1.0, "per token", "tokens"),
            Curve("tuning: grid points", "tuning", "points", _pts("tuning", "side", (2, 3), K=2), 0, 1.0, 1.0,
                  "one exact evaluation per point", "points"),
            Curve("tuning: devices", "tuning", "devices", _pts("tuning", "devices", (1, 2), side=2, K=2), 0, None, None,
                  "2 cores: no gain past 2 devices", "points", child=True),
        ]
    conf_why = "the confidence ranking compares all pairs of positions: O(batch L^2) per step"
    return [
        Curve("exact: states, d=1", ex, "states", _pts(ex, "n", (6, 8, 10, 12, 14), d=1, K=8), 2**10, lg(1), lg(1),
              why_n, "transitions"),
        Curve("exact: states, d=2", ex, "states", _pts(ex, "n", (4, 6, 8, 9, 10), d=2, K=8), 3**8, lg(2), lg(2),
              why_n, "transitions"),
        Curve("exact: states, d=4", ex, "states", _pts(ex, "n", (3, 4, 5, 6, 7), d=4, K=8), 5**5, lg(4), lg(4),
              why_n, "transitions"),
        Curve("exact: states, n=2", ex, "states", _pts(ex, "d", (8, 16, 32, 64, 128), n=2, K=8), 33**2, 2.0, 1.5,
              why_d, "outputs"),
        Curve("exact: K, n=8 d=2", ex, "K", _pts(ex, "K", (2, 4, 8, 16, 32, 64, 128), n=8, d=2), 16, 1.0, 0.0,
              "one scan step (one pass over the transitions) per K; the scan keeps one state vector", "K"),
        Curve("brute: n, d=2", "brute", "table", _pts("brute", "n", (2, 3, 4, 5, 6), d=2), 81 * 16, 1.0, 1.0,
              "the (S, D) conditional-path table at every node", "table"),
        Curve("brute: n, d=3", "brute", "table", _pts("brute", "n", (2, 3, 4), d=3), 64 * 27, 1.0, 1.0,
              "the (S, D) conditional-path table at every node", "table"),
        Curve("brute: d, n=2", "brute", "table", _pts("brute", "d", (2, 4, 8, 12, 16), n=2), 81 * 64, 1.0, 1.0,
              "the (S, D) conditional-path table at every node (S D ~ d^4 at n = 2)", "table"),
        Curve("sampler: batch, stochastic", "sampler", "batch",
              _pts("sampler", "batch", (16, 64, 256, 1024), n=128, d=8, K=32, sampler="stochastic"), 64, 1.0, 1.0,
              "per token", "tokens"),
        Curve("sampler: length, stochastic", "sampler", "length",
              _pts("sampler", "n", (64, 256, 1024, 2048), batch=64, d=8, K=32, sampler="stochastic"), 256, 1.0, 1.0,
              "per token", "tokens"),
        Curve("sampler: length, confidence", "sampler", "length",
              _pts("sampler", "n", (64, 256, 1024, 2048), batch=64, d=8, K=32, sampler="confidence"), 256, 2.0, 2.0,
              conf_why, "pairs"),
        Curve("tuning: grid points", "tuning", "points", _pts("tuning", "side", (4, 8, 16, 32, 64), K=3), 256, 1.0, 0.0,
              "one exact evaluation per point; memory stops growing once a chunk (about 1 GiB) is full", "points"),
        Curve("tuning: devices", "tuning", "devices", _pts("tuning", "devices", (1, 2, 4, 8), side=16, K=3), 0, None, None,
              "ideal -1 with a core per device; on 2 cores more than 2 devices cannot be faster", "points", child=True),
    ]


# ----------------------------------------------------------------------------- running


def run_curve(c: Curve, *, inprocess: bool, safe_bytes: float, timeout: float) -> list[dict]:
    """Measure every point of ``c`` in order; a point whose memory, extrapolated linearly
    along ``c.mem_x`` from the last measured point, would pass ``safe_bytes`` is skipped."""
    rows, last = [], None
    for p in c.points:
        s = sizes(p)
        row = {"params": p, "sizes": s}
        if last is not None and last["peak_bytes"] > 0:
            pred = last["peak_bytes"] * s[c.mem_x] / last["sizes"][c.mem_x]
            if pred > safe_bytes:
                rows.append({**row, "skipped": f"predicted {pred / GIB:.1f} GiB > safe limit {safe_bytes / GIB:.1f} GiB"})
                continue
        m = run_child(p, timeout) if (c.child or not inprocess) else run_point(p)
        row.update(m)
        rows.append(row)
        if "error" not in m:
            last = row
        print(f"  {c.name:30s} {_describe(p):28s} " + (m["error"] if "error" in m else
              f"first {m['first_s']:7.2f} s  warm {m['warm_s']:8.4f} s  peak {m['peak_bytes'] / 2**20:8.1f} MiB"),
              flush=True)
    return rows


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _describe(p: dict) -> str:
    keys = [k for k in ("n", "d", "K", "batch", "side", "devices", "sampler") if k in p]
    return " ".join(f"{k}={p[k]}" for k in keys)


def _ok(rows):
    return [r for r in rows if "warm_s" in r]


def curve_fits(c: Curve, rows: list[dict]) -> dict:
    good = _ok(rows)
    x = [r["sizes"][c.x] for r in good]
    peaks = [r["peak_bytes"] for r in good]
    base = min(peaks, default=0)  # the fixed cost (imports done, a small compile): the smallest point's
    out = {"time": fit_exponent(x, [r["warm_s"] for r in good], fit_from=c.fit_from),
           "memory": fit_exponent(x, peaks, fit_from=c.fit_from),
           "memory_above_base": fit_exponent(x, [pk - base for pk in peaks], fit_from=c.fit_from)}
    if c.path == "exact" and c.x == "states":  # the cost model's own variable
        out["time_vs_transitions"] = fit_exponent([r["sizes"]["transitions"] for r in good],
                                                  [r["warm_s"] for r in good],
                                                  fit_from=min((r["sizes"]["transitions"] for r in good
                                                                if r["sizes"]["states"] >= c.fit_from), default=0))
    return out


# ----------------------------------------------------------------------------- largest problems


def _bisect_max(ok, lo: int, hi: int) -> int | None:
    """The largest integer in [lo, hi] with ok(.) true (ok monotone: true then false)."""
    if not ok(lo):
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid - 1)
    return lo


def _model(rows, feats, key):
    good = [r for r in rows if key in r]
    if len(good) < 2:
        return None
    X = np.array([[1.0, *feats(r["sizes"], r["params"])] for r in good])
    return fit_linear(X, np.array([float(r[key]) for r in good]))


def _predict(coef, feats, s, p) -> float:
    return float(np.dot(coef, [1.0, *feats(s, p)]))


def largest(results: dict[str, list[dict]]) -> dict:
    """The largest problem of each path within 24 GiB, from linear memory models of the
    measured points (extrapolated: nothing that large is allocated)."""
    out = {}
    ex = [r for name, rows in results.items() if name.startswith("exact") for r in _ok(rows)]
    fe = lambda s, p: (s["transitions"], s["transitions"] * p["n"], s["outputs"])  # noqa: E731
    ft = lambda s, p: (s["transitions"] * p["K"], s["outputs"] * p["d"])  # noqa: E731
    mem, tim = _model(ex, fe, "peak_bytes"), _model(ex, ft, "warm_s")
    if mem is not None:
        per_n = []
        for n in range(1, 40):
            def fits(d, n=n):
                p = {"n": n, "d": d, "K": 8}
                return (d + 1) ** n <= EXACT_MAX_STATES and _predict(mem, fe, sizes({"path": "exact", **p}), p) <= BUDGET_BYTES
            dmax = _bisect_max(fits, 1, EXACT_MAX_STATES)
            if dmax is None:
                break
            p = {"path": "exact", "n": n, "d": dmax, "K": 8}
            s = sizes(p)
            bound = "library limit (d+1)^n <= 1e7" if (dmax + 2) ** n > EXACT_MAX_STATES else "24 GiB"
            per_n.append({"n": n, "d_max": dmax, "states": s["states"], "transitions": s["transitions"],
                          "predicted_gib": _predict(mem, fe, s, p) / GIB, "bound": bound,
                          "predicted_warm_s_K8": None if tim is None else max(_predict(tim, ft, s, p), 0.0)})
        best = max(per_n, key=lambda e: e["states"]) if per_n else None
        by_d = {}
        for d in (1, 2, 3, 4, 8):
            def fits_n(n, d=d):
                p = {"n": n, "d": d, "K": 8}
                return (d + 1) ** n <= EXACT_MAX_STATES and _predict(mem, fe, sizes({"path": "exact", **p}), p) <= BUDGET_BYTES
            by_d[str(d)] = _bisect_max(fits_n, 1, 64)
        out["exact"] = {"memory_model_bytes": dict(zip(("base", "per_transition", "per_transition_per_n",
                                                        "per_output"), mem.tolist(), strict=True)),
                        "per_n": per_n, "largest_states": best, "largest_n_by_d": by_d}
    bf = [r for name, rows in results.items() if name.startswith("brute") for r in _ok(rows)]
    fb = lambda s, p: (s["table"], s["table"] * p["n"])  # noqa: E731
    mem = _model(bf, fb, "peak_bytes")
    if mem is not None:
        per_n = []
        for n in range(1, 13):
            def fits(d, n=n):
                p = {"n": n, "d": d}
                return (d + 1) ** n <= BRUTE_MAX_STATES and _predict(mem, fb, sizes({"path": "brute", **p}), p) <= BUDGET_BYTES
            dmax = _bisect_max(fits, 1, BRUTE_MAX_STATES)
            if dmax is None:
                continue
            p = {"path": "brute", "n": n, "d": dmax}
            s = sizes(p)
            bound = "library limit (d+1)^n <= 4096" if (dmax + 2) ** n > BRUTE_MAX_STATES else "24 GiB"
            per_n.append({"n": n, "d_max": dmax, "states": s["states"], "table": s["table"],
                          "predicted_gib": _predict(mem, fb, s, p) / GIB, "bound": bound})
        at_limit = [{"n": n, "d": d, "predicted_gib": _predict(mem, fb, sizes({"path": "brute", "n": n, "d": d}),
                                                               {"n": n, "d": d}) / GIB}
                    for n, d in ((12, 1), (6, 3), (4, 7), (3, 15), (2, 63))]
        out["brute"] = {"memory_model_bytes": dict(zip(("base", "per_table_entry", "per_table_entry_per_n"),
                                                       mem.tolist(), strict=True)),
                        "per_n": per_n, "at_the_4096_state_limit": at_limit}
    smp = {}
    for kind, feats in (("stochastic", lambda s, p: (s["tokens"],)), ("confidence", lambda s, p: (s["tokens"], s["pairs"]))):
        rows = [r for name, rr in results.items() if name.startswith("sampler") for r in _ok(rr)
                if r["params"]["sampler"] == kind]
        mem, tim = _model(rows, feats, "peak_bytes"), _model(rows, feats, "warm_s")
        if mem is None:
            continue
        entry = {}
        for label, fixed, var in (("batch_at_n128", {"n": 128}, "batch"), ("length_at_batch64", {"batch": 64}, "n")):
            def point(v, kind=kind, fixed=fixed, var=var):
                return {"path": "sampler", "d": 8, "K": 32, "sampler": kind, **fixed, var: v}

            def fits(v, mem=mem, feats=feats, point=point):
                return _predict(mem, feats, sizes(point(v)), point(v)) <= BUDGET_BYTES
            v = _bisect_max(fits, 1, 1 << 40)
            if v is None or v == 1 << 40:  # a flat fitted model bounds nothing
                entry[label] = None
                continue
            entry[label] = {var: v, "predicted_warm_s": max(_predict(tim, feats, sizes(point(v)), point(v)), 0.0)}
        smp[kind] = entry
    if smp:
        out["sampler"] = smp
    grid = _ok(results.get("tuning: grid points", []))
    if grid:
        big = max(grid, key=lambda r: r["sizes"]["points"])
        per_point = big["warm_s"] / big["sizes"]["points"]
        out["tuning"] = {"seconds_per_point": per_point, "predicted_s_1000x1000": per_point * 1e6,
                         "note": "memory is capped by chunking (about 1 GiB a chunk): the grid is bounded by time"}
    return out


# ----------------------------------------------------------------------------- output


def _fmt(v, spec="+.2f"):
    return "-" if v is None else format(v, spec)


def print_report(cs: list[Curve], results: dict, fits: dict, big: dict, method: str) -> None:
    print(f"\n== points (memory: {method}) ==")
    print(f"  {'curve':30s} {'point':28s} {'x':>10s} {'first s':>8s} {'warm s':>9s} {'warm/cal':>9s} {'peak MiB':>9s}")
    for c in cs:
        for r in results[c.name]:
            head = f"  {c.name:30s} {_describe(r['params']):28s} {r['sizes'][c.x]:>10d}"
            if "warm_s" not in r:
                print(f"{head} {r.get('skipped') or r.get('error')}")
                continue
            print(f"{head} {r['first_s']:8.2f} {r['warm_s']:9.4f} {r['warm_s'] / r['calibration_s']:9.2f} "
                  f"{r['peak_bytes'] / 2**20:9.1f}")
    cal = [r["calibration_s"] for rows in results.values() for r in _ok(rows)]
    if cal:
        print(f"  calibration (fixed jitted workload, per point): {min(cal) * 1e3:.1f} .. {max(cal) * 1e3:.1f} ms "
              f"(max/min {max(cal) / min(cal):.2f}: how steady the machine was)")
    print("\n== fitted exponents (log-log least squares over x >= fit from) ==")
    print("  (mem: peak RSS; mem-base: minus the curve's smallest peak, the fixed cost of a process and a compile)")
    print(f"  {'curve':30s} {'x':>11s} {'fit from':>9s} {'time':>6s} {'expect':>7s} {'mem':>6s} {'mem-base':>8s} "
          f"{'expect':>7s}  why")
    for c in cs:
        f = fits[c.name]
        t, m, mb = f["time"], f["memory"], f["memory_above_base"]
        print(f"  {c.name:30s} {c.x:>11s} {c.fit_from:9.3g} {_fmt(t and t['exponent']):>6s} "
              f"{_fmt(c.expected_time):>7s} {_fmt(m and m['exponent']):>6s} {_fmt(mb and mb['exponent']):>8s} "
              f"{_fmt(c.expected_memory):>7s}  {c.why}")
        if f.get("time_vs_transitions"):
            print(f"  {'':30s} {'transitions':>11s} {'':9s} {_fmt(f['time_vs_transitions']['exponent']):>6s} {'+1.00':>7s}")
        if c.x == "devices":
            good = _ok(results[c.name])
            one = [r["warm_s"] for r in good if r["sizes"]["devices"] == 1]
            if one:
                print(f"  {'':30s} time(1 device) / time(N devices): " + ", ".join(
                    f"N={r['sizes']['devices']}: {one[0] / r['warm_s']:.2f}x" for r in good)
                    + f" ({os.cpu_count()} CPUs: the forced devices share them, so no gain past {os.cpu_count()})")
    print("\n== largest problem per path within 24 GiB (extrapolated from linear memory models) ==")
    ex = big.get("exact")
    if ex:
        print("  exact output (stochastic, K = 8, Markov oracle): largest d per n")
        for e in ex["per_n"][:14]:
            print(f"    n={e['n']:2d} d<={e['d_max']:<8d} states {e['states']:>9d} transitions {e['transitions']:.3g} "
                  f"~{e['predicted_gib']:5.1f} GiB, warm ~{_fmt(e['predicted_warm_s_K8'], '.3g')} s  bound: {e['bound']}")
        b = ex["largest_states"]
        if b:
            print(f"    most states: n={b['n']}, d={b['d_max']}: {b['states']} states ({b['bound']})")
        print("    largest n: " + ", ".join(f"d={d}: n<={n}" for d, n in ex["largest_n_by_d"].items()))
        mm = ex["memory_model_bytes"]
        print(f"    why: the fitted memory is {mm['base'] / 2**20:.0f} MiB + {mm['per_transition']:.0f} + "
              f"{mm['per_transition_per_n']:.0f} n bytes per transition ((2d+1)^n of them: src, dst, tokens, the "
              f"(E, n) gather) + {mm['per_output']:.0f} bytes per denoiser output (S n d): it grows with the "
              f"transitions, not the states" + (", so exact_output's own limit (1e7 states) does not keep a call within "
                                                "24 GiB" if any(e["bound"] == "24 GiB" for e in ex["per_n"]) else ""))
    bf = big.get("brute")
    if bf:
        print("  brute-force kinetic energy (377 nodes): largest d per n")
        for e in bf["per_n"]:
            print(f"    n={e['n']:2d} d<={e['d_max']:<4d} states {e['states']:>5d} S*D {e['table']:.3g} "
                  f"~{e['predicted_gib']:5.1f} GiB  bound: {e['bound']}")
        print("    at the 4096-state limit: " + ", ".join(f"n={e['n']} d={e['d']} ~{e['predicted_gib']:.0f} GiB"
                                                   for e in bf["at_the_4096_state_limit"]))
    for kind, e in big.get("sampler", {}).items():
        print(f"  sampler {kind}: " + "; ".join(f"{k} -> {v}" for k, v in e.items()))
    if "tuning" in big:
        t = big["tuning"]
        print(f"  tuning grid: {t['seconds_per_point'] * 1e3:.3f} ms per point warm; 1000 x 1000 (the CLI's largest) "
              f"~{t['predicted_s_1000x1000'] / 60:.0f} min; {t['note']}")


def _json_safe(v):
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if isinstance(v, np.generic):
        return _json_safe(v.item())
    return v


PANELS = (  # (path, x, y, title, x label)
    ("exact", "states", "warm_s", "exact output: time vs states", "states (d+1)^n"),
    ("exact", "states", "peak_bytes", "exact output: peak memory vs states", "states (d+1)^n"),
    ("exact", "K", "warm_s", "exact output: time vs K", "steps K"),
    ("brute", "table", "warm_s", "brute-force kinetic energy: time", "S x D = (d+1)^n d^n"),
    ("brute", "table", "peak_bytes", "brute-force kinetic energy: peak memory", "S x D = (d+1)^n d^n"),
    ("sampler", None, "throughput", "sampler (Markov, d=8, K=32): throughput", "batch (n=128) or length (batch 64)"),
    ("sampler", None, "peak_bytes", "sampler: peak memory", "batch (n=128) or length (batch 64)"),
    ("tuning", "points", "warm_s", "tuning grid ('modes', K=3): time", "grid points"),
    ("tuning", "devices", "warm_s", "tuning grid: time vs forced host devices", "devices (on the machine's CPUs)"),
)


def plot(cs: list[Curve], results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 3, figsize=(15, 12))
    for ax, (pathname, x, y, title, xlabel) in zip(axes.ravel(), PANELS, strict=True):
        for c in cs:
            if c.path != pathname or (x is not None and c.x != x):
                continue
            good = _ok(results[c.name])
            xs = [r["sizes"][c.x] for r in good]
            if y == "throughput":
                ys = [r["sizes"]["tokens"] / r["warm_s"] for r in good]
            else:
                ys = [r[y] / 2**20 if y == "peak_bytes" else r[y] for r in good]
            ax.plot(xs, ys, "o-", label=c.name.split(": ", 1)[1])
        ax.set_xscale("log", base=2 if x == "devices" else 10)
        ax.set_yscale("linear" if x == "devices" else "log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel, fontsize=9)
        ax.set_ylabel({"warm_s": "warm s", "peak_bytes": "peak MiB", "throughput": "tokens/s"}[y])
        ax.grid(True, which="both", alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    fig.suptitle("mdm_ot: cost against size (benchmarks/scaling.py)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, points in this process (seconds; for the test)")
    ap.add_argument("--inprocess", action="store_true", help="run the points in this process (memory: high-water mark)")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--plot", type=Path, default=DEFAULT_PLOT, help="the PNG (default benchmarks/scaling.png)")
    ap.add_argument("--safe-gib", type=float, default=3.5, help="skip points predicted above this (GiB)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per subprocess point")
    ap.add_argument("--paths", default="exact,brute,sampler,tuning",
                    help="comma-separated subset of exact, brute, sampler, tuning (default: all)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(run_point(json.loads(args.child))))
        return {}
    wall0, cpu0 = time.perf_counter(), time.process_time()
    inprocess = args.quick or args.inprocess
    method = ("peak RSS (VmHWM, reset before the point; else ru_maxrss) minus the RSS before the point, "
              + ("all points in this process (the device curve: one subprocess per point)" if inprocess
                 else "each point in a fresh subprocess"))
    paths = {x.strip() for x in args.paths.split(",") if x.strip()}
    if not paths or paths - set(PATHS):
        ap.error(f"--paths: unknown path in {args.paths!r}; allowed: {', '.join(PATHS)}")
    cs = [c for c in curves(args.quick) if c.path in paths]
    print(f"scaling benchmark ({'quick' if args.quick else 'full'}): {os.cpu_count()} CPUs, memory: {method}")
    results = {c.name: run_curve(c, inprocess=inprocess, safe_bytes=args.safe_gib * GIB, timeout=args.timeout)
               for c in cs}
    fits = {c.name: curve_fits(c, results[c.name]) for c in cs}
    big = largest(results)
    print_report(cs, results, fits, big, method)
    if args.quick:
        print("quick: the sizes are in the warm-up regime; the exponents and the largest problems above mean "
              "nothing (run without --quick for the figures)")
    doc = {
        "mode": "quick" if args.quick else "full",
        "paths": sorted(paths),
        "memory_method": method,
        "cpus": os.cpu_count(),
        "budget_gib": BUDGET_BYTES / GIB,
        "safe_limit_gib": args.safe_gib,
        "curves": [{"name": c.name, "path": c.path, "x": c.x, "fit_from": c.fit_from,
                    "expected_time_exponent": c.expected_time, "expected_memory_exponent": c.expected_memory,
                    "why": c.why, "fits": fits[c.name], "points": results[c.name]} for c in cs],
        "largest": big,
        "wall_s": time.perf_counter() - wall0,
        "children_cpu_s": _children_cpu(),
        "parent_cpu_s": time.process_time() - cpu0,
    }
    doc = _json_safe(doc)
    if args.plot:
        plot(cs, results, args.plot)
        print(f"plot: {args.plot}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
        os.replace(tmp, args.json)
        print(f"json: {args.json}")
    print(f"total: wall {doc['wall_s']:.1f} s; CPU: this process {doc['parent_cpu_s']:.1f} s, "
          f"point subprocesses {doc['children_cpu_s']:.1f} s")
    return doc


if __name__ == "__main__":
    main()

"""Benchmark: the tuning engine's own cost per trial (issue 11).

``mdm_ot.tuning.run_study`` with a shell-command evaluator on the paper's 10 x 10 grid
(100 points; the baselines are left out so that every trial is a grid point):

1. An evaluator that answers at once (``cat >/dev/null; echo '{"score": 0.5}'``): the wall
   time is all engine (storage, one evaluator process per trial, bookkeeping). On SQLite and
   on PostgreSQL, with 1 and 4 workers. Goal (the issue's): under 50 ms per trial on SQLite,
   so under 5 s for the 100-point grid. Named baseline: the same number of bare
   ``subprocess.run(cmd, shell=True)`` calls with the request on stdin, one after another
   (the cost of starting the evaluator, which no engine can avoid); the ratio engine /
   bare says what the study machinery adds.
2. An evaluator that sleeps 1 s (``sleep 1``), 4 workers, the 100-point grid on SQLite.
   Goal: under 30 s; the ideal is 100 / 4 x 1 s = 25 s, and the ratio wall / ideal is printed.
3. examples/toy_evaluator.py (Python + NumPy start-up per trial) on SQLite, 1 worker: what a
   small real evaluator costs per trial.

PostgreSQL runs when the server tools and psycopg2 are present (a throwaway cluster from
tests/tuning/conftest.py's PostgresServer), or with --postgres URL; otherwise the rows say
why they were skipped. Everything runs in temporary folders; nothing is left behind.

Run: .venv/bin/python benchmarks/tune_overhead.py [--quick] [--json]
(``--quick``: a 5 x 5 grid and no 1-s run; a smoke test, not the figures.)
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
INSTANT = "cat >/dev/null; echo '{\"score\": 0.5}'"
ONE_POINT = "0.5:0.5:1,0.5:0.5:1"
SLEEPY = "cat >/dev/null; sleep 1; echo '{\"score\": 0.5}'"


def _postgres_server():
    """tests/tuning/conftest.py's throwaway-server helper (one implementation of it)."""
    path = REPO / "tests" / "tuning" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_mdm_ot_pg_conftest", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclass looks its module up while being built
    spec.loader.exec_module(mod)
    return mod.PostgresServer, mod.PostgresUnavailable


def _study(command: str, grid: str, storage: str, workers: int, name: str) -> dict:
    from mdm_ot.tuning import run_study

    t0 = time.perf_counter()
    rep = run_study(command, 8, grid=grid, storage=storage, study=name, workers=workers,
                    direction="maximize", baselines=(), heartbeat=10)
    wall = time.perf_counter() - t0
    n = sum(t["state"] == "COMPLETE" for t in rep["trials"])
    return {"wall_s": wall, "trials": n}


def _bare(command: str, n: int) -> float:
    from mdm_ot.tuning import make_request

    payload = json.dumps(make_request("beta:0.5,0.5", 8))
    t0 = time.perf_counter()
    for _ in range(n):
        subprocess.run(command, shell=True, input=payload, text=True, capture_output=True, check=True)
    return (time.perf_counter() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 x 5 grid, no 1-s evaluator")
    ap.add_argument("--postgres", default=None, metavar="URL",
                    help="use this (empty) PostgreSQL database instead of a throwaway server")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = ap.parse_args()
    import jax
    import optuna

    jax.config.update("jax_enable_x64", True)  # as the CLI does
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    grid = "0.1:0.5:5,0.1:0.5:5" if args.quick else "paper"
    points = 25 if args.quick else 100
    rows: dict = {"grid": grid, "points": points, "cpus": os.cpu_count(),
                  "load_avg_1min": os.getloadavg()[0]}
    bare = _bare(INSTANT, points)
    rows["bare_subprocess_ms"] = 1000 * bare
    counter = iter(range(1000))

    with tempfile.TemporaryDirectory(prefix="mdm-ot-bench-") as tmp, contextlib.ExitStack() as stack:
        def sqlite():
            return f"sqlite:///{tmp}/s{next(counter)}.db"

        pg_urls = None
        if args.postgres:
            pg_urls = lambda: args.postgres  # noqa: E731  (one study name per run keeps them apart)
        else:
            try:
                server_cls, unavailable = _postgres_server()
                server = stack.enter_context(server_cls.start())
                pg_urls = server.new_url
            except Exception as exc:  # PostgresUnavailable or anything the helper met
                rows["postgres_skipped"] = str(exc)

        runs = [("sqlite", sqlite, 1), ("sqlite", sqlite, 4)]
        if pg_urls is not None:
            runs += [("postgres", pg_urls, 1), ("postgres", pg_urls, 4)]
        for backend, url, workers in runs:
            # a one-point study first: the fixed cost (storage, study creation) apart from the
            # cost per trial
            one = _study(INSTANT, ONE_POINT, url(), workers, f"one-{backend}-{workers}-{next(counter)}")
            r = _study(INSTANT, grid, url(), workers, f"instant-{backend}-{workers}-{next(counter)}")
            per = 1000 * r["wall_s"] / points
            slope = 1000 * (r["wall_s"] - one["wall_s"]) / (points - 1)
            key = f"instant_{backend}_{workers}w"
            rows[key] = {**r, "ms_per_trial": per, "one_point_s": one["wall_s"], "ms_per_extra_trial": slope,
                         "engine_over_bare": slope / rows["bare_subprocess_ms"]}
        toy = f"'{sys.executable}' '{REPO / 'examples' / 'toy_evaluator.py'}'"
        r = _study(toy, grid, sqlite(), 1, f"toy-{next(counter)}")
        rows["toy_evaluator_sqlite_1w"] = {**r, "ms_per_trial": 1000 * r["wall_s"] / points}
        if not args.quick:
            r = _study(SLEEPY, grid, sqlite(), 4, f"sleep-{next(counter)}")
            ideal = points / 4 * 1.0
            rows["sleep1s_sqlite_4w"] = {**r, "ideal_s": ideal, "wall_over_ideal": r["wall_s"] / ideal}

    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"engine overhead per trial, {points}-point grid ({grid}); {rows['cpus']} CPUs, "
          f"load average {rows['load_avg_1min']:.1f} at the start")
    print("  goal (SQLite): < 50 ms/trial, the 100-point grid < 5 s")
    print(f"  baseline: bare subprocess with the request on stdin   {rows['bare_subprocess_ms']:7.1f} ms/call")
    for key, r in rows.items():
        if key.startswith("instant_"):
            print(f"  {key:<20} {r['wall_s']:6.2f} s = {r['ms_per_trial']:6.1f} ms/trial; one-point study "
                  f"{r['one_point_s']:5.2f} s, then {r['ms_per_extra_trial']:6.1f} ms per extra trial "
                  f"(engine/bare {r['engine_over_bare']:4.1f}x)")
    if "postgres_skipped" in rows:
        print(f"  postgres: skipped ({rows['postgres_skipped']})")
    t = rows["toy_evaluator_sqlite_1w"]
    print(f"  toy_evaluator (Python+NumPy) 1w  {t['wall_s']:6.2f} s  {t['ms_per_trial']:7.1f} ms/trial")
    if "sleep1s_sqlite_4w" in rows:
        s = rows["sleep1s_sqlite_4w"]
        print(f"  1-s evaluator, 4 workers       {s['wall_s']:6.2f} s  (ideal {s['ideal_s']:.0f} s, "
              f"ratio {s['wall_over_ideal']:.2f}; goal < 30 s)")


if __name__ == "__main__":
    main()

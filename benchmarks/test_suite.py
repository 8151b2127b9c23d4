"""How long the default test run takes, cold and warm (issue 14, part 4).

Runs the README's test command (``pytest -q -n 2``) twice in subprocesses: first with an
empty JAX persistent compilation cache (a fresh clone, as CI sees it), then again with the
cache the first run filled (a developer's second run; the mutation suite's re-runs). Also
records the slowest tests of the cold run (``--durations``), which say what dominates.
The baseline is the same command with the cache switched off (``MDM_OT_TEST_JAX_CACHE=0``),
run with ``--baseline`` (another ~5 minutes).

Usage:
  python benchmarks/test_suite.py --json /tmp/suite.json [--baseline]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(env_extra: dict, durations: int = 0) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider"]
    if durations:
        cmd.append(f"--durations={durations}")
    env = {**os.environ, **env_extra}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    slowest = [line.strip() for line in proc.stdout.splitlines() if re.match(r"^\d+\.\d+s (call|setup|teardown)", line.strip())]
    failed = [line for line in proc.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return {"wall_s": wall, "returncode": proc.returncode, "summary": tail, "slowest": slowest, "failed": failed}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", metavar="PATH", help="write the figures here")
    ap.add_argument("--baseline", action="store_true", help="also time a run with the cache switched off")
    args = ap.parse_args(argv)
    out = {"command": "pytest -q -n 2", "cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="mdm_ot_jax_cache_") as cache:
        env = {"JAX_COMPILATION_CACHE_DIR": cache}
        out["cold"] = run(env, durations=15)
        print(f"cold (empty compilation cache): {out['cold']['wall_s']:.0f} s  {out['cold']['summary']}", flush=True)
        out["warm"] = run(env)
        print(f"warm (cache of the cold run):   {out['warm']['wall_s']:.0f} s  {out['warm']['summary']}", flush=True)
        out["cache_mib"] = sum(f.stat().st_size for f in Path(cache).rglob("*") if f.is_file()) / 2**20
    if args.baseline:
        out["no_cache"] = run({"MDM_OT_TEST_JAX_CACHE": "0"})
        print(f"no cache (baseline):            {out['no_cache']['wall_s']:.0f} s  {out['no_cache']['summary']}")
    out["warm_over_cold"] = out["warm"]["wall_s"] / out["cold"]["wall_s"]
    for line in out["cold"]["failed"] + out["warm"]["failed"]:
        print(line)
    print("slowest tests of the cold run:")
    for line in out["cold"]["slowest"]:
        print("  " + line)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0 if all(out[k]["returncode"] == 0 for k in ("cold", "warm")) else 1


if __name__ == "__main__":
    sys.exit(main())

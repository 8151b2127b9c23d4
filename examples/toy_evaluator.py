#!/usr/bin/env python3
"""A toy evaluator for ``mdm-ot tune --command``: copy it and put your benchmark in ``score``.

The protocol (docs/tune_your_model.md): ``mdm-ot tune`` runs this script once per trial with
one evaluation request, a JSON object, on stdin; the script prints the answer, a JSON object
with a finite ``score`` and any extra metrics, as the LAST line of stdout. Logs go to stderr
(the engine keeps its tail when a trial fails). A non-zero exit marks the trial failed.

    mdm-ot tune --command 'python examples/toy_evaluator.py' --steps 8 --grid paper

The request fields used here: ``alpha_grid`` (K+1 values of alpha, the probability that a
token is unmasked, from 0 at t = 0, all masked, to 1), ``steps`` (K), ``subset_size`` (how
many benchmark items to evaluate; null = all) and ``seed``.

The toy benchmark (ours, made up for the example; not from the paper): item ``i`` has a
difficulty ``c_i`` (drawn once from ``seed``; a smaller subset is a prefix of a larger one,
as the two-stage protocol expects). Revealing the fraction ``d_k = alpha_k - alpha_{k-1}`` of
the tokens at step ``k`` costs ``K d_k^2 (1 + c_i m_k)``, where ``m_k = 1 - alpha_{k-1}`` is
the fraction still masked: many tokens at once, with little context, is expensive. The
item's score is ``exp(-cost / (1 + c_i))``, the answer the mean over items (maximize it).
Its best Beta schedules reveal little at first and more later.

Only the standard library and NumPy: no mdm_ot import, so it runs in any environment.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

#: the size of the whole toy benchmark (``subset_size`` null means all of it)
NUM_ITEMS = 200


def read_request(stream) -> dict:
    """The request on ``stream``; raises ValueError when a field this script needs is bad."""
    try:
        req = json.loads(stream.read())
    except json.JSONDecodeError as exc:
        raise ValueError(f"the request is not JSON: {exc}") from None
    if not isinstance(req, dict):
        raise ValueError("the request must be a JSON object")
    alpha = req.get("alpha_grid")
    steps = req.get("steps")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if not isinstance(alpha, list) or len(alpha) != steps + 1:
        raise ValueError(f"alpha_grid must be a list of steps + 1 = {steps + 1} numbers")
    a = np.asarray(alpha, dtype=np.float64)
    if not np.all(np.isfinite(a)) or np.any(np.diff(a) < 0) or a[0] != 0.0 or a[-1] != 1.0:
        raise ValueError("alpha_grid must increase from 0 (all masked) to 1 (all revealed)")
    size = req.get("subset_size")
    if size is not None and (not isinstance(size, int) or size < 1):
        raise ValueError(f"subset_size must be null or an integer >= 1, got {size!r}")
    return req


def difficulties(seed: int, n: int) -> np.ndarray:
    """The first ``n`` item difficulties of the benchmark drawn with ``seed`` (nested in n)."""
    return np.random.default_rng(seed).uniform(4.0, 16.0, NUM_ITEMS)[: min(n, NUM_ITEMS)]


def score(alpha_grid, seed: int, subset_size: int | None) -> dict:
    """The toy benchmark on ``subset_size`` items: ``{"score": mean, "score_se": ..., "items": n}``."""
    a = np.asarray(alpha_grid, dtype=np.float64)
    steps = len(a) - 1
    c = difficulties(seed, NUM_ITEMS if subset_size is None else subset_size)
    d, masked = np.diff(a), 1.0 - a[:-1]
    cost = steps * np.sum(d[None, :] ** 2 * (1.0 + c[:, None] * masked[None, :]), axis=1)
    item = np.exp(-cost / (1.0 + c))
    se = float(item.std(ddof=1) / math.sqrt(len(item))) if len(item) > 1 else 0.0
    return {"score": float(item.mean()), "score_se": se, "items": int(len(item))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--sleep", type=float, default=0.0,
                        help="seconds to wait before answering (stands for a slow benchmark)")
    args = parser.parse_args(argv)
    try:
        req = read_request(sys.stdin)
    except ValueError as exc:
        print(f"toy_evaluator: bad request: {exc}", file=sys.stderr)
        return 2
    print(f"toy_evaluator: trial {req.get('trial')} {req.get('schedule')} K={req['steps']} "
          f"stage {req.get('stage')} subset {req.get('subset_size')}", file=sys.stderr)
    time.sleep(max(args.sleep, 0.0))
    answer = score(req["alpha_grid"], int(req.get("seed") or 0), req.get("subset_size"))
    print(json.dumps(answer))  # the last line of stdout is the answer
    return 0


if __name__ == "__main__":
    sys.exit(main())

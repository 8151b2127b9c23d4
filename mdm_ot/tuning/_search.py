r"""Searching the Beta family on a grid: every grid point (:func:`grid_search`), and the
paper's two-stage protocol (Appendix E.1), once for any score (:func:`two_stage_search`)
and on a Beta grid for an :class:`Objective` with a subset estimate (:func:`two_stage`).

Example:
  >>> from mdm_ot.tuning import grid_search, make_objective, parse_grid
  >>> res = grid_search(make_objective("modes", 3), *parse_grid("0.5:1:2,0.5:1:2"))
  >>> (res.best.a, res.best.b) in [(0.5, 0.5), (0.5, 1.0), (1.0, 0.5), (1.0, 1.0)]
  True

References:
  The paper's section 4 (Beta family), Appendix E.1 and Table 1 (two-stage protocol, rank
  agreement); docs/tuning.md.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from mdm_ot.schedules import beta_schedule
from mdm_ot.stats import kendall_tau
from mdm_ot.tuning._core import Best, _best_index, _check_axis, _flat_points, _json_number, _order
from mdm_ot.tuning._objectives import CallableObjective, ExactDivergence, Objective

__all__ = [
    "GRID_SPECS",
    "GridResult",
    "TwoStageRecord",
    "TwoStageResult",
    "grid_neighbours",
    "grid_search",
    "parse_grid",
    "two_stage",
    "two_stage_search",
]

_PAPER_VALUES = tuple(round(0.1 * i, 10) for i in range(1, 11))
GRID_SPECS = "paper (a, b in 0.1..1.0 step 0.1), fine (0.05..2.0 step 0.05), A0:A1:N,B0:B1:N (N evenly spaced values, 0 < A0 <= A1)"


def _parse_axis(part: str, spec: str) -> np.ndarray:
    pieces = part.split(":")
    if len(pieces) != 3:
        raise ValueError(f"bad grid {spec!r}: each axis is A0:A1:N; allowed: {GRID_SPECS}")
    try:
        lo, hi = float(pieces[0]), float(pieces[1])
        num = int(pieces[2])
    except ValueError:
        raise ValueError(f"bad grid {spec!r}: A0, A1 must be numbers and N an integer; allowed: {GRID_SPECS}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 or hi < lo:
        raise ValueError(f"bad grid {spec!r}: need 0 < A0 <= A1 (Beta parameters are > 0); allowed: {GRID_SPECS}")
    if num < 1 or (num == 1 and hi != lo):
        raise ValueError(f"bad grid {spec!r}: N must be >= 1 (N = 1 only with A0 = A1); allowed: {GRID_SPECS}")
    return np.linspace(lo, hi, num)


def parse_grid(spec: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse a grid spec into the values of ``a`` and of ``b`` (:data:`GRID_SPECS`).

    ``paper``: a, b in {0.1, ..., 1.0} (the paper's coarse grid, Appendix E.1);
    ``fine``: a, b in {0.05, 0.10, ..., 2.0} (40 x 40, beyond 1);
    ``A0:A1:N,B0:B1:N``: ``N`` evenly spaced values from ``A0`` to ``A1`` (inclusive).
    """
    if not isinstance(spec, str):
        raise ValueError(f"the grid must be a string; allowed: {GRID_SPECS}")
    s = spec.strip().lower()
    if s == "paper":
        v = np.array(_PAPER_VALUES)
        return v, v.copy()
    if s == "fine":
        v = np.round(0.05 * np.arange(1, 41), 10)
        return v, v.copy()
    parts = s.split(",")
    if len(parts) != 2:
        raise ValueError(f"unknown grid {spec!r}; allowed: {GRID_SPECS}")
    return _parse_axis(parts[0], spec), _parse_axis(parts[1], spec)


@dataclasses.dataclass(frozen=True)
class GridResult:
    """Every grid point's value (``values[i, j]`` at ``a[i], b[j]``), the best point and
    the settings (non-finite values are ``inf``/``nan``; ``None`` in :meth:`to_dict`)."""

    a: np.ndarray
    b: np.ndarray
    values: np.ndarray
    best: Best
    settings: dict

    def to_dict(self) -> dict:
        return {"best": self.best.to_dict(), "grid": _flat_points(self.a, self.b, self.values),
                "settings": self.settings}


@dataclasses.dataclass(frozen=True)
class TwoStageResult:
    r"""The two-stage protocol's record.

    Attributes:
      a, b: the grid values.
      coarse: ``[Na, Nb]`` subset estimates (``coarse_size``) at every grid point.
      shortlist: ``[(i, j), ...]`` the ``top_k`` grid indices by the coarse estimate, best first.
      fine: ``[Na, Nb]`` larger-subset estimates (``fine_size``) on the shortlist, NaN elsewhere.
      full: ``[Na, Nb]`` full evaluations where made (``full="all"``: everywhere;
        ``"shortlist"``: on the shortlist), NaN elsewhere; None with ``full="none"``.
      best: the shortlist point that is best by the fine estimate, with its full value when
        known (else its fine estimate).
      best_full: the best point of the full evaluation (``full="all"`` only), to see whether
        the protocol found it.
      tau_coarse: Kendall's tau between the coarse estimate and the full evaluation (over
        the whole grid with ``full="all"``, over the shortlist with ``"shortlist"``).
      tau_fine: Kendall's tau between the fine estimate and the full evaluation, over the
        shortlist.
      settings: everything that produced the result.
    """

    a: np.ndarray
    b: np.ndarray
    coarse: np.ndarray
    shortlist: list
    fine: np.ndarray
    full: np.ndarray | None
    best: Best
    best_full: Best | None
    tau_coarse: float | None
    tau_fine: float | None
    settings: dict

    @property
    def values(self) -> np.ndarray:
        """The full values where known, else the coarse estimates (for plots)."""
        return self.coarse if self.full is None or np.all(np.isnan(self.full)) else np.where(np.isnan(self.full), self.coarse, self.full)

    def to_dict(self) -> dict:
        full = self.full if self.full is not None else np.full(self.coarse.shape, np.nan)
        points = _flat_points(self.a, self.b, full, coarse=self.coarse, fine=self.fine)
        short = [(float(self.a[i]), float(self.b[j])) for i, j in self.shortlist]
        return {
            "best": self.best.to_dict(),
            "grid": points,
            "settings": self.settings,
            "two_stage": {
                "shortlist": [{"a": a, "b": b} for a, b in short],
                "best_full": None if self.best_full is None else self.best_full.to_dict(),
                "kendall_tau_coarse_vs_full": _json_number(np.nan if self.tau_coarse is None else self.tau_coarse),
                "kendall_tau_fine_vs_full": _json_number(np.nan if self.tau_fine is None else self.tau_fine),
            },
        }


# ----------------------------------------------------------------------------- batched evaluation


@jax.jit
def _values_batch(objective, a, b):
    return jax.vmap(lambda ai, bi: objective(beta_schedule(ai, bi)))(a, b)


@functools.partial(jax.jit, static_argnames=("size",))
def _subset_batch(objective, a, b, key, size):
    return jax.vmap(lambda ai, bi: objective.subset(beta_schedule(ai, bi), size, key))(a, b)


# Exact targets in two phases: the output distributions (the costly compile, shared by the
# full evaluation and every subset size), then the cheap metric or estimate.
@jax.jit
def _outputs_batch(objective, a, b):
    return jax.vmap(lambda ai, bi: objective.output(beta_schedule(ai, bi)))(a, b)


def _sampler_only(objective: ExactDivergence) -> ExactDivergence:
    """The same sampler with the default metric: the outputs do not depend on the metric,
    so every metric shares one compiled :func:`_outputs_batch`."""
    return dataclasses.replace(objective, metric="kl")


@jax.jit
def _metric_batch(objective, p):
    return jax.vmap(objective._metric)(p)


@functools.partial(jax.jit, static_argnames=("size",))
def _estimate_batch(objective, p, key, size):
    return jax.vmap(lambda pi: objective.estimate(pi, size, key))(p)


def _devices(devices) -> list:
    devs = list(jax.local_devices() if devices is None else devices)
    if not devs:
        raise ValueError("no devices to run on")
    return devs


def _evaluate_points(objective: Objective, a: np.ndarray, b: np.ndarray, *, devices=None, chunk_size=None,
                     progress=False, subset: tuple[int, int] | None = None, desc="grid",
                     outputs: bool = False) -> np.ndarray:
    """The objective (or its subset estimate with ``subset = (size, seed)``, or with
    ``outputs`` the exact output distributions of an :class:`ExactDivergence`) at every
    ``(a[i], b[i])``: batched, chunked, sharded; or a Python loop if not jittable."""
    a = np.asarray(a, float).ravel()
    b = np.asarray(b, float).ravel()
    num = a.shape[0]
    if num == 0:
        return np.zeros(0)
    if not objective.jittable:
        from tqdm.auto import tqdm

        out = np.empty(num)
        for i in tqdm(range(num), desc=desc, disable=not progress, leave=False):
            sched = beta_schedule(a[i], b[i])
            val = objective(sched) if subset is None else objective.subset(sched, subset[0], subset[1])
            out[i] = float(val)
        return out
    devs = _devices(devices)
    ndev = len(devs)
    if chunk_size is None:
        # a power of two (at least 16), so that grids of nearby sizes share a compilation
        chunk = min(max(1, (1 << 30) // max(1, objective.bytes_per_eval())), max(16, 1 << (num - 1).bit_length()))
    else:
        chunk = int(chunk_size)  # always this size, so that every batch reuses one compilation
        if chunk < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
    chunk = max(ndev, -(-chunk // ndev) * ndev)  # a multiple of the device count
    dtype = jnp.result_type(float)
    a_pad = np.concatenate([a, np.full((-num) % chunk, a[0])])
    b_pad = np.concatenate([b, np.full((-num) % chunk, b[0])])
    if ndev > 1:
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        sharding = NamedSharding(Mesh(np.array(devs), ("batch",)), PartitionSpec("batch"))
    else:
        sharding = jax.sharding.SingleDeviceSharding(devs[0])
    key = None if subset is None else jax.random.PRNGKey(subset[1])
    if key is not None and ndev > 1:
        key = jax.device_put(key, NamedSharding(sharding.mesh, PartitionSpec()))
    elif key is not None:
        key = jax.device_put(key, devs[0])
    from tqdm.auto import tqdm

    out = []
    starts = range(0, a_pad.shape[0], chunk)
    for s in tqdm(starts, desc=desc, disable=not progress or len(starts) < 2, leave=False):
        ac = jax.device_put(jnp.asarray(a_pad[s:s + chunk], dtype), sharding)
        bc = jax.device_put(jnp.asarray(b_pad[s:s + chunk], dtype), sharding)
        if outputs:
            vals = _outputs_batch(_sampler_only(objective), ac, bc)
        elif subset is None:
            vals = _values_batch(objective, ac, bc)
        else:
            vals = _subset_batch(objective, ac, bc, key, subset[0])
        out.append(np.asarray(vals, float))
    return np.concatenate(out)[:num]


def _exact_values(objective: ExactDivergence, p: np.ndarray, subset: tuple[int, int] | None = None) -> np.ndarray:
    """The metric (or its estimate with ``subset = (size, seed)``) from exact outputs ``p``."""
    p = jnp.asarray(p)
    if subset is None:
        return np.asarray(_metric_batch(objective, p), float)
    return np.asarray(_estimate_batch(objective, p, jax.random.PRNGKey(subset[1]), subset[0]), float)


def _points(objective: Objective, a, b, *, subset=None, desc="grid", **kw) -> np.ndarray:
    if isinstance(objective, ExactDivergence):
        p = _evaluate_points(objective, a, b, outputs=True, desc=desc, **kw)
        return _exact_values(objective, p, subset)
    return _evaluate_points(objective, a, b, subset=subset, desc=desc, **kw)


def grid_search(objective: Objective, a_values: ArrayLike, b_values: ArrayLike, *, devices: Sequence | None = None,
                chunk_size: int | None = None, progress: bool = False) -> GridResult:
    r"""Evaluate the objective on every Beta schedule of the grid ``a_values x b_values``.

    Jittable objectives are evaluated with ``vmap`` over a flat batch of schedules, in
    chunks of ``chunk_size`` (default: the number of schedules rounded up to a power of two,
    at least 16, at most what fits about 1 GiB by :meth:`Objective.bytes_per_eval`; a given ``chunk_size`` is used for every batch, padded,
    so that grids of any size share one compilation), each chunk padded to a multiple of
    the number of devices and sharded over them (``NamedSharding`` over a 1-D mesh ``("batch",)``) when
    there are several. Other objectives run in a Python loop (progress bar if ``progress``).

    Args:
      objective: an :class:`Objective`.
      a_values, b_values: positive grid values (:func:`parse_grid`).
      devices: devices to shard over (default: all local devices).
      chunk_size: schedules per batch.
      progress: show a progress bar.

    Returns:
      :class:`GridResult`; the best point is the first best in row-major order
      (``a`` slow, ``b`` fast), NaN counts as worst.

    References:
      The paper's section 4 (Beta family) and Appendix E.1 (grid a, b in 0.1..1.0).
    """
    a_values = _check_axis(a_values, "a")
    b_values = _check_axis(b_values, "b")
    A, B = np.meshgrid(a_values, b_values, indexing="ij")
    vals = _points(objective, A, B, devices=devices, chunk_size=chunk_size, progress=progress)
    vals = vals.reshape(A.shape)
    k = _best_index(vals, objective.maximize)
    best = Best(float(A.ravel()[k]), float(B.ravel()[k]), float(vals.ravel()[k]))
    settings = {**objective.settings(), "method": "grid", "grid_shape": list(A.shape),
                "num_devices": len(_devices(devices)) if objective.jittable else 1}
    return GridResult(a_values, b_values, vals, best, settings)


# ----------------------------------------------------------------------------- two stages


@dataclasses.dataclass(frozen=True)
class TwoStageRecord:
    """The record of :func:`two_stage_search`.

    Attributes:
      points: the stage-1 points, in evaluation order.
      stage1: ``[len(points)]`` their scores on the small subset.
      shortlist: the ``top_k`` best points of stage 1, best first (ties keep their order).
      candidates: the stage-2 points: the shortlist (each expanded into its neighbours when
        ``expand`` was given, first occurrence kept), then the extras not already there.
      stage2: ``[len(candidates)]`` their scores on the large subset.
      num_shortlisted: how many candidates come from the shortlist (the rest are extras).
      best_index: the best candidate by its stage-2 score (first among equals; NaN worst),
        among the shortlisted ones unless the extras competed.
    """

    points: list
    stage1: np.ndarray
    shortlist: list
    candidates: list
    stage2: np.ndarray
    num_shortlisted: int
    best_index: int

    @property
    def best(self) -> Any:
        """The best candidate (a point, or an extra that competed)."""
        return self.candidates[self.best_index]

    @property
    def best_value(self) -> float:
        """Its stage-2 score."""
        return float(self.stage2[self.best_index])


def grid_neighbours(step: float, digits: int = 6) -> Callable[[tuple], list]:
    """``expand`` for :func:`two_stage_search` on ``(a, b)`` points: each point and its
    neighbours at ``-step, 0, +step`` in ``a`` and ``b`` (``a`` slow), rounded to ``digits``
    decimals in float64 (NumPy's rounding), positive values only: a finer pass around each
    shortlisted point."""
    def expand(point):
        a0, b0 = (np.float64(v) for v in point)
        out = []
        for da in (-step, 0.0, step):
            for db in (-step, 0.0, step):
                a, b = round(a0 + da, digits), round(b0 + db, digits)
                if a > 0 and b > 0:
                    out.append((a, b))
        return out

    return expand


def two_stage_search(score: Callable[[list, int, int], ArrayLike], points: Iterable[Hashable], *, small: int,
                     large: int, top_k: int, maximize: bool = False, expand: Callable[[Any], Iterable] | None = None,
                     extra: Sequence = (), extra_compete: bool = False) -> TwoStageRecord:
    r"""The paper's two-stage tuning protocol (Appendix E.1), for any score.

    1. Stage 1: ``score(points, small, 1)`` scores every point on a small subset.
    2. Shortlist: the ``top_k`` best of stage 1 (stable: ties keep the points' order; NaN
       counts as worst).
    3. Stage 2: ``score(candidates, large, 2)`` scores on a larger subset the shortlist
       (or, with ``expand``, each shortlisted point's neighbours: a finer pass,
       :func:`grid_neighbours`) and the ``extra`` candidates (hand-made baselines).
    4. The best stage-2 candidate of the shortlist is the answer (the extras too with
       ``extra_compete``); the first among equals.

    Args:
      score: ``score(points, size, stage) -> [len(points)]`` scores of a list of points on
        a subset of ``size`` prompts / samples / seeds; ``stage`` (1 or 2) lets it pick a
        fresh subset for stage 2. It sees the same subset for every point of a stage
        (common random numbers).
      points: the stage-1 candidates (any values: ``(a, b)`` pairs, schedule specs, indices).
      small, large: the subset sizes of stages 1 and 2.
      top_k: the shortlist's size.
      maximize: larger scores are better (task metrics); otherwise smaller.
      expand: ``expand(point) -> points`` scored in stage 2 instead of the point.
      extra: more stage-2 candidates, not eligible as the answer unless ``extra_compete``.
      extra_compete: let the extras win stage 2 too.

    Returns:
      :class:`TwoStageRecord`.

    References:
      The paper's Appendix E.1 (coarse grid on 50-150 examples, then the shortlist on more).
    """
    points = list(points)
    if not points:
        raise ValueError("two_stage_search needs at least one point")
    if not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"top_k must be an integer >= 1, got {top_k!r}")
    stage1 = np.asarray(score(points, small, 1), float).reshape(-1)
    if stage1.shape != (len(points),):
        raise ValueError(f"score returned {stage1.size} values for {len(points)} points")
    order = _order(stage1, maximize)[: min(int(top_k), len(points))]
    shortlist = [points[i] for i in order]
    candidates: list = []
    for p in shortlist:
        for q in (expand(p) if expand is not None else (p,)):
            if q not in candidates:
                candidates.append(q)
    num_shortlisted = len(candidates)
    candidates += [e for e in dict.fromkeys(extra) if e not in candidates]
    stage2 = np.asarray(score(candidates, large, 2), float).reshape(-1)
    if stage2.shape != (len(candidates),):
        raise ValueError(f"score returned {stage2.size} values for {len(candidates)} candidates")
    eligible = len(candidates) if extra_compete else num_shortlisted
    best = _best_index(stage2[:eligible], maximize)
    return TwoStageRecord(points, stage1, shortlist, candidates, stage2, num_shortlisted, best)


def two_stage(objective: Objective, a_values: ArrayLike, b_values: ArrayLike, *, coarse_size: int = 64,
              fine_size: int = 1024, top_k: int = 10, seed: int = 0, full: str = "all",
              devices: Sequence | None = None, chunk_size: int | None = None, progress: bool = False) -> TwoStageResult:
    r"""The paper's two-stage tuning protocol (Appendix E.1) on a Beta grid.

    :func:`two_stage_search` with the objective's subset estimate as the score:

    1. Coarse pass: every grid point scored by :meth:`Objective.subset` on ``coarse_size``
       prompts / samples (subset seed ``seed``; the same subset for every schedule).
    2. Shortlist: the ``top_k`` best by the coarse score (first among equals).
    3. Fine pass: the shortlist scored on ``fine_size`` (a fresh subset, seed ``seed + 1``);
       the best by the fine score is the result.
    4. Rank agreement: Kendall's :math:`\tau_b` between subset and full evaluation
       (:meth:`Objective.__call__`), as the paper's Table 1: ``full="all"`` evaluates the
       whole grid fully (cheap for exact oracle targets), ``"shortlist"`` only the
       shortlist (an expensive task metric), ``"none"`` skips it.

    For an :class:`ExactDivergence` the subset estimate comes from ``size`` samples of the
    sampler and the full evaluation is exact.

    Raises:
      ValueError: for bad sizes, or an objective without a subset estimate.

    References:
      The paper's Appendix E.1 (coarse grid on 50-150 examples, then the shortlist on more)
      and Table 1 (subset and full-set rankings agree).
    """
    for name, v in (("coarse_size", coarse_size), ("fine_size", fine_size), ("top_k", top_k)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if full not in ("all", "shortlist", "none"):
        raise ValueError(f"full must be 'all', 'shortlist' or 'none', got {full!r}")
    a_values = _check_axis(a_values, "a")
    b_values = _check_axis(b_values, "b")
    if type(objective).subset is Objective.subset or (isinstance(objective, CallableObjective) and objective.subset_fn is None):
        objective.subset(None, 1, None)  # raises the explanation
    A, B = np.meshgrid(a_values, b_values, indexing="ij")
    shape = A.shape
    kw = dict(devices=devices, chunk_size=chunk_size, progress=progress)
    if isinstance(objective, ExactDivergence):
        # The exact outputs of every grid point serve the coarse, fine and full passes.
        outputs = _evaluate_points(objective, A, B, outputs=True, desc="outputs", **kw)

        def evaluate(rows, subset=None):
            return _exact_values(objective, outputs[rows], subset)
    else:
        def evaluate(rows, subset=None):
            return _evaluate_points(objective, A.ravel()[rows], B.ravel()[rows], subset=subset, **kw)

    everything = np.arange(A.size)
    # stage 1 on the subset drawn with seed, stage 2 on a fresh one (seed + 1)
    record = two_stage_search(lambda rows, size, stage: evaluate(np.asarray(rows), (int(size), int(seed) + stage - 1)),
                              everything, small=int(coarse_size), large=int(fine_size), top_k=int(top_k),
                              maximize=objective.maximize)
    coarse = record.stage1.reshape(shape)
    order = np.asarray(record.shortlist)
    short_idx = [tuple(int(t) for t in np.unravel_index(k, shape)) for k in order]
    fine_vals = record.stage2
    fine = np.full(shape, np.nan)
    np.put(fine, order, fine_vals)
    full_arr = None
    tau_c = tau_f = None
    best_full = None
    if full == "all":
        full_arr = evaluate(everything).reshape(shape)
        kb = _best_index(full_arr, objective.maximize)
        best_full = Best(float(A.ravel()[kb]), float(B.ravel()[kb]), float(full_arr.ravel()[kb]))
    elif full == "shortlist":
        full_arr = np.full(shape, np.nan)
        np.put(full_arr, order, evaluate(order))
    if full_arr is not None:
        short_full = np.array([full_arr[i, j] for i, j in short_idx])
        short_coarse = np.array([coarse[i, j] for i, j in short_idx])
        tau_c = _safe_tau(coarse.ravel(), full_arr.ravel()) if full == "all" else _safe_tau(short_coarse, short_full)
        tau_f = _safe_tau(fine_vals, short_full)
    kf = record.best_index
    i, j = short_idx[kf]
    value = float(full_arr[i, j]) if full_arr is not None else float(fine_vals[kf])
    best = Best(float(A[i, j]), float(B[i, j]), value)
    settings = {**objective.settings(), "method": "two-stage", "grid_shape": list(shape), "coarse_size": int(coarse_size),
                "fine_size": int(fine_size), "top_k": int(top_k), "seed": int(seed), "full": full,
                "best_value_is": "full" if full_arr is not None else "fine estimate"}
    return TwoStageResult(a_values, b_values, coarse, short_idx, fine, full_arr, best, best_full, tau_c, tau_f, settings)


def _safe_tau(x, y) -> float | None:
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    ok = ~(np.isnan(x) | np.isnan(y))
    if ok.sum() < 2:
        return None
    return kendall_tau(x[ok], y[ok])

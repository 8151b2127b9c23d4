r"""Black-box schedule tuning on Optuna: a study whose trials are evaluation requests
(:mod:`mdm_ot.tuning._protocol`), stored in any SQL database Optuna speaks, resumable, with
many workers on one machine or many machines on one database.

Layout of a study ``NAME`` in the storage (plain Optuna: ``optuna.load_study`` and
``optuna-dashboard`` read it):

* ``NAME``: the search. A grid (``sampler="grid"``) is *queued*: every point is one enqueued
  trial, claimed by exactly one worker (Optuna's ``GridSampler`` picks points at random and
  may give one point to two racing workers; its docs say so). ``tpe`` / ``cmaes`` sample
  (log a, log b) in the box of the grid. With the two-stage protocol ``NAME`` holds the
  coarse pass (stage ``coarse``).
* ``NAME.fine``: the two-stage protocol's fine pass on the shortlist's neighbourhood.
* ``NAME.baselines``: the baselines (linear, sin, sin2, ...) under the same protocol
  (stage ``full``, or ``fine`` with the two-stage protocol), kept apart so that
  ``load_study(NAME).best_trial`` is always a Beta point.

A Beta trial's params are ``a`` and ``b``; its user attributes hold the schedule spec, stage,
subset size, seed, model calls and extra metrics (``metric_<name>``); a failed trial keeps
``fail_reason`` and ``stderr_tail`` and is never scored. The settings are the study's user
attribute ``mdm_ot.settings``. A worker that dies (kill -9) stops its heartbeat: after the
grace period its trial is failed and queued again (Optuna's heartbeat; the re-queue is ours).

References:
  The paper's section 4 (the Beta family) and Appendix E.1 (two-stage protocol); docs/tuning.md.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence

import numpy as np

from mdm_ot.schedules import parse_alpha
from mdm_ot.stats import kendall_tau
from mdm_ot.tuning._core import _json_number, _order
from mdm_ot.tuning._driver import (
    SETTINGS,
    Driver,
    open_storage,
    parse_worker_env,
    redact_url,
    values_of,
)
from mdm_ot.tuning._protocol import (
    call_evaluator,
    check_command,
    run_command_evaluator,
    schedule_spec,
)
from mdm_ot.tuning._search import grid_neighbours, parse_grid, two_stage_search

__all__ = ["DEFAULT_BASELINES", "DEFAULT_STORAGE_FILE", "SAMPLERS", "check_study", "default_storage",
           "objective_evaluator", "run_study", "study_report"]

#: Baselines evaluated beside every search.
DEFAULT_BASELINES = ("linear", "sin", "sin2")
#: Search methods of :func:`run_study`.
SAMPLERS = ("grid", "tpe", "cmaes")
#: The SQLite file of the default storage.
DEFAULT_STORAGE_FILE = "mdm-ot-studies.db"
_DIRECTIONS = ("minimize", "maximize")


def default_storage(out: str | None = None) -> str:
    """``sqlite:///OUT/studies.db`` with an output folder, else ``sqlite:///./mdm-ot-studies.db``."""
    path = os.path.join(out, "studies.db") if out else DEFAULT_STORAGE_FILE
    return "sqlite:///" + os.path.abspath(path)


def _jitted():
    """One compiled evaluation for every objective of the same shape (a module-level jit
    keeps its cache across evaluators)."""
    global _JITTED
    if _JITTED is None:
        import jax

        _JITTED = (jax.jit(lambda obj, s: obj(s)),
                   jax.jit(lambda obj, s, key, size: obj.subset(s, size, key), static_argnums=3))
    return _JITTED


_JITTED = None


def objective_evaluator(objective) -> Callable[[dict], dict]:
    """An in-process evaluator for an :class:`~mdm_ot.tuning.Objective` (a toy target, an
    energy): the full value for stage ``full``, the subset estimate on ``subset_size``
    samples with ``jax.random.PRNGKey(seed)`` otherwise. Its ``maximize`` attribute gives a
    study its direction."""
    import jax

    if objective.jittable:
        full, sub = _jitted()
    else:
        def full(obj, s):
            return obj(s)

        def sub(obj, s, key, size):
            return obj.subset(s, size, key)

    def evaluate(request: dict) -> dict:
        sched = parse_alpha(request["schedule"])
        if request["subset_size"] is None:
            value = full(objective, sched)
        else:
            value = sub(objective, sched, jax.random.PRNGKey(request["seed"]), int(request["subset_size"]))
        return {"score": float(value)}

    evaluate.maximize = bool(objective.maximize)
    return evaluate


def _grid_specs(grid: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The grid's axes (rounded to 6 decimals, as :func:`grid_neighbours` rounds) and its
    points as specs, ``a`` slow."""
    a_values, b_values = parse_grid(grid)
    a_values = np.unique(np.round(a_values, 6))
    b_values = np.unique(np.round(b_values, 6))
    return a_values, b_values, [schedule_spec((float(a), float(b)))[0] for a in a_values for b in b_values]


def _fine_step(a_values, b_values) -> float:
    steps = [float(np.min(np.diff(v))) for v in (a_values, b_values) if v.size > 1]
    return round(min(steps) / 2, 6) if steps else 0.0


def _expand(step: float):
    if step <= 0:
        return None
    around = grid_neighbours(step)
    return lambda spec: [schedule_spec(p)[0] for p in around(schedule_spec(spec)[1])]


def _int(name: str, value, lo: int, optional: bool = False):
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")
    return int(value)


def _plan(evaluate, steps, *, grid, sampler, trials, direction, two_stage, coarse_size, fine_size, top_k,
          fine_step, baselines, length, seed, workers, worker_env, trial_timeout, retries, heartbeat) -> dict:
    """Validate everything (nothing is written before this passes); the study's settings."""
    steps = _int("--steps", steps, 1)
    length = _int("--length", length, 1, optional=True)
    seed = _int("--seed", seed, 0)
    workers = _int("--workers", workers, 1)
    retries = _int("--retries", retries, 0)
    heartbeat = _int("--heartbeat", heartbeat, 1)
    if sampler not in SAMPLERS:
        raise ValueError(f"--sampler: unknown sampler {sampler!r}; allowed: {', '.join(SAMPLERS)}")
    a_values, b_values, points = _grid_specs(grid)
    if sampler == "grid":
        if trials is not None:
            raise ValueError("--trials: a grid search evaluates every grid point; --trials goes with --sampler tpe|cmaes")
    else:
        trials = _int("--trials", 20 if trials is None else trials, 1)
        if two_stage:
            raise ValueError("--two-stage: the two-stage protocol runs on a grid; drop --sampler or --two-stage")
    maximize = getattr(evaluate, "maximize", None)
    if direction is None:
        direction = "minimize" if maximize is None else ("maximize" if maximize else "minimize")
    if direction not in _DIRECTIONS:
        raise ValueError(f"--direction: unknown direction {direction!r}; allowed: {', '.join(_DIRECTIONS)}")
    if maximize is not None and (direction == "maximize") != maximize:
        raise ValueError(f"--direction: this objective is to {'maximize' if maximize else 'minimize'}, not to {direction}")
    if two_stage:
        coarse_size, fine_size, top_k = (_int(n, v, 1) for n, v in (("--coarse-size", coarse_size),
                                                                      ("--fine-size", fine_size), ("--top-k", top_k)))
        if fine_step is None:
            fine_step = _fine_step(a_values, b_values)
        elif not (isinstance(fine_step, (int, float)) and math.isfinite(fine_step) and fine_step >= 0):
            raise ValueError(f"--fine-step must be a number >= 0 (0: the shortlist only), got {fine_step!r}")
        fine_step = round(float(fine_step), 6)
    else:
        coarse_size = fine_size = top_k = fine_step = None
    specs = []
    for spec in baselines:
        try:
            specs.append(schedule_spec(spec)[0])
        except ValueError as exc:
            raise ValueError(f"--baseline: {exc}") from None
    if trial_timeout is not None and not (isinstance(trial_timeout, (int, float)) and trial_timeout > 0):
        raise ValueError(f"--trial-timeout must be a number of seconds > 0, got {trial_timeout!r}")
    if isinstance(evaluate, str):
        check_command(evaluate)
        described = evaluate
    elif callable(evaluate):
        described = "python:" + getattr(evaluate, "__qualname__", type(evaluate).__name__)
    else:
        raise ValueError(f"the evaluator is a shell command or a function of a request, got {type(evaluate).__name__}")
    envs = parse_worker_env(worker_env, workers) if not isinstance(worker_env, list) else worker_env
    if len(envs) != workers:
        raise ValueError(f"--worker-env: {len(envs)} environments for {workers} workers")
    settings = {"mode": sampler, "grid": grid, "steps": steps, "length": length, "direction": direction,
                "two_stage": bool(two_stage), "coarse_size": coarse_size, "fine_size": fine_size, "top_k": top_k,
                "fine_step": fine_step, "seed": seed, "baselines": list(dict.fromkeys(specs)), "trials": trials,
                "evaluator": described}
    return {"settings": settings, "envs": envs, "points": points, "a": a_values, "b": b_values,
            "timeout": trial_timeout, "retries": retries, "heartbeat": heartbeat}


def check_study(evaluate, steps: int, *, storage: str | None = None, **options) -> dict:
    """Check the arguments of :func:`run_study` without writing anything (a SQLite URL's
    folder must exist; a server URL is connected to); returns the study's settings.

    Raises:
      ValueError: on bad input, as :func:`run_study` would.
    """
    names = ("grid", "sampler", "trials", "direction", "two_stage", "coarse_size", "fine_size", "top_k", "fine_step",
             "baselines", "length", "seed", "workers", "worker_env", "trial_timeout", "retries", "heartbeat")
    unknown = set(options) - set(names) - {"study", "progress", "poll"}
    if unknown:
        raise TypeError(f"unknown options {sorted(unknown)}")
    defaults = dict(grid="paper", sampler="grid", trials=None, direction=None, two_stage=False, coarse_size=64,
                    fine_size=1024, top_k=10, fine_step=None, baselines=DEFAULT_BASELINES, length=None, seed=0,
                    workers=1, worker_env=None, trial_timeout=None, retries=0, heartbeat=10)
    plan = _plan(evaluate, steps, **{k: options.get(k, defaults[k]) for k in names})
    study = options.get("study", "mdm-ot")
    if not isinstance(study, str) or not study.strip():
        raise ValueError("--study must be a non-empty name")
    if storage is not None:
        open_storage(storage, heartbeat=plan["heartbeat"], check_only=True)
    return plan["settings"]


def run_study(evaluate: str | Callable[[dict], object], steps: int, *, grid: str = "paper", sampler: str = "grid",
              trials: int | None = None, direction: str | None = None, two_stage: bool = False,
              coarse_size: int = 64, fine_size: int = 1024, top_k: int = 10, fine_step: float | None = None,
              baselines: Sequence[str] = DEFAULT_BASELINES, length: int | None = None, seed: int = 0,
              storage: str | None = None, study: str = "mdm-ot", workers: int = 1,
              worker_env: str | list[dict] | None = None, trial_timeout: float | None = None, retries: int = 0,
              heartbeat: int = 10, progress: bool = False, poll: float = 0.2) -> dict:
    r"""Tune the Beta schedule :math:`\alpha = \sin^2(\tfrac{\pi}{2} I_t(a, b))` for ``steps``
    steps with a black-box evaluator, in an Optuna study (resumable, many workers).

    Re-running the same call continues the study: finished trials are never evaluated again,
    a trial whose worker died is. Several processes (on one machine with a SQLite file, on
    many with a PostgreSQL or MySQL URL) may run the same call at once: each grid point is
    evaluated once.

    Args:
      evaluate: a shell command (the request on stdin, the answer on its last stdout line;
        :func:`~mdm_ot.tuning.run_command_evaluator`) or a function ``request -> answer``
        (:func:`~mdm_ot.tuning.call_evaluator`; with ``workers > 1`` it runs in threads).
      steps: :math:`K \ge 1`.
      grid: the grid spec (:func:`~mdm_ot.tuning.parse_grid`); for ``tpe`` / ``cmaes``, the
        box of (a, b) searched in log scale.
      sampler: ``grid`` (every point once), ``tpe`` or ``cmaes`` (``trials`` trials in all).
      direction: ``minimize`` or ``maximize`` (default: the evaluator's ``maximize``
        attribute, else ``minimize``).
      two_stage: the paper's protocol on the grid: every point on ``coarse_size`` items
        (subset seed ``seed``), the ``top_k`` best and their neighbours at ``±fine_step``
        (default: half the grid step; 0: the shortlist alone) on ``fine_size`` items (seed
        ``seed + 1``); Kendall's tau between the passes over the shortlist.
      baselines: schedule specs evaluated under the same protocol (never the answer).
      length: the sequence length :math:`L` for ``tokens_per_step`` in the requests.
      storage: an SQLAlchemy URL (default :func:`default_storage`).
      study: the study's name.
      workers: evaluations at once in this process; ``worker_env`` one environment per
        worker (``'CUDA_VISIBLE_DEVICES=0;CUDA_VISIBLE_DEVICES=1'``).
      trial_timeout: seconds before a command is killed and its trial failed.
      retries: how many times a failed trial is run again.
      heartbeat: seconds between heartbeats; a trial without one for 2 heartbeats + 2 s
        belongs to a dead worker and is run again.
      progress: one line on stderr per finished trial (best so far, ETA).

    Returns:
      :func:`study_report` of the study.

    Raises:
      ValueError: on bad input, before anything is written.
      KeyboardInterrupt: after failing (and re-queueing) the running trials.
    """
    plan = _plan(evaluate, steps, grid=grid, sampler=sampler, trials=trials, direction=direction,
                 two_stage=two_stage, coarse_size=coarse_size, fine_size=fine_size, top_k=top_k, fine_step=fine_step,
                 baselines=baselines, length=length, seed=seed, workers=workers, worker_env=worker_env,
                 trial_timeout=trial_timeout, retries=retries, heartbeat=heartbeat)
    if not isinstance(study, str) or not study.strip():
        raise ValueError("--study must be a non-empty name")
    url = default_storage() if storage is None else storage
    st = open_storage(url, heartbeat=plan["heartbeat"])
    settings = plan["settings"]
    if isinstance(evaluate, str):
        def ev(request, env, cancel):
            return run_command_evaluator(evaluate, request, plan["timeout"], env=env, cancel=cancel)
    else:
        def ev(request, env, cancel):
            return call_evaluator(evaluate, request)
    drv = Driver(st, url, ev, settings, envs=plan["envs"], retries=plan["retries"], timeout=plan["timeout"],
                 heartbeat=plan["heartbeat"], poll=poll, progress=progress)
    base = settings["baselines"]
    if settings["mode"] != "grid":
        box = (float(plan["a"][0]), float(plan["a"][-1]), float(plan["b"][0]), float(plan["b"][-1]))
        drv.sampled(study, settings["trials"], box, settings)
    elif not settings["two_stage"]:
        drv.queued(study, plan["points"], stage="full", subset_size=None, seed=settings["seed"],
                   settings=settings)
    else:
        def score(specs, size, stage):
            if stage == 1:
                vals = drv.queued(study, specs, stage="coarse", subset_size=size, seed=settings["seed"], settings=settings)
            else:
                vals = drv.queued(f"{study}.fine", [s for s in specs if s not in base], stage="fine",
                                  subset_size=size, seed=settings["seed"] + 1)
                if any(s in base for s in specs):
                    vals.update(drv.queued(f"{study}.baselines", [s for s in specs if s in base], stage="fine",
                                           subset_size=size, seed=settings["seed"] + 1))
            return [vals[s] for s in specs]

        two_stage_search(score, plan["points"], small=settings["coarse_size"], large=settings["fine_size"],
                         top_k=settings["top_k"], maximize=settings["direction"] == "maximize",
                         expand=_expand(settings["fine_step"]), extra=base)
    if base and not settings["two_stage"]:
        drv.queued(f"{study}.baselines", base, stage="full", subset_size=None, seed=settings["seed"])
    out = study_report(st, study, url=url)
    import optuna

    main = optuna.load_study(study_name=study, storage=st)
    main.set_user_attr("mdm_ot.result", {"best": out["best"], "two_stage": out.get("two_stage")})
    return out


# ----------------------------------------------------------------------------- the report


def _trial_row(name, t) -> dict:
    u = t.user_attrs
    ab = schedule_spec(u["schedule"])[1] if "schedule" in u else None
    row = {"study": name, "number": t.number, "state": t.state.name, "schedule": u.get("schedule"),
           "a": None if ab is None else ab[0], "b": None if ab is None else ab[1],
           "score": _json_number(t.value) if t.state.name == "COMPLETE" else None,
           "stage": u.get("stage"), "subset_size": u.get("subset_size"), "seed": u.get("seed"),
           "model_calls": u.get("model_calls"), "attempt": u.get("attempt", 0),
           "role": "sample" if u.get("sampled") else ("baseline" if name.endswith(".baselines") else "point"),
           "metrics": {k[len("metric_"):]: v for k, v in u.items() if k.startswith("metric_")}}
    if t.state.name == "FAIL":
        row["fail_reason"] = u.get("fail_reason", "its worker died (no heartbeat); queued again")
        row["stderr_tail"] = u.get("stderr_tail", "")
        row["final_failure"] = bool(u.get("final_failure", False))
    for key in ("duration_s", "worker"):
        if key in u:
            row[key] = u[key]
    return row


def _point(spec, score, trials, stage) -> dict:
    """A spec's entry in ``best`` / ``baselines``: from its first complete trial."""
    ab = schedule_spec(spec)[1]
    t = next((t for t in trials if t["schedule"] == spec and t["state"] == "COMPLETE" and t["stage"] == stage), None)
    out = {"schedule": spec, "a": None if ab is None else ab[0], "b": None if ab is None else ab[1],
           "score": _json_number(score), "model_calls": None if t is None else t["model_calls"],
           "stage": stage, "subset_size": None if t is None else t["subset_size"],
           "trial": None if t is None else t["number"], "study": None if t is None else t["study"],
           "metrics": {} if t is None else t["metrics"]}
    if out["score"] is None:
        out["score_reason"] = "not evaluated yet" if t is None else "not finite"
        if t is None and any(r["schedule"] == spec and r.get("final_failure") for r in trials):
            out["score_reason"] = "every attempt failed"
    return out


def _nothing(reason: str) -> dict:
    return {"schedule": None, "a": None, "b": None, "score": None, "model_calls": None, "score_reason": reason}


def _tau(x, y) -> tuple[float | None, str | None]:
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = ~(np.isnan(x) | np.isnan(y))
    if ok.sum() < 2:
        return None, "fewer than 2 shortlisted points have both scores"
    tau = kendall_tau(x[ok], y[ok])
    return (None, "one pass gives every shortlisted point the same score") if math.isnan(tau) else (tau, None)


def study_report(storage, study: str, *, url: str | None = None) -> dict:
    """The result of a study, from its storage alone (what ``--report`` prints).

    Args:
      storage: a URL, or an open Optuna storage.
      study: the study's name.

    Returns:
      JSON-ready: ``best`` (schedule, a, b, score, model_calls, ...), ``baselines``, every
      trial (``trials``), ``stages``, ``two_stage`` (shortlist, Kendall's tau) with the
      two-stage protocol, ``grid`` (the grid's scores, for the heat map) for a grid search,
      ``settings`` and ``study``. Scores that are missing or not finite are ``None`` with a
      ``score_reason``.

    Raises:
      ValueError: for a storage that cannot be opened or a study that is not there.
    """
    import optuna

    if isinstance(storage, str):
        url = storage
        storage = open_storage(storage)
    names = set(optuna.study.get_all_study_names(storage))
    if study not in names:
        raise ValueError(f"--study: no study {study!r} in {redact_url(url or '?')} (studies there: "
                         f"{', '.join(sorted(names)) or 'none'})")
    main = optuna.load_study(study_name=study, storage=storage)
    s = main.user_attrs.get(SETTINGS)
    if s is None:
        raise ValueError(f"--study: {study!r} was not made by mdm-ot tune (it has no settings)")
    loaded = {"search": main}
    for suffix in ("fine", "baselines"):
        if f"{study}.{suffix}" in names:
            loaded[suffix] = optuna.load_study(study_name=f"{study}.{suffix}", storage=storage)
    raw = {k: v.get_trials(deepcopy=False) for k, v in loaded.items()}
    rows = [_trial_row(v.study_name, t) for k, v in loaded.items() for t in raw[k]]
    maximize = s["direction"] == "maximize"
    base = s["baselines"]
    out: dict = {"study": study, "storage": redact_url(url) if url else None, "settings": s}
    a_values, b_values, points = _grid_specs(s["grid"])
    stages = []
    if s["mode"] != "grid":
        done = [t for t in raw["search"] if t.state.name == "COMPLETE" and "schedule" in t.user_attrs]
        if done:
            k = int(_order([float(t.value) for t in done], maximize)[0])
            best = _point(done[k].user_attrs["schedule"], float(done[k].value), rows, "full")
        else:
            best = _nothing("no trial finished yet")
        stages.append({"name": s["mode"], "study": study, "stage": "full", "planned": s["trials"]})
        base_stage = "full"
    elif not s["two_stage"]:
        vals = values_of(raw["search"], points)
        v = np.array([vals[p] for p in points])
        k = int(_order(v, maximize)[0])
        best = _nothing("no grid point finished yet") if math.isnan(v[k]) else _point(points[k], v[k], rows, "full")
        out["grid"] = {"a": a_values.tolist(), "b": b_values.tolist(), "stage": "full",
                       "scores": [[_json_number(x) for x in r] for r in v.reshape(a_values.size, b_values.size)]}
        stages.append({"name": "grid", "study": study, "stage": "full", "subset_size": None, "planned": len(points)})
        base_stage = "full"
    else:
        stored = {**values_of(raw["search"], points)}
        fine = values_of(raw.get("fine", []), [r["schedule"] for r in rows if r["stage"] == "fine"])
        fine.update(values_of(raw.get("baselines", []), base))

        def lookup(specs, size, stage):
            return [(stored if stage == 1 else fine).get(x, math.nan) for x in specs]

        rec = two_stage_search(lookup, points, small=s["coarse_size"], large=s["fine_size"], top_k=s["top_k"],
                               maximize=maximize, expand=_expand(s["fine_step"]), extra=base)
        best = _point(rec.best, rec.best_value, rows, "fine")
        x = [rec.stage1[points.index(p)] for p in rec.shortlist]
        y = [rec.stage2[rec.candidates.index(p)] if p in rec.candidates else math.nan for p in rec.shortlist]
        tau, why = _tau(x, y)
        out["two_stage"] = {"shortlist": list(rec.shortlist), "num_candidates": rec.num_shortlisted,
                            "fine_step": s["fine_step"], "kendall_tau": tau, "kendall_tau_reason": why,
                            "kendall_tau_over": "the shortlist: coarse-pass scores vs fine-pass scores"}
        v = np.array([stored[p] for p in points])
        out["grid"] = {"a": a_values.tolist(), "b": b_values.tolist(), "stage": "coarse",
                       "scores": [[_json_number(x) for x in r] for r in v.reshape(a_values.size, b_values.size)]}
        stages += [{"name": "coarse", "study": study, "stage": "coarse", "subset_size": s["coarse_size"],
                    "seed": s["seed"], "planned": len(points)},
                   {"name": "fine", "study": f"{study}.fine", "stage": "fine", "subset_size": s["fine_size"],
                    "seed": s["seed"] + 1, "planned": rec.num_shortlisted}]
        base_stage = "fine"
    for st in stages:
        mine = [r for r in rows if r["study"] == st["study"] and r["stage"] == st["stage"]]
        st.update(complete=sum(r["state"] == "COMPLETE" for r in mine), failed=sum(r["state"] == "FAIL" for r in mine),
                  pending=sum(r["state"] in ("WAITING", "RUNNING") for r in mine))
    bvals = values_of(raw.get("baselines", []), base)
    if s["two_stage"]:
        bvals = {b: fine.get(b, math.nan) for b in base}
    out["best"] = best
    out["baselines"] = [_point(b, bvals.get(b, math.nan), rows, base_stage) for b in base]
    out["stages"] = stages
    out["trials"] = rows
    return out

r"""Answer an evaluation request (:func:`mdm_ot.tuning.make_request`) with one of our real
models, so that they are tuned through the same door as a user's model (``mdm-ot tune
--command 'mdm-ot score antibody'``).

The schedule is taken from the request's tables, ``alpha_grid`` and ``mask_ratio_grid`` on the
uniform ``K``-step grid, exactly as an external evaluator sees it (the samplers read a
schedule only on their grid, so this is the schedule, not an approximation of it).

Items. ``seed`` fixes a permutation of the evaluation set (the first ``max_items`` items of
the chosen split, the *whole set*); a request with ``subset_size = n`` is scored on the first
``n`` items of that order (all of the set when ``subset_size`` is null). So a stage-1 subset
is a prefix of a stage-2 subset, and every schedule of a stage sees the same items and the
same sampler key (common random numbers: differences between schedules are paired). A
``subset_size`` larger than the set is capped at the set; the answer's ``items`` says how
many were used.

* ``antibody``: AntiBERTy infilling (:mod:`mdm_ot.experiments.antibody.tasks`) of a task's
  hidden residues on V domains of one (species, chain) split; the score is the mean
  amino-acid recovery (per-sequence means, standard error over sequences).
* ``code``: the shipped code-line model (:mod:`mdm_ot.experiments.codelines.evaluate`); the
  score is the task's main metric (:data:`mdm_ot.experiments.codelines.table.MAIN_METRIC`:
  similarity to the true line for completion, valid-distinct fraction unconditionally).

The answer holds ``score`` (maximize it), ``score_se``, ``items``, ``available`` (size of the
whole set), ``seconds`` and the model's other metrics; every number is finite or ``None``.

References:
    The paper (arXiv:2509.13866), section 4 and Appendix E.1 (two-stage tuning on subsets).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np

from mdm_ot import sampling
from mdm_ot.schedules import TabulatedSchedule
from mdm_ot.tuning import EvaluationError, check_request, parse_answer

__all__ = [
    "SCORE_MODELS",
    "AntibodyScoring",
    "CodeScoring",
    "request_schedule",
    "score_antibody",
    "score_code",
    "score_request",
]

#: The models ``mdm-ot score`` answers for.
SCORE_MODELS = ("antibody", "code")

_SPLITS = ("tune", "test")


@dataclasses.dataclass(frozen=True)
class AntibodyScoring:
    """Settings of the antibody evaluator (the request gives the schedule, K, subset, seed).

    Attributes:
        task: task spec (:func:`mdm_ot.experiments.antibody.tasks.parse_task`).
        species, chain: whose V domains.
        split: ``tune`` (what tuning should use) or ``test``.
        sampler: a name of :data:`mdm_ot.experiments.antibody.tasks.SAMPLERS`.
        max_items: size of the whole set (``None``: the whole split).
        batch_size: sequences per sampler call.
        cache: cache root of ``mdm-ot antibody fetch`` (``None``: the default).
    """

    task: str = "cdr12"
    species: str = "human"
    chain: str = "H"
    split: str = "tune"
    sampler: str = "count-confidence"
    max_items: int | None = None
    batch_size: int = 16
    cache: str | None = None

    def __post_init__(self):
        from mdm_ot.experiments.antibody import data, tasks

        tasks.parse_task(self.task)
        if self.chain not in data.CHAINS:
            raise ValueError(f"chain {self.chain!r}: allowed {', '.join(data.CHAINS)}")
        _check_common(self.split, self.max_items, self.batch_size)
        names = [s.name for s in tasks.SAMPLERS]
        if self.sampler not in names:
            raise ValueError(f"sampler {self.sampler!r}: allowed {', '.join(names)}")


@dataclasses.dataclass(frozen=True)
class CodeScoring:
    """Settings of the code-line evaluator.

    Attributes:
        task: ``completion`` or ``unconditional``.
        split: ``tune`` or ``test``.
        sampler: ``count`` (low-confidence order) or ``stochastic``.
        max_items: size of the whole set (completion pairs, or unconditional samples).
        batch_size: lines per sampler call.
        checkpoint: model checkpoint (``None``: the shipped one).
    """

    task: str = "completion"
    split: str = "tune"
    sampler: str = "count"
    max_items: int = 256
    batch_size: int = 256
    checkpoint: str | None = None

    def __post_init__(self):
        from mdm_ot.experiments.codelines import evaluate as ev

        if self.task not in ev.TASKS:
            raise ValueError(f"task {self.task!r}: allowed {', '.join(ev.TASKS)}")
        if self.sampler not in ev.SAMPLERS:
            raise ValueError(f"sampler {self.sampler!r}: allowed {', '.join(ev.SAMPLERS)}")
        _check_common(self.split, self.max_items, self.batch_size)


def _check_common(split, max_items, batch_size) -> None:
    if split not in _SPLITS:
        raise ValueError(f"split {split!r}: allowed {', '.join(_SPLITS)}")
    if max_items is not None and (not isinstance(max_items, int) or max_items < 1):
        raise ValueError(f"max_items must be an integer >= 1 or None, got {max_items!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")


def request_schedule(request: Mapping) -> TabulatedSchedule:
    r"""The request's schedule as a table on the uniform ``K``-step grid (its
    ``alpha_grid`` and ``mask_ratio_grid``), after :func:`mdm_ot.tuning.check_request`.

    Raises:
        ValueError: a bad request, or an ``alpha_grid`` that is not non-decreasing from 0
            to 1 or does not add up to 1 with ``mask_ratio_grid``.
    """
    req = check_request(request)
    alpha = np.asarray(req["alpha_grid"], np.float64)
    omega = np.asarray(req["mask_ratio_grid"], np.float64)
    if np.any(np.diff(alpha) < 0) or alpha[0] != 0.0 or alpha[-1] != 1.0:
        raise ValueError("alpha_grid must be non-decreasing from 0 (t = 0, all masked) to 1")
    if not np.allclose(alpha + omega, 1.0, rtol=0.0, atol=1e-12):
        raise ValueError("mask_ratio_grid must be 1 - alpha_grid")
    grid = sampling.default_grid(req["steps"])
    return TabulatedSchedule(grid, jnp.asarray(alpha, grid.dtype), jnp.asarray(omega, grid.dtype))


def _num_items(request: Mapping, available: int) -> int:
    n = request["subset_size"]
    return available if n is None else min(int(n), available)


def _answer(score, se, items, available, t0, metrics: Mapping) -> dict:
    """The answer, checked by the protocol's own parser (a non-finite score is an error,
    never an answer; non-finite extra metrics become ``None``)."""
    out = {"score": float(score), "score_se": float(se), "items": int(items), "available": int(available)}
    out.update({k: v for k, v in metrics.items() if k not in out})
    out["seconds"] = time.perf_counter() - t0
    try:
        return parse_answer(out)
    except EvaluationError as exc:
        raise ValueError(f"the model gave no valid answer: {exc.reason}") from None


def score_antibody(request: Mapping, settings: AntibodyScoring = AntibodyScoring(), den=None) -> dict:
    """Mean recovery of AntiBERTy infilling with the request's schedule (module docstring).

    Args:
        request: an evaluation request.
        settings: what to infill, with which sampler.
        den: a denoiser to use instead of loading AntiBERTy (tests).
    """
    import jax

    from mdm_ot.experiments.antibody import data, tasks
    from mdm_ot.experiments.antibody.model import load_antiberty
    from mdm_ot.experiments.antibody.table import prepare

    t0 = time.perf_counter()
    sched = request_schedule(request)
    req = check_request(request)
    sampler = {s.name: s for s in tasks.SAMPLERS}[settings.sampler]
    germ = data.load_germlines(settings.cache)
    tune_r, test_r = data.split(data.v_domains(germ, settings.species, settings.chain))
    records = tune_r if settings.split == "tune" else test_r
    available = len(records) if settings.max_items is None else min(settings.max_items, len(records))
    n = _num_items(req, available)
    # the whole set is the first `available` of the seed's order; a subset is its prefix
    whole = prepare(records, settings.task, req["seed"], available, settings.split)
    x, hidden = whole.x[:n], whole.hidden[:n]
    if den is None:
        den = load_antiberty(settings.cache)
    out = tasks.infill(den, sampler, np.asarray(sched.alpha)[None], np.asarray(sched.omega)[None], x, hidden,
                       jax.random.key(req["seed"]), batch_size=min(settings.batch_size, n))
    rec = tasks.recovery(out, x, hidden)[0]  # [n, samples]
    mean, se = tasks.summarize(rec)
    return _answer(mean, se, n, available, t0, {
        "model": "antiberty", "task": settings.task, "species": settings.species,
        "chain": settings.chain, "split": settings.split, "sampler": settings.sampler,
        "hidden_per_item": float(hidden.sum(1).mean()),
    })


def score_code(request: Mapping, settings: CodeScoring = CodeScoring(), model=None) -> dict:
    """The code-line model's main metric with the request's schedule (module docstring).

    Args:
        request: an evaluation request.
        settings: task, sampler, split and sizes.
        model: ``(params, config, meta)`` to use instead of the checkpoint (tests).
    """
    import jax

    from mdm_ot.experiments.codelines import data as codedata
    from mdm_ot.experiments.codelines import evaluate as ev
    from mdm_ot.experiments.codelines.table import MAIN_METRIC, SAMPLER_SETTINGS

    t0 = time.perf_counter()
    sched = request_schedule(request)
    req = check_request(request)
    params, config, _ = model if model is not None else ev.load_model(settings.checkpoint)
    available = settings.max_items
    if settings.task == "completion":
        dataset = codedata.load_dataset()
        available = min(available, len(dataset.pairs(settings.split, skip_empty_prompt=True)))
        td = ev.task_data(dataset, "completion", settings.split, available, req["seed"])
        # task_data returns its draw in file order; the seed's permutation makes every
        # subset a random one and a prefix of the larger ones
        order = np.random.default_rng([req["seed"], 13]).permutation(available)
        td = dataclasses.replace(td, prompts=td.prompts[order],
                                 references=tuple(td.references[i] for i in order),
                                 prompt_text=tuple(td.prompt_text[i] for i in order))
    else:
        td = ev.task_data(None, "unconditional", settings.split, 0, req["seed"])
    n = _num_items(req, available)
    res = ev.evaluate_cell(params, config, sched, jax.random.PRNGKey(req["seed"]), td, num_samples=n,
                           num_steps=req["steps"], **SAMPLER_SETTINGS[settings.sampler])
    metric = MAIN_METRIC[settings.task]
    extra = {"model": "code-lines", "task": settings.task, "split": settings.split,
             "sampler": settings.sampler, "metric": metric}
    for name, value in res.items():
        if isinstance(value, list) and len(value) == 2:
            extra[name], extra[f"{name}_se"] = float(value[0]), float(value[1])
    return _answer(res[metric][0], res[metric][1], n, available, t0, extra)


def score_request(model: str, request: Mapping, **settings) -> dict:
    """Answer ``request`` with ``model`` (one of :data:`SCORE_MODELS`); ``settings`` are the
    fields of :class:`AntibodyScoring` or :class:`CodeScoring`."""
    if model == "antibody":
        return score_antibody(request, AntibodyScoring(**settings))
    if model == "code":
        return score_code(request, CodeScoring(**settings))
    raise ValueError(f"unknown model {model!r}; allowed: {', '.join(SCORE_MODELS)}")

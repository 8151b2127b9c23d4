r"""The paper's schedule table on AntiBERTy infilling: schedules × steps, two samplers.

Rows: ``linear, sin, sin2, beta:0.9,0.3, beta:1,0.2, beta:0.3,0.9, beta:0.9,0.9`` and a
Beta schedule tuned in two stages (:func:`mdm_ot.tuning.two_stage_search`) on the tune
split, separately for each sampler and step count; columns ``K = 2, 4, 8, 16, 32``.
Everything is reported on the test split (V gene families disjoint from the tune split,
:func:`.data.split`). Transfer: the schedules tuned on one (species, chain) are also
evaluated on other species and chains.

Cost. Each cell runs ``K`` forward passes per sequence-sample, and the
pseudo-log-likelihood ``|M|`` more per sample; on a CPU the forward pass of AntiBERTy on
a V domain is of the order of 0.05-0.3 s per sequence, so the full table is a job for an
accelerator. :data:`SMALL` is a reduced setting that runs in minutes on a CPU.

References:
    The paper (arXiv:2509.13866), Table 1 and Appendix E.1 (schedule rows, tuning);
    MATH.md section 5 (the paper's results to compare against).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jax
import numpy as np

from mdm_ot._io import atomic_file
from mdm_ot.experiments.antibody import data, tasks
from mdm_ot.experiments.antibody.tasks import SAMPLERS, Sampler
from mdm_ot.stats import mean_and_se
from mdm_ot.tuning import grid_neighbours, two_stage_search

__all__ = [
    "ROWS",
    "STEPS",
    "TableConfig",
    "SMALL",
    "prepare",
    "run_table",
    "antibody_table",
    "to_markdown",
    "plot",
    "write",
    "read_result",
]

ROWS = ("linear", "sin", "sin2", "beta:0.9,0.3", "beta:1,0.2", "beta:0.3,0.9", "beta:0.9,0.9")
STEPS = (2, 4, 8, 16, 32)
_COARSE = tuple(float(v) for v in np.round(np.arange(0.1, 1.01, 0.1), 2))


@dataclass(frozen=True)
class TableConfig:
    """What the table runs.

    Attributes:
        task: task spec (:func:`.tasks.parse_task`).
        species, chain: the (species, chain) whose tune/test split makes the table.
        transfer: further ``(species, chain)`` test sets evaluated with every row,
            including the schedules tuned on ``(species, chain)``.
        rows, steps, samplers: table layout.
        tune: add the two-stage tuned row.
        coarse, shortlist, fine_step, stage1_size, stage2_size: tuning settings.
        n_test: at most this many test sequences per set (``None``: all).
        pll: also compute the pseudo-log-likelihood on the first test set, for the first
            sample of each sequence (``|M|`` forward passes per sequence and cell).
        batch_size, rows_per_call: sequence-samples and schedules per compiled call.
        seed: masks, subsets and sampler keys.
    """

    task: str = "cdr12"
    species: str = "human"
    chain: str = "H"
    transfer: tuple[tuple[str, str], ...] = (("mouse", "H"), ("human", "K"), ("human", "L"))
    rows: tuple[str, ...] = ROWS
    steps: tuple[int, ...] = STEPS
    samplers: tuple[Sampler, ...] = SAMPLERS
    tune: bool = True
    coarse: tuple[float, ...] = _COARSE
    shortlist: int = 3
    fine_step: float = 0.05
    stage1_size: int = 16
    stage2_size: int = 48
    n_test: int | None = None
    pll: bool = True
    batch_size: int = 64
    rows_per_call: int = 8
    seed: int = 0

    def __post_init__(self):
        tasks.parse_task(self.task)
        if not self.steps or any(int(k) < 1 for k in self.steps):
            raise ValueError(f"steps must be integers >= 1, got {self.steps}")
        if self.chain not in data.CHAINS:
            raise ValueError(f"chain {self.chain!r}: allowed {data.CHAINS}")
        for v, name in ((self.batch_size, "batch_size"), (self.rows_per_call, "rows_per_call"),
                        (self.stage1_size, "stage1_size"), (self.stage2_size, "stage2_size")):
            if int(v) < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")


#: a CPU-sized table: 4 test sequences, K = 2 and 4, a 2 x 2 tuning grid then its 9
#: neighbours, no transfer sets, no PLL (about 1,200 forward passes).
SMALL = TableConfig(
    steps=(2, 4),
    samplers=(SAMPLERS[0], dataclasses.replace(SAMPLERS[1], samples=1)),
    coarse=(0.3, 0.9),
    shortlist=1,
    fine_step=0.1,
    stage1_size=4,
    stage2_size=4,
    n_test=4,
    transfer=(),
    pll=False,
    batch_size=4,
    rows_per_call=4,
)


@dataclass
class _Set:
    name: str
    records: list
    x: np.ndarray = field(repr=False)
    hidden: np.ndarray = field(repr=False)


def _shuffled(records, seed):
    order = np.random.default_rng(seed).permutation(len(records))
    return [records[i] for i in order]


def prepare(records: Sequence[data.Germline], task: str, seed: int, n: int | None, name: str,
            length: int | None = None) -> _Set:
    """A deterministic random subset (``n``; ``None`` = all) with its ids and task masks,
    right-padded to ``length`` (default: the longest sequence of the subset)."""
    recs = _shuffled(list(records), seed)[: n if n is not None else len(records)]
    return _Set(name, recs, data.batch(recs, length), tasks.task_mask(recs, task, seed, length))


def _infill_rows(den, sampler, alpha, omega, s: _Set, key, cfg: TableConfig, n=None):
    """Samples ``[R, N, S, L]`` for ``R`` tabulated schedules, in groups of ``rows_per_call``."""
    x, hid = (s.x, s.hidden) if n is None else (s.x[:n], s.hidden[:n])
    R, g = len(alpha), cfg.rows_per_call
    outs = []
    for start in range(0, R, g):
        a, o = alpha[start:start + g], omega[start:start + g]
        fill = g - len(a)
        if fill:  # one compiled shape per (sampler, K)
            a = np.concatenate([a, np.repeat(a[-1:], fill, axis=0)])
            o = np.concatenate([o, np.repeat(o[-1:], fill, axis=0)])
        out = tasks.infill(den, sampler, a, o, x, hid, key, batch_size=cfg.batch_size)
        outs.append(out[: g - fill])
    return np.concatenate(outs, axis=0)


def _tune(den, sampler, K, tune_set: _Set, cfg: TableConfig, key) -> dict:
    """The paper's two-stage protocol (:func:`mdm_ot.tuning.two_stage_search`) on recovery:
    ``coarse x coarse`` on ``stage1_size`` tuning sequences, then the ``shortlist`` best and
    their neighbours at ``± fine_step`` (:func:`mdm_ot.tuning.grid_neighbours`) on
    ``stage2_size``; returns ``{"a", "b", "score", "stage1": [(a, b, score)...], "stage2": [...]}``."""
    def score(points, n, stage):
        ab = np.asarray(points, np.float64)
        al, om = tasks.beta_alphas_on_grid(ab[:, 0], ab[:, 1], K)
        smp = _infill_rows(den, sampler, al, om, tune_set, key, cfg, n=n)
        rec = tasks.recovery(smp, tune_set.x[:n], tune_set.hidden[:n])  # [P, n, S]
        return rec.mean(axis=(1, 2))

    grid = [(a, b) for a in np.asarray(cfg.coarse, np.float64) for b in np.asarray(cfg.coarse, np.float64)]
    res = two_stage_search(score, grid, small=min(cfg.stage1_size, len(tune_set.records)),
                           large=min(cfg.stage2_size, len(tune_set.records)), top_k=cfg.shortlist,
                           maximize=True, expand=grid_neighbours(cfg.fine_step))
    a, b = res.best
    return {
        "a": float(a),
        "b": float(b),
        "score": res.best_value,
        "stage1": [(float(a), float(b), float(s)) for (a, b), s in zip(res.points, res.stage1, strict=True)],
        "stage2": [(float(a), float(b), float(s)) for (a, b), s in zip(res.candidates, res.stage2, strict=True)],
    }


def _cells(den, sampler, K, specs, alpha, omega, s: _Set, cfg, key, do_pll):
    smp = _infill_rows(den, sampler, alpha, omega, s, key, cfg)  # [R, N, S, L]
    rec = tasks.recovery(smp, s.x, s.hidden)  # [R, N, S]
    pll = None
    if do_pll:
        R, N, S, L = smp.shape
        first = smp[:, :, 0, :].reshape(R * N, L)
        pll = tasks.pseudo_log_likelihood(
            den, first, np.tile(s.hidden, (R, 1)), batch_size=cfg.batch_size
        ).reshape(R, N, 1)
    out = []
    base = specs.index("linear") if "linear" in specs else None
    for r, spec in enumerate(specs):
        cell = {"set": s.name, "sampler": sampler.name, "K": K, "row": spec}
        cell["recovery"], cell["recovery_se"] = mean_and_se(rec[r], by_row=True, se_of_one=0.0)
        if base is not None:
            cell["recovery_minus_linear"], cell["recovery_minus_linear_se"] = mean_and_se(
                rec[r] - rec[base], by_row=True, se_of_one=0.0
            )
        if pll is not None:
            cell["pll"], cell["pll_se"] = mean_and_se(pll[r], by_row=True, se_of_one=0.0)
        out.append(cell | _model_calls(sampler, alpha[r], s.hidden.sum(1)))
    return out


def _model_calls(sampler, alphas, hidden_counts) -> dict:
    """Model calls of one row (docs/sampling.md, "Model calls"; the masked count n_i varies by
    sequence). Count sampler: steps revealing a token for each sequence's n_i
    (``model_calls`` = mean over sequences, ``model_calls_range`` = [min, max]). Stochastic:
    ``model_calls`` = grid steps with alpha_k > alpha_(k-1), ``expected_model_calls`` = the
    mean over sequences of the expected steps that reveal a token."""
    from mdm_ot.sampling import model_calls, stochastic_model_calls, transfer_counts

    a = jax.numpy.asarray(alphas)
    n = jax.numpy.asarray(np.asarray(hidden_counts, np.int32))
    if sampler.mode == "count":
        calls = np.asarray(model_calls(jax.vmap(transfer_counts, (None, 0))(a, n)).total)
        return {"model_calls": float(calls.mean()), "model_calls_range": [int(calls.min()), int(calls.max())]}
    st = jax.vmap(stochastic_model_calls, (None, 0))(a, n)
    return {"model_calls": int(np.asarray(st.steps)[0]), "expected_model_calls": float(np.asarray(st.expected).mean())}


def run_table(
    den: Callable,
    cfg: TableConfig,
    tune_set: _Set,
    test_sets: Sequence[_Set],
    log: Callable[[str], None] = print,
    checkpoint: Callable[[dict], None] | None = None,
) -> dict:
    """Tune (optionally) on ``tune_set`` and evaluate every row on each test set.

    Returns:
        A JSON-able dict: ``config``, ``sets`` (names and sizes), ``tuned``
        (``{sampler: {K: {a, b, score, ...}}}``), ``cells`` (one dict per set, sampler, K and
        row with ``recovery``, ``recovery_se``, ``recovery_minus_linear`` and its SE (paired,
        same masks and keys), and ``pll``, ``pll_se`` when computed), ``seconds``.
        ``checkpoint``, if given, receives the partial result after every cell group.
    """
    t0 = time.perf_counter()
    key = jax.random.key(cfg.seed)
    tuned: dict = {}
    cells: list = []

    def result():
        return {
            "config": _config_json(cfg),
            "sets": {"tune": _set_json(tune_set), "test": [_set_json(s) for s in test_sets]},
            "tuned": tuned,
            "cells": cells,
            "seconds": time.perf_counter() - t0,
        }

    for sampler in cfg.samplers:
        tuned[sampler.name] = {}
        for K in cfg.steps:
            specs = list(cfg.rows)
            al, om = tasks.alphas_on_grid(specs, K)
            if cfg.tune:
                t1 = time.perf_counter()
                res = _tune(den, sampler, K, tune_set, cfg, jax.random.fold_in(key, 1))
                tuned[sampler.name][K] = {k: res[k] for k in ("a", "b", "score")}
                tuned[sampler.name][K]["stage1"] = res["stage1"]
                tuned[sampler.name][K]["stage2"] = res["stage2"]
                spec = f"beta:{res['a']:g},{res['b']:g}"
                ta, to = tasks.beta_alphas_on_grid(res["a"], res["b"], K)
                specs.append("tuned")
                al, om = np.concatenate([al, ta]), np.concatenate([om, to])
                log(f"  tuned {sampler.name} K={K}: {spec} (tune recovery {res['score']:.4f}, "
                    f"{time.perf_counter() - t1:.0f}s)")
            for i, s in enumerate(test_sets):
                t1 = time.perf_counter()
                cells += _cells(den, sampler, K, specs, al, om, s, cfg,
                                jax.random.fold_in(key, 2), cfg.pll and i == 0)
                log(f"  {s.name} {sampler.name} K={K}: {len(specs)} rows "
                    f"({time.perf_counter() - t1:.0f}s)")
                if checkpoint is not None:
                    checkpoint(result())
    return result()


def _set_json(s: _Set) -> dict:
    fams = sorted({r.family for r in s.records})
    return {"name": s.name, "n": len(s.records), "families": fams,
            "hidden_per_seq": float(s.hidden.sum(1).mean())}


def _config_json(cfg: TableConfig) -> dict:
    d = dataclasses.asdict(cfg)
    d["samplers"] = [dataclasses.asdict(s) for s in cfg.samplers]
    return d


def antibody_table(cfg: TableConfig = TableConfig(), den=None, root=None,
                   log: Callable[[str], None] = print,
                   checkpoint: Callable[[dict], None] | None = None) -> dict:
    """Load AntiBERTy and the germlines from the cache and run :func:`run_table`.

    The tune set is the tune split of ``(cfg.species, cfg.chain)``; the test sets are its
    test split and the test splits of each ``cfg.transfer`` pair.
    """
    from mdm_ot.experiments.antibody.model import load_antiberty

    if den is None:
        den = load_antiberty(root)
    germ = data.load_germlines(root)
    tune_r, test_r = data.split(data.v_domains(germ, cfg.species, cfg.chain))
    others = [(f"{sp}-{ch} test", data.split(data.v_domains(germ, sp, ch))[1])
              for sp, ch in cfg.transfer]
    # one padded length for every set: one compiled sampler per (sampler, K)
    length = max(len(r.sequence) for recs in [tune_r, test_r] + [o[1] for o in others]
                 for r in recs)
    home = f"{cfg.species}-{cfg.chain}"
    tune_set = prepare(tune_r, cfg.task, cfg.seed, None, f"{home} tune", length)
    test_sets = [prepare(test_r, cfg.task, cfg.seed + 1, cfg.n_test, f"{home} test", length)]
    test_sets += [prepare(t, cfg.task, cfg.seed + 1, cfg.n_test, name, length)
                  for name, t in others]
    log(f"AntiBERTy table, task {cfg.task}: tune {len(tune_set.records)} seqs, test "
        + ", ".join(f"{s.name} {len(s.records)}" for s in test_sets))
    return run_table(den, cfg, tune_set, test_sets, log=log, checkpoint=checkpoint)


# ----------------------------------------------------------------------------- output


def _fmt(m, se, digits=3):
    if m is None or (isinstance(m, float) and math.isnan(m)):
        return "-"
    return f"{m:.{digits}f} ± {se:.{digits}f}"


def to_markdown(result: dict) -> str:
    """Markdown tables: per test set and sampler, rows × K of recovery (and PLL)."""
    cells = result["cells"]
    cfg = result["config"]
    lines = [f"# AntiBERTy few-step infilling, task `{cfg['task']}`", ""]
    lines.append(
        f"Tuned on {result['sets']['tune']['name']} ({result['sets']['tune']['n']} sequences); "
        "mean ± standard error over test sequences. Recovery: fraction of hidden residues "
        "equal to the real ones. PLL: mean per-residue pseudo-log-likelihood of the infilled "
        "residues (nats). The `tuned` row is a Beta schedule tuned separately for each "
        "sampler and K; its (a, b) are listed below each table."
    )
    sets = [s["name"] for s in result["sets"]["test"]]
    samplers = list(dict.fromkeys(c["sampler"] for c in cells))
    steps = sorted({c["K"] for c in cells})
    for metric, title in (("recovery", "recovery"), ("pll", "PLL")):
        if not any(metric in c for c in cells):
            continue
        for set_name in sets:
            for smp in samplers:
                sub = [c for c in cells if c["set"] == set_name and c["sampler"] == smp]
                if not any(metric in c for c in sub):
                    continue
                rows = list(dict.fromkeys(c["row"] for c in sub))
                lines += ["", f"## {title}: {set_name}, {smp}", ""]
                lines.append("| schedule | " + " | ".join(f"K={k}" for k in steps) + " |")
                lines.append("|---|" + "---|" * len(steps))
                for row in rows:
                    vals = []
                    for k in steps:
                        c = next((c for c in sub if c["row"] == row and c["K"] == k), None)
                        vals.append(_fmt(c.get(metric), c.get(metric + "_se")) if c else "-")
                    lines.append(f"| {row} | " + " | ".join(vals) + " |")
                if metric == "recovery" and all("model_calls" in c for c in sub):
                    lines += _calls_markdown(sub, rows, steps, smp)
                tuned = result["tuned"].get(smp, {})
                if tuned:
                    lines.append("")
                    lines.append("tuned: " + ", ".join(
                        f"K={k}: beta:{v['a']:g},{v['b']:g}" for k, v in sorted(
                            tuned.items(), key=lambda kv: int(kv[0]))))
    return "\n".join(lines) + "\n"


def _calls_markdown(sub, rows, steps, smp) -> list[str]:
    """Model calls of one set and sampler (results written before the cells had them: none)."""
    stochastic = "expected_model_calls" in sub[0]
    lines = ["", f"Model calls ({smp}): " + (
        "grid steps with alpha_k > alpha_(k-1) (in parentheses: expected steps that reveal a residue, "
        "mean over sequences)" if stochastic else "steps that reveal a residue, mean over sequences [min, max]"), ""]
    lines.append("| schedule | " + " | ".join(f"K={k}" for k in steps) + " |")
    lines.append("|---|" + "---|" * len(steps))
    for row in rows:
        vals = []
        for k in steps:
            c = next((c for c in sub if c["row"] == row and c["K"] == k), None)
            if c is None:
                vals.append("-")
            elif stochastic:
                vals.append(f"{c['model_calls']} ({c['expected_model_calls']:.2f})")
            else:
                lo, hi = c["model_calls_range"]
                vals.append(f"{c['model_calls']:.2f} [{lo}, {hi}]")
        lines.append(f"| {row} | " + " | ".join(vals) + " |")
    return lines


def plot(result: dict, path: str | Path) -> Path:
    """Recovery against K (log axis), one panel per (test set, sampler); saved as PNG."""
    from mdm_ot._plotting import pyplot

    plt = pyplot()

    cells = result["cells"]
    sets = [s["name"] for s in result["sets"]["test"]]
    samplers = list(dict.fromkeys(c["sampler"] for c in cells))
    fig, axes = plt.subplots(len(samplers), len(sets), figsize=(4 * len(sets), 3.2 * len(samplers)),
                             squeeze=False)
    for i, smp in enumerate(samplers):
        for j, set_name in enumerate(sets):
            ax = axes[i][j]
            sub = [c for c in cells if c["set"] == set_name and c["sampler"] == smp]
            for row in dict.fromkeys(c["row"] for c in sub):
                pts = sorted((c["K"], c["recovery"], c["recovery_se"]) for c in sub if c["row"] == row)
                k, m, se = (np.asarray(v) for v in zip(*pts, strict=True))
                ax.errorbar(k, m, yerr=se, marker="o", ms=3, capsize=2, label=row,
                            lw=2 if row == "tuned" else 1)
            ax.set_xscale("log", base=2)
            ax.set_title(f"{set_name}, {smp}", fontsize=9)
            ax.set_xlabel("steps K")
            ax.set_ylabel("recovery")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path = Path(path)
    try:
        with atomic_file(str(path), "wb") as fh:
            fig.savefig(fh, dpi=120, format="png")
    finally:
        plt.close(fig)
    return path


def write(result: dict, out_dir: str | Path, stem: str = "antibody_table") -> dict[str, str]:
    """Write ``<stem>.json``, ``<stem>.md`` and ``<stem>.png`` into ``out_dir``, each file
    atomically (:func:`mdm_ot._io.atomic_file`; other files in ``out_dir`` are left alone).

    Raises:
        ValueError: the result holds NaN or infinity (nothing is written).
    """
    try:
        text = json.dumps(result, indent=1, default=float, allow_nan=False)
    except ValueError:
        raise ValueError("the table holds NaN or infinity, which JSON cannot carry") from None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / f"{stem}.json", "md": out / f"{stem}.md", "png": out / f"{stem}.png"}
    with atomic_file(str(paths["json"])) as fh:
        fh.write(text)
    with atomic_file(str(paths["md"])) as fh:
        fh.write(to_markdown(result))
    plot(result, paths["png"])
    return {k: str(v) for k, v in paths.items()}


#: The largest table JSON :func:`read_result` reads (the full table is about 200 kB).
_MAX_RESULT_BYTES = 64 << 20


def _refuse_constant(name: str):
    raise ValueError(f"holds {name}; allowed: finite numbers or null")


def _check_result(r) -> None:
    """Raise ValueError unless ``r`` has the structure :func:`to_markdown` and :func:`plot` read."""
    def number(v, what, none=False):
        if (v is None and none) or (isinstance(v, (int, float)) and not isinstance(v, bool)):
            return
        raise ValueError(f"{what} must be a number, got {type(v).__name__}")

    if not isinstance(r, dict):
        raise ValueError(f"holds a {type(r).__name__}, expected a table object")
    for key, kind in (("config", dict), ("sets", dict), ("tuned", dict), ("cells", list)):
        if not isinstance(r.get(key), kind):
            raise ValueError(f"'{key}' is missing or not a {kind.__name__}")
    if not isinstance(r["config"].get("task"), str):
        raise ValueError("'config.task' is missing or not a string")
    sets = r["sets"]
    if not (isinstance(sets.get("tune"), dict) and isinstance(sets["tune"].get("name"), str)
            and isinstance(sets.get("test"), list)
            and all(isinstance(t, dict) and isinstance(t.get("name"), str) for t in sets["test"])):
        raise ValueError("'sets' must hold 'tune' {name, n} and a list 'test' of {name, n}")
    number(sets["tune"].get("n"), "'sets.tune.n'")
    for i, c in enumerate(r["cells"]):
        if not isinstance(c, dict):
            raise ValueError(f"cell {i} is not an object")
        for key in ("set", "sampler", "row"):
            if not isinstance(c.get(key), str):
                raise ValueError(f"cell {i}: '{key}' is missing or not a string")
        if type(c.get("K")) is not int or c["K"] < 1:
            raise ValueError(f"cell {i}: 'K' must be an integer >= 1")
        number(c.get("recovery"), f"cell {i}: 'recovery'")
        number(c.get("recovery_se"), f"cell {i}: 'recovery_se'")
        if "pll" in c:
            number(c["pll"], f"cell {i}: 'pll'", none=True)
            number(c.get("pll_se"), f"cell {i}: 'pll_se'", none=c["pll"] is None)
    for smp, per_k in r["tuned"].items():
        if not isinstance(per_k, dict):
            raise ValueError(f"'tuned.{smp}' is not an object")
        for k, v in per_k.items():
            if not (str(k).isdigit() and isinstance(v, dict)):
                raise ValueError(f"'tuned.{smp}.{k}' must map K to {{a, b}}")
            number(v.get("a"), f"'tuned.{smp}.{k}.a'")
            number(v.get("b"), f"'tuned.{smp}.{k}.b'")


def read_result(path: str | Path, option: str = "--from-json") -> dict:
    """Read a table JSON written by :func:`write`: the one loader of this format.

    Any malformed input (a folder, an unreadable, empty, non-UTF-8 or non-JSON file, NaN or
    Infinity, a list, missing or mistyped fields) is a ``ValueError`` of one line naming
    ``option`` and the file.
    """
    import os

    where = f"{option} {str(path)!r}"
    if os.path.isdir(path):
        raise ValueError(f"{where} is a folder, expected a table JSON file")
    if not os.path.isfile(path):
        raise ValueError(f"{where}: no such file")
    if os.path.getsize(path) > _MAX_RESULT_BYTES:
        raise ValueError(f"{where}: larger than {_MAX_RESULT_BYTES} bytes; not a table JSON")
    try:
        with open(path, encoding="utf-8") as fh:
            result = json.load(fh, parse_constant=_refuse_constant)
        _check_result(result)
    except (OSError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{where}: cannot read it ({type(exc).__name__})") from None
    except ValueError as exc:  # json.JSONDecodeError included
        raise ValueError(f"{where}: not a table JSON written by 'antibody table' "
                         f"({str(exc).splitlines()[0][:160]})") from None
    return result

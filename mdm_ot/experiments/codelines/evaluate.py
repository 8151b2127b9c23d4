r"""Few-step generation of code lines with the project's samplers, and its metrics.

**Tasks.**

* *Unconditional*: generate a line of 64 positions from all-masked; the network sees the
  line alone (:func:`~mdm_ot.experiments.codelines.model.apply` without prompt).
* *Completion*: the previous line of a real file is the prompt; the sampler's state is the
  128 positions ``[previous line | line]`` with the prompt's 64 positions unmasked (they
  stay fixed, :func:`mdm_ot.sampling.initial_state`) and only the line's 64 positions are
  generated. The true line is the reference.

**Samplers** (:mod:`mdm_ot.sampling`): the count sampler with low-confidence order
(LLaDA's) and the stochastic (ancestral) sampler. Temperature: 1 for unconditional
generation (at 0 every unconditional sample would be the same), 0 (the most probable token,
as in LLaDA's code benchmarks) for completion. Same seed and same prompts for every schedule
(common random numbers), so differences between schedules are not sampling noise of the
prompts.

**Schedules on the grid.** The samplers read a schedule only on their time grid
(:func:`mdm_ot.sampling.alpha_on_grid`). Every schedule is therefore passed as its table
of values on the uniform K-step grid (:func:`on_grid`), so one compiled sampler
serves every schedule at a given K (a test checks that the samples are identical).

**Metrics** (each with its standard error over samples):

* *validity*: Python's own parser (:func:`ast.parse`) accepts the de-indented line alone or
  inside one of the minimal contexts of :data:`VALID_CONTEXTS`, which only complete a block
  structure: a block header gets an indented ``pass`` body (``def f(x):``), a clause that
  needs a preceding block gets one (``else:``, ``except E:``, ``case 1:``), ``try:`` gets a
  ``finally``, a ``match`` header a ``case``, a decorator a function. The empty line is
  invalid. Measured on all real test lines, the rule accepts every one of them (the
  ceiling, 1.0: the data are complete one-line statements by construction, so this checks
  the rule as much as the data); random printable strings pass about 13 % of the time (a
  ``#`` starts a comment), character-shuffled real lines about 10 %.
* *distinct fraction*: distinct lines / samples; its standard error is the jackknife's.
* *valid-distinct fraction*: distinct valid lines / samples (jackknife standard error),
  the unconditional task's main metric: validity alone rewards repeating one short valid
  line, which low-confidence decoding tends to do.
* *similarity* (completion): ``difflib.SequenceMatcher(None, generated, true).ratio()``,
  2 x matching characters / total characters, in [0, 1]; also the exact-match rate.
* *mean length* and the *empty* fraction (a line whose first position is padding).
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
import math
import warnings
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from mdm_ot import sampling
from mdm_ot._pytree import register_dataclass
from mdm_ot.experiments.codelines import data as codedata
from mdm_ot.experiments.codelines.model import ModelConfig, apply
from mdm_ot.schedules import TabulatedSchedule, parse_alpha
from mdm_ot.stats import mean_and_se

VALID_CONTEXTS = (
    "{line}",
    "{line}\n pass",
    "{line}\n pass\nfinally:\n pass",
    "{line}\nfinally:\n pass",
    "if x:\n pass\n{line}",
    "if x:\n pass\n{line}\n pass",
    "try:\n pass\n{line}",
    "try:\n pass\n{line}\n pass",
    "match x:\n {line}",
    "match x:\n {line}\n  pass",
    "{line}\n case _:\n  pass",
    "{line}\ndef f():\n pass",
)
"""Where a line may stand for the parser to accept it (see the module docstring)."""

TASKS = ("unconditional", "completion")
SAMPLERS = ("count", "stochastic")


# ---------------------------------------------------------------------------- validity


@functools.lru_cache(maxsize=65536)
def is_valid_line(line: str) -> bool:
    """Whether Python's parser accepts the de-indented line (module docstring's rule)."""
    line = line.strip()
    if not line:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SyntaxWarning for odd escapes etc.: still valid
        for context in VALID_CONTEXTS:
            try:
                ast.parse(context.replace("{line}", line))
                return True
            except (SyntaxError, ValueError, MemoryError, RecursionError):
                continue
    return False


# ---------------------------------------------------------------------------- statistics


def _distinct_jackknife(lines: Sequence[str], counted) -> tuple[float, float]:
    """(Number of distinct lines ``s`` with ``counted(s)``) / lines, and its jackknife SE.

    Leaving out line i lowers the count by one exactly when line i is counted and unique,
    so the n leave-one-out values take two forms and the jackknife has a closed form.
    When no counted line is unique, all leave-one-out values agree and the SE is 0: the
    jackknife is degenerate there (the statistic is not smooth), not the value exact.
    """
    n = len(lines)
    if n == 0:
        return float("nan"), float("nan")
    counts: dict[str, int] = {}
    for s in lines:
        counts[s] = counts.get(s, 0) + 1
    kept = {s for s in counts if counted(s)}
    d = len(kept)
    if n < 2:
        return d / n, float("nan")
    drop = np.array([s in kept and counts[s] == 1 for s in lines])
    loo = np.where(drop, (d - 1) / (n - 1), d / (n - 1))
    se = math.sqrt((n - 1) / n * np.sum((loo - loo.mean()) ** 2))
    return d / n, float(se)


def distinct_fraction(lines: Sequence[str]) -> tuple[float, float]:
    """Distinct lines / lines, and its jackknife standard error (closed form)."""
    return _distinct_jackknife(lines, lambda s: True)


def valid_distinct_fraction(lines: Sequence[str]) -> tuple[float, float]:
    """Distinct *valid* lines / lines, and its jackknife standard error (closed form).

    The unconditional task's main metric: validity alone is maximised by repeating one
    short valid line ("else:"), which low-confidence decoding does; this counts each valid
    line once.
    """
    return _distinct_jackknife(lines, is_valid_line)


def similarity(generated: str, reference: str) -> float:
    """``difflib`` ratio: 2 x matching characters / (len(a) + len(b)); 1.0 for two empty lines."""
    return difflib.SequenceMatcher(None, generated, reference, autojunk=False).ratio()


def line_metrics(lines: Sequence[str], references: Sequence[str] | None = None) -> dict:
    """Validity, distinct fraction, lengths (and similarity to references), with errors."""
    valid = [float(is_valid_line(s)) for s in lines]
    out = {
        "n": len(lines),
        "validity": mean_and_se(valid),
        "distinct": distinct_fraction(lines),
        "valid_distinct": valid_distinct_fraction(lines),
        "length": mean_and_se([len(s) for s in lines]),
        "empty": mean_and_se([float(len(s) == 0) for s in lines]),
    }
    if references is not None:
        if len(references) != len(lines):
            raise ValueError("need one reference per generated line")
        out["similarity"] = mean_and_se([similarity(a, b) for a, b in zip(lines, references, strict=True)])
        out["exact"] = mean_and_se([float(a == b) for a, b in zip(lines, references, strict=True)])
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in out.items()}


# ---------------------------------------------------------------------------- denoisers


@functools.partial(register_dataclass, data_fields=["params"], meta_fields=["config"])
@dataclasses.dataclass(frozen=True)
class LineDenoiser:
    """``z [B, 64] -> probs [B, 64, 96]``: the network on a line alone (unconditional)."""

    params: dict
    config: ModelConfig

    def __call__(self, z):
        return jax.nn.softmax(apply(self.params, z, None, config=self.config), axis=-1)


@functools.partial(register_dataclass, data_fields=["params"], meta_fields=["config"])
@dataclasses.dataclass(frozen=True)
class CompletionDenoiser:
    """``z [B, 128] -> probs [B, 128, 96]``: positions 0..63 are the prompt (returned as
    point masses on its tokens: the sampler never changes them), 64..127 the line."""

    params: dict
    config: ModelConfig

    def __call__(self, z):
        L = self.config.line_length
        prompt, line = z[:, :L], z[:, L:]
        probs = jax.nn.softmax(apply(self.params, line, prompt, config=self.config), axis=-1)
        fixed = jax.nn.one_hot(jnp.minimum(prompt, self.config.vocab_size - 1), self.config.vocab_size, dtype=probs.dtype)
        return jnp.concatenate([fixed, probs], axis=1)


def on_grid(schedule, num_steps: int) -> TabulatedSchedule:
    """A schedule's values on the uniform K-step grid (in the default float dtype), as a
    :class:`~mdm_ot.schedules.TabulatedSchedule` (exact at the grid points, where the
    samplers evaluate it)."""
    grid = sampling.default_grid(num_steps)
    if hasattr(schedule, "pair"):
        a, om = schedule.pair(grid, 1 - grid)
    else:
        a = schedule(grid)
        om = 1 - a
    a, om = jnp.asarray(a), jnp.asarray(om)
    an = np.asarray(a, dtype=np.float64)
    if not (np.all(np.isfinite(an)) and np.all(np.diff(an) >= 0)):
        raise ValueError("the schedule must be finite and non-decreasing on the grid")
    return TabulatedSchedule(grid, a, om)


def schedule_from(spec_or_schedule):
    """A schedule from a spec string (``linear``, ``beta:A,B``, ...) or a schedule object."""
    if isinstance(spec_or_schedule, str):
        return parse_alpha(spec_or_schedule)
    return spec_or_schedule


# ---------------------------------------------------------------------------- generation


def _check_sampler(sampler: str):
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")


def _run_sampler(denoiser, schedule, key, z0, *, num_steps, sampler, order, temperature,
                 block_length=None, block_start=0):
    _check_sampler(sampler)
    blocks = 1 if block_length is None else (z0.shape[1] - block_start) // block_length
    if block_length is not None and ((z0.shape[1] - block_start) % block_length or num_steps % blocks):
        raise ValueError(
            f"block length {block_length} must divide the line length {z0.shape[1] - block_start} "
            f"and the number of blocks must divide the steps {num_steps}"
        )
    grid_sched = on_grid(schedule, num_steps // blocks)
    kw = dict(num_steps=num_steps, temperature=temperature, block_length=block_length, block_start=block_start)
    if sampler == "count":
        return sampling.sample_count(denoiser, grid_sched, key, z0, order=order, **kw)
    return sampling.sample_stochastic(denoiser, grid_sched, key, z0, **kw)


def generate_unconditional(
    params, config: ModelConfig, schedule, key, *, num_samples: int, num_steps: int,
    sampler: str = "count", order: str = "confidence", temperature: float = 1.0, batch_size: int = 256,
    block_length: int | None = None,
) -> np.ndarray:
    """Unconditional lines ``[num_samples, 64]`` (token ids); batch j uses ``fold_in(key, j)``.

    ``block_length``: semi-autoregressive blocks (None: the whole line is one block).

    References:
        MATH.md section 4 (stochastic and count steps).
    """
    den = LineDenoiser(params, config)
    out = []
    for j, start in enumerate(range(0, num_samples, batch_size)):
        n = min(batch_size, num_samples - start)
        z0 = sampling.initial_state(config.line_length, config.vocab_size, batch=n)
        out.append(np.asarray(_run_sampler(
            den, schedule, jax.random.fold_in(key, j), z0,
            num_steps=num_steps, sampler=sampler, order=order, temperature=temperature,
            block_length=block_length,
        )))
    return np.concatenate(out)


def generate_completions(
    params, config: ModelConfig, schedule, key, prompts: np.ndarray, *, num_steps: int,
    sampler: str = "count", order: str = "confidence", temperature: float = 0.0, batch_size: int = 256,
    block_length: int | None = None,
) -> np.ndarray:
    """Next lines ``[N, 64]`` for prompts ``[N, 64]`` (previous lines, token ids).

    ``block_length``: semi-autoregressive blocks over the line's 64 positions (the prompt
    is not cut into blocks).

    References:
        MATH.md section 4 (a prompt that stays fixed).
    """
    prompts = np.asarray(prompts, dtype=np.int32)
    L = config.line_length
    if prompts.ndim != 2 or prompts.shape[1] != L:
        raise ValueError(f"prompts must have shape [N, {L}], got {prompts.shape}")
    den = CompletionDenoiser(params, config)
    out = []
    for j, start in enumerate(range(0, prompts.shape[0], batch_size)):
        p = prompts[start : start + batch_size]
        full = np.concatenate([p, np.zeros_like(p)], axis=1)
        given = np.concatenate([np.ones_like(p, bool), np.zeros_like(p, bool)], axis=1)
        z0 = sampling.initial_state(2 * L, config.vocab_size, batch=p.shape[0], prompt=full, prompt_mask=given)
        z = _run_sampler(
            den, schedule, jax.random.fold_in(key, j), z0,
            num_steps=num_steps, sampler=sampler, order=order, temperature=temperature,
            block_length=block_length, block_start=L if block_length is not None else 0,
        )
        out.append(np.asarray(z)[:, L:])
    return np.concatenate(out)


def default_temperature(task: str) -> float:
    """1 for unconditional generation, 0 for completion (module docstring)."""
    return 1.0 if task == "unconditional" else 0.0


@dataclasses.dataclass(frozen=True)
class TaskData:
    """What a task is evaluated on: for completion, prompts and true lines (token ids and text)."""

    task: str
    split: str
    prompts: np.ndarray | None = None
    references: tuple[str, ...] | None = None
    prompt_text: tuple[str, ...] | None = None


def task_data(data: codedata.CodeLines, task: str, split: str, n: int, seed: int = 0) -> TaskData:
    """``n`` completion pairs drawn (without replacement, fixed seed) from a split's pairs
    with a non-empty previous line; for the unconditional task, nothing to draw."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if task == "unconditional":
        return TaskData(task, split)
    pairs = data.pairs(split, skip_empty_prompt=True)
    if len(pairs) < n:
        raise ValueError(f"the {split} split has {len(pairs)} pairs, fewer than {n}")
    rng = np.random.default_rng([seed, 7])
    idx = np.sort(rng.choice(len(pairs), size=n, replace=False))
    chosen = [pairs[i] for i in idx]
    return TaskData(
        task, split,
        prompts=codedata.encode_lines([p for p, _ in chosen]),
        references=tuple(x for _, x in chosen),
        prompt_text=tuple(p for p, _ in chosen),
    )


def evaluate_cell(
    params, config: ModelConfig, schedule, key, td: TaskData, *, num_samples: int, num_steps: int,
    sampler: str = "count", order: str = "confidence", temperature: float | None = None,
    block_length: int | None = None, return_lines: bool = False,
) -> dict:
    """Generate for one (schedule, K, sampler, task) and compute the metrics.

    For completion, ``num_samples`` must not exceed the prompts in ``td``; the first
    ``num_samples`` are used.
    """
    temperature = default_temperature(td.task) if temperature is None else float(temperature)
    if td.task == "unconditional":
        toks = generate_unconditional(
            params, config, schedule, key, num_samples=num_samples, num_steps=num_steps,
            sampler=sampler, order=order, temperature=temperature, block_length=block_length,
        )
        lines = codedata.decode_batch(toks)
        result = line_metrics(lines)
    else:
        if num_samples > td.prompts.shape[0]:
            raise ValueError(f"{num_samples} samples asked, {td.prompts.shape[0]} prompts available")
        toks = generate_completions(
            params, config, schedule, key, td.prompts[:num_samples], num_steps=num_steps,
            sampler=sampler, order=order, temperature=temperature, block_length=block_length,
        )
        lines = codedata.decode_batch(toks)
        result = line_metrics(lines, td.references[:num_samples])
    if return_lines:
        result["lines"] = lines
    return result


# ---------------------------------------------------------------------------- checkpoint & CLI


def shipped_checkpoint_path():
    """The checkpoint that ships with the package."""
    from importlib.resources import files

    return files("mdm_ot.experiments.codelines").joinpath("checkpoints/code_lines.npz")


def load_model(checkpoint: str | None = None):
    """``(params, config, meta)`` of a checkpoint (default: the shipped one)."""
    from mdm_ot.experiments.codelines.train import load_checkpoint

    path = checkpoint if checkpoint is not None else shipped_checkpoint_path()
    params, config, meta, _ = load_checkpoint(str(path), option="--checkpoint")
    return params, config, meta


def reference_metrics(data: codedata.CodeLines, split: str, n: int, seed: int = 0) -> dict:
    """The metrics of real lines (the ceiling) and of trivial completions (floors).

    ``real``: n random real lines of the split. ``copy_prompt``: the previous line offered as
    the completion; ``random_line``: another random real line of the split offered instead.
    """
    rng = np.random.default_rng([seed, 11])
    lines = data.lines(split)
    real = [lines[i] for i in rng.choice(len(lines), size=min(n, len(lines)), replace=False)]
    td = task_data(data, "completion", split, n, seed)
    other = [lines[i] for i in rng.choice(len(lines), size=n, replace=True)]
    return {
        "real": line_metrics(real),
        "copy_prompt": line_metrics(list(td.prompt_text), list(td.references)),
        "random_line": line_metrics(other, list(td.references)),
        "all_real_lines_validity": float(np.mean([is_valid_line(s) for s in lines])),
        "all_real_lines": len(lines),
    }


def evaluate_cli(
    *, alpha: str, steps: int, task: str, sampler: str, order: str, temperature: float | None,
    split: str, samples: int, seed: int, checkpoint: str | None, block_length: int | None = None,
) -> dict:
    """What ``mdm-ot code eval`` prints: the metrics, the settings and the data fingerprint."""
    schedule = parse_alpha(alpha)
    _check_sampler(sampler)
    params, config, meta = load_model(checkpoint)
    data = codedata.load_dataset()
    same = codedata.check_fingerprint(data, meta.get("data_fingerprint"))
    td = task_data(data, task, split, samples if task == "completion" else 0, seed)
    temp = default_temperature(task) if temperature is None else temperature
    res = evaluate_cell(
        params, config, schedule, jax.random.PRNGKey(seed), td, num_samples=samples, num_steps=steps,
        sampler=sampler, order=order, temperature=temp, block_length=block_length, return_lines=True,
    )
    lines = res.pop("lines")
    return {
        "settings": {
            "alpha": alpha, "steps": steps, "task": task, "sampler": sampler,
            "order": order if sampler == "count" else None, "temperature": temp, "block_length": block_length,
            "split": split, "samples": samples, "seed": seed,
        },
        "metrics": res,
        "samples": [
            {"prompt": td.prompt_text[i], "generated": lines[i], "true": td.references[i]}
            if task == "completion" else {"generated": lines[i]}
            for i in range(len(lines))
        ],
        "data_fingerprint": data.fingerprint,
        "checkpoint_data_fingerprint": meta.get("data_fingerprint"),
        "fingerprint_matches": same,
    }


def format_result(result: dict, show: int = 5) -> str:
    """A few human-readable lines for ``mdm-ot code eval``."""
    s, m = result["settings"], result["metrics"]
    head = (f"{s['task']} | alpha={s['alpha']} K={s['steps']} sampler={s['sampler']}"
            + (f" order={s['order']}" if s["order"] else "") + f" T={s['temperature']} | n={m['n']}")
    rows = [head]
    for key in ("validity", "distinct", "valid_distinct", "similarity", "exact", "length", "empty"):
        if key in m:
            rows.append(f"  {key:<10} {m[key][0]:.3f} ± {m[key][1]:.3f}")
    for ex in result["samples"][:show]:
        if "prompt" in ex:
            rows.append(f"  prompt: {ex['prompt']!r}\n    -> {ex['generated']!r}  (true {ex['true']!r})")
        else:
            rows.append(f"  {ex['generated']!r}")
    rows.append(f"  data fingerprint {result['data_fingerprint'][:16]}"
                + ("" if result["fingerprint_matches"] else " (differs from the checkpoint's)"))
    return "\n".join(rows)

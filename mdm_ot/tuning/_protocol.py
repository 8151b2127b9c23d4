r"""The evaluator protocol of a tuning study: one evaluation request in, one answer out.

A *request* is a JSON object that describes one candidate schedule for ``K`` steps
(:data:`REQUEST_FIELDS`); an *answer* is a JSON object with a finite ``score`` and any extra
metrics. The same request reaches a Python function (:func:`call_evaluator`) or a shell
command (:func:`run_command_evaluator`: the request on stdin, the answer on the last line of
stdout), so a user's PyTorch benchmark and our own models are tuned through one door.

Example:
  >>> req = make_request("beta:0.5,0.5", 4, length=8)
  >>> req["a"], req["steps"], req["tokens_per_step"], req["model_calls"]
  (0.5, 4, [2, 2, 2, 2], 4)
  >>> parse_answer('{"score": 0.25, "accuracy": 0.75}')
  {'score': 0.25, 'accuracy': 0.75}

References:
  The paper's section 4 (the Beta family, tuned after training) and Appendix E.1 (the
  two-stage protocol: ``stage`` and ``subset_size``); docs/tuning.md.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping

import numpy as np

from mdm_ot.sampling import alpha_on_grid, default_grid, model_calls, num_transfer_tokens
from mdm_ot.schedules import parse_alpha

__all__ = [
    "REQUEST_FIELDS",
    "STAGES",
    "EvaluationError",
    "call_evaluator",
    "check_command",
    "check_request",
    "make_request",
    "parse_answer",
    "run_command_evaluator",
    "schedule_spec",
]

#: The keys of an evaluation request, in this order.
REQUEST_FIELDS = ("schedule", "a", "b", "steps", "alpha_grid", "mask_ratio_grid", "tokens_per_step",
                  "model_calls", "stage", "subset_size", "seed", "trial")

#: ``stage`` of a request: ``full`` (the whole evaluation set: a plain grid or sampler
#: search, and the baselines), ``coarse`` and ``fine`` (the two-stage protocol's passes on
#: ``subset_size`` items).
STAGES = ("full", "coarse", "fine")

# How much of an evaluator's stderr a failed trial keeps (the end of it: the traceback).
_STDERR_TAIL = 2000


class EvaluationError(RuntimeError):
    """An evaluation failed (non-zero exit, timeout, unparsable answer, non-finite score):
    the trial is failed, never scored. ``reason`` is one line; ``stderr_tail`` the end of the
    evaluator's stderr (empty for an in-process evaluator)."""

    def __init__(self, reason: str, stderr_tail: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.stderr_tail = stderr_tail


def _beta_params(spec: str) -> tuple[float, float] | None:
    """``(a, b)`` of a ``beta:A,B`` spec as written (not the schedule's rounded ``spec``)."""
    name, _, body = spec.strip().lower().partition(":")
    if name != "beta":
        return None
    a, b = (float(x) for x in body.split(","))
    return a, b


def schedule_spec(schedule: str | tuple[float, float]) -> tuple[str, tuple[float, float] | None]:
    """The spec a request carries for a schedule, and its Beta pair (``None`` if not Beta).

    A Beta schedule, given as ``beta:A,B`` or as a pair, is written with the shortest
    ``repr`` of each float (``beta:0.3,0.7``; nothing rounded, unlike the schedule's own
    ``spec``); any other spec is normalized by :func:`mdm_ot.schedules.parse_alpha`.

    Raises:
      ValueError: for a bad spec or ``a, b`` that are not finite numbers > 0.
    """
    if isinstance(schedule, str):
        sched = parse_alpha(schedule)
        ab = _beta_params(schedule)
        return (sched.spec, None) if ab is None else (f"beta:{ab[0]!r},{ab[1]!r}", ab)
    try:
        ab = (float(schedule[0]), float(schedule[1]))
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"a schedule is a spec or an (a, b) pair, got {schedule!r}") from None
    if not all(math.isfinite(x) and x > 0 for x in ab):
        raise ValueError(f"a and b must be finite numbers > 0 (Beta parameters), got {schedule!r}")
    return f"beta:{ab[0]!r},{ab[1]!r}", ab


def make_request(schedule: str | tuple[float, float], steps: int, *, length: int | None = None,
                 stage: str = "full", subset_size: int | None = None, seed: int = 0,
                 trial: int | None = None) -> dict:
    r"""The evaluation request for one schedule at ``steps`` steps (JSON-ready).

    Args:
      schedule: a mask-schedule spec (``linear``, ``beta:0.4,0.6``, ...; see
        :data:`mdm_ot.schedules.ALPHA_SPECS`) or a Beta pair ``(a, b)``.
      steps: :math:`K \ge 1`.
      length: the number of masked positions :math:`L` of a count (LLaDA-style) sampler;
        when given, ``tokens_per_step`` is the largest-remainder split of :math:`L`
        (:func:`mdm_ot.sampling.num_transfer_tokens`), else ``None``.
      stage: one of :data:`STAGES`.
      subset_size: the number of evaluation items (``None``: the whole set).
      seed: the subset's seed (the same for every schedule of a stage).
      trial: the study's trial number.

    Returns:
      A dict with the keys :data:`REQUEST_FIELDS`: ``a``, ``b`` (``None`` unless the schedule
      is a Beta schedule), ``alpha_grid`` (:math:`\alpha(t_k)` on :math:`t_k = k/K`, ``K + 1``
      values from 0 at :math:`t = 0`, all masked, to 1), ``mask_ratio_grid``
      (:math:`1 - \alpha`), ``model_calls`` (the steps that reveal at least one token; without
      a length, the steps where :math:`\alpha` increases).

    Raises:
      ValueError: for a bad spec, ``a, b <= 0``, ``K < 1``, ``L < 1``, an unknown stage, a
        subset size < 1 or a negative seed.
    """
    spec, ab = schedule_spec(schedule)
    sched = parse_alpha(spec)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be an integer K >= 1, got {steps!r}")
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; allowed: {', '.join(STAGES)}")
    if subset_size is not None and (not isinstance(subset_size, (int, np.integer)) or subset_size < 1):
        raise ValueError(f"subset_size must be an integer >= 1 or None, got {subset_size!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    alpha = np.asarray(alpha_on_grid(sched, default_grid(int(steps))), float)
    if length is None:
        tokens = None
        calls = int(model_calls(np.diff(alpha)).total)  # the expected tokens per step
    else:
        tokens = [int(c) for c in np.asarray(num_transfer_tokens(sched, length, int(steps)))]
        calls = int(model_calls(np.asarray(tokens)).total)
    return {
        "schedule": spec,
        "a": None if ab is None else ab[0],
        "b": None if ab is None else ab[1],
        "steps": int(steps),
        "alpha_grid": [float(x) for x in alpha],
        "mask_ratio_grid": [float(1.0 - x) for x in alpha],
        "tokens_per_step": tokens,
        "model_calls": calls,
        "stage": stage,
        "subset_size": None if subset_size is None else int(subset_size),
        "seed": int(seed),
        "trial": None if trial is None else int(trial),
    }


def check_request(request: Mapping) -> dict:
    """Validate a request read by an evaluator (``mdm-ot score``, a user's script): every
    key of :data:`REQUEST_FIELDS` present, with the right types and sizes.

    Returns:
      The request as a plain dict.

    Raises:
      ValueError: naming the first bad field and what is allowed.
    """
    if not isinstance(request, Mapping):
        raise ValueError(f"a request is a JSON object, got {type(request).__name__}")
    missing = [k for k in REQUEST_FIELDS if k not in request]
    if missing:
        raise ValueError(f"the request lacks {', '.join(missing)}; a request has {', '.join(REQUEST_FIELDS)}")
    r = dict(request)

    def is_int(x, lo):
        return isinstance(x, int) and not isinstance(x, bool) and x >= lo

    def is_num(x):
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)

    if not isinstance(r["schedule"], str):
        raise ValueError("schedule must be a spec string such as 'beta:0.4,0.6'")
    parse_alpha(r["schedule"])
    for key in ("a", "b"):
        if r[key] is not None and not (is_num(r[key]) and r[key] > 0):
            raise ValueError(f"{key} must be a number > 0 or null, got {r[key]!r}")
    if not is_int(r["steps"], 1):
        raise ValueError(f"steps must be an integer >= 1, got {r['steps']!r}")
    k = r["steps"]
    for key in ("alpha_grid", "mask_ratio_grid"):
        g = r[key]
        if not isinstance(g, list) or len(g) != k + 1 or not all(is_num(x) and 0 <= x <= 1 for x in g):
            raise ValueError(f"{key} must be a list of steps + 1 = {k + 1} numbers in [0, 1]")
    tps = r["tokens_per_step"]
    if tps is not None and (not isinstance(tps, list) or len(tps) != k or not all(is_int(x, 0) for x in tps)):
        raise ValueError(f"tokens_per_step must be null or a list of steps = {k} integers >= 0")
    if not is_int(r["model_calls"], 0) or r["model_calls"] > k:
        raise ValueError(f"model_calls must be an integer in [0, {k}], got {r['model_calls']!r}")
    if r["stage"] not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}, got {r['stage']!r}")
    if r["subset_size"] is not None and not is_int(r["subset_size"], 1):
        raise ValueError(f"subset_size must be an integer >= 1 or null, got {r['subset_size']!r}")
    if not is_int(r["seed"], 0):
        raise ValueError(f"seed must be an integer >= 0, got {r['seed']!r}")
    if r["trial"] is not None and not is_int(r["trial"], 0):
        raise ValueError(f"trial must be an integer >= 0 or null, got {r['trial']!r}")
    return r


def _finite_or_none(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _finite_or_none(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite_or_none(v) for v in x]
    return x


def parse_answer(answer) -> dict:
    """Check an evaluator's answer: a JSON object (or its text) with a finite number
    ``score``; other keys are extra metrics (non-finite numbers in them become ``None``).

    Returns:
      ``{"score": float, **metrics}``.

    Raises:
      EvaluationError: for text that is not one JSON object, a missing, non-numeric or
        non-finite score.
    """
    if isinstance(answer, (str, bytes)):
        text = answer.decode(errors="replace") if isinstance(answer, bytes) else answer
        try:
            answer = json.loads(text)
        except ValueError:
            raise EvaluationError(f"the answer is not JSON: {text.strip()[:200]!r}") from None
    if not isinstance(answer, Mapping):
        raise EvaluationError(f"the answer must be a JSON object with a 'score', got {type(answer).__name__}")
    if "score" not in answer:
        raise EvaluationError(f"the answer has no 'score' (keys: {', '.join(map(str, answer)) or 'none'})")
    score = answer["score"]
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        raise EvaluationError(f"the score must be a number, got {score!r}")
    if not math.isfinite(score):
        raise EvaluationError(f"the score is not finite ({score!r}): the trial is failed, not scored")
    out = {"score": float(score)}
    for key, value in answer.items():
        if key != "score":
            out[str(key)] = _finite_or_none(value)
    return out


def call_evaluator(evaluate: Callable[[dict], object], request: dict) -> dict:
    """Answer a request with a Python function ``evaluate(request) -> answer``, where the
    answer is a dict with ``score`` or a bare number; any exception it raises (but not an
    interrupt) fails the evaluation.

    Raises:
      EvaluationError: for an exception, a bad answer or a non-finite score.
    """
    try:
        answer = evaluate(dict(request))
    except Exception as exc:  # the user's code: any error fails the trial, not the study
        raise EvaluationError(f"the evaluator raised {type(exc).__name__}: {str(exc)[:300]}") from exc
    if not isinstance(answer, Mapping):
        try:
            answer = {"score": float(answer)}
        except (TypeError, ValueError):
            raise EvaluationError(f"the evaluator returned {type(answer).__name__}, expected a dict with "
                                  "'score' or a number") from None
    return parse_answer(answer)


# Words that start a shell command but are no program on the PATH.
_SHELL_WORDS = {"cd", "exec", "env", "export", "set", "source", ".", "eval", "if", "for", "while", "case",
                "{", "(", "!", "time", "nice", "nohup", "timeout", "command", "builtin", "true", "false"}


def check_command(command: str) -> None:
    """Check that a shell command's program exists before a study starts (a typo must not
    fail every trial): the first word after ``VAR=value`` assignments, if it is a program
    (a path must be an executable file; a name must be on ``PATH``).

    Raises:
      ValueError: for an empty command or a program that is not found.
    """
    if not isinstance(command, str) or not command.strip():
        raise ValueError("--command: the command is empty; give a shell command that reads a request on stdin")
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"--command: cannot parse {command!r} as a shell command ({exc})") from None
    words = [w for w in words if not ("=" in w and w.split("=", 1)[0].isidentifier())] or [""]
    prog = words[0]
    if not prog or prog in _SHELL_WORDS or any(c in prog for c in "$`;|&<>(){}*?"):
        return
    if "/" in prog:
        if not (os.path.isfile(prog) and os.access(prog, os.X_OK)):
            raise ValueError(f"--command: {prog!r} is not an executable file; give a program on PATH or its path")
    elif shutil.which(prog) is None:
        raise ValueError(f"--command: {prog!r} not found on PATH; give a program on PATH or its path")


def _tail(text: str) -> str:
    return text[-_STDERR_TAIL:]


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


class _Cancelled(Exception):
    pass


def _wait(proc: subprocess.Popen, timeout: float | None, cancel: threading.Event | None) -> int:
    """The exit status; TimeoutExpired after ``timeout`` s, _Cancelled once ``cancel`` is set."""
    if cancel is None:
        return proc.wait(timeout=timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
        try:
            return proc.wait(timeout=max(left, 0.0))
        except subprocess.TimeoutExpired:
            if cancel.is_set():
                raise _Cancelled from None
            if deadline is not None and time.monotonic() >= deadline:
                raise


def run_command_evaluator(command: str, request: dict, timeout: float | None = None, *,
                          env: Mapping[str, str] | None = None, cancel: threading.Event | None = None) -> dict:
    """Answer a request with a shell command: ``command`` runs through ``/bin/sh`` with the
    request as one JSON line on stdin (never in the command line); the last non-empty line of
    its stdout is the answer (:func:`parse_answer`). The command runs in its own process
    group, killed as a whole on a timeout or an interrupt.

    Args:
      command: a shell command line.
      request: the request (:func:`make_request`).
      timeout: seconds before the evaluation is killed and failed (``None``: no limit).
      env: extra environment variables (e.g. ``CUDA_VISIBLE_DEVICES``) on top of ours.
      cancel: when this event is set, the command is killed and the evaluation fails with
        reason ``"interrupted"`` (a study stopping on Ctrl-C).

    Returns:
      The answer.

    Raises:
      EvaluationError: for a non-zero exit, a timeout, unparsable output or a non-finite
        score, with the end of the command's stderr.
    """
    full_env = {**os.environ, **(env or {})}
    payload = json.dumps(request, allow_nan=False) + "\n"
    # stdout and stderr go to files, not pipes: a chatty evaluator can never block on a full
    # pipe, and the output survives until the process group is gone.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, stdout=out, stderr=err,
                                env=full_env, start_new_session=True)
        try:
            try:
                proc.stdin.write(payload.encode())
                proc.stdin.close()
            except BrokenPipeError:  # the command did not read its stdin: its exit status decides
                pass
            rc = _wait(proc, timeout, cancel)
        except (subprocess.TimeoutExpired, _Cancelled) as exc:
            _kill_group(proc)
            err.seek(0)
            why = "interrupted" if isinstance(exc, _Cancelled) else f"timed out after {timeout:g} s"
            raise EvaluationError(why, _tail(err.read().decode(errors="replace"))) from None
        except BaseException:
            _kill_group(proc)
            raise
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = _tail(err.read().decode(errors="replace"))
    if rc != 0:
        what = f"killed by signal {-rc}" if rc < 0 else f"exit status {rc}"
        raise EvaluationError(f"the command failed ({what})", stderr)
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    if not lines:
        raise EvaluationError("the command printed nothing on stdout (expected a JSON answer line)", stderr)
    try:
        return parse_answer(lines[-1])
    except EvaluationError as exc:
        raise EvaluationError(exc.reason, stderr) from None

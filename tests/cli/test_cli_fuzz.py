"""Fuzzing the command line's boundary: Hypothesis draws argument vectors for every subcommand.

Each vector is a cheap valid command with up to three options replaced by adversarial values
(negatives, 0, huge integers, 1e308, nan, inf, garbage, bad paths) or small valid ones. It runs
in this process through :func:`mdm_ot.cli.main`. The contract (issue 15): exit status 0 or 2,
no traceback, exit 2 is one line ``mdm-ot: error: ...``, ``--json`` with exit 0 prints one
JSON document without NaN/Infinity, and the peak memory of the whole test stays bounded.

Commands whose real work takes minutes (theorems, reproduce, code, antibody) run with their
library entry point replaced by one that raises :class:`_ReachedWork`: for those the test
checks the boundary itself, that every bad option is refused before any work starts (a
vector either exits 2 or reaches the work). The others run for real.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import sys
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mdm_ot.cli import main
from mdm_ot.testing.strategies import examples

#: Values that every option must survive (refuse with one line, or accept correctly).
ADVERSARIAL = (
    "-1", "0", "1e308", "-1e308", "nan", "inf", "-inf", "1000000000000", str(10**30), "10**12",
    "9" * 5000, "x", "", " ", "1,x", "0.5", "-0", "beta:1e50,1e50", "beta:0,1", "beta:1e308,1e308",
    "markov:n=3,d=2,seed=0,conc=abc", "markov:n=1000000000000,d=2,seed=0", "npy:/nonexistent.npy",
    "/etc/passwd/sub", "/", "/nonexistent/file.json", "\x00", "--json",
)
#: Small values that are valid for many options, so that vectors also reach real work.
SMALL = ("1", "2", "3", "linear", "sin2", "modes", "count", "stochastic", "random", "t")

#: Options that take a number (or a list of numbers), and values no such option may accept:
#: each must be refused up front (exit 2) wherever it is given.
NUMERIC_OPTIONS = frozenset({
    "--n", "--d", "--steps", "--length", "--block-length", "--temperature", "--coarse-size", "--fine-size",
    "--top-k", "--iterations", "--learning-rate", "--restarts", "--seed", "--cases", "--batch-size", "--lr",
    "--layers", "--width", "--samples", "--tune-steps", "--tune-small", "--tune-large", "--shortlist",
    "--n-test", "--show", "--steps-list",
})
NEVER_A_NUMBER = frozenset({"-1", "1e308", "-1e308", "nan", "inf", "-inf", "1000000000000", str(10**30), "10**12",
                            "9" * 5000, "x", "", " ", "1,x", "\x00"})

# the work functions of the slow commands, replaced in the test (module, attribute)
_WORK = (
    ("mdm_ot.experiments.theorems", "run_all"),
    ("mdm_ot.experiments.report", "reproduce"),
    ("mdm_ot.experiments.codelines.train", "train"),
    ("mdm_ot.experiments.codelines.evaluate", "evaluate_cli"),
    ("mdm_ot.experiments.codelines.table", "run_table"),
    ("mdm_ot.experiments.antibody.table", "antibody_table"),
    ("mdm_ot.experiments.antibody.model", "load_antiberty"),
    ("mdm_ot.experiments.antibody.fetch", "fetch"),
)

# subcommand -> (a cheap valid argv, options that take a value, flags, runs for real)
COMMANDS = {
    "energy": (["energy", "--alpha", "sin2"], ["--alpha", "--gamma", "--n", "--d"], ["--json"], True),
    "toy": (["toy", "--target", "modes", "--steps", "2", "--alpha", "linear", "--sampler", "count"],
            ["--target", "--steps", "--alpha", "--sampler", "--order", "--temperature"], ["--json"], True),
    "transfer-tokens": (["transfer-tokens", "--alpha", "linear", "--length", "8", "--steps", "4"],
                        ["--alpha", "--length", "--steps", "--block-length"], ["--json"], True),
    "export": (["export", "--alpha", "linear", "--length", "8", "--steps", "4"],
               ["--alpha", "--length", "--steps", "--block-length", "--format", "--out"], [], True),
    "tune": (["tune", "--target", "modes", "--steps", "2", "--grid", "0.2:1:2,0.2:1:2"],
             ["--target", "--steps", "--sampler", "--order", "--temperature", "--metric", "--grid", "--method",
              "--coarse-size", "--fine-size", "--top-k", "--iterations", "--learning-rate", "--restarts",
              "--seed"], ["--json", "--free-form"], True),
    "theorems": (["theorems"], ["--seed", "--cases"], ["--json"], False),
    "reproduce": (["reproduce", "--out", "rep"], ["--out"], ["--quick", "--full", "--no-progress"], False),
    "code train": (["code", "train", "--out", "run"],
                   ["--out", "--steps", "--batch-size", "--lr", "--seed", "--layers", "--width", "--export"],
                   ["--json", "--resume", "--no-progress"], False),
    "code eval": (["code", "eval", "--alpha", "linear", "--steps", "2"],
                  ["--alpha", "--steps", "--task", "--sampler", "--order", "--block-length", "--temperature",
                   "--split", "--samples", "--seed", "--checkpoint", "--show"], ["--json"], False),
    "code table": (["code", "table"],
                   ["--out", "--task", "--samples", "--steps-list", "--tune-steps", "--tune-small", "--tune-large",
                    "--shortlist", "--block-length", "--seed", "--checkpoint"], ["--json", "--no-tune"], False),
    "antibody table": (["antibody", "table", "--cache", "nocache"],
                       ["--task", "--steps", "--n-test", "--batch-size", "--seed", "--out", "--from-json"],
                       ["--json", "--small", "--no-tune"], False),
    "antibody eval": (["antibody", "eval", "QV_LV"],
                      ["--schedule", "--steps", "--sampler", "--samples", "--seed"], ["--json"], False),
    "antibody fetch": (["antibody", "fetch", "--cache", "nocache"], ["--wheels", "--cache"], ["--json"], False),
}



class _ReachedWork(BaseException):
    """Raised by the replaced work functions: the command accepted its options."""


def _reached(*args, **kwargs):
    raise _ReachedWork


def _no_json_constant(name):
    raise AssertionError(f"--json printed {name}")


def _run(argv: list[str]) -> tuple[int | str, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's refusals
            code = exc.code
        except _ReachedWork:
            code = "reached work"
    return code, out.getvalue(), err.getvalue()


def _check(argv: list[str], code, out: str, err: str, real: bool, base: list[str]) -> None:
    assert "Traceback" not in err and "Traceback" not in out, (argv, err)
    extra = argv[len(base):]
    bad = [(o, v) for o, v in zip(extra, extra[1:], strict=False) if o in NUMERIC_OPTIONS and v in NEVER_A_NUMBER]
    assert code == 2 or not bad, f"{argv[:len(base)]}: accepted {bad[0][0]} {bad[0][1][:20]!r} (exit {code})"
    if code == 2:
        assert err.startswith("mdm-ot: error: ") and err.count("\n") == 1, (argv, err)
        return
    allowed = (0,) if real else ("reached work",)
    if argv[0] == "theorems" and real:
        allowed = (0, 1)
    assert code in allowed, (argv, code, err)
    if code == 0 and "--json" in argv:
        json.loads(out, parse_constant=_no_json_constant)


@st.composite
def _argv(draw, name: str) -> list[str]:
    base, options, flags, _ = COMMANDS[name]
    argv = list(base)
    for _ in range(draw(st.integers(0, 3))):  # 0: the valid base command runs as it is
        opt = draw(st.sampled_from(options))
        value = draw(st.one_of(st.sampled_from(ADVERSARIAL), st.sampled_from(SMALL)))  # half valid-looking
        argv += [opt, value]
    argv += draw(st.lists(st.sampled_from(flags), max_size=2, unique=True)) if flags else []
    return argv


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The fuzzed commands write relative paths into an empty folder of their own."""
    path = tmp_path_factory.mktemp("fuzz")
    old = os.getcwd()
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(old)


def _maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


#: Peak memory the fuzzing may add to this process (JAX's compiled programs included); a
#: quadratic token split or a stride-0 copy at the adversarial sizes needs far more.
_MEMORY_BUDGET = 2 << 30


@pytest.mark.parametrize("name", list(COMMANDS))
def test_fuzzed_arguments_exit_0_or_2_without_traceback(name, workdir):
    real = COMMANDS[name][3]
    patches = [] if real else [mock.patch(f"{mod}.{attr}", _reached) for mod, attr in _WORK]
    start = _maxrss_bytes()

    @settings(max_examples=examples(12 if real else 20), deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(_argv(name))
    def one(argv):
        with contextlib.ExitStack() as stack:
            for p in patches:
                stack.enter_context(p)
            code, out, err = _run(argv)
        _check(argv, code, out, err, real, COMMANDS[name][0])

    one()
    assert _maxrss_bytes() - start < _MEMORY_BUDGET




@pytest.mark.slow
@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_option_with_every_adversarial_value(name, workdir):
    """The systematic companion of the fuzz test: each option of each command with each
    adversarial value, one at a time (about 1,500 runs; most are refused in milliseconds)."""
    base, options, _, real = COMMANDS[name]
    start = _maxrss_bytes()

    def every():
        with contextlib.ExitStack() as stack:
            if not real:
                for mod, attr in _WORK:
                    stack.enter_context(mock.patch(f"{mod}.{attr}", _reached))
            for opt in options:
                for value in ADVERSARIAL:
                    argv = [*base, opt, value, "--json"] if "--json" in COMMANDS[name][2] else [*base, opt, value]
                    code, out, err = _run(argv)
                    _check(argv, code, out, err, real, base)

    every()
    assert _maxrss_bytes() - start < _MEMORY_BUDGET

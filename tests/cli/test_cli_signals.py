"""Ctrl-C and SIGTERM at random moments, as a user would send them (mdm_ot.cli.run).

Each run starts the real process (the ``mdm-ot`` script or ``python -m mdm_ot.cli``),
waits, sends the signal and checks: exit status 130 (SIGINT) or 143 (SIGTERM), exactly one
line on stderr, no traceback, no "Exception ignored", and no segmentation fault (exit 139
or -11, what an interrupted jaxlib compile did at interpreter teardown). The delays come
from a seeded generator, so a failure can be rerun.
"""

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("mdm-ot")


def _command(how, *args):
    if how == "script":
        return [str(SCRIPT), *args]
    return [sys.executable, "-m", "mdm_ot.cli", *args]


def _handlers_installed(proc):
    """Whether the process catches SIGTERM yet, i.e. `run` has installed its handlers (the
    SigCgt mask of /proc/PID/status; Python itself catches only SIGINT at startup). True
    where there is no /proc: the delay alone decides there."""
    try:
        with open(f"/proc/{proc.pid}/status") as fh:
            mask = next(int(ln.split()[1], 16) for ln in fh if ln.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return not os.path.exists("/proc/self/status")
    return bool(mask >> (signal.SIGTERM - 1) & 1)


def _interrupt(cmd, delay, sig=signal.SIGINT, cwd=None, ready=_handlers_installed):
    """Start ``cmd``; once ``ready(proc)`` is true (None: at once), wait ``delay`` seconds and
    send ``sig``. By default the delay counts from the moment `run` installed its handlers,
    so that the moment is random within the command's work however slow the imports are."""
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=cwd, env=env)
    deadline = time.monotonic() + 120
    while (ready is not None and not ready(proc) and proc.poll() is None
           and time.monotonic() < deadline):
        time.sleep(0.01)
    time.sleep(delay)
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"still running 120 s after the signal (delay {delay:.2f} s)")
    return proc.returncode, out, err


def _check(result, delay, sig=signal.SIGINT):
    code, out, err = result
    word = "terminated" if sig == signal.SIGTERM else "interrupted"
    context = f"delay {delay:.2f} s, exit {code}, stderr: {err[-2000:]!r}"
    assert code not in (139, -signal.SIGSEGV), "segmentation fault; " + context
    assert "Traceback" not in err and "Exception ignored" not in err, context
    if code == 0 and not err:  # finished before the signal came: nothing to check
        return "finished"
    assert code == 128 + sig, context
    assert err == f"mdm-ot: {word}\n", context
    return "interrupted"


def _delays(seed, n, lo, hi):
    rng = random.Random(seed)
    return [rng.uniform(lo, hi) for _ in range(n)]


# ------------------------------------------------------------------------------ default


# Seconds after `run` installed its handlers (theorems --cases 2 computes for ~5 s after that);
# the moments before are test_ctrl_c_during_the_imports's.
AFTER_IMPORTS = (0.0, 2.5)


@pytest.mark.parametrize("how,delay", [("script", d) for d in _delays(1, 2, *AFTER_IMPORTS)]
                         + [("module", d) for d in _delays(2, 1, *AFTER_IMPORTS)])
def test_ctrl_c_during_theorems(how, delay):
    assert _check(_interrupt(_command(how, "theorems", "--cases", "2"), delay), delay) == "interrupted"


def test_sigterm_during_theorems():
    delay = 1.5
    result = _interrupt(_command("script", "theorems", "--cases", "2"), delay, signal.SIGTERM)
    assert _check(result, delay, signal.SIGTERM) == "interrupted"


def test_ctrl_c_during_the_imports():
    for delay in (0.15, 0.45):
        result = _interrupt(_command("script", "theorems"), delay, ready=None)
        assert _check(result, delay) == "interrupted"


def test_interrupted_reproduce_keeps_the_old_report_and_leaves_nothing(tmp_path):
    """A re-run into a folder that holds a report, interrupted while the new one is being built
    (in its temporary sibling folder): the old report stays, whole and alone, and the
    temporary folder is gone. (The slow runs below interrupt later, after figures are drawn.)"""
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.md").write_text("old report")
    (out / "results.json").write_text("{}")
    seen = []

    def building(proc):
        seen.extend(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp"))
        return bool(seen)

    delay = 1.0
    result = _interrupt(_command("module", "reproduce", "--quick", "--out", str(out)), delay,
                        ready=building)
    assert seen, "the run ended before it started building the new report"
    assert _check(result, delay) == "interrupted"
    assert sorted(os.listdir(out)) == ["report.md", "results.json"]
    assert (out / "report.md").read_text() == "old report"
    assert os.listdir(tmp_path) == ["report"]  # no temporary siblings left


# ------------------------------------------------------------------------------ slow: 20 + 20


def _many(cmd_args, seed, tmp_path=None, latest=10.0):
    """20 runs, each interrupted at a random moment in [0, latest] s after `run` installed its
    handlers (``latest`` below the command's own run time, so that every run is interrupted)."""
    counts = {"interrupted": 0, "finished": 0}
    for k, delay in enumerate(_delays(seed, 20, 0.0, latest)):
        cwd = None
        if tmp_path is not None:
            cwd = tmp_path / f"run{k}"
            cwd.mkdir()
        counts[_check(_interrupt(_command("script" if k % 2 else "module", *cmd_args), delay,
                                 cwd=cwd), delay)] += 1
        if cwd is not None:
            assert sorted(os.listdir(cwd)) in ([], ["r"]), "a temporary folder was left behind"
            if (cwd / "r").exists():
                assert (cwd / "r" / "report.md").exists()
            shutil.rmtree(cwd)
    return counts


@pytest.mark.slow
def test_twenty_ctrl_c_during_theorems():
    counts = _many(["theorems", "--cases", "8"], seed=10, latest=6.0)
    assert counts == {"interrupted": 20, "finished": 0}


@pytest.mark.slow
def test_twenty_ctrl_c_during_reproduce_quick(tmp_path):
    counts = _many(["reproduce", "--quick", "--no-progress", "--out", "r"], seed=11, tmp_path=tmp_path)
    assert counts == {"interrupted": 20, "finished": 0}


@pytest.mark.slow
def test_twenty_ctrl_c_in_the_first_second():
    # From 0.1 s: before that the signal can land in the interpreter's own start-up (the
    # `site` module, the first ~20 ms, longer under load), before any code of ours runs;
    # Python then reports "Fatal Python error: init_import_site" itself (exit 1).
    for k, delay in enumerate(_delays(12, 20, 0.1, 1.0)):
        cmd = _command("script" if k % 2 else "module", "theorems")
        assert _check(_interrupt(cmd, delay, ready=None), delay) == "interrupted"


@pytest.mark.slow
def test_ten_sigterm_during_theorems():
    for delay in _delays(13, 10, 0.0, 6.0):
        _check(_interrupt(_command("script", "theorems", "--cases", "4"), delay, signal.SIGTERM),
               delay, signal.SIGTERM)

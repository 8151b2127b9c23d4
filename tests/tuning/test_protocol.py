"""The evaluator protocol: requests, answers, the in-process and the shell-command doors.

The expected requests are closed forms written here (alpha of beta:1,1 is sin^2(pi t / 2),
LLaDA's split of L tokens over K steps), never the library's own grid code.
"""

import json
import math
import os
import sys
import time

import numpy as np
import pytest

import mdm_ot
from mdm_ot import tuning as T

PY = sys.executable


@pytest.fixture(autouse=True)
def _x64():
    import jax

    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)


def test_request_fields_and_closed_forms():
    K = 6
    r = T.make_request("beta:1,1", K, stage="coarse", subset_size=32, seed=3, trial=7)
    assert tuple(r) == T.REQUEST_FIELDS
    assert (r["schedule"], r["a"], r["b"], r["steps"]) == ("beta:1.0,1.0", 1.0, 1.0, K)
    # Beta(1, 1): I_t = t, so alpha = sin^2(pi t / 2); t = 0 is all masked
    expect = [math.sin(math.pi * k / (2 * K)) ** 2 for k in range(K + 1)]
    np.testing.assert_allclose(r["alpha_grid"], expect, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(r["mask_ratio_grid"], [1 - x for x in expect], rtol=1e-12, atol=1e-12)
    assert r["alpha_grid"][0] == 0.0 and r["alpha_grid"][-1] == 1.0
    assert (r["stage"], r["subset_size"], r["seed"], r["trial"]) == ("coarse", 32, 3, 7)
    assert r["tokens_per_step"] is None and r["model_calls"] == K
    json.dumps(r, allow_nan=False)  # JSON-ready


def test_request_tokens_per_step_and_model_calls():
    # the linear schedule's split is LLaDA's: L // K each, one more for the first L % K steps
    r = T.make_request("linear", 4, length=10)
    assert (r["a"], r["b"]) == (None, None)
    assert r["tokens_per_step"] == [3, 3, 2, 2] and r["model_calls"] == 4
    # a steep schedule leaves steps empty: model calls count only the steps that reveal
    r = T.make_request("beta:5,5", 8, length=4)
    assert sum(r["tokens_per_step"]) == 4 and 0 in r["tokens_per_step"]
    assert r["model_calls"] == sum(1 for c in r["tokens_per_step"] if c > 0) < 8
    # an (a, b) pair is the same request as its spec
    assert T.make_request((0.3, 0.7), 5) == T.make_request("beta:0.3,0.7", 5)


@pytest.mark.parametrize("args, kwargs, match", [
    (("beta:0,1", 4), {}, "> 0"),
    (((0.5, -1.0), 4), {}, "> 0"),
    (("beta:1,1", 0), {}, "steps"),
    (("wiggle", 4), {}, "unknown mask schedule"),
    (("linear", 4), {"stage": "medium"}, "stage"),
    (("linear", 4), {"subset_size": 0}, "subset_size"),
    (("linear", 4), {"length": 0}, "length"),
])
def test_request_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        T.make_request(*args, **kwargs)


def test_check_request_round_trip_and_rejections():
    r = json.loads(json.dumps(T.make_request("beta:0.4,0.6", 4, length=8, trial=2)))
    assert T.check_request(r) == r
    for key, bad in [("alpha_grid", [0.0, 1.0]), ("steps", 0), ("model_calls", 9), ("stage", "x"),
                     ("tokens_per_step", [1, 2]), ("a", -1.0), ("seed", -1), ("subset_size", 0)]:
        with pytest.raises(ValueError, match=key):
            T.check_request({**r, key: bad})
    with pytest.raises(ValueError, match="lacks"):
        T.check_request({k: v for k, v in r.items() if k != "trial"})


def test_parse_answer():
    assert T.parse_answer('{"score": 2, "acc": 0.5, "m": {"x": NaN}}') == {"score": 2.0, "acc": 0.5, "m": {"x": None}}
    for text, match in [('{"score": NaN}', "not finite"), ('{"score": Infinity}', "not finite"),
                        ('{"score": "1"}', "number"), ('{"score": true}', "number"), ('{"acc": 1}', "no 'score'"),
                        ("[1, 2]", "object"), ("garbage", "not JSON")]:
        with pytest.raises(T.EvaluationError, match=match):
            T.parse_answer(text)


def test_call_evaluator():
    assert T.call_evaluator(lambda r: r["steps"] * 1.5, T.make_request("linear", 2)) == {"score": 3.0}
    assert T.call_evaluator(lambda r: {"score": 1, "n": r["trial"]}, T.make_request("linear", 2, trial=4))["n"] == 4
    with pytest.raises(T.EvaluationError, match="ZeroDivisionError"):
        T.call_evaluator(lambda r: 1 / 0, T.make_request("linear", 2))
    with pytest.raises(T.EvaluationError, match="not finite"):
        T.call_evaluator(lambda r: float("nan"), T.make_request("linear", 2))


ECHO = (f"{PY} -c \"import json, os, sys; r = json.load(sys.stdin); print('log line'); "
        "print(json.dumps({'score': 1.5, 'request': r, 'env': os.environ.get('MDM_W')}))\"")


def test_command_gets_the_request_on_stdin_and_answers_on_the_last_line():
    r = T.make_request("beta:0.4,0.6", 4, length=8, trial=2)
    ans = T.run_command_evaluator(ECHO, r, timeout=60, env={"MDM_W": "gpu1"})
    assert ans["score"] == 1.5 and ans["request"] == r and ans["env"] == "gpu1"
    assert "0.4" not in ECHO  # the request never travels in the command line


def _fails(cmd, timeout=60, match=""):
    with pytest.raises(T.EvaluationError, match=match) as info:
        T.run_command_evaluator(cmd, T.make_request("linear", 2), timeout=timeout)
    return info.value


def test_command_failures_are_evaluation_errors_with_the_stderr_tail():
    e = _fails(f"{PY} -c \"import sys; print('boom', file=sys.stderr); sys.exit(3)\"", match="exit status 3")
    assert "boom" in e.stderr_tail
    _fails("echo not-json", match="not JSON")
    _fails("echo '{\"score\": NaN}'", match="not finite")
    _fails("true", match="printed nothing")
    _fails("exit 0 # the request is ignored", match="printed nothing")


def test_command_timeout_kills_the_whole_process_group(tmp_path):
    pidfile = tmp_path / "pid"
    t0 = time.monotonic()
    e = _fails(f"sleep 30 & echo $! > {pidfile}; wait", timeout=0.5, match="timed out")
    assert time.monotonic() - t0 < 10
    assert e.reason.startswith("timed out after 0.5 s")
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the evaluator's child outlived the timeout")


def test_check_command():
    T.check_command(f"{PY} -c pass")
    T.check_command("FOO=1 cd / && ls")  # shell words and assignments are not programs
    for cmd in ("no-such-program-xyz --flag", "./no/such/file.sh", "  "):
        with pytest.raises(ValueError, match="--command"):
            T.check_command(cmd)


def test_public_face():
    assert mdm_ot.tuning.make_request is T.make_request
    assert set(T.REQUEST_FIELDS) >= {"schedule", "a", "b", "steps", "alpha_grid", "mask_ratio_grid",
                                     "tokens_per_step", "model_calls", "stage", "subset_size", "seed", "trial"}

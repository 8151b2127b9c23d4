"""The LLaDA template examples/llada_evaluator.py, without PyTorch: it compiles, imports no
torch until it generates, and its request handling, token counts and item choice are right
(the counts against mdm_ot's own implementation, which the script does not import)."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import py_compile
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mdm_ot.sampling import export_table, transfer_counts
from mdm_ot.tuning import make_request

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "examples" / "llada_evaluator.py"


@pytest.fixture(scope="module", autouse=True)
def float64():
    with jax.enable_x64(True):  # requests as the CLI builds them (it computes in float64)
        yield


@pytest.fixture(scope="module")
def llada():
    py_compile.compile(str(SCRIPT), doraise=True)
    spec = importlib.util.spec_from_file_location("llada_evaluator", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_import_needs_no_torch(llada):
    code = ("import runpy, sys; sys.modules['torch'] = None; sys.modules['transformers'] = None; "
            f"runpy.run_path({str(SCRIPT)!r})")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


SPECS = ("linear", "beta:0.9,0.3", "beta:1,0.2", "beta:0.3,0.9", "sin2", "cosine")
LENGTHS = (1, 5, 7, 10, 32, 200, 1023)


@pytest.mark.parametrize("steps", [4, 64])
def test_counts_are_mdm_ot_transfer_counts(llada, steps):
    alphas = np.array([make_request(spec, steps)["alpha_grid"] for spec in SPECS])
    # mdm_ot's counts for every (schedule, length) in one compiled call
    want = np.asarray(jax.jit(jax.vmap(jax.vmap(transfer_counts, (None, 0)), (0, None)))(
        jnp.asarray(alphas), jnp.asarray(LENGTHS)))
    for i, spec in enumerate(SPECS):
        for j, n in enumerate(LENGTHS):
            got = llada.transfer_counts(alphas[i], n)
            assert got.tolist() == want[i, j].tolist(), (spec, n)
            assert got.sum() == n and got.min() >= 0


@pytest.mark.parametrize("spec, length, steps, block", [("beta:1,0.2", 256, 64, 32), ("beta:0.3,0.9", 256, 64, 64)])
def test_block_counts_are_the_export_table(llada, spec, length, steps, block):
    alpha = make_request(spec, steps)["alpha_grid"]  # the K-step grid of the request
    got = llada.block_counts(alpha, length, block)
    assert got.tolist() == export_table(spec, length, steps, block_length=block)["tokens_per_block_step"]


def test_block_counts_bad_sizes(llada):
    alpha = make_request("linear", 6)["alpha_grid"]
    with pytest.raises(ValueError, match="must divide"):
        llada.block_counts(alpha, 100, 32)
    with pytest.raises(ValueError, match="multiple of 4"):
        llada.block_counts(alpha, 128, 32)


def test_items_are_seeded_nested_and_capped(llada):
    a, b = llada.choose_items(50, 5, seed=3), llada.choose_items(50, 20, seed=3)
    assert a == b[:5] and len(set(b)) == 20 and all(0 <= i < 50 for i in b)
    assert llada.choose_items(50, 5, seed=4) != a
    assert sorted(llada.choose_items(7, None, seed=0)) == list(range(7))
    assert sorted(llada.choose_items(7, 100, seed=0)) == list(range(7))


def test_score_answer_takes_the_last_number(llada):
    assert llada.score_answer("so 3 + 4 = 7. The answer is 1,234.", "1234") == 1.0
    assert llada.score_answer("the answer is 12", "13") == 0.0
    assert llada.score_answer("no digits here", "0") == 0.0


def _run(args, stdin, tmp_path):
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps({"prompt": f"q{i}", "answer": str(i)}) + "\n" for i in range(30)))
    return subprocess.run([sys.executable, str(SCRIPT), "--benchmark", str(bench), *args], input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_dry_run_plan(llada, tmp_path):
    req = make_request("beta:1,0.2", 64, stage="fine", subset_size=6, seed=9, trial=2)
    done = _run(["--dry-run"], json.dumps(req), tmp_path)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout.splitlines()[-1])
    assert plan["tokens_per_block_step"] == export_table("beta:1,0.2", 256, 64, block_length=32)["tokens_per_block_step"]
    assert plan["items"] == llada.choose_items(30, 6, 9)


@pytest.mark.parametrize("stdin, match", [
    ("{", "not JSON"),
    (json.dumps({"steps": 3, "alpha_grid": [0, 0.5, 1.0]}), "steps + 1 = 4"),
    (json.dumps(make_request("linear", 12)), "12 steps cannot be split over 8 blocks"),
])
def test_bad_request_exits_2(tmp_path, stdin, match):
    done = _run(["--dry-run"], stdin, tmp_path)
    assert done.returncode == 2 and done.stdout == "" and match in done.stderr

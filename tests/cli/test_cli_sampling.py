"""Tests of `mdm-ot transfer-tokens` (mdm_ot.cli.sampling)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from mdm_ot.cli import main


def run_json(capsys, argv):
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one JSON object on one line
    return json.loads(out)


def test_transfer_tokens_json(capsys):
    out = run_json(capsys, ["transfer-tokens", "--alpha", "linear", "--length", "10", "--steps", "4", "--json"])
    assert out["tokens_per_step"] == [3, 3, 2, 2]  # LLaDA: L // K, one more for the first L % K
    np.testing.assert_allclose(out["alpha_grid"], [0, 0.25, 0.5, 0.75, 1], rtol=1e-12, atol=1e-15)
    out = run_json(capsys, ["transfer-tokens", "--alpha", "linear", "--length", "32", "--steps", "8",
                            "--block-length", "8", "--json"])
    assert out["tokens_per_step"] == [4, 4] * 4 and out["num_blocks"] == 4 and len(out["alpha_grid"]) == 3
    out = run_json(capsys, ["transfer-tokens", "--alpha", "beta:1,0.2", "--length", "256", "--steps", "8", "--json"])
    assert sum(out["tokens_per_step"]) == 256 and len(out["tokens_per_step"]) == 8


def test_min_tokens_drop_empty_and_model_calls(capsys):
    base = ["transfer-tokens", "--alpha", "beta:1,0.2", "--length", "64", "--steps", "16", "--block-length", "16",
            "--json"]
    plain = run_json(capsys, base)
    assert plain["model_calls"] == sum(c > 0 for c in plain["tokens_per_step"]) < 16
    assert plain["model_calls_per_block"] == [plain["model_calls"] // 4] * 4
    assert plain["convention"] == "t=0 all masked; alpha = P(unmasked)" and plain["min_tokens_per_step"] == 0
    raised = run_json(capsys, base + ["--min-tokens-per-step", "1"])
    rows = np.reshape(raised["tokens_per_step"], (4, 4))
    assert rows.min() >= 1 and np.all(rows.sum(axis=1) == 16) and raised["model_calls"] == 16
    assert "at least 1" in raised["rounding"]["description"]
    dropped = run_json(capsys, base + ["--drop-empty"])
    assert dropped["tokens_per_step"] == [c for c in plain["tokens_per_step"] if c > 0]
    assert dropped["model_calls"] == plain["model_calls"] and len(dropped["steps_kept"]) * 4 == plain["model_calls"]
    assert main(base[:-1] + ["--drop-empty"]) == 0
    text = capsys.readouterr().out
    assert f"model calls (steps revealing >= 1 token): {plain['model_calls']} of 16" in text
    assert " ".join(str(c) for c in dropped["tokens_per_step"]) in text


def test_text_output(capsys):
    assert main(["transfer-tokens", "--alpha", "sin2", "--length", "7", "--steps", "4"]) == 0
    assert "1 3 2 1" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, match",
    [
        (["transfer-tokens", "--alpha", "linear", "--length", "8", "--steps", "0"], "steps"),
        (["transfer-tokens", "--alpha", "linear", "--length", "0", "--steps", "4"], "length"),
        (["transfer-tokens", "--alpha", "linear", "--length", "10", "--steps", "4", "--block-length", "4"], "divide"),
        (["transfer-tokens", "--alpha", "linear", "--length", "12", "--steps", "4", "--block-length", "4"], "divisible"),
        (["transfer-tokens", "--alpha", "linear", "--length", "ten", "--steps", "4"], "integer"),
        (["transfer-tokens", "--alpha", "linear", "--length", "16", "--steps", "5", "--min-tokens-per-step", "4"],
         "--min-tokens-per-step 4: M*K = 20 exceeds the length L = 16"),
        (["transfer-tokens", "--alpha", "linear", "--length", "64", "--steps", "16", "--block-length", "16",
          "--min-tokens-per-step", "5"], "--min-tokens-per-step 5: M*K = 20 exceeds the length L = 16 (per block"),
        (["transfer-tokens", "--alpha", "linear", "--length", "16", "--steps", "4", "--min-tokens-per-step", "-1"],
         "--min-tokens-per-step must be an integer in [0,"),
        (["transfer-tokens", "--alpha", "linear", "--length", "16", "--steps", "1000001"], "--steps must be an integer in [1,"),
        (["transfer-tokens", "--alpha", "linear", "--length", "16", "--steps", "4", "--drop-empty", "--min-tokens-per-step",
          "x"], "--min-tokens-per-step must be an integer"),
    ],
)
def test_bad_input_one_line_exit_2(assert_one_line_error, argv, match):
    assert_one_line_error(argv, match)


def test_console_entry_point():
    proc = subprocess.run([sys.executable, "-m", "mdm_ot.cli", "transfer-tokens", "--alpha", "linear", "--length",
                           "5", "--steps", "3", "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["tokens_per_step"] == [2, 2, 1]

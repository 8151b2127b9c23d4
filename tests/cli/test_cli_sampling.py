"""Tests of `mdm-ot toy` and `mdm-ot transfer-tokens` (mdm_ot.cli.sampling)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from mdm_ot.cli import main
from mdm_ot.sampling import exact_output_table
from mdm_ot.schedules import parse_alpha
from mdm_ot.tuning import toy_sentences, toy_target


def run_json(capsys, argv):
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one JSON object on one line
    return json.loads(out)


def test_toy_json(capsys):
    out = run_json(capsys, ["toy", "--target", "middle", "--steps", "3", "--alpha", "beta:0.9,0.3",
                            "--sampler", "stochastic", "--json"])
    assert {"probabilities", "kl_data_to_model", "kl_model_to_data", "tv"} <= set(out)
    probs = out["probabilities"]
    assert list(probs) == toy_sentences() and len(probs) == 32 and list(probs)[0] == "aaaaa"
    q = toy_target("middle")
    p = np.asarray(exact_output_table(q, parse_alpha("beta:0.9,0.3"), num_steps=3, sampler="stochastic")).ravel()
    np.testing.assert_allclose(list(probs.values()), p, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(out["tv"], 0.5 * np.abs(p - q.ravel()).sum(), rtol=1e-12, atol=1e-14)
    assert out["kl_model_to_data"] is None  # parallel steps leave the support: KL(p || q) = +inf
    assert out["kl_data_to_model"] > 0 and math.isfinite(out["kl_data_to_model"])


def test_toy_count_exact_and_infinite(capsys):
    # modes with sin^2: counts 1, 3, 1, the first token decides everything: p = q exactly
    out = run_json(capsys, ["toy", "--target", "modes", "--steps", "3", "--alpha", "sin2", "--sampler", "count", "--json"])
    assert out["tokens_per_step"] == [1, 3, 1]
    assert out["kl_data_to_model"] == pytest.approx(0, abs=1e-12)
    assert out["kl_model_to_data"] == pytest.approx(0, abs=1e-12)
    assert out["probabilities"]["aaaaa"] == pytest.approx(0.5, rel=1e-12, abs=1e-12)
    # confidence order (temperature 0 by default): a point mass on aaaaa, KL(q || p) = +inf
    out = run_json(capsys, ["toy", "--target", "modes", "--steps", "3", "--alpha", "linear", "--sampler", "count",
                            "--order", "confidence", "--json"])
    assert out["temperature"] == 0 and out["kl_data_to_model"] is None
    assert out["probabilities"]["aaaaa"] == pytest.approx(1.0, rel=1e-12, abs=1e-12)
    assert out["kl_model_to_data"] == pytest.approx(math.log(2), rel=1e-12, abs=1e-12)


def test_transfer_tokens_json(capsys):
    out = run_json(capsys, ["transfer-tokens", "--alpha", "linear", "--length", "10", "--steps", "4", "--json"])
    assert out["tokens_per_step"] == [3, 3, 2, 2]  # LLaDA: L // K, one more for the first L % K
    np.testing.assert_allclose(out["alpha_grid"], [0, 0.25, 0.5, 0.75, 1], rtol=1e-12, atol=1e-15)
    out = run_json(capsys, ["transfer-tokens", "--alpha", "linear", "--length", "32", "--steps", "8",
                            "--block-length", "8", "--json"])
    assert out["tokens_per_step"] == [4, 4] * 4 and out["num_blocks"] == 4 and len(out["alpha_grid"]) == 3
    out = run_json(capsys, ["transfer-tokens", "--alpha", "beta:1,0.2", "--length", "256", "--steps", "8", "--json"])
    assert sum(out["tokens_per_step"]) == 256 and len(out["tokens_per_step"]) == 8


def test_text_output(capsys):
    assert main(["toy", "--target", "modes", "--steps", "2", "--alpha", "linear", "--sampler", "count"]) == 0
    text = capsys.readouterr().out
    assert "aaaaa" in text and "KL(q || p)" in text and "+inf" in text
    assert main(["transfer-tokens", "--alpha", "sin2", "--length", "7", "--steps", "4"]) == 0
    assert "1 3 2 1" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, match",
    [
        (["toy", "--target", "modes", "--steps", "0", "--alpha", "linear", "--sampler", "count"], "steps"),
        (["toy", "--target", "both", "--steps", "3", "--alpha", "linear", "--sampler", "count"], "target"),
        (["toy", "--target", "modes", "--steps", "3", "--alpha", "cubic", "--sampler", "count"], "schedule"),
        (["toy", "--target", "modes", "--steps", "3", "--alpha", "linear", "--sampler", "greedy"], "sampler"),
        (["transfer-tokens", "--alpha", "linear", "--length", "8", "--steps", "0"], "steps"),
        (["transfer-tokens", "--alpha", "linear", "--length", "0", "--steps", "4"], "length"),
        (["transfer-tokens", "--alpha", "linear", "--length", "10", "--steps", "4", "--block-length", "4"], "divide"),
        (["transfer-tokens", "--alpha", "linear", "--length", "12", "--steps", "4", "--block-length", "4"], "divisible"),
        (["transfer-tokens", "--alpha", "linear", "--length", "ten", "--steps", "4"], "integer"),
    ],
)
def test_bad_input_one_line_exit_2(capsys, argv, match):
    with pytest.raises(SystemExit) as info:  # argparse errors exit through _Parser.error
        code = main(argv)
        raise SystemExit(code)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("mdm-ot: error:") and err.count("\n") == 1 and match in err


def test_console_entry_point():
    proc = subprocess.run([sys.executable, "-m", "mdm_ot.cli", "transfer-tokens", "--alpha", "linear", "--length",
                           "5", "--steps", "3", "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["tokens_per_step"] == [2, 2, 1]
    proc = subprocess.run([sys.executable, "-m", "mdm_ot.cli", "toy", "--target", "x", "--steps", "3", "--alpha",
                           "linear", "--sampler", "count"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip() == "mdm-ot: error: unknown toy target 'x'; allowed: modes, middle"

"""Tests of `mdm-ot toy` (mdm_ot.cli.toy)."""

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


def test_text_output(capsys):
    assert main(["toy", "--target", "modes", "--steps", "2", "--alpha", "linear", "--sampler", "count"]) == 0
    text = capsys.readouterr().out
    assert "aaaaa" in text and "KL(q || p)" in text and "+inf" in text


@pytest.mark.parametrize(
    "argv, match",
    [
        (["toy", "--target", "modes", "--steps", "0", "--alpha", "linear", "--sampler", "count"], "steps"),
        (["toy", "--target", "both", "--steps", "3", "--alpha", "linear", "--sampler", "count"], "target"),
        (["toy", "--target", "modes", "--steps", "3", "--alpha", "cubic", "--sampler", "count"], "schedule"),
        (["toy", "--target", "modes", "--steps", "3", "--alpha", "linear", "--sampler", "greedy"], "sampler"),
    ],
)
def test_bad_input_one_line_exit_2(assert_one_line_error, argv, match):
    assert_one_line_error(argv, match)


def test_console_entry_point():
    proc = subprocess.run([sys.executable, "-m", "mdm_ot.cli", "toy", "--target", "x", "--steps", "3", "--alpha",
                           "linear", "--sampler", "count"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip() == "mdm-ot: error: unknown toy target 'x'; allowed: modes, middle"


def _count_split(alphas, length):
    """Largest remainder split of ``length`` tokens by the alpha increments, written out here
    (numpy, float64) so the test does not share the library's split."""
    a = np.asarray(alphas, np.float64)
    x = length * np.diff(a) / (a[-1] - a[0])
    c = np.floor(x).astype(int)
    for i in np.argsort(-(x - c), kind="stable")[: length - c.sum()]:
        c[i] += 1
    return c


def test_toy_model_calls_count(capsys):
    # beta:1,0.2 at K = 3 on the 5-token toy: alpha on the grid from the schedule, split and
    # counted here; the back-loaded schedule leaves empty steps, so fewer calls than K
    sched = parse_alpha("beta:1,0.2")
    alphas = [float(sched(t)) for t in (0.0, 1 / 3, 2 / 3, 1.0)]
    counts = _count_split(alphas, 5)
    expected_calls = int(np.count_nonzero(counts))
    assert expected_calls < 3
    out = run_json(capsys, ["toy", "--target", "modes", "--steps", "3", "--alpha", "beta:1,0.2",
                            "--sampler", "count", "--json"])
    assert out["tokens_per_step"] == counts.tolist()
    assert out["model_calls"] == expected_calls and "expected_model_calls" not in out
    assert main(["toy", "--target", "modes", "--steps", "3", "--alpha", "beta:1,0.2", "--sampler", "count"]) == 0
    assert f"model calls: {expected_calls} (of K = 3 steps)" in capsys.readouterr().out


def test_toy_model_calls_stochastic(capsys):
    # linear, 5 positions, K = 3: every step has alpha_k > alpha_(k-1) (3 calls); a step
    # reveals nothing with probability (1 - 1/3)^5, so 3 (1 - (2/3)^5) calls are expected
    out = run_json(capsys, ["toy", "--target", "middle", "--steps", "3", "--alpha", "linear",
                            "--sampler", "stochastic", "--json"])
    assert out["model_calls"] == 3
    np.testing.assert_allclose(out["expected_model_calls"], 3 * (1 - (2 / 3) ** 5), rtol=1e-12, atol=1e-12)
    assert main(["toy", "--target", "middle", "--steps", "3", "--alpha", "linear", "--sampler", "stochastic"]) == 0
    assert "model calls: 3 (of K = 3 steps), expected 2.60494" in capsys.readouterr().out

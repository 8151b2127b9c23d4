"""Model calls beside K in the toy tuning result (mdm_ot.tuning.tune_target): every grid
point, the best point, the gradient's best and the free-form schedule, checked against an
independent numpy computation (scipy's Beta CDF, a plain largest-remainder split, the
closed form of the stochastic sampler's expected calls)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special

from mdm_ot.tuning import tune_target

LENGTH = 5  # the toy's positions


def alphas(a: float, b: float, steps: int) -> np.ndarray:
    """The Beta schedule sin^2(pi/2 I_t(a, b)) on the uniform grid, in numpy."""
    return np.sin(0.5 * math.pi * scipy.special.betainc(a, b, np.arange(steps + 1) / steps)) ** 2


def count_calls(alpha: np.ndarray, length: int) -> int:
    """Steps with at least one token under the largest-remainder split, written out plainly
    (floors, then one token each to the largest fractional parts, earliest first among
    parts equal to 1e-9)."""
    x = length * np.diff(alpha) / (alpha[-1] - alpha[0])
    c = np.floor(x + 1e-12).astype(int)
    frac = x - c
    for _ in range(length - c.sum()):
        k = max(range(len(x)), key=lambda j: (round(frac[j], 9), -j))
        c[k] += 1
        frac[k] = -1.0
    return int(np.count_nonzero(c))


def stochastic_calls(alpha: np.ndarray, length: int) -> tuple[int, float]:
    da = np.diff(alpha) / (alpha[-1] - alpha[0])
    return int(np.count_nonzero(da > 0)), float(np.sum(1 - (1 - da) ** length))


def test_count_sampler_calls_on_every_grid_point():
    out = tune_target("modes", 3, sampler="count")
    assert len(out["grid"]) == 100
    seen = set()
    for point in out["grid"] + [out["best"]]:
        assert point["model_calls"] == count_calls(alphas(point["a"], point["b"], 3), LENGTH), point
        assert "expected_model_calls" not in point
        seen.add(point["model_calls"])
    assert {1, 2, 3} <= seen  # the grid has schedules with empty steps


def test_stochastic_sampler_calls_on_every_grid_point():
    out = tune_target("middle", 4)
    for point in out["grid"] + [out["best"]]:
        steps, expected = stochastic_calls(alphas(point["a"], point["b"], 4), LENGTH)
        assert point["model_calls"] == steps
        assert point["expected_model_calls"] == pytest.approx(expected, rel=1e-9, abs=1e-12), point
    values = [p["expected_model_calls"] for p in out["grid"]]
    assert 1 <= min(values) < max(values) <= 4


@pytest.mark.slow
def test_stochastic_sampler_calls_of_the_gradient_and_free_form_schedules():
    out = tune_target("middle", 4, method="gradient", iterations=5, free_form=True)
    point = out["gradient"]["best"]
    steps, expected = stochastic_calls(alphas(point["a"], point["b"], 4), LENGTH)
    assert point["model_calls"] == steps
    assert point["expected_model_calls"] == pytest.approx(expected, rel=1e-9, abs=1e-12), point
    free = out["free_form"]
    steps, expected = stochastic_calls(np.asarray(free["alpha"]), LENGTH)
    assert free["model_calls"] == steps
    assert free["expected_model_calls"] == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_energy_targets_have_no_model_calls():
    out = tune_target("energy", 3, grid="0.5:1:2,0.5:1:2")
    assert "model_calls" not in out["best"] and all("model_calls" not in p for p in out["grid"])

"""benchmarks/scaling.py: its exponent fit on known power laws, and its quick run end to end
(a subprocess, as a user runs it: the JSON document, the PNG)."""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "scaling.py"


@pytest.fixture(scope="module")
def scaling():
    spec = importlib.util.spec_from_file_location("scaling_benchmark", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)  # imports numpy only: jax is imported by the measurements
    return mod


def _no_nan(text: str):
    def bad(name):
        raise AssertionError(f"{name} in the JSON document")

    return json.loads(text, parse_constant=bad)


@pytest.mark.parametrize("exponent", [0.0, 0.5, 1.0, 1.4649735207179269, 2.0, -1.0])
def test_fit_recovers_the_exponent_of_a_power_law(scaling, exponent):
    x = np.geomspace(3.0, 3e5, 9)
    fit = scaling.fit_exponent(x, 2.5 * x**exponent)
    assert fit["exponent"] == pytest.approx(exponent, rel=1e-10, abs=1e-10)
    assert fit["prefactor"] == pytest.approx(2.5, rel=1e-9, abs=0)
    assert fit["points"] == 9
    assert fit["stderr"] == pytest.approx(0.0, rel=0, abs=1e-8)


def test_fit_skips_the_warm_up_regime_and_bad_points(scaling):
    # a fixed cost dominates the small sizes: the fit past it sees the power law
    x = np.geomspace(1.0, 1e8, 17)
    y = 1e3 + x
    whole = scaling.fit_exponent(x, y)
    past = scaling.fit_exponent(x, y, fit_from=1e6)
    assert whole["exponent"] < 0.8
    assert past["exponent"] == pytest.approx(1.0, rel=0, abs=2e-3)
    assert past["points"] == 5
    # missing, non-finite and non-positive points are left out, not fitted
    fit = scaling.fit_exponent([1, 2, None, 4, 8, 16], [1, 4, 9, math.inf, 0.0, 256])
    assert fit["exponent"] == pytest.approx(2.0, rel=1e-12, abs=1e-12)
    assert fit["points"] == 3
    assert scaling.fit_exponent([5, 5, 1], [1, 2, 3], fit_from=2) is None  # one distinct x
    noisy = scaling.fit_exponent([1, 2, 4, 8], [1.0, 2.2, 3.9, 8.3])
    assert noisy["stderr"] > 1e-3


def test_linear_memory_model_recovers_its_coefficients(scaling):
    rng = np.random.default_rng(0)
    feats = np.column_stack([np.ones(12), rng.uniform(1e3, 1e7, 12), rng.uniform(1e2, 1e5, 12)])
    coef = np.array([2e8, 230.0, 17.0])
    got = scaling.fit_linear(feats, feats @ coef)
    np.testing.assert_allclose(got, coef, rtol=1e-8, atol=0)


def test_measure_counts_what_a_point_allocates(scaling):
    try:
        open("/proc/self/clear_refs", "w").close()
    except OSError:
        pytest.skip("no /proc/self/clear_refs here: the peak cannot be reset per point")
    earlier = np.ones((512 << 20) // 8)  # an earlier, larger peak of this process
    del earlier
    size = 256 << 20

    def allocate():
        a = np.ones(size // 8)  # written, so resident
        return float(a[-1])

    m = scaling.measure(allocate)
    assert m["peak_reset"] is True
    # the point's own peak, not the process's high-water mark nor its whole RSS
    assert 0.95 * size <= m["peak_bytes"] < size + (64 << 20)


def test_measure_times_the_first_call_and_the_best_warm_call(scaling):
    durations = iter([0.3, 0.15, 0.01, 0.15])

    def call():
        time.sleep(next(durations))
        return 0

    m = scaling.measure(call)
    assert m["first_s"] >= 0.3
    assert 0.01 <= m["warm_s"] < 0.1


@pytest.mark.parametrize(("n", "d"), [(1, 3), (3, 2), (4, 1)])
def test_sizes_of_an_exact_point_count_its_transitions(scaling, n, d):
    # every (state, revealed subset of its masked positions, tokens of the revealed), counted
    count = 0
    for z in itertools.product(range(d + 1), repeat=n):
        m = sum(1 for v in z if v == d)
        count += sum(math.comb(m, r) * d**r for r in range(m + 1))
    s = scaling.sizes({"path": "exact", "n": n, "d": d, "K": 4})
    assert s["transitions"] == count
    assert s["states"] == (d + 1) ** n


def _slope(x, y):
    """The log-log slope in closed form (not through the script's fit)."""
    lx, ly = np.log(x), np.log(y)
    return float(np.sum((lx - lx.mean()) * (ly - ly.mean())) / np.sum((lx - lx.mean()) ** 2))


def _run(tmp_path, paths):
    out, png = tmp_path / "scaling.json", tmp_path / "scaling.png"
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--paths", paths, "--json", str(out),
                           "--plot", str(png)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return _no_nan(out.read_text()), done.stdout


def _check_curves(doc, paths):
    assert doc["mode"] == "quick" and set(doc["paths"]) == set(paths)
    assert "peak RSS" in doc["memory_method"]
    assert {c["path"] for c in doc["curves"]} == set(paths)
    for c in doc["curves"]:
        assert set(c) >= {"name", "x", "fit_from", "expected_time_exponent", "expected_memory_exponent", "why"}
        points = [p for p in c["points"] if "warm_s" in p]
        assert len(points) >= 2, c
        for p in points:
            assert p["first_s"] > 0 and p["warm_s"] > 0 and p["calibration_s"] > 0 and p["peak_bytes"] >= 0
            assert isinstance(p["peak_reset"], bool)
        x = [p["sizes"][c["x"]] for p in points]
        assert c["fits"]["time"]["exponent"] == pytest.approx(_slope(x, [p["warm_s"] for p in points]),
                                                              rel=1e-9, abs=1e-9)
    return {c["name"]: c for c in doc["curves"]}


def test_quick_run_brute_force(tmp_path):
    doc, stdout = _run(tmp_path, "brute")
    curves = _check_curves(doc, ["brute"])
    (curve,) = curves.values()
    for p in curve["points"]:
        n, d = p["params"]["n"], p["params"]["d"]
        assert p["sizes"]["table"] == (d + 1) ** n * d**n
        assert p["value"] > 0  # a kinetic energy of sin^2 is finite and positive
    assert "fitted exponents" in stdout and "largest problem" in stdout
    per_n = doc["largest"]["brute"]["per_n"]
    assert all(e["states"] <= 4096 and e["predicted_gib"] <= 24 for e in per_n)


@pytest.mark.slow
def test_quick_run_every_path(tmp_path):
    doc, _ = _run(tmp_path, "exact,brute,sampler,tuning")
    curves = _check_curves(doc, ["exact", "brute", "sampler", "tuning"])
    for p in curves["exact: states, d=2"]["points"]:
        assert p["mass"] == pytest.approx(1.0, rel=0, abs=1e-9)  # the exact output is a distribution
    for p in curves["sampler: batch, stochastic"]["points"]:
        assert p["masked_left"] == 0
    # the device curve runs each point under its own forced host device count
    assert [p["devices"] for p in curves["tuning: devices"]["points"]] == [1, 2]
    assert {"exact", "brute", "tuning"} <= set(doc["largest"])

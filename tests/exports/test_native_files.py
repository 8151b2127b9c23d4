"""The native export files, imported as their users would: in a subprocess where mdm_ot and
JAX cannot be imported (and torch neither, for the parts that must work without it), with
stand-ins of the upstream APIs that do not install (tests/exports/native_probe.py). What
they compute is compared here with mdm_ot's schedule (autodiff rates, its incomplete Beta)
and export table, to 1e-12 in float64."""

import functools
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from mdm_ot.cli import main
from mdm_ot.exports import NATIVE_FORMATS, dllm_counts, render_native
from mdm_ot.sampling import export_table, num_transfer_tokens
from mdm_ot.schedules import alpha_and_rate, parse_alpha

PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "native_probe.py")
# every family, and the Beta CDF with each kind of end (a, b above, at and below 1/2)
SPECS = ("linear", "sin", "sin2", "poly:0.5", "cosine", "loglinear", "beta:1,0.2", "beta:0.3,0.9", "beta:0.5,2")
T = [0.0, 1e-12, 1e-6, 1e-3, 0.1, 0.25, 0.5, 0.625, 0.75, 0.9, 0.999, 1 - 1e-6, 1.0]
INTERIOR = slice(1, -1)
# alpha'(0) and alpha'(1), derived by hand (ours): sin^2(pi/2 I_t(a, b)) has
# alpha' ~ (pi^2/2) t^(2a-1) / (a B(a, b)^2) at 0 (the same at 1 with b): 0 for a > 1/2,
# pi^2 / B(a, b)^2 for a = 1/2, infinite below; B(1/2, 2) = 4/3.
END_RATES = {"linear": (1, 1), "sin": (math.pi / 2, 0), "sin2": (0, 0), "poly:2": (0, 2), "poly:0.5": (math.inf, 0.5),
             "cosine": (0, math.pi / 2), "loglinear": (0.999, 0.999), "beta:1,0.2": (0, math.inf),
             "beta:0.9,0.3": (0, math.inf), "beta:0.3,0.9": (math.inf, 0), "beta:0.5,2": (9 * math.pi**2 / 16, 0),
             "beta:3,5": (0, 0)}
TOL = {"rtol": 1e-12, "atol": 1e-12}
# (spec, L, K, B, M, drop_empty) of the LLaDA files
# (few distinct step counts per block: each schedule family and K compiles once)
LLADA = [("linear", 10, 4, None, 0, False), ("beta:1,0.2", 64, 16, 16, 0, True), ("sin2", 37, 4, None, 0, False),
         ("loglinear", 64, 8, None, 0, False), ("beta:0.9,0.3", 128, 16, 32, 2, False)]
DREAM_STEPS = 8
ACCEPTANCE = ["export", "--format", "llada", "--alpha", "beta:1,0.2", "--length", "64", "--steps", "16", "--block-length", "16",
              "--min-tokens-per-step", "1"]


def _torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _write(d, names, spec, length, steps, block=None, m=0, drop=False):
    """Write the files ``{name: format}`` of one schedule and sizes; return their table."""
    sched = parse_alpha(spec)
    table = export_table(sched, length, steps, block_length=block, min_tokens_per_step=m, drop_empty=drop)
    for name, fmt in names.items():
        (d / f"{name}.py").write_text(render_native(fmt, table, sched, module=name))
    return table


@pytest.fixture(scope="module")
def native(tmp_path_factory):
    d = tmp_path_factory.mktemp("native")
    out = {"dir": d, "llada": {}, "dream": {}}
    for i, case in enumerate(LLADA):
        out["llada"][f"llada_{i}"] = (case, _write(d, {f"llada_{i}": "llada"}, *case))
    assert main([*ACCEPTANCE, "--out", str(d / "acceptance.py")]) == 0
    out["llada"]["acceptance"] = (("beta:1,0.2", 64, 16, 16, 1, False),
                                  export_table("beta:1,0.2", 64, 16, block_length=16, min_tokens_per_step=1))
    for i, spec in enumerate(("linear", "beta:1,0.2", "beta:0.3,0.9")):
        out["dream"][f"dream_{i}"] = (spec, _write(d, {f"dream_{i}": "dream"}, spec, 64, DREAM_STEPS))
    for i, spec in enumerate(SPECS):
        _write(d, {f"{fmt}_{i}": fmt for fmt in ("dllm", "mdlm", "md4", "flow_matching")}, spec, 64, 8)
    out["back_loaded"] = _write(d, {"dllm_back": "dllm"}, "beta:1,0.2", 256, 8)
    return out


def _probe(d, block, tasks, **extra):
    req = {"dir": str(d), "block": block, "tasks": tasks, "t": T, **extra}
    proc = subprocess.run([sys.executable, PROBE], input=json.dumps(req), capture_output=True, text=True,
                          cwd=str(d), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert all(out.pop("blocked").values())  # mdm_ot, jax (torch) stayed unimportable throughout
    return out


def _reference(spec, t, tc=None):
    al, om, rate = (np.asarray(v, np.float64) for v in alpha_and_rate(parse_alpha(spec), np.asarray(t),
                                                                         None if tc is None else np.asarray(tc)))
    return al, om, rate


@functools.cache
def _both_ways(spec):
    """mdm_ot's (alpha, 1 - alpha, alpha') at T and at 1 - T (the others' time), in one call."""
    t = np.asarray(T)
    al, om, rate = _reference(spec, np.concatenate([t, 1 - t]), np.concatenate([1 - t, t]))
    n = len(T)
    return (al[:n], om[:n], rate[:n]), (al[n:], om[n:], rate[n:])


def _rule(spec, n, steps):
    """mdm_ot's count rule for n masked tokens on the K-step grid (M = 0)."""
    if n == 0:
        return [0] * steps
    return np.asarray(num_transfer_tokens(parse_alpha(spec), n, steps)).tolist()


def test_llada_and_dream_tables_import_without_torch_jax_or_mdm_ot(native):
    n_values = [0, 1, 3, 5, 16, 37, 100]
    tasks = [{"kind": "llada", "module": k, "n_values": n_values} for k in native["llada"]]
    tasks += [{"kind": "dream", "module": k} for k in native["dream"]]
    got = _probe(native["dir"], ["torch", "jax", "mdm_ot"], tasks)
    for name, ((spec, length, _, _, m, drop), table) in native["llada"].items():
        g = got[name]
        assert g["tokens"] == table["tokens_per_block_step"]
        assert g["model_calls"] == table["model_calls"]
        nb = table["num_blocks"]
        assert g["steps"] == nb * len(table["tokens_per_block_step"][0]) and sum(map(sum, g["tokens"])) == length
        for n in n_values:
            res = g["tokens_for"][str(n)]
            if n == table["block_length"]:
                assert res == table["tokens_per_block_step"][0]
            elif m or drop:
                assert isinstance(res, str) and "export for that length" in res
            else:
                assert res == _rule(spec, n, table["steps_per_block"]), (name, n)
    acc = got["acceptance"]["tokens"]
    assert len(acc) == 4 and all(min(row) >= 1 for row in acc) and sum(map(sum, acc)) == 64
    for name, (spec, table) in native["dream"].items():
        g = got[name]
        assert g["timesteps"] == table["mask_ratio_grid"] and g["timesteps"][0] == 1 and g["timesteps"][-1] == 0
        k = np.arange(DREAM_STEPS + 1) / DREAM_STEPS
        np.testing.assert_allclose(g["timesteps"], _reference(spec, k)[1], **TOL)  # 1 - alpha, Dream's order
        assert sum(g["counts"]) == 64 and len(g["counts"]) == DREAM_STEPS


@pytest.mark.skipif(not _torch_available(), reason="torch is not installed (pip install -e .[interop])")
def test_torch_files_match_the_schedule(native):
    d = native["dir"]
    tasks = [{"kind": "llada_torch", "module": "llada_0", "masked": [10, 10, 3, 0]},
             {"kind": "llada_torch", "module": "acceptance", "masked": [16, 16]}]
    tasks += [{"kind": "dream_torch", "module": k, "length": 64} for k in native["dream"]]
    kappa = [float(x) for x in _reference("beta:1,0.2", [0.1, 0.5, 0.9])[0]]
    for i in range(len(SPECS)):
        tasks += [{"kind": "dllm", "module": f"dllm_{i}", "block_length": 64, "steps_per_block": 8},
                  {"kind": "mdlm", "module": f"mdlm_{i}", "eps": 1e-3},
                  {"kind": "flow_matching", "module": f"flow_matching_{i}", "kappa": kappa}]
    tasks.append({"kind": "dllm", "module": "dllm_back", "block_length": 256, "steps_per_block": 8})
    got = _probe(d, ["jax", "mdm_ot"], tasks)

    # The dllm flip is done once. beta:1,0.2 is back-loaded (few tokens early, most at the
    # end of sampling). Run by the stand-in of dllm's sampler, which walks its time from 1
    # down to 0, the exported scheduler must stay back-loaded and follow mdm_ot's split
    # within one token per step; a file that flipped twice (or not at all) gives the
    # front-loaded mirror.
    counts, ours = got["dllm_back"]["counts"], native["back_loaded"]["tokens_per_step"]
    assert sum(counts) == 256 and counts[-1] > 128 and counts[0] <= 1
    assert max(abs(a - b) for a, b in zip(counts, ours, strict=True)) <= 1, (counts, ours)

    g = got["llada_0"]  # linear, L = 10, K = 4: LLaDA's own split for full rows
    assert g["dtype"] == "torch.int64" and g["shape"] == [4, 4]
    assert g["counts"] == [[3, 3, 2, 2], [3, 3, 2, 2], _rule("linear", 3, 4), [0, 0, 0, 0]]
    assert "steps=4" in g["wrong_steps"]
    assert got["acceptance"]["counts"] == [[1, 1, 1, 13]] * 2
    for name in native["dream"]:
        g = got[name]
        assert g["dtype"] == "torch.float64" and g["timesteps"] == native["dream"][name][1]["mask_ratio_grid"]
        assert f"steps={DREAM_STEPS}" in g["wrong_steps"]
    # Dream's rule run by the probe on the tensor equals what the file's header and constant say
    dream_src = (d / "dream_1.py").read_text()
    assert f"that is {got['dream_1']['counts']}" in dream_src

    for i, spec in enumerate(SPECS):
        (al, om, rate), (al_f, _, rate_f) = _both_ways(spec)  # at T, and at mdm_ot's 1 - T (the others' t)
        fm = got[f"flow_matching_{i}"]  # same direction as mdm_ot
        np.testing.assert_allclose(fm["alpha"], al, **TOL)
        np.testing.assert_allclose(fm["sigma"], om, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(fm["dalpha"][INTERIOR], rate[INTERIOR], **TOL, err_msg=spec)
        assert (fm["dalpha"][0], fm["dalpha"][-1]) == pytest.approx(END_RATES[spec], rel=1e-12), spec
        np.testing.assert_array_equal(fm["dsigma"], -np.asarray(fm["dalpha"]))
        np.testing.assert_allclose(fm["time_grid"], np.arange(9) / 8, rtol=0, atol=0)
        if spec == "beta:1,0.2":  # one family is enough: the bisection only calls _alpha_pair
            t_inv = np.asarray(fm["kappa_inverse"])
            np.testing.assert_allclose(_reference(spec, t_inv)[0], kappa, rtol=1e-12, atol=1e-15)

        dl = got[f"dllm_{i}"]  # dllm's i = 1 - t
        np.testing.assert_allclose(dl["alpha"], al_f, **TOL, err_msg=spec)
        np.testing.assert_allclose(dl["dalpha"][INTERIOR], -rate_f[INTERIOR], **TOL, err_msg=spec)
        assert dl["alpha_public"] == pytest.approx(float(_reference(spec, 0.5)[0]), rel=1e-6)
        assert dl["public_dtype"] == "torch.float32"
        # the header's dllm counts (our transcription) are what the stand-in of dllm's sampler makes
        src = (d / f"dllm_{i}.py").read_text()
        assert f"that is {dl['counts']} per block" in src, spec

        md = got[f"mdlm_{i}"]  # MDLM's t = 1 - ours, eps clipping
        eps = 1e-3
        np.testing.assert_allclose(md["total"], -np.log(eps + (1 - eps) * al_f), **TOL, err_msg=spec)
        want = (1 - eps) * rate_f / (eps + (1 - eps) * al_f)
        np.testing.assert_allclose(md["rate"][INTERIOR], want[INTERIOR], **TOL, err_msg=spec)
        assert md["is_module"] and md["float32"] == "torch.float32"


def test_md4_jax_functions_without_mdm_ot(native):
    h = 1e-5
    tasks = [{"kind": "md4", "module": f"md4_{i}"} for i in range(len(SPECS))]
    got = _probe(native["dir"], ["torch", "mdm_ot"], tasks, h=h)
    t = np.asarray(T)
    for i, spec in enumerate(SPECS):
        g = got[f"md4_{i}"]
        al_f, _, rate_f = _both_ways(spec)[1]  # MD4's t = 1 - ours
        np.testing.assert_allclose(g["alpha"], al_f, **TOL, err_msg=spec)
        np.testing.assert_allclose(g["dalpha"][INTERIOR], -rate_f[INTERIOR], **TOL, err_msg=spec)
        assert (-g["dalpha"][-1], -g["dalpha"][0]) == pytest.approx(END_RATES[spec], rel=1e-12), spec
        # the closed-form derivative against central differences of the file's own alpha
        mid = (t >= 0.1) & (t <= 0.9)
        fd = (np.asarray(g["plus"]) - np.asarray(g["minus"])) / (2 * h)
        np.testing.assert_allclose(np.asarray(g["dalpha"])[mid], fd[mid], rtol=1e-7, atol=1e-9, err_msg=spec)
        assert g["dtype32"] == "float32"


def test_render_refuses_what_the_sampler_cannot_take():
    sched = parse_alpha("beta:1,0.2")
    with pytest.raises(ValueError, match="no blocks"):
        render_native("dream", export_table(sched, 64, 16, block_length=16), sched)
    with pytest.raises(ValueError, match="integer table"):
        render_native("md4", export_table(sched, 64, 16, min_tokens_per_step=1), sched)
    with pytest.raises(ValueError, match="the table is for"):
        render_native("llada", export_table("linear", 8, 4), sched)
    assert set(NATIVE_FORMATS) == {"llada", "dream", "dllm", "mdlm", "md4", "flow_matching"}


def test_dllm_counts_transcription_sums_and_caps():
    ratio = [1.0, 0.9, 0.5, 0.0]
    assert dllm_counts(ratio, 10) == [1, 4, 5]  # round(10 * 0.1), round(9 * 4/9), the rest

"""benchmarks/sampler_peers.py and its PyTorch peers (benchmarks/_peers.py).

The peers are only worth timing if they compute what ours compute: the torch ports of the
exact oracles give our oracles' probabilities (independent code: index arithmetic on the
marginal table, matrix powers precomputed in torch), and the LLaDA loop in PyTorch over
transformers' ``BertForMaskedLM`` reveals the same tokens as ``sample_count`` over our JAX
BERT at temperature 0 (a tiny random AntiBERTy-shaped model; no weights are fetched). The
torch tests skip without torch / transformers / flow_matching (``pip install -e '.[bench]'``);
the ``--quick`` run of part 3 needs none of them.
"""

import json
import pathlib
import sys

import jax
import numpy as np
import pytest

from mdm_ot.bruteforce import all_states
from mdm_ot.experiments.antibody.model import MASK_ID, AntibertyDenoiser, params_from_state_dict
from mdm_ot.sampling import (
    default_grid,
    markov_oracle,
    sample_count,
    table_oracle,
    transfer_counts,
)
from mdm_ot.schedules import Linear
from mdm_ot.tuning import toy_target

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))
import sampler_peers  # noqa: E402  (torch-free)

RTOL, ATOL = 1e-5, 1e-6  # float32 on both sides


def _torch_peers():
    torch = pytest.importorskip("torch", reason="torch is not installed: pip install -e '.[bench]'")
    import _peers

    return torch, _peers


def test_torch_table_oracle_equals_ours_on_every_state():
    torch, _peers = _torch_peers()
    rng = np.random.default_rng(0)
    q = rng.dirichlet(np.ones(27)).reshape(3, 3, 3)
    q[0, 1] = 0.0  # states off the support: uniform rows on both sides
    q[2, :, 1] = 0.0
    q /= q.sum()
    for target in (q, np.asarray(toy_target("modes"), np.float64)):
        states = np.asarray(all_states(target.ndim, target.shape[0]))
        ours = np.asarray(table_oracle(target.astype(np.float32))(states))
        theirs = _peers.TorchTableOracle(target)(torch.as_tensor(states)).numpy()
        np.testing.assert_allclose(theirs, ours, rtol=RTOL, atol=ATOL)


def test_torch_markov_oracle_equals_ours_on_random_states():
    torch, _peers = _torch_peers()
    rng = np.random.default_rng(1)
    d, n = 5, 24
    init = rng.dirichlet(np.ones(d))
    trans = rng.dirichlet(np.full(d, 0.5), size=d)
    trans[1, 3] = 0.0  # a forbidden transition: some states are off the support
    trans[1] /= trans[1].sum()
    z = rng.integers(0, d, size=(200, n))
    z[rng.random(z.shape) < rng.random((200, 1))] = d  # every mask rate, all-masked rows included
    z[0], z[1] = d, rng.integers(0, d, size=n)
    z[2, :3] = (1, d, d)
    z[2, 3] = 3  # 1 -> ? -> ? -> 3 is possible; z[3] below is not
    z[3, :2] = (1, 3)
    ours = np.asarray(markov_oracle(init.astype(np.float32), trans.astype(np.float32))(z.astype(np.int32)))
    theirs = _peers.TorchMarkovOracle(init, trans, n)(torch.as_tensor(z)).numpy()
    np.testing.assert_allclose(theirs, ours, rtol=RTOL, atol=ATOL)
    assert np.allclose(ours[3][z[3] == d], 1.0 / d)  # the off-support case was reached


def test_flow_matching_solver_runs_with_the_port_and_the_exported_scheduler():
    torch, _peers = _torch_peers()
    pytest.importorskip("flow_matching", reason="flow_matching is not installed: pip install -e '.[bench]'")
    from flow_matching.path import MixtureDiscreteProbPath
    from flow_matching.solver import MixtureDiscreteEulerSolver

    q = np.zeros((2,) * 5)
    q[1, 0, 1, 1, 0] = 1.0  # every conditional is a point mass: each sample must be this sequence
    fm = _peers.exported_scheduler("linear", q.ndim, 4)
    solver = MixtureDiscreteEulerSolver(model=_peers.flow_matching_model(_peers.TorchTableOracle(q)),
                                        path=MixtureDiscreteProbPath(fm.MdmOtScheduler()), vocabulary_size=3)
    torch.manual_seed(0)
    x = solver.sample(x_init=torch.full((500, q.ndim), 2), step_size=None, time_grid=fm.time_grid())
    assert x.shape == (500, q.ndim)
    assert torch.equal(x, torch.tensor([[1, 0, 1, 1, 0]]).expand(500, -1))


def test_llada_counts_are_our_linear_split():
    torch, _peers = _torch_peers()
    masked = np.array([0, 1, 5, 16, 37])
    for steps in (1, 4, 7):
        ours = np.asarray(jax.jit(jax.vmap(transfer_counts, (None, 0)))(Linear()(default_grid(steps)), masked))
        theirs = _peers.llada_counts(torch.as_tensor(masked), steps).numpy()
        np.testing.assert_array_equal(theirs, ours)


def test_llada_loop_and_sample_count_give_the_same_tokens_at_temperature_0():
    torch, _peers = _torch_peers()
    pytest.importorskip("transformers", reason="transformers is not installed: pip install -e '.[bench]'")
    state, config = sampler_peers.tiny_antiberty(seed=3)
    den = AntibertyDenoiser(params_from_state_dict(state, config), config)
    bert = _peers.hf_bert(state, num_heads=config.num_heads, layer_norm_eps=config.layer_norm_eps)
    rng = np.random.default_rng(4)
    x = rng.integers(0, 20, size=(6, 14)).astype(np.int32)
    hidden = np.zeros(x.shape, bool)
    hidden[:, 3:12] = True
    hidden[rng.random(x.shape) < 0.2] = True  # rows with different masked counts
    z0 = np.where(hidden, MASK_ID, x)
    steps = 5
    theirs = _peers.llada_infill(bert, torch.as_tensor(z0), steps).numpy()
    ours = np.asarray(sample_count(den, Linear(), jax.random.key(0), z0, num_steps=steps,
                                   order="confidence", temperature=0.0))
    np.testing.assert_array_equal(theirs, ours)
    assert np.all(ours[~hidden] == x[~hidden]) and not np.any(ours == MASK_ID)
    # not a vacuous agreement: the model's argmax depends on the context, so the order in
    # which positions are revealed matters (one-step infilling gives other tokens)
    assert np.any(_peers.llada_infill(bert, torch.as_tensor(z0), 1).numpy() != ours)


def test_quick_run_of_the_overhead_part_writes_its_table(tmp_path, capsys):
    path = tmp_path / "peers.json"
    assert sampler_peers.main(["--quick", "--parts", "3", "--json", str(path)]) == 0
    out = json.loads(path.read_text())
    rows = out["rows"]
    assert [r["case"].split(",")[1].strip() for r in rows] == ["stochastic", "count", "count"]
    for r in rows:
        assert 0 < r["ours"] < 1 and r["seconds_denoiser_forward"] > 0 and r["seconds_per_step_overhead"] > 0
        assert r["met"] == (r["ours"] <= 0.05)
    assert "sampler overhead" in capsys.readouterr().out


def test_bad_arguments_are_one_line_and_exit_2(tmp_path, capsys):
    assert sampler_peers.main(["--json", str(tmp_path / "no" / "x.json")]) == 2
    assert sampler_peers.main(["--parts", "4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("sampler_peers: error: ") for e in err)
    assert not (tmp_path / "no").exists()


@pytest.mark.slow
def test_quick_run_of_every_part(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("flow_matching")
    path = tmp_path / "peers.json"
    assert sampler_peers.main(["--quick", "--json", str(path)]) == 0
    rows = json.loads(path.read_text())["rows"]
    fm = [r for r in rows if r["case"].startswith("flow_matching")]
    assert len(fm) == 2 and all(r["torch_port_max_abs_err"] <= 1e-5 and r["ratio"] > 0 for r in fm)
    same = [r for r in rows if "same tokens" in r["case"]]
    assert same and all(r["ours"] == 1.0 and r["masked_token_agreement"] == 1.0 for r in same)
    assert any(r["case"].startswith("sampler overhead") for r in rows)


def test_a_missing_peer_is_one_line_and_exit_0(monkeypatch, capsys):
    monkeypatch.setattr(sampler_peers, "_missing", lambda *modules: list(modules))
    assert sampler_peers.main(["--quick", "--parts", "1,2"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "skipped" in line]
    assert lines == ["flow_matching peer: skipped (torch, flow_matching not installed: pip install -e '.[bench]')",
                     "LLaDA peer: skipped (torch, transformers not installed: pip install -e '.[bench]')"]

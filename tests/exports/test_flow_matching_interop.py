r"""The flow_matching export against the real package (the ``interop`` extra: flow-matching
and CPU torch): facebookresearch/flow_matching's ``MixtureDiscreteEulerSolver`` runs with our
exported scheduler and mdm_ot's exact oracle of the ``modes`` toy target as its model.

Why the tolerance holds. The Euler step reveals each masked position independently with
probability :math:`\rho_k = 1 - e^{-h\,\alpha'(t_k)/(1-\alpha(t_k))}` (and everything at the
last step), each revealed token drawn from the model's per-position posterior given the
current state: that is mdm_ot's stochastic sampler on the grid where
:math:`1 - \bar\alpha_{k+1} = (1 - \bar\alpha_k)(1 - \rho_k)`, whose output distribution
:math:`\bar p_K` mdm_ot computes exactly. For N independent samples the empirical
distribution :math:`\hat p` has :math:`E\,TV(\hat p, \bar p) \le \tfrac12\sum_s
\sqrt{\bar p_s(1-\bar p_s)/N}` (Jensen), and TV changes by at most 1/N when one sample
changes, so by McDiarmid :math:`TV > E + \sqrt{\log(1/\delta)/(2N)}` has probability at most
:math:`\delta = 10^{-6}` (our bound; seeds are fixed, so the test is deterministic).
"""

import importlib.util
import math

import numpy as np
import pytest

from mdm_ot.bruteforce import all_states
from mdm_ot.exports import render_native
from mdm_ot.sampling import divergences, exact_output_table, export_table, table_oracle
from mdm_ot.schedules import alpha_and_rate, parse_alpha
from mdm_ot.tuning import toy_target

torch = pytest.importorskip("torch", reason="torch is not installed: pip install -e .[interop]")
pytest.importorskip("flow_matching", reason="flow_matching is not installed: pip install -e .[interop]")

pytestmark = pytest.mark.slow

SPEC = "beta:1,0.2"
NUM_SAMPLES = 20_000
DELTA = 1e-6


def _load(tmp_path, spec, steps):
    sched = parse_alpha(spec)
    path = tmp_path / f"fm_{len(list(tmp_path.iterdir()))}.py"
    path.write_text(render_native("flow_matching", export_table(sched, 5, steps), sched, module=path.stem))
    module_spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _oracle_model(q):
    """mdm_ot's exact denoiser of q on every state, as a flow_matching model: posterior
    probabilities over the d tokens and the mask (id d, probability 0)."""
    from flow_matching.utils import ModelWrapper

    n, d = q.ndim, q.shape[0]
    states = all_states(n, d)
    post = np.asarray(table_oracle(q)(states), np.float64)  # [(d+1)^n, n, d]
    table = torch.from_numpy(np.concatenate([post, np.zeros(post.shape[:2] + (1,))], axis=-1))
    powers = torch.tensor([(d + 1) ** (n - 1 - i) for i in range(n)], dtype=torch.int64)
    assert torch.equal((torch.from_numpy(states).long() * powers).sum(-1), torch.arange(len(states)))

    class Oracle(ModelWrapper):
        def __init__(self):
            super().__init__(None)

        def forward(self, x, t, **extras):
            return table[(x * powers).sum(-1)]

    return Oracle()


def _sample(module, q, steps, seed):
    from flow_matching.path import MixtureDiscreteProbPath
    from flow_matching.solver import MixtureDiscreteEulerSolver

    n, d = q.ndim, q.shape[0]
    solver = MixtureDiscreteEulerSolver(model=_oracle_model(q), path=MixtureDiscreteProbPath(module.MdmOtScheduler()),
                                        vocabulary_size=d + 1)
    torch.manual_seed(seed)
    x0 = torch.full((NUM_SAMPLES, n), d, dtype=torch.int64)
    x1 = solver.sample(x_init=x0, step_size=None, time_grid=module.time_grid(), dtype_categorical=torch.float64)
    assert int((x1 == d).sum()) == 0  # nothing left masked
    idx = (x1 * torch.tensor([d ** (n - 1 - i) for i in range(n)])).sum(-1)
    return np.bincount(idx.numpy(), minlength=d**n).reshape(q.shape) / NUM_SAMPLES


def _euler_exact(q, steps):
    """The exact output of the Euler scheme: mdm_ot's stochastic sampler on the grid whose
    alpha is the Euler scheme's (module docstring)."""
    sched = parse_alpha(SPEC)
    t = np.arange(steps + 1) / steps
    al, om, rate = (np.asarray(v) for v in alpha_and_rate(sched, t[:-1]))
    keep = np.exp(-(1 / steps) * rate / om)  # probability of staying masked over each step
    keep[-1] = 0.0  # the last step reveals everything
    alpha_bar = 1 - np.concatenate([[1.0], np.cumprod(keep)])
    grid = np.array(sched.inverse(alpha_bar))
    grid[0], grid[-1] = 0.0, 1.0
    grid = np.maximum.accumulate(grid)
    return np.asarray(exact_output_table(q, sched, num_steps=steps, sampler="stochastic", grid=grid))


def _tolerance(p):
    return 0.5 * np.sum(np.sqrt(p * (1 - p) / NUM_SAMPLES)) + math.sqrt(math.log(1 / DELTA) / (2 * NUM_SAMPLES))


@pytest.mark.parametrize("spec", ["linear", SPEC, "beta:0.3,0.9"])
def test_scheduler_equals_our_schedule_through_the_real_api(tmp_path, spec):
    from flow_matching.path import MixtureDiscreteProbPath
    from flow_matching.path.scheduler import ConvexScheduler

    module = _load(tmp_path, spec, 8)
    sched = module.MdmOtScheduler()
    assert isinstance(sched, ConvexScheduler)
    MixtureDiscreteProbPath(sched)  # asserts a ConvexScheduler
    t = np.linspace(0, 1, 101)[1:-1]
    out = sched(torch.tensor(t, dtype=torch.float64))
    al, om, rate = (np.asarray(v) for v in alpha_and_rate(parse_alpha(spec), t))
    for got, want in ((out.alpha_t, al), (out.sigma_t, om), (out.d_alpha_t, rate), (out.d_sigma_t, -rate)):
        assert got.dtype == torch.float64
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)


def test_euler_solver_with_our_scheduler_approaches_q(tmp_path, record_property):
    q = toy_target("modes")
    rows = []
    for k, steps in enumerate((2, 4, 8, 32)):
        module = _load(tmp_path, SPEC, steps)
        emp = _sample(module, q, steps, seed=k)
        euler = _euler_exact(q, steps)
        ours = np.asarray(exact_output_table(q, parse_alpha(SPEC), num_steps=steps, sampler="stochastic"))
        tol = _tolerance(euler.reshape(-1))
        tv = float(divergences(emp, euler).tv)
        rows.append((steps, tv, tol, float(divergences(emp, q).tv), float(divergences(euler, q).tv),
                     float(divergences(ours, q).tv)))
        assert tv <= tol, rows[-1]
    record_property("rows (K, TV(emp, euler exact), tol, TV(emp, q), TV(euler exact, q), TV(mdm_ot K-step, q))",
                    rows)
    print("\nK, TV(emp, euler exact), tol, TV(emp, q), TV(euler exact, q), TV(mdm_ot exact K-step, q)")
    for row in rows:
        print("  ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row))
    tv_q = [r[4] for r in rows]
    assert all(a > b for a, b in zip(tv_q, tv_q[1:], strict=False))  # the exact Euler output approaches q
    assert rows[-1][3] < rows[0][3] - 2 * (rows[0][2] + rows[-1][2])  # and so do the samples, beyond noise

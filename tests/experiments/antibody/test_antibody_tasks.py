"""Infilling tasks, metrics and the two-stage search (mdm_ot.experiments.antibody.tasks) with toy denoisers."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _antibody_helpers import PrevTokenDenoiser

from mdm_ot import TabulatedSchedule, register_dataclass
from mdm_ot.experiments.antibody import data, tasks
from mdm_ot.experiments.antibody.model import MASK_ID, PAD_ID
from mdm_ot.schedules import beta_schedule, parse_alpha


@register_dataclass
@dataclasses.dataclass(frozen=True)
class TruthDenoiser:
    """Puts all mass on the true sequence: every sampler must recover it exactly."""

    x: jax.Array  # [B, L]

    def __call__(self, z):
        return jax.nn.one_hot(jnp.where(self.x >= 20, 0, self.x), 20, dtype=jnp.float64)


def _record(seq, imgt=None):
    imgt = np.arange(1, len(seq) + 1) if imgt is None else np.asarray(imgt)
    return data.Germline("human", "H", "IGHV1-1*01", "IGHJ1*01", "IGHV1", seq, imgt)


def test_parse_task():
    assert tasks.parse_task("cdr12") == ("cdr12", None)
    assert tasks.parse_task("random:0.3") == ("random", 0.3)
    assert tasks.parse_task("SPAN:.5") == ("span", 0.5)
    for bad in ("random:0", "random:1", "span:1.5", "cdr3", "random:x", "span"):
        with pytest.raises(ValueError, match="unknown task"):
            tasks.parse_task(bad)


def test_task_masks():
    rng = np.random.default_rng(0)
    recs = [_record("".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), n))) for n in (70, 90, 100)]
    for f in (0.3, 0.5, 0.7):
        m = tasks.task_mask(recs, f"random:{f}", seed=3)
        assert m.shape == (3, 100)
        assert [int(r.sum()) for r in m] == [round(f * n) for n in (70, 90, 100)]
        assert not m[0, 70:].any()
        s = tasks.task_mask(recs, f"span:{f}", seed=3)
        for r, n in zip(s, (70, 90, 100), strict=True):
            idx = np.flatnonzero(r)
            assert len(idx) == round(f * n) and np.all(np.diff(idx) == 1) and idx[-1] < n
    np.testing.assert_array_equal(tasks.task_mask(recs, "random:0.3", 3), tasks.task_mask(recs, "random:0.3", 3))
    assert (tasks.task_mask(recs, "random:0.3", 3) != tasks.task_mask(recs, "random:0.3", 4)).any()
    # cdr12 follows the IMGT positions
    rec = _record("A" * 70, imgt=np.arange(1, 71))
    m = tasks.task_mask([rec], "cdr12")[0]
    assert np.flatnonzero(m).tolist() == list(range(26, 38)) + list(range(55, 65))


def test_alphas_on_grid_match_the_schedules():
    grid = np.arange(9) / 8
    al, om = tasks.alphas_on_grid(["linear", "sin", "sin2", "beta:0.9,0.3"], 8)
    for r, spec in enumerate(["linear", "sin", "sin2", "beta:0.9,0.3"]):
        np.testing.assert_allclose(al[r], np.asarray(parse_alpha(spec)(grid)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(al + om, 1.0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(al[2], np.sin(np.pi * grid / 2) ** 2, rtol=1e-12, atol=1e-14)
    ba, bo = tasks.beta_alphas_on_grid([0.9, 0.3], [0.3, 0.9], 8)
    np.testing.assert_allclose(ba[0], al[3], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ba[1], np.asarray(beta_schedule(0.3, 0.9)(grid)), rtol=1e-12, atol=1e-14)


def test_grid_schedule_is_exact_at_knots_and_linear_between():
    knots = jnp.linspace(0.0, 1.0, 5)
    al, om = tasks.alphas_on_grid(["sin"], 4)
    g = TabulatedSchedule(knots, jnp.asarray(al[0]), jnp.asarray(om[0]))
    np.testing.assert_allclose(g(knots), al[0], rtol=1e-12, atol=1e-15)
    mid = 0.5 * (al[0][1] + al[0][2])
    np.testing.assert_allclose(g(jnp.asarray(0.375)), mid, rtol=1e-12, atol=1e-15)
    a, o = g.pair(knots, 1 - knots)
    np.testing.assert_allclose(np.asarray(a) + np.asarray(o), 1.0, rtol=1e-12, atol=1e-12)


def _setup(n=3, L=9):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 20, size=(n, L)).astype(np.int32)
    x[0, 7:] = PAD_ID
    hidden = rng.random((n, L)) < 0.5
    hidden[x == PAD_ID] = False
    hidden[:, 0] = True
    return x, hidden


@pytest.mark.parametrize("sampler", tasks.SAMPLERS, ids=lambda s: s.name)
def test_infill_recovers_truth_and_keeps_prompt(sampler):
    x, hidden = _setup()
    # the sampler sees each sequence repeated `samples` times, in one batch
    den = TruthDenoiser(jnp.asarray(np.repeat(x, sampler.samples, axis=0)))
    al, om = tasks.alphas_on_grid(["linear", "beta:1,0.2"], 3)
    out = tasks.infill(den, sampler, al, om, x, hidden, jax.random.key(0), batch_size=3 * sampler.samples)
    assert out.shape == (2, 3, sampler.samples, 9)
    np.testing.assert_array_equal(out, np.broadcast_to(x[None, :, None], out.shape))
    rec = tasks.recovery(out[0], x, hidden)
    np.testing.assert_allclose(rec, 1.0, rtol=0, atol=0)


def test_infill_prompt_fixed_masks_filled_and_common_random_numbers():
    x, hidden = _setup()
    rng = np.random.default_rng(6)
    den = PrevTokenDenoiser(jnp.asarray(rng.normal(size=(22, 20))), jnp.asarray(rng.normal(size=(9, 20))))
    smp = dataclasses.replace(tasks.SAMPLERS[1], samples=3)
    al, om = tasks.alphas_on_grid(["linear", "linear", "sin2"], 4)
    out = tasks.infill(den, smp, al, om, x, hidden, jax.random.key(1), batch_size=4)
    assert out.shape == (3, 3, 3, 9)
    vis = np.broadcast_to(~hidden[None, :, None], out.shape)
    np.testing.assert_array_equal(out[vis], np.broadcast_to(x[None, :, None], out.shape)[vis])
    assert (out[np.broadcast_to(hidden[None, :, None], out.shape)] < 20).all()
    np.testing.assert_array_equal(out[0], out[1])  # same schedule, same key, same samples
    with pytest.raises(ValueError, match="padding"):
        tasks.infill(den, smp, al, om, x, hidden | (x == PAD_ID), jax.random.key(1))


def test_recovery_and_summary_by_hand():
    x = np.array([[1, 2, 3, 4], [5, 6, 7, PAD_ID]])
    hidden = np.array([[True, True, False, True], [False, True, True, False]])
    samples = np.array([[[1, 0, 3, 4], [1, 2, 0, 0]], [[5, 6, 0, PAD_ID], [5, 6, 7, PAD_ID]]])
    rec = tasks.recovery(samples, x, hidden)
    np.testing.assert_allclose(rec, [[2 / 3, 2 / 3], [0.5, 1.0]], rtol=1e-15, atol=0)
    m, se = tasks.summarize(rec)
    per = np.array([2 / 3, 0.75])
    np.testing.assert_allclose(m, per.mean(), rtol=1e-15, atol=0)
    np.testing.assert_allclose(se, np.std(per, ddof=1) / math.sqrt(2), rtol=1e-14, atol=0)
    assert tasks.summarize(np.array([[0.3, 0.5]])) == (0.4, 0.0)


def test_pseudo_log_likelihood_against_brute_force():
    x, hidden = _setup(n=5)
    rng = np.random.default_rng(7)
    den = PrevTokenDenoiser(jnp.asarray(rng.normal(size=(22, 20))), jnp.asarray(rng.normal(size=(9, 20))))
    got = tasks.pseudo_log_likelihood(den, x, hidden, batch_size=2)
    want = []
    for r in range(len(x)):
        lps = []
        for i in np.flatnonzero(hidden[r]):
            z = x[r].copy()
            z[i] = MASK_ID
            lps.append(np.log(np.asarray(den(z[None]))[0, i, x[r, i]]))
        want.append(np.mean(lps))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="at least one"):
        tasks.pseudo_log_likelihood(den, x, np.zeros_like(hidden))

"""The training objective (MDM NELBO, Proposition C.2) and the training loop."""

import itertools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

from mdm_ot.experiments.codelines import data as D
from mdm_ot.experiments.codelines import model as M
from mdm_ot.experiments.codelines import train as T
from mdm_ot.schedules import alpha_and_rate, parse_alpha

SMALL = M.ModelConfig(num_layers=1, d_model=8, num_heads=2, d_ff=16, line_length=4, vocab_size=5)


def _subset_losses(logprob_of, x):
    """{S: sum over i in S of -log p(x_i | x with S masked)} for every non-empty S."""
    L = len(x)
    out = {}
    for r in range(1, L + 1):
        for S in itertools.combinations(range(L), r):
            out[S] = float(sum(-logprob_of(S)[i][x[i]] for i in S))
    return out


def _nelbo_discrete(c, L):
    """sum_k (1/k) mean over |S| = k of c_S (the k-form of the module docstring)."""
    total = 0.0
    for k in range(1, L + 1):
        subsets = [S for S in c if len(S) == k]
        total += np.mean([c[S] for S in subsets]) / k
    return total


def _nelbo_continuous(c, L, schedule):
    """int_0^1 alpha'/(1-alpha) E_{z ~ p_t(.|x)}[sum over masked of -log p] dt, by quadrature."""

    def integrand(t):
        a, om, da = (float(v) for v in alpha_and_rate(schedule, jnp.asarray(t, jnp.float64)))
        # alpha'/(1-alpha) * sum_S (1-alpha)^|S| alpha^(L-|S|) c_S, with one (1-alpha) cancelled
        return da * sum(om ** (len(S) - 1) * a ** (L - len(S)) * cS for S, cS in c.items())

    val, err = integrate.quad(integrand, 0.0, 1.0, epsabs=1e-13, epsrel=1e-12, limit=200)
    return val


@pytest.fixture(scope="module")
def model_losses():
    params = M.init_params(0, SMALL)
    x = np.array([1, 3, 0, 4])

    def logprob_of(S):
        z = x.copy()
        z[list(S)] = SMALL.mask_id
        logits = M.apply(params, jnp.asarray(z[None]), None, config=SMALL)[0]
        return np.asarray(jax.nn.log_softmax(logits.astype(jnp.float64), axis=-1))

    return params, x, _subset_losses(logprob_of, x)


@pytest.mark.parametrize("spec", ["linear", "sin2", "sin", "beta:0.9,0.3", "beta:0.3,0.9"])
def test_nelbo_k_form_equals_time_integral_for_every_schedule(model_losses, spec):
    """Proposition C.2: the continuous-time NELBO is the same for every schedule, and equals
    the k-form used for training (enumeration over all 15 masks of a 4-token line)."""
    _, x, c = model_losses
    want = _nelbo_discrete(c, len(x))
    got = _nelbo_continuous(c, len(x), parse_alpha(spec))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_training_estimator_is_unbiased(model_losses):
    """The one-sample estimator (random k and subset, weight L/k) has the k-form's mean."""
    params, x, c = model_losses
    want = _nelbo_discrete(c, len(x))
    B = 20000
    xs = jnp.tile(jnp.asarray(x)[None], (B, 1))
    mask, k = T.random_masks(jax.random.PRNGKey(5), B, len(x))
    logits = M.apply(params, jnp.where(mask, SMALL.mask_id, xs), None, config=SMALL)
    est = np.asarray(T.nelbo_from_logits(logits, xs, mask, k), np.float64)
    se = est.std(ddof=1) / math.sqrt(B)
    assert abs(est.mean() - want) < 5 * se, (est.mean(), want, se)
    assert se < 0.02 * want  # the comparison has teeth


def test_random_masks_distribution():
    B, L = 40000, 5
    mask, k = T.random_masks(jax.random.PRNGKey(1), B, L)
    mask, k = np.asarray(mask), np.asarray(k)
    np.testing.assert_array_equal(mask.sum(1), k)
    counts = np.bincount(k, minlength=L + 1)[1:]
    p = 1 / L
    assert np.all(np.abs(counts / B - p) < 5 * math.sqrt(p * (1 - p) / B)), counts
    # given k, every position is masked with probability k/L
    for kk in range(1, L + 1):
        rows = mask[k == kk]
        frac = rows.mean(0)
        q = kk / L
        tol = 5 * math.sqrt(max(q * (1 - q), 1e-12) / rows.shape[0]) + 1e-12
        assert np.all(np.abs(frac - q) <= tol), (kk, frac)
    smask, sk = T.stratified_masks(jax.random.PRNGKey(2), 3 * L, L)
    np.testing.assert_array_equal(np.asarray(sk), np.tile(np.arange(1, L + 1), 3))
    np.testing.assert_array_equal(np.asarray(smask).sum(1), np.asarray(sk))


def _explicit_q(d, L, seed):
    rng = np.random.default_rng(seed)
    states = list(itertools.product(range(d), repeat=L))
    q = rng.dirichlet(np.ones(len(states)))
    return states, q


def test_nelbo_with_exact_denoiser_equals_log_likelihood():
    """With the exact denoiser q(x_i | z_UM), the NELBO of x is -log q(x), so its mean is H(q)
    (MATH.md, Proposition C.2)."""
    d, L = 3, 3
    states, q = _explicit_q(d, L, 0)
    table = dict(zip(states, q, strict=True))

    def exact_logprob(x, S):
        out = np.zeros((L, d))
        for i in range(L):
            num = np.zeros(d)
            for y, qy in table.items():
                if all(y[j] == x[j] for j in range(L) if j not in S):
                    num[y[i]] += qy
            with np.errstate(divide="ignore"):  # log 0 = -inf at unmasked positions: never used
                out[i] = np.log(num / num.sum())
        return out

    nelbos = []
    for x in states:
        c = _subset_losses(lambda S, x=x: exact_logprob(x, S), x)
        nelbos.append(_nelbo_discrete(c, L))
    np.testing.assert_allclose(nelbos, -np.log(q), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.dot(q, nelbos), -np.dot(q, np.log(q)), rtol=1e-12, atol=1e-12)

    # and the training estimator, fed the exact log-probabilities, is unbiased for -log q(x)
    x = states[int(np.argmax(q))]
    B = 4000
    mask, k = T.random_masks(jax.random.PRNGKey(3), B, L)
    mask_np = np.asarray(mask)
    logits = np.stack([exact_logprob(x, tuple(np.flatnonzero(m))) for m in mask_np])
    est = np.asarray(T.nelbo_from_logits(jnp.asarray(logits), jnp.tile(jnp.asarray(x)[None], (B, 1)), mask, k))
    se = est.std(ddof=1) / math.sqrt(B)
    assert abs(est.mean() + np.log(q.max())) < 5 * se


def test_characters_plus_end():
    enc = D.encode_lines(["", "ab", "x" * 64])
    np.testing.assert_array_equal(np.asarray(T.characters_plus_end(enc)), [1, 3, 65])


def test_optimizer_schedule():
    tc = T.TrainConfig(steps=100, warmup_steps=10, peak_lr=1e-2, final_lr_fraction=0.1)
    opt = T.make_optimizer(tc)
    p = {"w": jnp.ones(3, jnp.float32)}
    state = opt.init(p)
    g = {"w": jnp.ones(3, jnp.float32)}
    # the first update is zero (warm-up from 0), later ones are not
    upd, state = opt.update(g, state, p)
    chex.assert_trees_all_close(upd, {"w": jnp.zeros(3, jnp.float32)}, rtol=0, atol=0)
    upd, state = opt.update(g, state, p)
    assert float(jnp.max(jnp.abs(upd["w"]))) > 0
    with pytest.raises(ValueError):
        T.TrainConfig(batch_size=3)
    with pytest.raises(ValueError):
        T.TrainConfig(peak_lr=0)


def _tiny_data():
    files = {
        "train": (D.CodeFile("a.py", ("x = 1", "y = x + 1", "def f(a):", "return a")),),
        "tune": (D.CodeFile("b.py", ("z = 2", "print(z)")),),
        "test": (D.CodeFile("c.py", ("w = 3",)),),
    }
    return D.CodeLines(files, D.fingerprint_of(files), {"python": "test"})


TINY64 = M.ModelConfig(num_layers=1, d_model=16, num_heads=2, d_ff=32)


def test_resume_is_bit_exact_and_training_learns(tmp_path):
    data = _tiny_data()
    tc = T.TrainConfig(steps=40, batch_size=8, warmup_steps=4, eval_every=20, checkpoint_every=20,
                       eval_examples=4, peak_lr=1e-2)
    full = T.train(tmp_path / "full", model_config=TINY64, train_config=tc, data=data, progress=False,
                   log=lambda m: None)
    # an interrupted run: stop right after the checkpoint of step 20, then resume
    orig = T.save_checkpoint

    class Stop(Exception):
        pass

    def save_then_stop(*a, **k):
        orig(*a, **k)
        raise Stop

    T.save_checkpoint = save_then_stop
    try:
        with pytest.raises(Stop):
            T.train(tmp_path / "cut", model_config=TINY64, train_config=tc, data=data, progress=False,
                    log=lambda m: None)
    finally:
        T.save_checkpoint = orig
    _, _, meta_cut, _ = T.load_checkpoint(tmp_path / "cut" / "checkpoint.npz")
    assert meta_cut["step"] == 20
    T.train(tmp_path / "cut", model_config=TINY64, train_config=tc, data=data, resume=True, progress=False,
            log=lambda m: None)
    pa, _, ma, _ = T.load_checkpoint(tmp_path / "full" / "checkpoint.npz")
    pb, _, mb, _ = T.load_checkpoint(tmp_path / "cut" / "checkpoint.npz")
    chex.assert_trees_all_equal(pa, pb)
    assert ma["step"] == mb["step"] == 40 and ma["data_fingerprint"] == data.fingerprint
    assert ma["heldout"] == full["heldout"]
    # it learned: the loss at the end is far below its value at initialisation
    lines = [r for r in (tmp_path / "full" / "log.jsonl").read_text().splitlines()]
    assert len(lines) == 2
    init_params = M.init_params(tc.seed, TINY64)
    held = T.heldout_examples(T.EncodedSplit.from_data(data, "tune"), tc.eval_examples)
    before = T.make_evaluator(TINY64)(init_params, *held)
    after = T.make_evaluator(TINY64)(pa, *held)
    assert after["unconditional"]["bits_per_char"] < 0.7 * before["unconditional"]["bits_per_char"]
    # resuming with other settings is refused
    with pytest.raises(ValueError, match="differ"):
        T.train(tmp_path / "cut", model_config=TINY64, train_config=T.TrainConfig(steps=41, batch_size=8),
                data=data, resume=True, progress=False, log=lambda m: None)

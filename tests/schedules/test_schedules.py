"""Unit tests for mdm_ot.schedules: the families, the spec parser and the differentiable Beta CDF.

Tests that evaluate a schedule take the ``variant`` fixture (tests/schedules/conftest.py)
and run both eagerly and under ``jax.jit``.
"""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sps
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from mdm_ot.schedules import (
    PAPER_BASELINES,
    BetaCDF,
    Identity,
    Linear,
    Optimal,
    Poly,
    Sine2,
    alpha_and_rate,
    beta_schedule,
    betainc,
    betainc_pair,
    betaincinv,
    gamma_and_rate,
    parse_alpha,
    parse_gamma,
    theta_and_rate,
)

ALL_SPECS = ["linear", "sin", "sin2", "poly:0.5", "poly:3", "cosine", "loglinear", "beta:0.9,0.3",
             "beta:1,0.2", "beta:0.3,0.9", "beta:2.5,7"]

_jit_betainc = jax.jit(betainc)
_grad_ab = jax.jit(jax.vmap(jax.grad(betainc, argnums=(0, 1, 2))))


def _log_uniform(rng, lo, hi, size):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size))


# ---------------------------------------------------------------- Beta CDF values


def test_betainc_matches_scipy_everywhere():
    """I_t(a, b) agrees with scipy to 1e-12 absolute for a, b in [0.05, 20], t in [0, 1]."""
    rng = np.random.default_rng(0)
    size = 30_000
    a = _log_uniform(rng, 0.05, 20.0, size)
    b = _log_uniform(rng, 0.05, 20.0, size)
    t = np.concatenate([
        rng.uniform(0.0, 1.0, size // 3),
        10.0 ** rng.uniform(-40, 0, size // 3),
        1.0 - 10.0 ** rng.uniform(-16, 0, size - 2 * (size // 3)),
    ])
    got = np.asarray(_jit_betainc(a, b, t))
    np.testing.assert_allclose(got, sps.betainc(a, b, t), rtol=0, atol=1e-12)


def test_betainc_grid_corners_and_endpoints():
    """Corners of [0.05, 20]^2 at the ends of [0, 1], against mpmath at 50 digits.

    (scipy is not the reference here: at t = 1 - 2^-53 it loses the complement, e.g.
    I_t(1/2, 1/2) = 1 - (2/pi) arcsin(sqrt(2^-53)) = 1 - 6.7e-9, scipy gives 1 - 9.5e-9.)
    """
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    a = np.array([0.05, 0.05, 20.0, 20.0, 1.0, 0.5])
    b = np.array([0.05, 20.0, 0.05, 20.0, 1.0, 0.5])
    for t in (0.0, 1.0, 1e-300, 0.5, 1.0 - 2.0**-53):
        got = np.asarray(_jit_betainc(a, b, np.full_like(a, t)))
        want = [float(mpmath.betainc(x, y, 0, mpmath.mpf(t), regularized=True)) for x, y in zip(a, b, strict=True)]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_complement_is_relatively_accurate_near_one():
    """1 - I_t(a, b) from (t, tc) keeps relative precision where t rounds to 1."""
    a, b = 3.0, 0.7
    tc = np.array([1e-20, 1e-60, 1e-150])
    _, comp = betainc_pair(a, b, 1.0 - tc, tc)
    # 1 - I_t(a,b) = I_tc(b, a); scipy evaluates that one directly.
    np.testing.assert_allclose(np.asarray(comp), sps.betainc(b, a, tc), rtol=1e-12, atol=0)


def test_proposition_37_closed_form():
    """I_t(1/2, 1/2) = (2/pi) arcsin sqrt(t) (Proposition 3.7)."""
    t = np.linspace(0.0, 1.0, 101)
    got = np.asarray(_jit_betainc(0.5, 0.5, t))
    np.testing.assert_allclose(got, 2 / np.pi * np.arcsin(np.sqrt(t)), rtol=0, atol=1e-14)


# ---------------------------------------------------------------- Beta CDF derivatives


def test_betainc_gradients_match_finite_differences():
    """a/b-gradients agree with central differences of scipy to 1e-7 relative (plus a
    1e-9 absolute floor: the differences of a 1e-16-accurate value carry ~1e-10 noise)."""
    rng = np.random.default_rng(1)
    size = 4000
    a = _log_uniform(rng, 0.05, 20.0, size)
    b = _log_uniform(rng, 0.05, 20.0, size)
    t = rng.uniform(0.0, 1.0, size)
    ga, gb, gt = (np.asarray(g) for g in _grad_ab(a, b, t))
    h = 1e-5
    # 4th-order central differences keep truncation error ~h^4.
    def fd(fun):
        return (-fun(2 * h) + 8 * fun(h) - 8 * fun(-h) + fun(-2 * h)) / (12 * h)
    fa = fd(lambda e: sps.betainc(a + e, b, t))
    fb = fd(lambda e: sps.betainc(a, b + e, t))
    np.testing.assert_allclose(ga, fa, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(gb, fb, rtol=1e-7, atol=1e-9)
    dens = np.exp((a - 1) * np.log(t) + (b - 1) * np.log1p(-t) - sps.betaln(a, b))
    np.testing.assert_allclose(gt, dens, rtol=1e-12, atol=0)


def test_betainc_check_grads_first_order():
    for a, b, t in [(0.7, 2.0, 0.3), (3.0, 0.4, 0.9), (12.0, 15.0, 0.45)]:
        check_grads(betainc, (a, b, t), order=1, modes=("fwd", "rev"), eps=1e-5,
                    rtol=1e-6, atol=1e-8)


def test_gradient_is_finite_at_endpoints_of_a_grid():
    """A grid containing t = 0 and t = 1 gives finite (a, b)-gradients (no 0 * inf)."""
    grid = jnp.linspace(0.0, 1.0, 9)

    def loss(a, b):
        return jnp.sum(beta_schedule(a, b)(grid) ** 2)

    g = jax.grad(loss, argnums=(0, 1))(0.3, 0.7)
    chex.assert_tree_all_finite(g)


def test_betaincinv_inverts_and_differentiates():
    rng = np.random.default_rng(2)
    a = _log_uniform(rng, 0.2, 10.0, 500)
    b = _log_uniform(rng, 0.2, 10.0, 500)
    y = rng.uniform(0.001, 0.999, 500)
    t = np.asarray(jax.jit(betaincinv)(a, b, y))
    inner = (t > 1e-12) & (t < 1 - 1e-12)  # where t itself resolves the CDF
    np.testing.assert_allclose(sps.betainc(a, b, t)[inner], y[inner], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(t[inner], sps.betaincinv(a, b, y)[inner], rtol=1e-8, atol=1e-13)
    # Implicit derivative: dt/dy = 1 / density; dt/da = -dI/da / density.
    check_grads(betaincinv, (0.8, 2.5, 0.4), order=1, modes=("fwd", "rev"),
                eps=1e-6, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------- mask schedules


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_schedule_boundaries_monotone_and_inverse(spec, variant):
    s = parse_alpha(spec)
    t = jnp.linspace(0.0, 1.0, 201)
    al = np.asarray(variant(lambda s, t: s(t))(s, t))
    expected_start = 1e-3 if spec == "loglinear" else 0.0
    np.testing.assert_allclose(al[0], expected_start, rtol=0, atol=1e-15)
    np.testing.assert_allclose(al[-1], 1.0, rtol=0, atol=1e-15)
    assert np.all(np.diff(al) >= 0), f"{spec} is not increasing"
    below = al[1:] < 1.0 - 1e-12  # strictly, until alpha rounds to 1 in float64
    assert np.all(np.diff(al)[below] > 0), f"{spec} is not strictly increasing"
    # Where alpha still resolves t to 1e-9: near alpha = 1 the inverse is ill-conditioned
    # (1 - alpha ~ 1e-10 at t = 0.87 for beta:2.5,7).
    keep = (al > 1e-300) & (al < 1.0 - 1e-6)
    back = np.asarray(variant(lambda s, a: s.inverse(a))(s, al))[keep]
    np.testing.assert_allclose(back, np.asarray(t)[keep], rtol=1e-9, atol=1e-12)
    assert parse_alpha(s.spec).spec == s.spec


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_pair_complement_and_rate_by_autodiff(spec, variant):
    s = parse_alpha(spec)
    t = jnp.linspace(0.01, 0.99, 50)
    al, om, dal = variant(alpha_and_rate)(s, t)
    np.testing.assert_allclose(np.asarray(al + om), 1.0, rtol=0, atol=1e-14)
    h = 1e-6
    fd = (s(t + h) - s(t - h)) / (2 * h)
    np.testing.assert_allclose(np.asarray(dal), np.asarray(fd), rtol=1e-7, atol=1e-9)
    th, dth = variant(theta_and_rate)(s, t)
    np.testing.assert_allclose(np.sin(np.asarray(th)) ** 2, np.asarray(al), rtol=1e-12, atol=1e-15)
    # theta' = alpha' / (2 sqrt(alpha (1 - alpha)))
    np.testing.assert_allclose(np.asarray(dth), np.asarray(dal / (2 * jnp.sqrt(al * om))),
                               rtol=1e-10, atol=1e-12)


def test_closed_forms_of_families(variant):
    t = np.linspace(0, 1, 33)
    cases = {
        "linear": t,
        "sin": np.sin(np.pi * t / 2),
        "sin2": np.sin(np.pi * t / 2) ** 2,
        "poly:2.5": t**2.5,
        "cosine": 1 - np.cos(np.pi * t / 2),
        "loglinear": 1e-3 + (1 - 1e-3) * t,
        "beta:0.5,0.5": t,  # Proposition 3.7
        "beta:1,1": np.sin(np.pi * t / 2) ** 2,
        "beta:0.9,0.3": np.sin(np.pi / 2 * sps.betainc(0.9, 0.3, t)) ** 2,
    }
    for spec, want in cases.items():
        got = np.asarray(variant(lambda s, t: s(t))(parse_alpha(spec), jnp.asarray(t)))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14, err_msg=spec)


def test_one_minus_alpha_accurate_near_data_end(variant):
    """1 - alpha from (t, tc) has relative precision when 1 - t = 1e-100."""
    tc = jnp.asarray([1e-100])
    t = 1.0 - tc
    want = {
        "linear": 1e-100,
        "sin2": (np.pi / 2 * 1e-100) ** 2,
        "sin": 2 * (np.pi / 4 * 1e-100) ** 2,
        "cosine": np.pi / 2 * 1e-100,
        "poly:3": 3e-100,
    }
    for spec, w in want.items():
        _, om = variant(lambda s, t, tc: s.pair(t, tc))(parse_alpha(spec), t, tc)
        np.testing.assert_allclose(np.asarray(om)[0], w, rtol=1e-12, atol=0, err_msg=spec)


def test_schedules_are_pytrees_and_vmap():
    a = jnp.asarray([0.5, 1.0, 0.9])
    b = jnp.asarray([0.5, 1.0, 0.3])
    batch = beta_schedule(a, b)
    leaves = jax.tree_util.tree_leaves(batch)
    assert len(leaves) == 2
    t = jnp.asarray(0.37)
    out = jax.vmap(lambda s: s(t))(batch)
    want = [0.37, math.sin(math.pi * 0.37 / 2) ** 2,
            math.sin(math.pi / 2 * sps.betainc(0.9, 0.3, 0.37)) ** 2]
    np.testing.assert_allclose(np.asarray(out), want, rtol=1e-12, atol=1e-14)
    chex.assert_trees_all_close(jax.tree_util.tree_map(lambda x: x, batch), batch, rtol=0, atol=0)


def test_jit_does_not_retrace_over_parameter_values():
    @jax.jit
    @chex.assert_max_traces(n=1)
    def f(a, b, t):
        return beta_schedule(a, b)(t)

    for a, b in [(0.2, 0.3), (0.9, 0.1), (4.0, 2.0)]:
        f(jnp.asarray(a), jnp.asarray(b), jnp.asarray(0.5))


def test_grad_wrt_parameters_matches_finite_differences():
    def fa(a, b):
        return beta_schedule(a, b)(0.3)

    check_grads(fa, (0.9, 0.3), order=1, modes=("fwd", "rev"), eps=1e-6, rtol=1e-6, atol=1e-9)
    check_grads(lambda p: Poly(p)(0.4), (2.5,), order=2, modes=("fwd", "rev"), eps=1e-5,
                rtol=1e-5, atol=1e-8)


@jax.jit
@chex.assert_max_traces(n=1)
def _roundtrip(a, b, alpha):
    s = beta_schedule(a, b)
    t = s.inverse(alpha)
    return t, s(t)


@given(st.floats(0.05, 20.0), st.floats(0.05, 20.0), st.floats(0.01, 0.99))
def test_optimal_family_inverse_roundtrip(a, b, alpha):
    t, back = _roundtrip(jnp.asarray(a), jnp.asarray(b), jnp.asarray(alpha))
    if 1e-12 < float(t) < 1 - 1e-12:  # else t itself cannot resolve alpha in float64
        np.testing.assert_allclose(float(back), alpha, rtol=1e-9, atol=1e-12)


def test_gamma_schedules(variant):
    t = jnp.linspace(0.0, 1.0, 11)
    call = variant(lambda s, t: s(t))
    np.testing.assert_allclose(np.asarray(call(Identity(), t)), np.asarray(t), rtol=0, atol=0)
    g = parse_gamma("beta:2,3")
    np.testing.assert_allclose(np.asarray(call(g, t)), sps.betainc(2, 3, np.asarray(t)), rtol=0,
                               atol=1e-14)
    _, _, dg = variant(gamma_and_rate)(g, jnp.asarray([0.25]))
    np.testing.assert_allclose(float(dg[0]), 12 * 0.25 * 0.75**2, rtol=1e-12, atol=0)
    assert isinstance(Optimal(Identity()), Optimal) and Optimal(Identity()).spec == "sin2"
    np.testing.assert_allclose(np.asarray(call(Optimal(Identity()), t)), np.asarray(call(Sine2(), t)),
                               rtol=1e-14, atol=1e-15)
    assert isinstance(parse_gamma("beta:0.5,0.5"), BetaCDF)
    assert Linear().spec == "linear"


def test_paper_baselines_parse():
    assert [parse_alpha(s).spec for s in PAPER_BASELINES] == list(PAPER_BASELINES)


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("beta:0,1", "must be > 0"),
        ("beta:-1,1", "must be > 0"),
        ("beta:nan,1", "finite"),
        ("beta:1", "two numbers"),
        ("poly:-2", "must be > 0"),
        ("poly:x", "not a number"),
        ("quadratic", "unknown mask schedule"),
        ("loglinear:1.5", "EPS"),
    ],
)
def test_bad_alpha_specs_raise_clear_errors(spec, fragment):
    with pytest.raises(ValueError, match=fragment) as info:
        parse_alpha(spec)
    assert "allowed" in str(info.value)


def test_bad_gamma_specs_and_parameters():
    with pytest.raises(ValueError, match="unknown interpolation schedule"):
        parse_gamma("sin")
    with pytest.raises(ValueError, match="a must be > 0"):
        beta_schedule(0.0, 1.0)
    with pytest.raises(ValueError, match="finite"):
        beta_schedule(1.0, float("nan"))


# The endpoint exponents a family may declare (issue 14): checked against the log-log slope
# of the rate it computes, far from the declaration.

_T_NEAR, _T_FAR = 1e-30, 1e-20  # h(t) smooth: the slope between them is p + O(1e-20)


def _slopes(log_rate):
    """Log-log slopes of a rate at t = 0 (in t) and at t = 1 (in 1 - t)."""
    t = jnp.array([_T_NEAR, _T_FAR])
    lo = log_rate(t, 1.0 - t)
    hi = log_rate(1.0 - t, t)
    d = math.log(_T_NEAR) - math.log(_T_FAR)
    return float((lo[0] - lo[1]) / d), float((hi[0] - hi[1]) / d)


@given(st.floats(0.3, 9.0), st.floats(0.3, 9.0))
def test_declared_rate_exponents_match_the_rates(a, b):
    gammas = [Identity(), BetaCDF(np.float64(a), np.float64(b))]
    for gamma in gammas:
        np.testing.assert_allclose([float(e) for e in gamma.rate_exponents()], _slopes(gamma.log_rate),
                                   rtol=0, atol=1e-9)
    for alpha in [Linear(), Sine2(), beta_schedule(a, b), Optimal(Identity())]:
        np.testing.assert_allclose([float(e) for e in alpha.theta_rate_exponents()],
                                   _slopes(alpha.log_theta_rate), rtol=0, atol=1e-9)


def test_families_that_do_not_know_their_exponents_say_none():
    for spec in ["sin", "poly:2", "cosine", "loglinear"]:
        assert parse_alpha(spec).theta_rate_exponents() is None

"""Tests of mdm_ot.quadrature: tanh-sinh on [0, 1] with power-law ends and divergence tests.

References are independent of the rule: closed forms (Beta function, arctan, Fresnel-type
hypergeometric values from mpmath), brute-force summation for the tail sums, finite
differences for gradients.
"""

import math

import chex
import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import scipy.special as sps
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from mdm_ot import quadrature as quad
from mdm_ot.quadrature import (
    STATUS_DIVERGENT_AT_0,
    STATUS_DIVERGENT_AT_1,
    STATUS_INACCURATE,
    STATUS_NONFINITE,
    STATUS_OK,
    describe_status,
    endpoint_exponents,
    integrate01,
)

F64 = dict(rtol=1e-12, atol=0.0)


def _power(p, q):
    return lambda t, tc: t**p * tc**q


# --------------------------------------------------------------------------------------
# Closed forms


@jax.jit
@chex.assert_max_traces(n=1)
def _beta_integral(p, q):
    return integrate01(_power(p, q))


@given(
    p=st.floats(-0.95, 3.0, exclude_min=True),
    q=st.floats(-0.95, 3.0, exclude_min=True),
)
def test_power_law_matches_beta_function_one_trace(p, q):
    """int t^p (1-t)^q dt = B(p+1, q+1) for p, q in (-0.95, 3]; one jit trace for all draws."""
    res = _beta_integral(jnp.asarray(p), jnp.asarray(q))
    expected = sps.beta(p + 1.0, q + 1.0)
    # scipy's beta is good to a few ulp here; the rule reaches ~1e-14 (measured).
    np.testing.assert_allclose(float(res.value), expected, rtol=1e-12, atol=0.0)
    assert int(res.status) == STATUS_OK
    assert 0.0 <= float(res.error) <= 1e-10 * expected


def test_beta_energy_family_grid_against_mpmath():
    """int t^(2a-2)(1-t)^(2b-2) / B(a,b)^2 = B(2a-1, 2b-1) / B(a,b)^2 on a grid of (a, b)."""
    grid = np.linspace(0.55, 10.0, 12)
    a, b = (x.ravel() for x in np.meshgrid(grid, grid, indexing="ij"))
    log_norm = 2.0 * sps.betaln(a, b)  # passed in: jax.scipy's betaln is only ~1e-7 accurate

    def one(a, b, c):
        return integrate01(lambda t, tc: t ** (2 * a - 2) * tc ** (2 * b - 2) / jnp.exp(c))

    res = jax.jit(jax.vmap(one))(jnp.asarray(a), jnp.asarray(b), jnp.asarray(log_norm))
    mpmath.mp.dps = 30
    expected = np.array(
        [
            float(mpmath.beta(2 * x - 1, 2 * y - 1) / mpmath.beta(x, y) ** 2)
            for x, y in zip(a, b, strict=True)
        ]
    )
    # exp(c) with |c| up to 52 carries ~50 ulp of rounding from c itself: rtol 1e-12.
    np.testing.assert_allclose(np.asarray(res.value), expected, **F64)
    np.testing.assert_array_equal(np.asarray(res.status), STATUS_OK)


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        (lambda t, tc: jnp.exp(t), math.e - 1.0),
        (lambda t, tc: jnp.cos(t), math.sin(1.0)),
        (lambda t, tc: 1.0 / (1.0 + t * t), math.pi / 4),
        (lambda t, tc: jnp.ones_like(t), 1.0),
        (lambda t, tc: jnp.log(t), -1.0),  # log singularity: exponent estimate ~0
        (lambda t, tc: jnp.exp(-1.0 / t), math.exp(-1.0) - sps.exp1(1.0)),  # vanishes at 0
    ],
    ids=["exp", "cos", "1/(1+t^2)", "one", "log", "exp(-1/t)"],
)
def test_smooth_and_mild_integrands(f, expected):
    res = integrate01(f)
    np.testing.assert_allclose(float(res.value), expected, rtol=1e-13, atol=1e-15)
    assert int(res.status) == STATUS_OK


def test_complement_carries_the_information_near_one():
    """tc^-0.9 integrates to 10 only because tc is accurate; (1 - t)^-0.9 cannot."""
    res = integrate01(lambda t, tc: tc**-0.9)
    np.testing.assert_allclose(float(res.value), 10.0, **F64)
    assert int(res.status) == STATUS_OK
    naive = integrate01(lambda t, tc: (1.0 - t) ** -0.9)  # 1 - t rounds to 0 near t = 1
    assert int(naive.status) != STATUS_OK
    assert not np.isfinite(float(naive.value))
    # Both ends singular at once, and an integrand using both arguments.
    both = integrate01(lambda t, tc: t**-0.9 + tc**-0.9)
    np.testing.assert_allclose(float(both.value), 20.0, **F64)


def test_zero_integral_needs_atol():
    """int cos(2 pi t) = 0: relative accuracy cannot be certified, an atol can."""
    f = lambda t, tc: jnp.cos(2 * jnp.pi * t)  # noqa: E731
    res = integrate01(f, atol=1e-14)
    np.testing.assert_allclose(float(res.value), 0.0, rtol=0.0, atol=1e-15)
    assert int(res.status) == STATUS_OK
    assert int(integrate01(f).status) == STATUS_INACCURATE


# --------------------------------------------------------------------------------------
# Exponents close to -1 and divergence


@pytest.mark.parametrize(
    ("p", "rtol"),
    # rtol: the value is C/(p+1), so rounding in the measured exponent (~1e-16) is
    # amplified by 1/(p+1) (measured errors: 2e-16, 7e-14, 2e-10).
    [(-0.98, 1e-13), (-0.999, 1e-12), (-0.999999, 1e-9)],
)
def test_exponents_close_to_minus_one_converge(p, rtol):
    res = integrate01(lambda t, tc: t**p * jnp.exp(tc))
    # int_0^1 t^p e^(1-t) dt = e * gamma(p+1) * P(p+1, 1) (regularized lower gamma).
    expected = math.e * sps.gamma(p + 1) * sps.gammainc(p + 1, 1.0)
    np.testing.assert_allclose(float(res.value), expected, rtol=rtol, atol=0.0)
    assert float(res.error) >= abs(float(res.value) - expected)
    if p > -0.9999:
        assert int(res.status) == STATUS_OK


@pytest.mark.parametrize(
    ("f", "status", "sign"),
    [
        (lambda t, tc: 1.0 / (t * tc), STATUS_DIVERGENT_AT_0, 1),  # log-divergent both ends
        (lambda t, tc: 1.0 / t, STATUS_DIVERGENT_AT_0, 1),
        (lambda t, tc: t**-1.2, STATUS_DIVERGENT_AT_0, 1),
        (lambda t, tc: t ** -(1.0 - 1e-12), STATUS_DIVERGENT_AT_0, 1),  # within tolerance
        (lambda t, tc: 1.0 / tc, STATUS_DIVERGENT_AT_1, 1),
        (lambda t, tc: -(tc**-3.0), STATUS_DIVERGENT_AT_1, -1),
        (lambda t, tc: jnp.exp(t) / (t * t), STATUS_DIVERGENT_AT_0, 1),  # overflows at t_N
    ],
    ids=["1/(t(1-t))", "1/t", "t^-1.2", "t^-(1-1e-12)", "1/(1-t)", "-(1-t)^-3", "e^t/t^2"],
)
def test_divergent_integrals_are_infinite_with_the_right_end(f, status, sign):
    res = integrate01(f)
    assert int(res.status) == status
    assert float(res.value) == sign * np.inf
    assert float(res.error) == np.inf
    p, q = endpoint_exponents(f)
    exponent = float(p if status == STATUS_DIVERGENT_AT_0 else q)
    assert exponent <= -1.0 + quad.exponent_tolerance(np.float64)
    text = describe_status(int(res.status), exponent)
    assert text.startswith("diverges at t=" + ("0" if status == STATUS_DIVERGENT_AT_0 else "1"))


def test_divergence_message():
    f = lambda t, tc: 1.0 / (t * tc)  # noqa: E731
    p, q = endpoint_exponents(f)
    np.testing.assert_allclose([float(p), float(q)], [-1.0, -1.0], rtol=0.0, atol=1e-14)
    assert describe_status(STATUS_DIVERGENT_AT_0, p) == (
        "diverges at t=0: integrand ~ t^-1.000 (exponent <= -1)"
    )
    assert "t=1" in describe_status(STATUS_DIVERGENT_AT_1)
    assert describe_status(STATUS_OK) == "ok"
    with pytest.raises(ValueError, match="unknown quadrature status"):
        describe_status(7)


def test_endpoint_exponents_of_power_laws():
    p, q = endpoint_exponents(lambda t, tc: 3.0 * t**-0.37 * tc**1.25)
    np.testing.assert_allclose([float(p), float(q)], [-0.37, 1.25], rtol=0.0, atol=1e-13)
    p, q = endpoint_exponents(lambda t, tc: jnp.exp(-1.0 / t) * tc**0.5)
    assert float(p) == np.inf  # vanishes at 0: convergent
    np.testing.assert_allclose(float(q), 0.5, rtol=0.0, atol=1e-13)


def test_slowly_varying_end_is_flagged_not_trusted():
    """1/(t log^2 t) on [0, 1/2] is not a power law: the status must not claim accuracy."""
    res = integrate01(lambda t, tc: jnp.where(t < 0.5, 1.0 / (t * jnp.log(t) ** 2), 0.0))
    assert int(res.status) == STATUS_INACCURATE
    assert float(res.error) > 1e-3


# --------------------------------------------------------------------------------------
# Non-finite integrands


def test_nan_inside_gives_nonfinite_status():
    res = integrate01(lambda t, tc: jnp.where(jnp.abs(t - 0.3) < 0.05, jnp.nan, 1.0))
    assert int(res.status) == STATUS_NONFINITE
    assert not np.isfinite(float(res.value))
    assert float(res.error) == np.inf


def test_inf_inside_gives_plus_inf():
    res = integrate01(lambda t, tc: jnp.where(t == 0.5, jnp.inf, t))
    assert int(res.status) == STATUS_NONFINITE
    assert float(res.value) == np.inf


def test_nan_only_at_a_probe_is_never_a_finite_value():
    res = integrate01(lambda t, tc: jnp.where((t > 0) & (t < 1e-100), jnp.nan, 1.0))
    assert int(res.status) == STATUS_NONFINITE
    assert not np.isfinite(float(res.value))


# --------------------------------------------------------------------------------------
# Convergence order and the error estimate


def _errors_by_level(f, expected, levels=range(2, 7)):
    out = []
    for level in levels:
        res = integrate01(f, level=level)
        out.append((abs(float(res.value) - expected) / abs(expected), float(res.error)))
    return np.array(out)


@pytest.mark.parametrize(
    ("f", "expected_fn"),
    [
        # Poles at t = 1/2 +- i/10, close to the interval: a hard smooth integrand.
        (lambda t, tc: 1.0 / (1.0 + 25.0 * (t - tc) ** 2), lambda: math.atan(5.0) / 5.0),
        # Singular at both ends and oscillating: B(0.1, 0.3) Re 1F1(0.1; 0.4; 30i).
        (
            lambda t, tc: t**-0.9 * tc**-0.7 * jnp.cos(30.0 * t),
            lambda: float(mpmath.re(mpmath.beta(0.1, 0.3) * mpmath.hyp1f1(0.1, 0.4, 30j))),
        ),
    ],
    ids=["runge", "singular-oscillating"],
)
def test_error_decreases_double_exponentially_with_level(f, expected_fn):
    mpmath.mp.dps = 30
    expected = expected_fn()
    errs = _errors_by_level(f, expected)
    rel, est = errs[:, 0], errs[:, 1] / abs(expected)
    floor = 1e-14
    pairs = [(a, b) for a, b in zip(rel[:-1], rel[1:], strict=True) if a < 0.2 and b > floor]
    assert len(pairs) >= 1
    for a, b in pairs:
        # Halving h (doubling the nodes) at least ~doubles the number of correct digits.
        assert math.log(b) <= 1.8 * math.log(a), (a, b)
    assert rel[-1] < 1e-14
    # The estimate (|I_h - I_2h| + ...) bounds the actual error at every level.
    assert np.all(est >= rel - 1e-15), (est, rel)


def test_runge_rate_is_exponential_in_inverse_step():
    """err ~ exp(-c/h): the fitted c is the same for consecutive levels (within 10%)."""
    errs = _errors_by_level(lambda t, tc: 1.0 / (1.0 + 25.0 * (t - tc) ** 2), math.atan(5) / 5)
    rel = errs[:, 0]
    inv_h = 2.0 ** np.arange(2, 7)
    sel = (rel < 1e-2) & (rel > 1e-14)
    rates = -np.diff(np.log(rel[sel])) / np.diff(inv_h[sel])
    assert len(rates) >= 2
    np.testing.assert_allclose(rates, rates[0], rtol=0.1, atol=0.0)
    assert rates[0] > 0.5


@pytest.mark.parametrize("level", [3, 4, 5, 6])
@pytest.mark.parametrize("lam", [3e-9, 3e-6, 1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0])
def test_tail_sum_matches_brute_force(level, lam):
    """The power-law remainder (explicit terms + Euler-Maclaurin) against direct summation."""
    rule = quad._rule(level, "float64")
    s_n = rule.n * rule.h
    j = np.arange(1, 400_000)
    s = s_n + j * rule.h
    with np.errstate(over="ignore"):
        x = -lam * (np.sinh(s) - math.sinh(s_n))
    keep = x > -745.0  # beyond, the terms underflow
    terms = np.cosh(s[keep]) / math.cosh(s_n) * np.exp(x[keep])
    brute_h = math.fsum(terms)
    brute_2h = math.fsum(terms[j[keep] % 2 == 0])
    s_h, s_2h, em_err = quad._remainder_sums(jnp.asarray(lam), rule)
    np.testing.assert_allclose(float(s_h), brute_h, rtol=1e-12, atol=0.0)
    # The Euler-Maclaurin error bound (part of the reported error) is honest and small.
    assert abs(float(s_h) - brute_h) <= float(em_err) + 4e-16 * brute_h * 8
    assert float(em_err) <= 1e-10 * brute_h
    # The coarse sum feeds only the error estimate: a looser check.
    np.testing.assert_allclose(float(s_2h), brute_2h, rtol=1e-8, atol=0.0)


# --------------------------------------------------------------------------------------
# jit, vmap, grad


def test_vmap_equals_loop_and_traces_once():
    a = jnp.linspace(-0.95, 4.0, 9)
    b = jnp.linspace(3.0, -0.9, 9)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def batched(a, b):
        return jax.vmap(lambda x, y: integrate01(_power(x, y)))(a, b)

    res = batched(a, b)
    batched(a + 0.01, b)  # same shapes: no retrace
    for i in range(a.shape[0]):
        one = integrate01(_power(a[i], b[i]))
        np.testing.assert_allclose(float(res.value[i]), float(one.value), rtol=1e-14, atol=0.0)
        assert int(res.status[i]) == int(one.status)
    expected = sps.beta(np.asarray(a) + 1, np.asarray(b) + 1)
    np.testing.assert_allclose(np.asarray(res.value), expected, **F64)


def test_vmap_mixes_divergent_and_convergent():
    a = jnp.asarray([-0.5, -1.0, -1.5, 0.0])
    res = jax.vmap(lambda x: integrate01(lambda t, tc: t**x))(a)
    np.testing.assert_array_equal(
        np.asarray(res.status), [STATUS_OK, STATUS_DIVERGENT_AT_0, STATUS_DIVERGENT_AT_0, STATUS_OK]
    )
    np.testing.assert_allclose(np.asarray(res.value), [2.0, np.inf, np.inf, 1.0], **F64)


def _power_value(a):
    return integrate01(lambda t, tc: t**a).value


def test_grad_of_power_integral():
    """d/da int t^a dt = -1/(a+1)^2, including the tail correction's dependence on a."""
    a = np.array([-0.9, -0.5, 0.0, 2.5, -0.999])
    grad = jax.jit(jax.vmap(jax.grad(_power_value)))(jnp.asarray(a))
    np.testing.assert_allclose(np.asarray(grad), -1.0 / (a + 1.0) ** 2, rtol=1e-10, atol=0.0)


def test_grads_against_finite_differences():
    def energy(ab):
        a, b = ab[0], ab[1]
        return integrate01(lambda t, tc: t**a * tc**b * jnp.exp(t)).value

    check_grads(jax.jit(energy), (jnp.asarray([-0.7, 0.4]),), order=1, modes=("fwd", "rev"))


@pytest.mark.parametrize(
    "hess",
    [
        jax.jacfwd(jax.jacfwd(_power_value)),
        jax.grad(jax.grad(_power_value)),
        jax.jacfwd(jax.grad(_power_value)),
    ],
    ids=["fwd-fwd", "rev-rev", "fwd-rev"],
)
def test_second_derivative_in_every_mode(hess):
    """d^2/da^2 int t^a dt = 2/(a+1)^3 under jit and vmap.

    The integrand at the last node is ~1e160 and its derivatives ~530x larger per order;
    naive second derivatives of log|f| overflow there (a regression test).
    """
    a = np.array([-0.7, -0.999, 1.5])
    got = jax.jit(jax.vmap(hess))(jnp.asarray(a))
    np.testing.assert_allclose(np.asarray(got), 2.0 / (a + 1.0) ** 3, rtol=1e-10, atol=0.0)


def test_grad_under_jit_and_vmap():
    a = jnp.asarray([-0.8, 0.0, 1.5])
    g = jax.jit(jax.vmap(jax.grad(lambda x: integrate01(lambda t, tc: t**x * tc**x).value)))(a)
    # d/da B(a+1, a+1) = 2 B(a+1, a+1) (psi(a+1) - psi(2a+2))
    an = np.asarray(a)
    expected = 2 * sps.beta(an + 1, an + 1) * (sps.digamma(an + 1) - sps.digamma(2 * an + 2))
    np.testing.assert_allclose(np.asarray(g), expected, rtol=1e-10, atol=0.0)


# --------------------------------------------------------------------------------------
# float32


def test_float32_follows_parameters():
    p, q = np.float32(-0.9), np.float32(0.5)
    res = integrate01(lambda t, tc: t ** jnp.float32(p) * tc ** jnp.float32(q))
    assert res.value.dtype == jnp.float32 and res.error.dtype == jnp.float32
    assert res.status.dtype == jnp.int32
    expected = sps.beta(float(p) + 1.0, float(q) + 1.0)
    np.testing.assert_allclose(float(res.value), expected, rtol=1e-5, atol=0.0)
    assert int(res.status) == STATUS_OK
    # Python-scalar parameters follow the default float (float64 under x64).
    assert integrate01(lambda t, tc: t**-0.5).value.dtype == jnp.float64
    assert integrate01(lambda t, tc: t**-0.5, dtype=jnp.float32).value.dtype == jnp.float32


def test_float32_grid_and_divergence():
    f32 = jnp.float32
    ps = jnp.asarray(np.linspace(-0.95, 3.0, 7), f32)
    pp, qq = (x.ravel() for x in jnp.meshgrid(ps, ps))
    res = jax.vmap(lambda p, q: integrate01(lambda t, tc: t**p * tc**q))(pp, qq)
    assert res.value.dtype == jnp.float32
    expected = sps.beta(np.asarray(pp, np.float64) + 1, np.asarray(qq, np.float64) + 1)
    np.testing.assert_allclose(np.asarray(res.value, np.float64), expected, rtol=2e-6, atol=0.0)
    np.testing.assert_array_equal(np.asarray(res.status), STATUS_OK)
    div = integrate01(lambda t, tc: f32(1.0) / (t * tc))
    assert int(div.status) == STATUS_DIVERGENT_AT_0 and float(div.value) == np.inf
    conv = integrate01(lambda t, tc: t ** f32(-0.98))
    np.testing.assert_allclose(float(conv.value), 50.0, rtol=1e-5, atol=0.0)


# --------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("level", [0, 13, 2.5, True])
def test_bad_level(level):
    with pytest.raises(ValueError, match="level"):
        integrate01(lambda t, tc: t, level=level)


def test_bad_tolerances_and_integrands():
    with pytest.raises(ValueError, match="rtol"):
        integrate01(lambda t, tc: t, rtol=-1.0)
    with pytest.raises(ValueError, match="atol"):
        integrate01(lambda t, tc: t, atol=-1.0)
    with pytest.raises(ValueError, match="elementwise"):
        integrate01(lambda t, tc: jnp.stack([t, tc]))
    with pytest.raises(ValueError, match="real"):
        integrate01(lambda t, tc: t + 1j)
    with pytest.raises(ValueError, match="float32 and float64"):
        integrate01(lambda t, tc: t, dtype=jnp.float16)


def test_node_counts_are_moderate():
    assert quad.num_nodes() == 377  # 373 nodes + 4 probes (float64, level 5)
    assert quad.num_nodes(dtype=jnp.float32) == 241
    assert quad.num_nodes(6) == 2 * quad.num_nodes(5) - 5

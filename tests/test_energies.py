"""Unit tests for mdm_ot.energies: constants, reduced energy, discrete energy.

The constants are recomputed here by enumerating states (loops), the closed forms by
scipy's Beta function; neither uses the code under test.
"""

import itertools
import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import scipy.special as sps
from hypothesis import given, settings
from hypothesis import strategies as st

from mdm_ot import energies as E
from mdm_ot.quadrature import STATUS_DIVERGENT_AT_0, STATUS_DIVERGENT_AT_1, STATUS_OK, integrate01
from mdm_ot.schedules import (
    BetaCDF,
    Cosine,
    Identity,
    Linear,
    Optimal,
    Poly,
    Sine,
    Sine2,
    beta_schedule,
)
from mdm_ot.testing import strategies as mst

PI2 = math.pi**2


def _closed_form(a, b):
    """e(Beta(a, b), gamma = t) = pi^2 B(2a-1, 2b-1) / B(a, b)^2 (MATH.md section 3)."""
    return PI2 * sps.beta(2 * a - 1, 2 * b - 1) / sps.beta(a, b) ** 2


# --------------------------------------------------------------------------------------
# Constants, by enumeration
# --------------------------------------------------------------------------------------


def _enumerated_constants(n, d, q=None):
    """(K(q), n 2^(n-1), n) by enumeration: K sums m(z) over states z = (unmasked tokens,
    masks) with q(z_UM) > 0; the conditional constant sums m(z) over the 2^n states
    compatible with one data sequence; the geodesic one counts positions."""
    q = np.full((d,) * n, 1.0 / d**n) if q is None else np.asarray(q)
    kin = 0
    for z in itertools.product(range(d + 1), repeat=n):
        mass = sum(q[x] for x in itertools.product(range(d), repeat=n)
                   if all(zi in (xi, d) for zi, xi in zip(z, x, strict=True)))
        if mass > 0:
            kin += sum(zi == d for zi in z)
    # The states compatible with one data sequence are its 2^n mask patterns.
    cond = sum(sum(m) for m in itertools.product((False, True), repeat=n))
    return kin, cond, n


@pytest.mark.parametrize(
    "n,d,expected", [(2, 2, (6, 4, 2)), (2, 3, (8, 4, 2)), (3, 3, (48, 12, 3))]
)
def test_constants_match_math_md_and_enumeration(n, d, expected):
    got = E.energy_constants(n, d)
    assert tuple(got) == tuple(float(v) for v in expected)
    assert _enumerated_constants(n, d) == expected


@pytest.mark.parametrize("n,d", [(1, 2), (1, 4), (2, 2), (2, 4), (3, 2), (3, 4)])
def test_full_support_constant_is_n_times_d_plus_1_to_the_n_minus_1(n, d):
    got = E.energy_constants(n, d)
    kin, cond, geo = _enumerated_constants(n, d)
    assert (got.kinetic, got.conditional, got.geodesic) == (kin, cond, geo)
    assert kin == n * (d + 1) ** (n - 1)


@settings(max_examples=mst.examples(20))
@given(problem=mst.problems(support="partial"))
def test_kinetic_constant_of_partial_support_by_enumeration(problem):
    n, d, q = problem
    assert E.kinetic_constant(q, n, d) == _enumerated_constants(n, d, q)[0]
    assert E.energy_constants(n, d, q).kinetic == _enumerated_constants(n, d, q)[0]


def test_constants_reject_bad_sizes():
    with pytest.raises(ValueError, match="n"):
        E.energy_constants(0, 2)
    with pytest.raises(ValueError, match="d"):
        E.energy_constants(2, 0)


# --------------------------------------------------------------------------------------
# Reduced energy: closed forms, divergence, vmap, grad
# --------------------------------------------------------------------------------------


@settings(max_examples=mst.examples(25))
@given(ab=mst.beta_params(finite=True))
def test_reduced_energy_of_beta_family_matches_closed_form(ab):
    a, b = (float(v) for v in ab)
    r = E.reduced_energy(beta_schedule(*ab))
    assert int(r.status) == STATUS_OK
    np.testing.assert_allclose(float(r.value), _closed_form(a, b), rtol=1e-10, atol=0)


@settings(max_examples=mst.examples(15))
@given(gamma=mst.interp_schedules())
def test_optimal_schedule_attains_pi_squared_for_every_gamma(gamma):
    r = E.reduced_energy(Optimal(gamma), gamma)
    assert int(r.status) == STATUS_OK
    np.testing.assert_allclose(float(r.value), PI2, rtol=1e-11, atol=0)


def test_closed_forms_of_the_named_schedules():
    arcsine = BetaCDF(np.float64(0.5), np.float64(0.5))
    for alpha, gamma in [(Sine2(), None), (Linear(), arcsine), (beta_schedule(1.0, 1.0), None)]:
        r = E.reduced_energy(alpha, gamma)
        assert int(r.status) == STATUS_OK
        np.testing.assert_allclose(float(r.value), PI2, rtol=1e-12, atol=0)
    assert E.minimum_reduced_energy() == PI2


@settings(max_examples=mst.examples(10))
@given(gamma=mst.interp_schedules(), data=st.data())
def test_perturbed_optimal_closed_form(gamma, data):
    alpha = data.draw(mst.perturbed_optimal(gamma))
    r = E.reduced_energy(alpha, gamma)
    assert int(r.status) == STATUS_OK
    np.testing.assert_allclose(float(r.value), float(alpha.closed_form_energy()), rtol=1e-10, atol=0)


@pytest.mark.parametrize(
    "alpha,status",
    [
        (Linear(), STATUS_DIVERGENT_AT_0),  # diverges at both ends; t = 0 is reported first
        (Sine(), STATUS_DIVERGENT_AT_0),
        (Poly(np.float64(2.0)), STATUS_DIVERGENT_AT_1),
        (Cosine(), STATUS_DIVERGENT_AT_1),
        (beta_schedule(0.5, 2.0), STATUS_DIVERGENT_AT_0),  # exactly 1/2: logarithmic
        (beta_schedule(2.0, 0.3), STATUS_DIVERGENT_AT_1),
    ],
)
def test_divergent_reduced_energy_is_infinite_with_the_end(alpha, status):
    r = E.reduced_energy(alpha)
    assert float(r.value) == math.inf
    assert float(r.error) == math.inf
    assert int(r.status) == status


def test_sine_schedule_with_a_beta_gamma_is_finite():
    """e(sin(pi t/2), I_t(1/2, 1)) is finite (the integrand tends to pi^2/2 at t = 1 and
    behaves like pi t^-1/2 at t = 0); mpmath at 40 digits gives 10.19097154940298892..."""
    r = E.reduced_energy(Sine(), BetaCDF(np.float64(0.5), np.float64(1.0)))
    assert int(r.status) == STATUS_OK
    np.testing.assert_allclose(float(r.value), 10.190971549402988925, rtol=1e-12, atol=0)


def test_energy_summary_multiplies_the_reduced_energy_by_the_constants():
    s = E.energy_summary(Sine(), BetaCDF(np.float64(0.5), np.float64(1.0)), n=3, d=3)
    e = float(E.reduced_energy(Sine(), BetaCDF(np.float64(0.5), np.float64(1.0))).value)
    assert s["reduced"] == e and s["divergent"] == [] and s["status"] == "ok"
    assert (s["kinetic"], s["conditional"], s["geodesic"]) == (48 * e, 12 * e, 3 * e)
    assert s["minimum"]["reduced"] == PI2 and s["minimum"]["geodesic"] == 3 * PI2
    d = E.energy_summary(Linear())  # gamma defaults to the identity: e diverges at both ends
    assert d["gamma"] == "t" and d["reduced"] == math.inf and d["kinetic"] == math.inf
    assert sorted(d["divergent"]) == ["conditional", "geodesic", "kinetic", "reduced"]
    assert "diverges" in d["status"]


@settings(max_examples=mst.examples(10))
@given(ab=mst.beta_params(finite=False))
def test_divergent_beta_parameters_never_give_a_finite_number(ab):
    a, b = (float(v) for v in ab)
    r = E.reduced_energy(beta_schedule(*ab))
    assert float(r.value) == math.inf
    assert int(r.status) == (STATUS_DIVERGENT_AT_0 if a <= 0.5 else STATUS_DIVERGENT_AT_1)


def test_vmap_over_a_batch_of_beta_schedules():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.55, 3.0, 16)
    b = rng.uniform(0.55, 3.0, 16)
    out = jax.jit(jax.vmap(lambda a_, b_: E.reduced_energy(beta_schedule(a_, b_))))(a, b)
    np.testing.assert_array_equal(np.asarray(out.status), STATUS_OK)
    np.testing.assert_allclose(np.asarray(out.value), _closed_form(a, b), rtol=1e-10, atol=0)


def test_grad_in_beta_parameters_matches_finite_differences_of_the_closed_form():
    grad = jax.jit(jax.grad(lambda a, b: E.reduced_energy(beta_schedule(a, b)).value, argnums=(0, 1)))
    h = 1e-6
    for a, b in [(0.8, 1.3), (2.5, 0.7)]:
        got = np.array([float(g) for g in grad(a, b)])
        fd = np.array([(_closed_form(a + h, b) - _closed_form(a - h, b)) / (2 * h),
                       (_closed_form(a, b + h) - _closed_form(a, b - h)) / (2 * h)])
        np.testing.assert_allclose(got, fd, rtol=1e-7, atol=0)


# --------------------------------------------------------------------------------------
# Discrete energy (Appendix D.5)
# --------------------------------------------------------------------------------------


def _np_discrete(alpha_values, gamma_values):
    """sum_k 4 ||y_k - y_{k-1}||^2 / (gamma_k - gamma_{k-1}) with y = (sqrt(alpha),
    sqrt(1-alpha)) the square-root embedding of one token: the chord, not the cosine form."""
    y = np.stack([np.sqrt(alpha_values), np.sqrt(1.0 - alpha_values)], axis=-1)
    chord2 = np.sum(np.diff(y, axis=0) ** 2, axis=-1)
    return np.sum(4.0 * chord2 / np.diff(gamma_values))


@settings(max_examples=mst.examples(15))
@given(
    alpha=mst.mask_schedules(("linear", "sin2", "poly", "beta")),
    gamma=mst.interp_schedules(),
    steps=st.sampled_from([1, 3, 8]),  # few grid shapes: the function runs eagerly
)
def test_discrete_energy_is_the_chord_sum(alpha, gamma, steps):
    grid = np.linspace(0.0, 1.0, steps + 1)
    got = float(E.discrete_geodesic_energy(alpha, gamma, grid))
    want = _np_discrete(np.asarray(alpha(grid)), np.asarray(gamma(grid)))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=0)


@pytest.mark.parametrize("steps", [1, 2, 3, 8, 64, 1000])
def test_discrete_minimum_formula_and_its_attainment(steps):
    want = 8 * steps**2 * (1 - math.cos(math.pi / (2 * steps)))
    np.testing.assert_allclose(float(E.discrete_geodesic_minimum(steps)), want, rtol=1e-9, atol=0)
    assert want < PI2
    # sin^2 on the uniform grid has equal steps in theta and in gamma = t.
    np.testing.assert_allclose(float(E.discrete_geodesic_energy(Sine2(), None, steps)), want,
                               rtol=1e-12, atol=0)
    assert Identity() is not None


def test_discrete_energy_rejects_zero_steps():
    with pytest.raises(ValueError, match="steps"):
        E.discrete_geodesic_energy(Sine2(), None, 0)


def test_energy_constants_refuse_a_float_overflow_without_building_the_power():
    """n (d+1)^(n-1) beyond float64 is refused from its logarithm (issue 15): at once for a
    huge n, where the exact integer power would take minutes; the largest n that fits works."""
    import time

    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="exceeds the largest float64"):
        E.energy_constants(10**12, 2)
    assert time.perf_counter() - t0 < 5.0
    with pytest.raises(ValueError, match="exceeds the largest float64"):
        E.energy_constants(1020, 1)  # 1020 * 2^1019 > 1.8e308
    assert np.isfinite(E.energy_constants(1000, 1).kinetic)  # 1000 * 2^999 ~ 5e303


# --------------------------------------------------------------------------------------
# The Gauss-Jacobi path (issue 14): schedules that know their endpoint exponents
# --------------------------------------------------------------------------------------

_energy_ab = jax.jit(lambda a, b: E.reduced_energy(beta_schedule(a, b)))
_energy_abcd = jax.jit(lambda a, b, c, d: E.reduced_energy(beta_schedule(a, b), BetaCDF(c, d)))


def _mp_beta_gamma_energy(a, b, c, d):
    """e(Beta(a, b), I_t(c, d)) = pi^2 int dens_ab^2 / dens_cd dt by mpmath's own tanh-sinh
    quadrature at 40 digits (nothing of the library). mpmath alone loses digits on
    t^-0.9 (286.914 for 286.926): each half is integrated after t = u^k, k = 1/(p+1), which
    turns t^p dt into a bounded integrand (likewise 1 - t at the right end)."""
    mpmath.mp.dps = 40
    a, b, c, d = (mpmath.mpf(float(v)) for v in (a, b, c, d))

    def f(t, tc):
        dens_ab = t ** (a - 1) * tc ** (b - 1) / mpmath.beta(a, b)
        return mpmath.pi**2 * dens_ab**2 / (t ** (c - 1) * tc ** (d - 1) / mpmath.beta(c, d))

    half = mpmath.mpf(1) / 2
    k0, k1 = 1 / (2 * a - c), 1 / (2 * b - d)  # 1 / (exponent + 1) at each end
    left = mpmath.quad(lambda u: f(u**k0, 1 - u**k0) * k0 * u ** (k0 - 1), [0, half ** (1 / k0)])
    right = mpmath.quad(lambda v: f(1 - v**k1, v**k1) * k1 * v ** (k1 - 1), [0, half ** (1 / k1)])
    return float(left + right)


@settings(max_examples=mst.examples(40))
@given(a=st.floats(0.55, 10.0), b=st.floats(0.55, 10.0))
def test_fast_path_matches_the_closed_form_over_the_benchmark_range(a, b):
    exponents = E.reduced_integrand_exponents(beta_schedule(a, b))
    np.testing.assert_allclose([float(e) for e in exponents], [2 * a - 2, 2 * b - 2], rtol=0, atol=1e-15)
    r = _energy_ab(np.float64(a), np.float64(b))
    assert int(r.status) == STATUS_OK
    np.testing.assert_allclose(float(r.value), _closed_form(a, b), rtol=1e-10, atol=0)
    assert float(r.error) <= 1e-10 * float(r.value)


@pytest.mark.parametrize(
    "abcd",
    [(0.55, 0.55, 0.6, 0.6), (0.7, 3.0, 1.3, 0.6), (10.0, 0.6, 3.0, 1.15), (2.0, 5.0, 0.3, 2.2),
     (1.0, 1.0, 1.5, 1.95)],
)
def test_beta_gamma_fast_path_against_mpmath(abcd):
    r = _energy_abcd(*(np.float64(v) for v in abcd))
    assert int(r.status) == STATUS_OK
    np.testing.assert_allclose(float(r.value), _mp_beta_gamma_energy(*abcd), rtol=1e-10, atol=0)


@pytest.mark.parametrize(
    "abcd,status",
    [((1.0, 2.0, 2.0, 1.0), STATUS_DIVERGENT_AT_0),  # 2a - c = 0: integrand ~ t^-1 exactly
     ((2.0, 0.75, 1.0, 1.5), STATUS_DIVERGENT_AT_1),  # 2b - d = 0
     ((0.5, 2.0, 0.5, 1.0), STATUS_OK)],  # 2a - c = 1/2 > 0: finite although a = 1/2
)
def test_beta_gamma_divergence_is_decided_by_the_exponents(abcd, status):
    r = _energy_abcd(*(np.float64(v) for v in abcd))
    assert int(r.status) == status
    general = integrate01(E.reduced_integrand(beta_schedule(*abcd[:2]), BetaCDF(*map(np.float64, abcd[2:]))))
    assert int(general.status) == status  # the general rule's verdict agrees
    if status == STATUS_OK:
        np.testing.assert_allclose(float(r.value), _mp_beta_gamma_energy(*abcd), rtol=1e-10, atol=0)
    else:
        assert float(r.value) == math.inf and float(r.error) == math.inf


@pytest.mark.parametrize("a", [0.5, 0.5 - 1e-15, 0.3, np.nextafter(0.5, 0.0)])
def test_divergence_at_one_half_is_exact_and_just_above_is_finite(a):
    r = _energy_ab(np.float64(a), np.float64(2.0))
    assert float(r.value) == math.inf and int(r.status) == STATUS_DIVERGENT_AT_0
    r = _energy_ab(np.float64(2.0), np.float64(a))
    assert float(r.value) == math.inf and int(r.status) == STATUS_DIVERGENT_AT_1
    alpha32 = beta_schedule(np.float32(a), np.float32(2.0))
    r32 = E.reduced_energy(alpha32)
    assert float(r32.value) == math.inf
    assert r32.value.dtype == integrate01(E.reduced_integrand(alpha32)).value.dtype  # same dtype rule
    # Just above 1/2 the energy is finite and ~ 1/(2a - 1): 1e-8 gives ~ 1e8, not +inf.
    above = _energy_ab(np.float64(0.5 + 1e-8), np.float64(2.0))
    assert int(above.status) == STATUS_OK
    np.testing.assert_allclose(float(above.value), _closed_form(0.5 + 1e-8, 2.0), rtol=1e-7, atol=0)


def _closed_form_grad(a, b):
    """(d/da, d/db) of pi^2 B(2a-1, 2b-1) / B(a, b)^2 by scipy's digamma."""
    e, s = _closed_form(a, b), sps.digamma(2 * a + 2 * b - 2)
    return (e * (2 * sps.digamma(2 * a - 1) - 2 * s - 2 * sps.digamma(a) + 2 * sps.digamma(a + b)),
            e * (2 * sps.digamma(2 * b - 1) - 2 * s - 2 * sps.digamma(b) + 2 * sps.digamma(a + b)))


def test_fast_path_gradients_match_the_closed_forms_gradient():
    grad = jax.jit(jax.vmap(jax.grad(lambda a, b: E.reduced_energy(beta_schedule(a, b)).value, argnums=(0, 1))))
    a = np.array([0.55, 0.8, 2.5, 10.0, 3.3])
    b = np.array([9.0, 1.3, 0.7, 10.0, 0.55])
    got = np.stack([np.asarray(g) for g in grad(a, b)])
    want = np.stack(_closed_form_grad(a, b))
    scale = np.abs(want).max(axis=0)  # derivatives cross zero: compare on the size of the pair
    np.testing.assert_allclose(got / scale, want / scale, rtol=0, atol=1e-10)


def test_fast_path_beta_gamma_gradients_match_finite_differences_of_the_general_rule():
    def energy(a, b, c, d):
        return E.reduced_energy(beta_schedule(a, b), BetaCDF(c, d)).value

    @jax.jit
    def general_rule(p):  # the tanh-sinh rule on the same integrand: other machinery
        return integrate01(E.reduced_integrand(beta_schedule(p[0], p[1]), BetaCDF(p[2], p[3])), level=6).value

    def general(*p):
        return float(general_rule(np.array(p)))

    p0 = np.array([0.8, 2.2, 1.1, 0.7])
    got = np.array([float(g) for g in jax.grad(energy, argnums=(0, 1, 2, 3))(*p0)])
    h = 1e-5
    fd = np.array([(general(*(p0 + h * e)) - general(*(p0 - h * e))) / (2 * h) for e in np.eye(4)])
    np.testing.assert_allclose(got, fd, rtol=1e-7, atol=1e-7 * np.abs(fd).max())


def test_schedules_without_known_exponents_take_the_general_rule():
    assert E.reduced_integrand_exponents(Sine()) is None
    assert E.reduced_integrand_exponents(beta_schedule(1.0, 2.0), _SineGamma()) is None
    assert E.reduced_integrand_exponents(Linear(), BetaCDF(np.float64(0.5), np.float64(0.5))) == (-0.5, -0.5)


class _SineGamma(Identity):
    """gamma = sin^2(pi t / 2) (an interpolation schedule that knows nothing of its rate's
    exponents: the default, None), for the path-selection test."""

    def pair(self, t, tc=None):
        return Sine2().pair(t, tc)

    def rate_exponents(self):
        return super(Identity, self).rate_exponents()


class _SquaredSineGamma(Identity):
    r"""gamma = sin^2(pi t / 2), declaring its exponents: gamma' = (pi/2) sin(pi t) =
    t (1-t) h(t) with h smooth but not a polynomial, so the two-node rule is NOT exact."""

    def pair(self, t, tc=None):
        return Sine2().pair(t, tc)

    def log_rate(self, t, tc=None):
        return jnp.log(0.5 * math.pi * jnp.sin(math.pi * jnp.minimum(t, tc)))

    def rate_exponents(self):
        return 1.0, 1.0


def test_error_estimate_flags_a_non_constant_smooth_factor():
    """alpha = sin^2(pi/2 gamma) with gamma = sin^2(pi t/2), integrated against gamma = t:
    e = pi^2 int gamma'^2 dt = pi^4 / 8, the integrand t^2 (1-t)^2 h^2 with h not constant."""
    r = E.reduced_energy(Optimal(_SquaredSineGamma()), Identity())
    exact = math.pi**4 / 8
    assert float(r.error) >= abs(float(r.value) - exact) > 0
    assert int(r.status) != STATUS_OK


class _PolyFactorGamma(Identity):
    r"""An interpolation schedule known only by its rate: gamma' = t^p (1-t)^q sqrt(P(t)),
    declaring the exponents (p, q). With alpha = sin^2(pi/2 gamma) and gamma = t the energy
    is pi^2 int t^2p (1-t)^2q P(t) dt: the smooth factor is the polynomial P."""

    def __init__(self, p, q, coeffs):
        self.p, self.q, self.coeffs = p, q, coeffs

    def log_rate(self, t, tc=None):
        poly = sum(c * t**k for k, c in enumerate(self.coeffs))
        return self.p * jnp.log(t) + self.q * jnp.log(tc) + 0.5 * jnp.log(poly)

    def rate_exponents(self):
        return self.p, self.q


@pytest.mark.parametrize("p,q", [(-0.45, 2.0), (1.5, -0.3), (4.0, 0.25)])
def test_two_node_rule_is_exact_for_a_cubic_factor_and_flags_a_quartic(p, q):
    """The two Gauss-Jacobi nodes integrate t^2p (1-t)^2q P(t) exactly for a cubic P (the
    nodes' positions matter here, unlike for the Beta family's constant factor) and not for
    a quartic, where the error estimate covers the actual error. Both get a cautious status:
    the estimate is the one-node rule's error."""
    def exact(coeffs):
        return PI2 * sum(c * sps.beta(2 * p + 1 + k, 2 * q + 1) for k, c in enumerate(coeffs))

    cubic = (1.0, -0.7, 2.0, 0.9)
    r = E.reduced_energy(Optimal(_PolyFactorGamma(p, q, cubic)), Identity())
    np.testing.assert_allclose(float(r.value), exact(cubic), rtol=1e-12, atol=0)
    assert float(r.error) > 1e-8 * float(r.value)  # the estimate |I_2 - I_1| is I_1's: cautious
    quartic = (1.0, 0.0, 0.0, 0.0, 3.0)
    r = E.reduced_energy(Optimal(_PolyFactorGamma(p, q, quartic)), Identity())
    assert float(r.error) >= abs(float(r.value) - exact(quartic)) > 1e-8 * exact(quartic)
    assert int(r.status) != STATUS_OK

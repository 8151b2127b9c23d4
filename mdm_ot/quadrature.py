r"""Quadrature on :math:`[0, 1]` for integrands with power-law endpoint singularities.

:func:`integrate01` computes integrals such as the reduced energy
:math:`e(\alpha, \gamma) = 4 \int_0^1 \theta'^2 / \gamma' \, dt` (finite or ``+inf``) to about
:math:`10^{-12}` relative accuracy in float64, with an error estimate and a status, under
``jax.jit``, ``jax.vmap`` and ``jax.grad``. Integrands are called as ``f(t, tc)`` with
``tc = 1 - t`` computed accurately (near :math:`t = 1` only ``tc`` carries information).
The rule, its tail correction, error estimate, divergence test and limits: docs/quadrature.md.

References:
  The paper's Eq. 14 and Lemma 3.5 (arXiv:2509.13866); MATH.md section 3; the tanh-sinh
  rule of Takahasi & Mori (1974).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "QuadResult",
    "STATUS_OK",
    "STATUS_DIVERGENT_AT_0",
    "STATUS_DIVERGENT_AT_1",
    "STATUS_NONFINITE",
    "STATUS_INACCURATE",
    "DEFAULT_LEVEL",
    "describe_status",
    "status_code",
    "endpoint_exponents",
    "exponent_tolerance",
    "integrand_dtype",
    "integrate01",
    "num_nodes",
]

STATUS_OK = 0
STATUS_DIVERGENT_AT_0 = 1
STATUS_DIVERGENT_AT_1 = 2
STATUS_NONFINITE = 3
STATUS_INACCURATE = 4

DEFAULT_LEVEL = 5
"""Default refinement level: step :math:`h = 2^{-5}`; 373 nodes (+4 probes) in float64, 237 in float32."""

# The last node sits at t_N ~ tiny**_NODE_DEPTH, the probes at tiny**(1/4) and tiny**(1/2).
# Stopping at tiny**(3/4) (about 1e-231 in float64, 4e-29 in float32) rather than at tiny
# itself leaves headroom: an integrand C t^p with p > -1 stays below C / t_N, so it does not
# overflow at the last node unless C is astronomically large; the power-law remainder
# accounts for everything beyond t_N.
_NODE_DEPTH = 0.75
# The explicit part of the remainder sum runs this far in s beyond the last node; the rest
# is summed by Euler-Maclaurin with _EM_TERMS Bernoulli terms (see `_remainder_sums`).
# With span 1 and 5 terms the remainder sum matches brute-force summation to ~1e-13
# relative for every exponent and level >= 3 (tests/test_quadrature.py checks this).
_REMAINDER_SPAN = 1.0
_EM_TERMS = 5
# B_2, B_4, ..., B_10.
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66)


class QuadResult(NamedTuple):
    """Result of :func:`integrate01`.

    Attributes:
        value: The integral; :math:`\\pm\\infty` where divergent (``+inf`` for a positive
            integrand), NaN or :math:`\\pm\\infty` where the integrand is not finite, the
            estimate otherwise (also when inaccurate).
        error: Estimated absolute error of ``value`` (``inf`` when divergent or not finite).
        status: int32 code: ``STATUS_OK``, ``STATUS_DIVERGENT_AT_0``,
            ``STATUS_DIVERGENT_AT_1``, ``STATUS_NONFINITE`` or ``STATUS_INACCURATE``;
            see :func:`describe_status`.
    """

    value: jax.Array
    error: jax.Array
    status: jax.Array


_STATUS_TEXT = {
    STATUS_OK: "ok",
    STATUS_DIVERGENT_AT_0: "diverges at t=0",
    STATUS_DIVERGENT_AT_1: "diverges at t=1",
    STATUS_NONFINITE: "integrand is not finite (NaN or inf) at some quadrature point",
    STATUS_INACCURATE: "inaccurate: the error estimate exceeds rtol*|value| + atol",
}


def describe_status(code: int, exponent: float | None = None) -> str:
    """Human-readable reason for a status code of :class:`QuadResult`.

    Args:
        code: A status code (a Python int or a scalar array).
        exponent: Optional endpoint exponent (from :func:`endpoint_exponents`) quoted in the
            message of a divergent status.

    Returns:
        A one-line description, e.g.
        ``"diverges at t=0: integrand ~ t^-1.000 (exponent <= -1)"``.

    Raises:
        ValueError: If ``code`` is not one of the five status codes.

    References: Eq. 14 of arXiv:2509.13866 (energies may be :math:`+\\infty`).
    """
    code = int(code)
    if code not in _STATUS_TEXT:
        raise ValueError(f"unknown quadrature status code {code}; expected one of 0..4")
    if code in (STATUS_DIVERGENT_AT_0, STATUS_DIVERGENT_AT_1):
        end, var = ("0", "t") if code == STATUS_DIVERGENT_AT_0 else ("1", "(1-t)")
        if exponent is None:
            return (
                f"diverges at t={end}: integrand ~ {var}^p with p <= -1 "
                "(not integrable at that end)"
            )
        return f"diverges at t={end}: integrand ~ {var}^{float(exponent):.3f} (exponent <= -1)"
    return _STATUS_TEXT[code]


# --------------------------------------------------------------------------------------
# The rule: nodes, weights and constants, computed once per (level, dtype) in float64 numpy.


class _Rule(NamedTuple):
    h: float
    n: int  # last node index N (even): nodes s_k = k h, |k| <= N
    t: np.ndarray  # (2N + 5,) evaluation points, layout in `_rule`
    tc: np.ndarray  # (2N + 5,) accurate complements 1 - t
    w: np.ndarray  # (2N + 1,) weights at step h
    coarse: np.ndarray  # (2N + 1,) 1.0 on the nodes of step 2h, 0.0 elsewhere
    log_probe: tuple[float, float, float]  # log t1, log t2, log t_N (left end)
    rho_c: np.ndarray  # (J,) cosh(s_{N+j}) / cosh(s_N)
    rho_d: np.ndarray  # (J,) sinh(s_{N+j}) - sinh(s_N)
    em: tuple[float, float, float]  # cosh s_N, cosh s_M, sinh s_M - sinh s_N; s_M = s_{N+J}
    em_poly: np.ndarray  # (K, 2K) rho^(2k-1)(s_M) e^{lam d_M} as polynomials in lam
    em_bern: np.ndarray  # (K,) -B_2k / (2k)!
    tol: float  # exponent tolerance of the divergence test
    eps: float


def exponent_tolerance(dtype) -> float:
    r"""Tolerance :math:`\tau` of the divergence test: divergent iff :math:`p \le -1 + \tau`.

    :math:`\tau = \sqrt{\varepsilon}/16` (:math:`9.3 \times 10^{-10}` in float64,
    :math:`2.2 \times 10^{-5}` in float32): logarithmic divergences such as
    :math:`1/(t(1-t))` are always caught (why this value: docs/quadrature.md, "Divergence").

    Args:
        dtype: float32 or float64.

    Returns:
        The tolerance as a Python float.

    References: Eq. 14 of arXiv:2509.13866 (finite iff a, b > 1/2 for the Beta family).
    """
    return float(np.sqrt(np.finfo(dtype).eps) / 16.0)


def _rho_derivative_poly(order: int, s: float, width: int) -> np.ndarray:
    r"""Coefficients :math:`a_m(s)` of :math:`\frac{d^k}{ds^k}[\cosh s \, e^{-\lambda \sinh s}]
    = e^{-\lambda \sinh s} \sum_m \lambda^m a_m(s)`, padded to ``width``.

    Each :math:`a_m` is a polynomial in :math:`(\cosh s, \sinh s)` with integer
    coefficients, built by the recursion :math:`P \mapsto P' - \lambda \cosh(s) P`.
    """
    polys = [{(1, 0): 1}]  # polys[m]: {(i, j): coefficient of cosh^i sinh^j}
    for _ in range(order):
        new = []
        for m in range(len(polys) + 1):
            term: dict[tuple[int, int], int] = {}
            if m < len(polys):
                for (i, j), c in polys[m].items():  # d/ds cosh = sinh, d/ds sinh = cosh
                    if i:
                        term[(i - 1, j + 1)] = term.get((i - 1, j + 1), 0) + i * c
                    if j:
                        term[(i + 1, j - 1)] = term.get((i + 1, j - 1), 0) + j * c
            if m >= 1:
                for (i, j), c in polys[m - 1].items():
                    term[(i + 1, j)] = term.get((i + 1, j), 0) - c
            new.append({key: c for key, c in term.items() if c})
        polys = new
    ch, sh = math.cosh(s), math.sinh(s)
    out = np.zeros(width)
    for m, poly in enumerate(polys):
        out[m] = math.fsum(c * ch**i * sh**j for (i, j), c in poly.items())
    return out


@functools.lru_cache(maxsize=64)
def _rule(level: int, dtype_name: str) -> _Rule:
    dtype = np.dtype(dtype_name)
    fi = np.finfo(dtype)
    big = -math.log(float(fi.tiny))  # 708.4 (float64), 87.3 (float32)
    h = 2.0**-level
    s_max = math.asinh(_NODE_DEPTH * big / math.pi)
    n = 2 * int(math.floor(s_max / (2 * h)))  # even: the step-2h rule shares the last node
    s = h * np.arange(1, n + 1, dtype=np.float64)
    x = math.pi * np.sinh(s)
    small = 1.0 / (1.0 + np.exp(x))  # sigmoid(-x): accurate down to 1e-231
    large = 1.0 / (1.0 + np.exp(-x))  # sigmoid(x) = 1 - small
    w_half = h * math.pi * np.cosh(s) * small * large
    w = np.concatenate([[h * math.pi * 0.25], w_half, w_half])
    k = np.arange(1, n + 1)
    coarse_half = (k % 2 == 0).astype(np.float64)
    coarse = np.concatenate([[1.0], coarse_half, coarse_half])

    t1, t2 = math.exp(-0.25 * big), math.exp(-0.5 * big)
    # Layout: [centre, left nodes k=1..N, right nodes k=1..N, probes t1, t2 (left),
    # 1-t1, 1-t2 (right)].
    t = np.concatenate([[0.5], small, large, [t1, t2, 1.0 - t1, 1.0 - t2]])
    tc = np.concatenate([[0.5], large, small, [1.0 - t1, 1.0 - t2, t1, t2]])
    t, tc = t.astype(dtype), tc.astype(dtype)
    # Logs of the probe points as they are after rounding to dtype, in float64.
    log_probe = (
        math.log(float(t[2 * n + 1])),
        math.log(float(t[2 * n + 2])),
        math.log(float(t[n])),
    )

    j_max = int(round(_REMAINDER_SPAN / h))  # even since h = 2^-level
    s_n = n * h
    s_j = s_n + h * np.arange(1, j_max + 1, dtype=np.float64)
    rho_c = np.cosh(s_j) / math.cosh(s_n)
    rho_d = np.sinh(s_j) - math.sinh(s_n)
    s_m = float(s_j[-1])
    em = (math.cosh(s_n), math.cosh(s_m), math.sinh(s_m) - math.sinh(s_n))
    em_poly = np.stack(
        [_rho_derivative_poly(2 * k - 1, s_m, 2 * _EM_TERMS) for k in range(1, _EM_TERMS + 1)]
    ) / math.cosh(s_n)
    em_bern = np.array(
        [-_BERNOULLI[k - 1] / math.factorial(2 * k) for k in range(1, _EM_TERMS + 1)]
    )
    return _Rule(
        h=h,
        n=n,
        t=t,
        tc=tc,
        w=w.astype(dtype),
        coarse=coarse.astype(dtype),
        log_probe=log_probe,
        rho_c=rho_c.astype(dtype),
        rho_d=rho_d.astype(dtype),
        em=em,
        em_poly=em_poly.astype(dtype),
        em_bern=em_bern.astype(dtype),
        tol=exponent_tolerance(dtype),
        eps=float(fi.eps),
    )


def num_nodes(level: int = DEFAULT_LEVEL, dtype=jnp.float64) -> int:
    """Number of integrand evaluations of :func:`integrate01` (nodes plus 4 probes).

    Args:
        level: Refinement level (step :math:`h = 2^{-\\mathrm{level}}`).
        dtype: float32 or float64.

    Returns:
        The number of points at which ``f`` is evaluated.

    References: tanh-sinh rule (Takahasi & Mori 1974); used for Eq. 14 of arXiv:2509.13866.
    """
    _check_level(level)
    return int(_rule(level, np.dtype(dtype).name).t.shape[0])


# --------------------------------------------------------------------------------------
# The power-law remainder beyond the last node.


def _remainder_sums(lam, rule: _Rule):
    r"""Remainder sums :math:`S_h, S_{2h}` of the trapezoidal sum beyond the last node.

    With :math:`f = C t^p` beyond :math:`t_N` and :math:`\lambda = \pi (p + 1) > 0`: terms
    up to :math:`s_M = s_N + J h` explicitly, the rest by Euler-Maclaurin (the formulas:
    docs/quadrature.md, "The remainder sums").

    Returns:
        ``(S_h, S_2h, em_err)``, the last a bound on the Euler-Maclaurin error of ``S_h``
        (the magnitude of its last term).
    """
    lam_b = lam[..., None]
    rho = rule.rho_c * jnp.exp(-lam_b * rule.rho_d)  # (..., J)
    sum_h = jnp.sum(rho, axis=-1)
    sum_2h = jnp.sum(rho[..., 1::2], axis=-1)  # j = 2, 4, ..., J
    dtype = rule.w.dtype
    c_n, c_m, d_m = (jnp.asarray(v, dtype) for v in rule.em)
    e_m = jnp.exp(-lam * d_m)
    # rho^(2k-1)(s_M) / e_m, k = 1..K: polynomials in lambda (ascending coefficients).
    powers = lam_b ** jnp.arange(rule.em_poly.shape[1], dtype=dtype)  # (..., 2K)
    ders = jnp.sum(powers[..., None, :] * rule.em_poly, axis=-1) * e_m[..., None]  # (..., K)
    integral = e_m / (lam * c_n)
    rho_m = c_m / c_n * e_m

    def em_tail(hh):
        terms = rule.em_bern * hh ** (2 * np.arange(1, rule.em_bern.shape[0] + 1)) * ders
        return (integral - hh / 2 * rho_m + jnp.sum(terms, axis=-1)) / hh, jnp.abs(
            terms[..., -1]
        ) / hh

    tail_h, em_err = em_tail(rule.h)
    tail_2h, _ = em_tail(2 * rule.h)
    return sum_h + tail_h, sum_2h + tail_2h, em_err


@jax.custom_jvp
def _recip(x):
    """1 / x, differentiated as ``-r * (dx * r)`` so that no ``dx * dx`` or ``x * x`` forms."""
    return 1.0 / x


@_recip.defjvp
def _recip_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    r = _recip(x)
    return r, -r * (dx * r)


@jax.custom_jvp
def _log_scaled(x):
    """log(x) for x > 0 whose derivatives of every order stay in range.

    The integrand at the last node can be huge (1e160 and more, its derivatives another
    factor log t_N ~ -530 per order). Plain ``log`` forms ``dx * dx`` and ``x**2`` in its
    second derivative, which overflow; here every derivative is built from the moderate
    ratios ``dx / x = dx * (1/x)``, in forward and (through the linear ``dx * r``) reverse
    mode.
    """
    return jnp.log(x)


@_log_scaled.defjvp
def _log_scaled_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    return jnp.log(x), dx * _recip(x)


def _end_analysis(f_n, f_1, f_2, g_n, rule: _Rule):
    """Exponent estimates, divergence flags and remainders of both ends.

    Arguments have a trailing axis of size 2 (t = 0, t = 1): the integrand at the last node,
    at the probes t_1 and t_2, and the weighted last term g_N = f(t_N) w_N.
    """
    dtype = rule.w.dtype
    log_t1, log_t2, log_tn = rule.log_probe
    a_n, a_1, a_2 = jnp.abs(f_n), jnp.abs(f_1), jnp.abs(f_2)

    def slope(a_near, a_far, dlog_t):
        # Smooth branch (finite, nonzero values) carries gradients; the special cases are
        # values only: zero at the nearer point -> +inf (vanishing: convergent), inf at the
        # nearer point -> -inf (divergent: an integrable C t^p cannot overflow at t_2 or
        # t_N unless C > 1e154), NaN stays NaN.
        regular = (a_near > 0) & (a_far > 0) & jnp.isfinite(a_near) & jnp.isfinite(a_far)
        safe_near = jnp.where(regular, a_near, 1.0)
        safe_far = jnp.where(regular, a_far, 1.0)
        smooth = (_log_scaled(safe_near) - _log_scaled(safe_far)) / jnp.asarray(dlog_t, dtype)
        raw_near = jax.lax.stop_gradient(a_near)
        raw_far = jax.lax.stop_gradient(a_far)
        raw = (jnp.log(raw_near) - jnp.log(raw_far)) / jnp.asarray(dlog_t, dtype)
        far_ok = ~jnp.isnan(raw_far)
        raw = jnp.where((raw_near == 0) & far_ok, jnp.inf, raw)
        raw = jnp.where((raw_near == jnp.inf) & far_ok, -jnp.inf, raw)
        return jnp.where(regular, smooth, raw)

    p_near = slope(a_n, a_2, log_tn - log_t2)
    p_far = slope(a_2, a_1, log_t2 - log_t1)
    tol = jnp.asarray(rule.tol, dtype)
    divergent = p_near <= -1 + tol
    # The remainder: zero if the integrand vanishes at the last node; otherwise the
    # power-law sum with the nearest exponent, its uncertainty from the farther exponent.
    use_near = jnp.isfinite(p_near) & ~divergent & (g_n != 0)
    use_far = jnp.isfinite(p_far) & (p_far > -1 + tol)
    lam_near = jnp.where(use_near, jnp.pi * (p_near + 1), 1.0)
    lam_far = jnp.where(use_far, jnp.pi * (p_far + 1), 1.0)
    # One call for both exponents (fewer ops to compile).
    s_h, s_2h, em_err = _remainder_sums(jnp.stack([lam_near, lam_far]), rule)
    zero = jnp.zeros((), dtype)
    vanishes = (g_n == 0) | (p_near == jnp.inf)
    rem_h = jnp.where(vanishes, zero, g_n * s_h[0])
    rem_2h = jnp.where(vanishes, zero, 2 * g_n * s_2h[0])
    unc = jnp.where(
        vanishes,
        zero,
        jnp.where(use_far, jnp.abs(g_n * (s_h[0] - s_h[1])), jnp.inf) + jnp.abs(g_n * em_err[0]),
    )
    sign = jnp.where(f_n != 0, jnp.sign(f_n), jnp.sign(f_2))
    return p_near, divergent, sign, rem_h, rem_2h, unc


@functools.partial(jax.jit, static_argnames=("level", "dtype_name"))
def _combine(vals, rtol, atol, *, level: int, dtype_name: str):
    rule = _rule(level, dtype_name)
    dtype = rule.w.dtype
    n = rule.n
    nodes = vals[: 2 * n + 1]
    g = nodes * rule.w
    core_h = jnp.sum(g)
    core_2h = 2 * jnp.sum(g * rule.coarse)
    l1 = jnp.sum(jnp.abs(g))

    ends = np.array([n, 2 * n])
    p, div, sign, rem_h, rem_2h, unc = _end_analysis(
        vals[ends],
        vals[ends + np.array([n + 1, 3])],
        vals[ends + np.array([n + 2, 4])],
        g[ends],
        rule,
    )
    (p0, p1), (div0, div1), (sign0, sign1) = p, div, sign
    value_h = core_h + jnp.sum(rem_h)
    value_2h = core_2h + jnp.sum(rem_2h)
    rounding = 8 * rule.eps * (l1 + jnp.sum(jnp.abs(rem_h)))
    error = jnp.abs(value_h - value_2h) + jnp.sum(unc) + rounding

    divergent = div0 | div1
    nonfinite = ~jnp.all(jnp.isfinite(vals)) | ~jnp.isfinite(value_h)
    inf = jnp.asarray(jnp.inf, dtype)
    both_value = jnp.where(sign0 == sign1, sign0 * inf, jnp.nan)
    div_value = jnp.where(div0 & div1, both_value, jnp.where(div0, sign0 * inf, sign1 * inf))
    value = jnp.where(
        divergent,
        div_value,
        jnp.where(nonfinite & jnp.isfinite(value_h), jnp.nan, value_h),
    )
    error = jnp.where(divergent | nonfinite, inf, error)
    accurate = error <= rtol * jnp.abs(value) + atol
    status = status_code(div0, div1, nonfinite, accurate)
    return QuadResult(value.astype(dtype), error.astype(dtype), status), (p0, p1)


def status_code(div0, div1, nonfinite, accurate) -> jax.Array:
    """The status of a quadrature result, in the order of precedence every rule uses:
    divergent at 0, divergent at 1, not finite, within tolerance (OK) or not (INACCURATE)."""
    finite = jnp.where(nonfinite, STATUS_NONFINITE, jnp.where(accurate, STATUS_OK, STATUS_INACCURATE))
    return jnp.where(div0, STATUS_DIVERGENT_AT_0, jnp.where(div1, STATUS_DIVERGENT_AT_1, finite)).astype(jnp.int32)


# --------------------------------------------------------------------------------------
# Public entry points.


def _check_level(level) -> None:
    if not isinstance(level, (int, np.integer)) or isinstance(level, bool):
        raise ValueError(f"level must be a Python int in [1, 12], got {level!r}")
    if not 1 <= int(level) <= 12:
        raise ValueError(f"level must be in [1, 12] (step h = 2^-level), got {level}")


def integrand_dtype(f, dtype) -> np.dtype:
    """The float dtype :func:`integrate01` integrates ``f`` in: ``dtype`` if given, else the one
    ``f`` returns on weakly typed float nodes (docs/quadrature.md, "Dtypes")."""
    if dtype is not None:
        dt = np.dtype(dtype)
    else:
        # Weakly typed float nodes take the dtype of whatever the integrand combines them
        # with: float32 parameters give float32, float64 ones float64, Python scalars the
        # default float (float64 when x64 is on).
        default = jnp.result_type(float)
        probe = jax.ShapeDtypeStruct((2,), default, weak_type=True)
        try:
            out = jax.eval_shape(f, probe, probe)
        except Exception as exc:  # noqa: BLE001 - re-raised with context
            raise ValueError(f"integrand f(t, tc) could not be traced: {exc}") from exc
        leaves = jax.tree_util.tree_leaves(out)
        if len(leaves) != 1:
            raise ValueError(
                f"integrand f(t, tc) must return one array, got a pytree with {len(leaves)} leaves"
            )
        dt = np.dtype(leaves[0].dtype)
        if jnp.issubdtype(dt, jnp.complexfloating):
            raise ValueError(f"integrand must be real, got dtype {dt}")
        if not jnp.issubdtype(dt, jnp.floating):  # integer / bool integrands
            dt = np.dtype(default)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"integrate01 supports float32 and float64 integrands, got {dt}")
    if dt == np.dtype(np.float64) and not jax.config.read("jax_enable_x64"):
        raise ValueError("float64 requested but jax_enable_x64 is off")
    return dt


def _evaluate(f, rule: _Rule):
    t = jnp.asarray(rule.t)
    tc = jnp.asarray(rule.tc)
    out = jnp.asarray(f(t, tc))
    if jnp.issubdtype(out.dtype, jnp.complexfloating):
        raise ValueError(f"integrand must be real, got dtype {out.dtype}")
    try:
        out = jnp.broadcast_to(out, t.shape)
    except ValueError as exc:
        raise ValueError(
            f"integrand f(t, tc) must be elementwise: called with shape {t.shape}, "
            f"it returned shape {out.shape}"
        ) from exc
    return out.astype(rule.w.dtype)


def integrate01(
    f: Callable[[jax.Array, jax.Array], jax.Array],
    *,
    level: int = DEFAULT_LEVEL,
    rtol: float | None = None,
    atol: float = 0.0,
    dtype=None,
) -> QuadResult:
    r"""Integrate ``f`` over :math:`[0, 1]`, allowing integrable power-law endpoint singularities.

    Tanh-sinh quadrature (nodes down to :math:`t \approx 10^{-231}` in float64) plus a
    closed-form power-law tail beyond the last node; the endpoint exponents give the
    divergence test (:math:`p \le -1 + \tau`, :func:`exponent_tolerance`) and the error
    estimate compares steps :math:`h` and :math:`2h`. A divergent integral has value
    :math:`\pm\infty` and a status naming the end; non-finite integrand values give
    ``STATUS_NONFINITE``. The rule, error estimate and limits (slowly varying or
    oscillating tails, :math:`0/0` integrands): docs/quadrature.md.

    Example:
      >>> r = integrate01(lambda t, tc: 1 / jnp.sqrt(t * tc))  # with jax_enable_x64
      >>> float(r.value), int(r.status)  # pi, STATUS_OK
      (3.1415926535897944, 0)

    Args:
        f: Integrand ``f(t, tc) -> array``, elementwise, with ``tc = 1 - t`` accurate.
            Parameters closed over by ``f`` may be traced (jit, vmap, grad).
        level: Static refinement level; step :math:`h = 2^{-\mathrm{level}}`, the node
            count doubles per level. Default 5 (:func:`num_nodes`).
        rtol: Relative tolerance for the status: ``STATUS_INACCURATE`` iff
            ``error > rtol * |value| + atol``. Default ``1e-10`` (float64) or ``1e-5``
            (float32). The value is returned either way.
        atol: Absolute tolerance for the status (default 0: an integral that is zero by
            cancellation needs an explicit ``atol``).
        dtype: float32 or float64; default: the dtype ``f`` returns on weakly typed float
            nodes, i.e. that of its parameters.

    Returns:
        A :class:`QuadResult` ``(value, error, status)`` of scalars in ``dtype``
        (status int32). Under ``jax.grad`` only ``value`` is meaningful.

    Raises:
        ValueError: If ``level`` is not an int in [1, 12], ``rtol`` or ``atol`` are
            negative, the dtype is not float32/float64, or ``f`` is not elementwise.

    References:
      Eq. 14 and Lemma 3.5 of arXiv:2509.13866 (energies, which may be :math:`+\infty`);
      Takahasi & Mori (1974); docs/quadrature.md.
    """
    _check_level(level)
    dt = integrand_dtype(f, dtype)
    if rtol is None:
        rtol = 1e-10 if dt == np.dtype(np.float64) else 1e-5
    for name, tol in (("rtol", rtol), ("atol", atol)):
        if isinstance(tol, (int, float, np.number)) and not tol >= 0:  # traced: unchecked
            raise ValueError(f"{name} must be >= 0, got {tol}")
    rule = _rule(int(level), dt.name)
    vals = _evaluate(f, rule)
    result, _ = _combine(
        vals, jnp.asarray(rtol, dt), jnp.asarray(atol, dt), level=int(level), dtype_name=dt.name
    )
    return result


def endpoint_exponents(
    f: Callable[[jax.Array, jax.Array], jax.Array],
    *,
    level: int = DEFAULT_LEVEL,
    dtype=None,
) -> tuple[jax.Array, jax.Array]:
    r"""The exponents :math:`(p, q)` with :math:`f \sim t^p` at 0 and :math:`(1-t)^q` at 1.

    The same estimates :func:`integrate01` uses for its divergence test and tail
    correction (see there): :math:`p = \Delta \log|f| / \Delta \log t` between
    :math:`t_2 = \mathrm{tiny}^{1/2}` and the last node :math:`t_N`; ``+inf`` where
    ``f`` vanishes there. Useful for :func:`describe_status` messages.

    Args:
        f: Integrand ``f(t, tc)`` as for :func:`integrate01`.
        level: As for :func:`integrate01` (fixes :math:`t_N`).
        dtype: As for :func:`integrate01`.

    Returns:
        ``(p, q)``, scalar arrays.

    References: Eq. 14 of arXiv:2509.13866 (finite iff both exponents exceed -1).
    """
    _check_level(level)
    dt = integrand_dtype(f, dtype)
    rule = _rule(int(level), dt.name)
    vals = _evaluate(f, rule)
    _, (p0, p1) = _combine(
        vals, jnp.asarray(0.0, dt), jnp.asarray(0.0, dt), level=int(level), dtype_name=dt.name
    )
    return p0, p1

r"""Closed forms of the schedule families, written out as Python source for the native files.

Each family becomes two functions in mdm_ot's convention (``t = 0`` all masked,
:math:`\alpha` = P(unmasked)), taking ``t`` and ``tc = 1 - t`` separately as the library
does, so that a file that flips time (``t = 1 - s``) passes ``(1 - s, s)`` and keeps
:math:`1 - \alpha` accurate where it is small:

* ``_alpha_pair(t, tc)`` returns :math:`(\alpha(t), 1 - \alpha(t))`;
* ``_alpha_rate(t, tc)`` returns :math:`\alpha'(t)`, in closed form (not autodiff), with
  the limit at an end where the interior formula is 0 times infinity.

Two flavours: ``"torch"`` (the Beta CDF by our own continued fraction, since torch has no
incomplete Beta function) and ``"jax"`` (``jax.scipy.special.betainc``). The generated
code reaches the array library through the name ``_xp`` (``torch`` or ``jax.numpy``).

The family is read from the canonical spec (:attr:`MaskSchedule.spec`, the edge where a
schedule is named) and its parameters from the pytree leaves, which keep full precision
(the spec prints 6 digits).

References:
  MATH.md section 2 (the families); the paper's section 4 (Beta-CDF schedules).
"""

from __future__ import annotations

import math

import jax
import numpy as np

from mdm_ot.schedules import MaskSchedule

__all__ = ["closed_form"]

_HEAD = "_PI = math.pi\n_HALF_PI = 0.5 * math.pi\n"

_LINEAR = '''
def _alpha_pair(t, tc):
    return t, tc


def _alpha_rate(t, tc):
    return _xp.ones_like(t)
'''

_SIN = '''
def _alpha_pair(t, tc):
    # 1 - sin(pi t / 2) = 2 sin^2(pi (1 - t) / 4): accurate near t = 1
    return _xp.sin(_HALF_PI * t), 2.0 * _xp.sin(0.5 * _HALF_PI * tc) ** 2


def _alpha_rate(t, tc):
    return _HALF_PI * _xp.sin(_HALF_PI * tc)  # (pi / 2) cos(pi t / 2)
'''

_SIN2 = '''
def _alpha_pair(t, tc):
    return _xp.sin(_HALF_PI * t) ** 2, _xp.sin(_HALF_PI * tc) ** 2


def _alpha_rate(t, tc):
    return _PI * _xp.sin(_HALF_PI * t) * _xp.sin(_HALF_PI * tc)  # (pi / 2) sin(pi t)
'''

_POLY = '''
_P = {p!r}


def _alpha_pair(t, tc):
    # log t from whichever of t, tc is accurate
    logt = _xp.where(t <= 0.5, _xp.log(t), _xp.log1p(-tc))
    return _xp.exp(_P * logt), -_xp.expm1(_P * logt)


def _alpha_rate(t, tc):
    return _P * t ** (_P - 1.0)
'''

_COSINE = '''
def _alpha_pair(t, tc):
    # 1 - cos(pi t / 2) = 2 sin^2(pi t / 4); cos(pi t / 2) = sin(pi (1 - t) / 2)
    return 2.0 * _xp.sin(0.5 * _HALF_PI * t) ** 2, _xp.sin(_HALF_PI * tc)


def _alpha_rate(t, tc):
    return _HALF_PI * _xp.sin(_HALF_PI * t)
'''

_LOGLINEAR = '''
_EPS = {eps!r}


def _alpha_pair(t, tc):
    return _EPS + (1.0 - _EPS) * t, (1.0 - _EPS) * tc


def _alpha_rate(t, tc):
    return (1.0 - _EPS) * _xp.ones_like(t)
'''

_BETA_CONSTANTS = '''
_A = {a!r}
_B = {b!r}
_LOG_BETA = {log_beta!r}  # log B(A, B) = lgamma(A) + lgamma(B) - lgamma(A + B)
_SPLIT = {split!r}  # (A + 1) / (A + B + 2): below it the fraction for I_t(A, B) converges fast
_RATE_AT_0 = {rate0}  # limit of alpha'(t) at t = 0: 0 if A > 1/2, pi^2 / B(A, B)^2 if A = 1/2, else inf
_RATE_AT_1 = {rate1}  # the same at t = 1 with B
'''

# I_x(a, b) = x^a (1-x)^b / (a B(a, b)) / (1 + d_1 / (1 + d_2 / (1 + ...))), with
# d_{2m+1} = -(a+m)(a+b+m) x / ((a+2m)(a+2m+1)) and d_{2m} = m(b-m) x / ((a+2m-1)(a+2m)),
# evaluated by the modified Lentz method; it converges quickly for x <= (a+1)/(a+b+2),
# and the other side comes from I_x(a, b) = 1 - I_{1-x}(b, a).
_BETA_TORCH = '''

def _betainc_fraction(a, b, x, xc):
    """I_x(a, b) for x <= (a + 1) / (a + b + 2) (xc = 1 - x), float64 tensors."""
    tiny = 1e-300
    c = _xp.ones_like(x)
    d = _xp.zeros_like(x)
    f = _xp.ones_like(x)
    for j in range(1, 20001):
        m = j // 2
        if j % 2:
            dj = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        else:
            dj = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        d = 1.0 + dj * d
        d = _xp.where(d.abs() < tiny, _xp.full_like(d, tiny), d)
        d = 1.0 / d
        c = 1.0 + dj / c
        c = _xp.where(c.abs() < tiny, _xp.full_like(c, tiny), c)
        step = c * d
        f = f * step
        if bool(((step - 1.0).abs() <= 1e-15).all()):
            break
    else:
        raise ArithmeticError(f"I_x({a}, {b}): the continued fraction did not converge")
    front = _xp.exp(a * _xp.log(x) + b * _xp.log(xc) - _LOG_BETA) / a
    return front / f


def _gamma_pair(t, tc):
    """(I_t(A, B), 1 - I_t(A, B)), each from the side where it is small."""
    low = t <= _SPLIT
    zero, one = _xp.zeros_like(t), _xp.ones_like(t)
    g_low = _betainc_fraction(_A, _B, _xp.where(low, t, zero), _xp.where(low, tc, one))
    gc_high = _betainc_fraction(_B, _A, _xp.where(low, zero, tc), _xp.where(low, one, t))
    return _xp.where(low, g_low, 1.0 - gc_high), _xp.where(low, 1.0 - g_low, gc_high)
'''

_BETA_JAX = '''

def _gamma_pair(t, tc):
    """(I_t(A, B), 1 - I_t(A, B)), each from the side where it is small."""
    low = t <= _SPLIT
    g_low = jax.scipy.special.betainc(_A, _B, t)
    gc_high = jax.scipy.special.betainc(_B, _A, tc)
    return _xp.where(low, g_low, 1.0 - gc_high), _xp.where(low, 1.0 - g_low, gc_high)
'''

_BETA_ALPHA = '''

def _alpha_pair(t, tc):
    g, gc = _gamma_pair(t, tc)
    return _xp.sin(_HALF_PI * g) ** 2, _xp.sin(_HALF_PI * gc) ** 2


def _alpha_rate(t, tc):
    # alpha' = (pi / 2) sin(pi g) g' = pi sin(pi g / 2) sin(pi (1 - g) / 2) g',
    # g' = t^(A-1) (1-t)^(B-1) / B(A, B), the Beta density
    g, gc = _gamma_pair(t, tc)
    log_density = {log_density}
    rate = _PI * _xp.sin(_HALF_PI * g) * _xp.sin(_HALF_PI * gc) * _xp.exp(log_density)
    rate = _xp.where(t == 0, _RATE_AT_0 * _xp.ones_like(t), rate)
    return _xp.where(tc == 0, _RATE_AT_1 * _xp.ones_like(t), rate)
'''

_FORMULAS = {
    "linear": "alpha(t) = t",
    "sin": "alpha(t) = sin(pi t / 2)",
    "sin2": "alpha(t) = sin^2(pi t / 2)",
    "poly": "alpha(t) = t^P with P = {p!r}",
    "cosine": "alpha(t) = 1 - cos(pi t / 2)",
    "loglinear": "alpha(t) = EPS + (1 - EPS) t with EPS = {eps!r}",
    "beta": "alpha(t) = sin^2(pi/2 * I_t(A, B)), I the regularized incomplete Beta function, A = {a!r}, B = {b!r}",
}


def _params(schedule: MaskSchedule) -> list[float]:
    leaves = jax.tree_util.tree_leaves(schedule)
    for leaf in leaves:
        if np.asarray(leaf).dtype != np.float64 or np.ndim(leaf) != 0:
            raise ValueError(
                f"a native export inlines the schedule's parameters at full precision: they must be float64 "
                f"scalars (enable jax_enable_x64 before building the schedule), got {np.asarray(leaf).dtype} "
                f"of shape {np.shape(leaf)}")
    return [float(x) for x in leaves]


def _end_rate(p: float, log_beta: float) -> str:
    if p > 0.5:
        return "0.0"
    if p == 0.5:
        return repr(math.pi**2 * math.exp(-2.0 * log_beta))
    return 'float("inf")'


def _log_density(a: float, b: float) -> str:
    """Source of log g'(t), leaving out a zero power (0 * log 0 would be NaN at an end)."""
    terms = [term for p, term in ((a, "(_A - 1.0) * _xp.log(t)"), (b, "(_B - 1.0) * _xp.log(tc)")) if p != 1.0]
    return " + ".join(terms) + " - _LOG_BETA" if terms else "-_LOG_BETA * _xp.ones_like(t)"


def closed_form(schedule: MaskSchedule, flavour: str) -> tuple[str, str]:
    r"""``(formula, source)``: a one-line formula for the header, and the source of
    ``_alpha_pair``/``_alpha_rate`` (needs ``math`` and ``_xp`` in scope; the jax flavour
    also ``jax``).

    Raises:
      ValueError: for a schedule without a closed form here (a tabulated schedule, an
        optimal schedule of another interpolation), or parameters that are not float64.
    """
    if flavour not in ("torch", "jax"):
        raise ValueError(f"flavour must be 'torch' or 'jax', got {flavour!r}")
    spec = schedule.spec
    family = spec.partition(":")[0]
    params = _params(schedule)
    if family in ("linear", "sin", "sin2", "cosine"):
        body = {"linear": _LINEAR, "sin": _SIN, "sin2": _SIN2, "cosine": _COSINE}[family]
        return _FORMULAS[family], _HEAD + body
    if family == "poly":
        (p,) = params
        return _FORMULAS[family].format(p=p), _HEAD + _POLY.format(p=p)
    if family == "loglinear":
        (eps,) = params
        return _FORMULAS[family].format(eps=eps), _HEAD + _LOGLINEAR.format(eps=eps)
    if family == "beta":
        a, b = params
        log_beta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
        consts = _BETA_CONSTANTS.format(a=a, b=b, log_beta=log_beta, split=(a + 1.0) / (a + b + 2.0),
                                        rate0=_end_rate(a, log_beta), rate1=_end_rate(b, log_beta))
        gamma = _BETA_TORCH if flavour == "torch" else _BETA_JAX
        alpha = _BETA_ALPHA.format(log_density=_log_density(a, b))
        return _FORMULAS[family].format(a=a, b=b), _HEAD + consts + gamma + alpha
    raise ValueError(f"no closed form for the schedule {spec!r} in a native export; allowed: linear, sin, sin2, "
                     "poly:P, cosine, loglinear[:EPS], beta:A,B")

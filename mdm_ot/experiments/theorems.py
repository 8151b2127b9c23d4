r"""The paper's statements, checked numerically on fresh random cases (``mdm-ot theorems``).

Each check computes both sides independently: the brute-force energies sum over the
state space (:mod:`mdm_ot.bruteforce`), the other side is the reduced formula, a closed form or
the paper's constant. The full property-based versions, with the hypotheses dropped, are
the tests under ``paper_checks/``; this module is the quick, user-facing table.

What the table checks (one row each): Theorem 3.1, Theorem 3.2, the reduced formula
(Eq. 14), Example 3.3, Condition 3.4 / Lemma 3.5, the Beta closed form, Proposition 3.7,
Appendix D.5 and Proposition C.2, each with its hypotheses satisfied (the closed-form row
also asserts divergence for a < 1/2). What it does not check: the other dropped-hypothesis
cases (``paper_checks/``), and "rate optimality" (among all rates with the same
path the MDM rate has least kinetic energy) -- that is our restatement, not a theorem of
the paper, false among unmasking rates unless every proper marginal of q is uniform and
false among all rates for n >= 2; it is tested in
``paper_checks/test_rate_optimality_restatement.py``. The paper's optimality claim is the
Lemma 3.5 row: optimality over schedules.

References:
  Theorems 3.1, 3.2, Example 3.3, Condition 3.4 / Lemma 3.5, Proposition 3.7,
  Appendix D.5, Proposition C.2 of arXiv:2509.13866.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from mdm_ot import bruteforce
from mdm_ot.energies import (
    discrete_geodesic_energy,
    discrete_geodesic_minimum,
    energy_constants,
    reduced_energy,
)
from mdm_ot.schedules import BetaCDF, Identity, Optimal, beta_schedule

__all__ = ["run_all", "format_table", "CHECKS"]

PI2 = math.pi**2
TOL = 1e-9  # relative; the quadrature is good to ~1e-12 on these integrands


def _rel(x, y) -> float:
    x, y = float(x), float(y)
    if not (math.isfinite(x) and math.isfinite(y)):
        return math.inf
    return abs(x - y) / max(abs(y), 1e-300)


def _random_q(rng, n, d, full=True):
    q = rng.dirichlet(np.full(d**n, 0.7))
    if not full:
        q[rng.random(d**n) < 0.4] = 0.0
        if q.sum() == 0:
            q[0] = 1.0
        q = q / q.sum()
    return jnp.asarray(q.reshape((d,) * n))


def _random_pair(rng):
    """A finite-energy pair: alpha = Beta(a, b) family, gamma = Beta(c, d), c < 2a, d < 2b."""
    a, b = rng.uniform(0.6, 3.0, 2)
    c = rng.uniform(0.3, min(2 * a, 4.0) - 0.05)
    d = rng.uniform(0.3, min(2 * b, 4.0) - 0.05)
    return (a, b, c, d)


@jax.jit
def _three_energies(a, b, c, d, q):
    al, g = beta_schedule(a, b), BetaCDF(c, d)
    return (bruteforce.kinetic_energy(al, q, g).value, bruteforce.conditional_kinetic_energy(al, q, g).value,
            bruteforce.geodesic_energy(al, q, g).value, reduced_energy(al, g).value)


_SHAPES = ((1, 2), (1, 3), (2, 2), (2, 3), (3, 2))


def _energies_cases(rng, cases):
    out = []
    for k in range(cases):
        n, d = _SHAPES[k % len(_SHAPES)]
        a, b, c, dd = _random_pair(rng)
        q = _random_q(rng, n, d)
        ek, ec, eg, e = (float(v) for v in _three_energies(a, b, c, dd, q))
        out.append(dict(n=n, d=d, q=q, ek=ek, ec=ec, eg=eg, e=e))
    return out


def check_thm31(rng, cases, cache):
    """E_k = C_1 E_c with C_1 = (d+1)^(n-1) / 2^(n-1), depending only on (n, d) (full support)."""
    rows = cache.setdefault("energies", _energies_cases(rng, cases))
    dev = [_rel(r["ek"] / r["ec"], (r["d"] + 1) ** (r["n"] - 1) / 2 ** (r["n"] - 1)) for r in rows]
    return len(rows), max(dev)


def check_thm32(rng, cases, cache):
    """E_c = 2^(n-1) E_g."""
    rows = cache.setdefault("energies", _energies_cases(rng, cases))
    return len(rows), max(_rel(r["ec"], 2 ** (r["n"] - 1) * r["eg"]) for r in rows)


def check_reduced(rng, cases, cache):
    """E_k, E_c, E_g = K(q) e, n 2^(n-1) e, n e (brute force vs reduced formula)."""
    rows = cache.setdefault("energies", _energies_cases(rng, cases))
    dev = 0.0
    for r in rows:
        c = energy_constants(r["n"], r["d"])
        dev = max(dev, _rel(r["ek"], c.kinetic * r["e"]), _rel(r["ec"], c.conditional * r["e"]),
                  _rel(r["eg"], c.geodesic * r["e"]))
    return len(rows), dev


def check_ex33(rng, cases, cache):
    """n = 1: E_k = E_c = E_g = e."""
    rows = [r for r in cache.setdefault("energies", _energies_cases(rng, cases)) if r["n"] == 1]
    dev = max(max(_rel(r["ek"], r["e"]), _rel(r["ec"], r["e"]), _rel(r["eg"], r["e"])) for r in rows)
    return len(rows), dev


@jax.jit
def _optimal_and_perturbed(c, d, eps, k):
    g = BetaCDF(c, d)
    e_opt = reduced_energy(Optimal(g), g).value

    # alpha = sin^2(pi/2 * u(gamma)) with u(g) = g + eps sin(k pi g) / (k pi), increasing
    # for |eps| < 1: an admissible perturbation of the optimum, with the same gamma.
    def f(t, tc):
        # theta' = (pi/2) u'(gamma) gamma', so 4 theta'^2 / gamma' = pi^2 u'(gamma)^2 gamma'
        # (gamma' in log form: it underflows near an end).
        gg = g.pair(t, tc)[0]
        du = jax.vmap(jax.grad(lambda x: x + eps * jnp.sin(k * math.pi * x) / (k * math.pi)))(gg.ravel())
        return PI2 * du.reshape(gg.shape) ** 2 * jnp.exp(g.log_rate(t, tc))

    from mdm_ot.quadrature import integrate01

    return e_opt, integrate01(f).value


def check_lemma35(rng, cases, cache):
    """For any gamma, e(alpha, gamma) >= pi^2 with equality at alpha* = sin^2(pi/2 gamma)."""
    worst = 0.0
    for _ in range(cases):
        c, d = rng.uniform(0.2, 5.0, 2)
        eps = rng.uniform(-0.9, 0.9)
        k = float(rng.integers(1, 5))
        e_opt, e_pert = (float(v) for v in _optimal_and_perturbed(c, d, eps, k))
        # exact: e_pert = pi^2 (1 + eps^2 / 2) for this perturbation family
        worst = max(worst, _rel(e_opt, PI2), _rel(e_pert, PI2 * (1 + eps**2 / 2)))
        if e_pert < PI2 * (1 - TOL):
            return cases, math.inf
    return cases, worst


@jax.jit
def _beta_energy(a, b):
    return reduced_energy(beta_schedule(a, b)).value


def check_closed_form(rng, cases, cache):
    """gamma = t, alpha = Beta(a, b): e = pi^2 B(2a-1, 2b-1) / B(a, b)^2 (finite iff a, b > 1/2)."""
    from scipy.special import betaln

    worst = 0.0
    for _ in range(cases):
        a, b = rng.uniform(0.52, 8.0, 2)
        want = PI2 * math.exp(betaln(2 * a - 1, 2 * b - 1) - 2 * betaln(a, b))
        worst = max(worst, _rel(_beta_energy(a, b), want))
        a2 = rng.uniform(0.05, 0.5)  # hypothesis a > 1/2 dropped: must be +inf
        if math.isfinite(float(_beta_energy(a2, b))):
            return cases, math.inf
    return cases, worst


def check_prop37(rng, cases, cache):
    """I_t(1/2, 1/2) = (2/pi) arcsin sqrt(t): Beta(1/2,1/2) is linear, Beta(1,1) is sin^2."""
    t = jnp.asarray(rng.uniform(0, 1, 64 * cases))
    lin = beta_schedule(0.5, 0.5)(t)
    s2 = beta_schedule(1.0, 1.0)(t)
    dev = max(float(jnp.max(jnp.abs(lin - t))), float(jnp.max(jnp.abs(s2 - jnp.sin(math.pi * t / 2) ** 2))))
    return 64 * cases, dev


def check_appD5(rng, cases, cache):
    """Discrete energy: min e_N = 8 N^2 (1 - cos(pi / 2N)) < pi^2 at equal steps, -> pi^2 as O(1/N^2)."""
    worst = 0.0
    for _ in range(cases):
        n_steps = int(rng.integers(1, 64))
        grid = jnp.linspace(0.0, 1.0, n_steps + 1)
        e_sin2 = discrete_geodesic_energy(Optimal(Identity()), Identity(), grid)
        m = discrete_geodesic_minimum(n_steps)
        worst = max(worst, _rel(e_sin2, m))
        a, b = rng.uniform(0.3, 3.0, 2)
        if float(discrete_geodesic_energy(beta_schedule(a, b), Identity(), grid)) < float(m) * (1 - TOL):
            return cases, math.inf
        if not float(m) < PI2:
            return cases, math.inf
    ns = np.array([8, 16, 32, 64, 128])
    gap = PI2 - np.asarray(discrete_geodesic_minimum(jnp.asarray(ns)))
    slope = np.polyfit(np.log(ns), np.log(gap), 1)[0]
    worst = max(worst, abs(slope + 2) * TOL)  # the fitted order must be -2
    if abs(slope + 2) > 0.01:
        return cases, math.inf
    return cases, worst


@jax.jit
def _nelbo_beta(a, b, q):
    return bruteforce.nelbo(beta_schedule(a, b), q).value


def check_propC2(rng, cases, cache):
    """NELBO with the exact denoiser = H(q) for every schedule."""
    worst = 0.0
    for k in range(cases):
        n, d = _SHAPES[k % len(_SHAPES)]
        q = _random_q(rng, n, d, full=bool(k % 2))
        a, b = rng.uniform(0.2, 3.0, 2)
        worst = max(worst, _rel(_nelbo_beta(a, b, q), bruteforce.entropy(q)))
    return cases, worst


#: (statement, reference, function) triples, in the order of the table.
CHECKS: tuple[tuple[str, str, Callable], ...] = (
    ("E_k = C1 E_c, C1 = ((d+1)/2)^(n-1)", "Theorem 3.1", check_thm31),
    ("E_c = 2^(n-1) E_g", "Theorem 3.2", check_thm32),
    ("brute-force energies = constants x reduced e", "Eq. 14", check_reduced),
    ("n = 1: E_k = E_c = E_g = e", "Example 3.3", check_ex33),
    ("e >= pi^2, equality at sin^2(pi/2 gamma)", "Cond. 3.4 / Lemma 3.5", check_lemma35),
    ("e(Beta(a,b), t) = pi^2 B(2a-1,2b-1)/B(a,b)^2", "Eq. 14, closed form", check_closed_form),
    ("I_t(1/2,1/2) = linear, I_t(1,1) = sin^2", "Proposition 3.7", check_prop37),
    ("min e_N = 8N^2(1-cos(pi/2N)) < pi^2, O(1/N^2)", "Appendix D.5", check_appD5),
    ("NELBO(exact denoiser) = H(q), any schedule", "Proposition C.2", check_propC2),
)


def run_all(seed: int | None = None, cases: int = 6, progress: bool = False) -> dict:
    """Run every check on fresh random cases; returns a JSON-ready dict."""
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**31))
    rng = np.random.default_rng(seed)
    cache: dict = {}
    rows = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(CHECKS), desc="theorems", leave=False)
    for statement, ref, fn in CHECKS:
        t0 = time.perf_counter()
        tried, dev = fn(rng, cases, cache)
        rows.append({
            "statement": statement,
            "reference": ref,
            "cases": int(tried),
            "worst_deviation": None if not math.isfinite(dev) else float(dev),
            "tolerance": TOL,
            "verdict": "holds" if math.isfinite(dev) and dev <= TOL else "FAILS",
            "seconds": round(time.perf_counter() - t0, 2),
        })
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return {"seed": seed, "cases_per_check": cases, "checks": rows}


def format_table(result: dict) -> str:
    lines = [f"Paper checks on fresh random cases (seed {result['seed']}); deviations are relative.",
             ""]
    head = f"{'statement':<48} {'reference':<22} {'cases':>5} {'worst dev.':>11}  verdict"
    lines += [head, "-" * len(head)]
    for r in result["checks"]:
        dev = "inf" if r["worst_deviation"] is None else f"{r['worst_deviation']:.2e}"
        lines.append(f"{r['statement']:<48} {r['reference']:<22} {r['cases']:>5} {dev:>11}  {r['verdict']}")
    return "\n".join(lines)

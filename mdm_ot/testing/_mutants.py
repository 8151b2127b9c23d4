"""The named mutants of :mod:`mdm_ot.testing.mutation`: small semantic source edits.

Each mutant is an exact ``old -> new`` text edit in one file under ``mdm_ot/`` (``old`` must
occur exactly once there; the runner refuses otherwise, so that a refactor cannot turn a
mutant into a silent no-op) and the test files that should kill it (one or two, fast ones;
paper checks first where a paper check is the one that should catch it).
"""

from __future__ import annotations

from typing import NamedTuple


class Mutant(NamedTuple):
    name: str
    path: str  # relative to the package root, e.g. "energies.py"
    old: str
    new: str
    tests: tuple[str, ...]
    what: str


PC = "paper_checks/"

MUTANTS: tuple[Mutant, ...] = (
    # ---------------------------------------------------------------- schedules
    Mutant(
        "half_pi_constant", "schedules/_core.py",
        "_HALF_PI = 0.5 * math.pi",
        "_HALF_PI = 0.5 * 3.14159",
        (PC + "test_cond34_lemma35_optimality.py", "tests/test_energies.py"),
        "wrong constant: pi/2 to 6 digits in every schedule (theta, sin^2 families)",
    ),
    Mutant(
        "log_pi_rate_factor2", "schedules/_core.py",
        "_LOGPI = math.log(math.pi)",
        "_LOGPI = math.log(2.0 * math.pi)",
        (PC + "test_thm31_kinetic_conditional.py", "tests/schedules/test_log_forms.py"),
        "rate off by a factor: log alpha' of sin^2 / Optimal schedules doubled",
    ),
    Mutant(
        "sine_complement", "schedules/_families.py",
        "return jnp.sin(_HALF_PI * t), 2.0 * jnp.sin(0.5 * _HALF_PI * tc) ** 2",
        "return jnp.sin(_HALF_PI * t), jnp.sin(0.5 * _HALF_PI * tc) ** 2",
        ("tests/schedules/test_schedules.py",),
        "Sine: 1 - alpha missing its factor 2",
    ),
    Mutant(
        "cosine_inverse", "schedules/_families.py",
        "return jnp.arccos(1.0 - _as_float(alpha)) / _HALF_PI",
        "return jnp.arccos(_as_float(alpha)) / _HALF_PI",
        ("tests/schedules/test_schedules.py",),
        "Cosine: inverse of the wrong function",
    ),
    Mutant(
        "poly_log_pair_exponent", "schedules/_families.py",
        "        la = self.p * logt\n",
        "        la = 2.0 * self.p * logt\n",
        ("tests/schedules/test_log_forms.py",),
        "Poly: log alpha with exponent 2p (log form disagrees with the pair)",
    ),
    Mutant(
        "loglinear_complement", "schedules/_families.py",
        "return self.eps + (1.0 - self.eps) * t, (1.0 - self.eps) * tc",
        "return self.eps + (1.0 - self.eps) * t, (1.0 + self.eps) * tc",
        ("tests/schedules/test_schedules.py",),
        "LogLinear: 1 - alpha off by 2 eps",
    ),
    Mutant(
        "beta_grad_b_from_a", "schedules/_betainc.py",
        "            dval = dval + dval_b * tangent(db)",
        "            dval = dval + dval_a * tangent(db)",
        ("tests/schedules/test_schedules.py",),
        "Beta CDF: derivative in b taken from the one in a",
    ),
    Mutant(
        "beta_density_exponent", "schedules/_betainc.py",
        "return (a - 1.0) * jnp.log(t) + (b - 1.0) * jnp.log(tc) - betaln(a, b)",
        "return (a - 1.0) * jnp.log(t) + (a - 1.0) * jnp.log(tc) - betaln(a, b)",
        (PC + "test_prop37_beta_family.py", "tests/schedules/test_schedules.py"),
        "Beta density (gamma' and dI/dt): exponent of (1 - t) from a",
    ),
    # ---------------------------------------------------------------- quadrature
    Mutant(
        "quad_bias_1e7_paper_checks", "quadrature.py",
        "    value_h = core_h + jnp.sum(rem_h)\n",
        "    value_h = (core_h + jnp.sum(rem_h)) * (1.0 + 1e-7)\n",
        (PC + "test_thm32_conditional_geodesic.py", PC + "test_ex33_single_token.py"),
        "a relative 1e-7 bias in every integral (paper checks 3.2 / 3.3 only)",
    ),
    Mutant(
        "quad_bias_1e7", "quadrature.py",
        "    value_h = core_h + jnp.sum(rem_h)\n",
        "    value_h = (core_h + jnp.sum(rem_h)) * (1.0 + 1e-7)\n",
        ("tests/test_quadrature.py",),
        "a relative 1e-7 bias in every integral (the quadrature's own tests)",
    ),
    Mutant(
        "quad_divergence_finite", "quadrature.py",
        "    divergent = div0 | div1\n",
        "    divergent = div0 & div1\n",
        ("tests/test_quadrature.py", PC + "test_cond34_lemma35_optimality.py"),
        "a divergence at one end only reported as a finite value",
    ),
    Mutant(
        "quad_tail_dropped", "quadrature.py",
        "rem_h = jnp.where(vanishes, zero, g_n * s_h[0])",
        "rem_h = jnp.where(vanishes, zero, 0.0 * g_n * s_h[0])",
        ("tests/test_quadrature.py",),
        "the power-law tail beyond the last node dropped",
    ),
    # ---------------------------------------------------------------- energies
    Mutant(
        "kq_single_position_marginals", "energies.py",
        "        total += len(masked) * int(np.count_nonzero(np.asarray(marg) > 0))",
        "        total += len(masked) * int(np.prod([np.count_nonzero(q.sum(axis=tuple("
        "j for j in range(n) if j != i)) > 0) for i in range(n) if i not in masked]))",
        (PC + "test_thm31_kinetic_conditional.py", PC + "test_rate_optimality_restatement.py"),
        "K(q) from single-position marginals (support of the unmasked pair marginal ignored)",
    ),
    Mutant(
        "kinetic_constant_full_support", "energies.py",
        "kin = n * (d + 1) ** (n - 1) if q is None",
        "kin = n * d ** (n - 1) if q is None",
        ("tests/test_energies.py", PC + "test_thm31_kinetic_conditional.py"),
        "wrong constant: full-support K = n d^(n-1) instead of n (d+1)^(n-1)",
    ),
    Mutant(
        "conditional_constant", "energies.py",
        "return EnergyConstants(float(kin), float(n * 2 ** (n - 1)), float(n))",
        "return EnergyConstants(float(kin), float(2 ** (n - 1)), float(n))",
        (PC + "test_thm32_conditional_geodesic.py", "tests/test_energies.py"),
        "wrong constant: E_c = 2^(n-1) e (factor n dropped)",
    ),
    Mutant(
        "geodesic_constant", "energies.py",
        "return EnergyConstants(float(kin), float(n * 2 ** (n - 1)), float(n))",
        "return EnergyConstants(float(kin), float(n * 2 ** (n - 1)), float(n + 1))",
        (PC + "test_thm32_conditional_geodesic.py", "tests/test_energies.py"),
        "wrong constant: E_g = (n + 1) e",
    ),
    Mutant(
        "reduced_ignores_gamma", "energies.py",
        "return 4.0 * jnp.exp(2.0 * alpha.log_theta_rate(t, tc) - gamma.log_rate(t, tc))",
        "return 4.0 * jnp.exp(2.0 * alpha.log_theta_rate(t, tc))",
        (PC + "test_ex33_single_token.py", PC + "test_cond34_lemma35_optimality.py"),
        "reduced energy without the 1/gamma' weight",
    ),
    Mutant(
        "minimum_constant", "energies.py",
        "    return math.pi**2\n",
        "    return math.pi**2 * (1.0 + 1e-6)\n",
        (PC + "test_cond34_lemma35_optimality.py", "tests/test_energies.py"),
        "wrong constant: the minimum pi^2 off by 1e-6 (relative)",
    ),
    Mutant(
        "discrete_minimum_formula", "energies.py",
        "return 16.0 * n**2 * jnp.sin(math.pi / (4.0 * n)) ** 2",
        "return 16.0 * n**2 * jnp.sin(math.pi / (4.0 * n + 1.0)) ** 2",
        (PC + "test_appD5_discrete_energy.py",),
        "App. D.5: the discrete minimum with a wrong angle",
    ),
    Mutant(
        "discrete_arc_not_chord", "energies.py",
        "chord2 = 2.0 * (1.0 - jnp.cos(dtheta))",
        "chord2 = dtheta**2",
        (PC + "test_appD5_discrete_energy.py",),
        "App. D.5: squared arc instead of squared chord",
    ),
    # ---------------------------------------------------------------- brute force (paths)
    Mutant(
        "marginal_rate_ignores_q", "bruteforce/_paths.py",
        "    valid, _, _, lrate = _log_marginal_rate_edges(nv.la, nv.lda, lp, sp)\n",
        "    lp = _log_marginal_path(_log_conditional_path(nv.la, nv.l1a, sp),"
        " jnp.full(q.size, -jnp.log(q.size)))\n"
        "    valid, _, _, lrate = _log_marginal_rate_edges(nv.la, nv.lda, lp, sp)\n",
        (PC + "test_rate_optimality_restatement.py", "tests/bruteforce/test_paths.py"),
        "the marginal rate matrix of uniform q, whatever q is",
    ),
    Mutant(
        "kinetic_flux_factor2", "bruteforce/_paths.py",
        "    log_flux = lsrc + lrate  # log of p_t(z) Q_t(z, x)",
        "    log_flux = lsrc + lrate + 0.6931471805599453  # log of p_t(z) Q_t(z, x)",
        (PC + "test_thm31_kinetic_conditional.py",),
        "rate off by a factor: the kinetic energy's flux doubled",
    ),
    Mutant(
        "kinetic_flux_ignores_q", "bruteforce/_paths.py",
        "    lp = _log_marginal_path(_log_conditional_path(nv.la, nv.l1a, sp), _safe_log(q.reshape(-1)))\n"
        "    valid, lsrc, ldst, lrate",
        "    lp = _log_marginal_path(_log_conditional_path(nv.la, nv.l1a, sp),"
        " jnp.full(q.size, -jnp.log(q.size)))\n"
        "    valid, lsrc, ldst, lrate",
        (PC + "test_thm31_kinetic_conditional.py", PC + "test_rate_optimality_restatement.py"),
        "the kinetic energy's path and flux of uniform q, whatever q is",
    ),
    Mutant(
        "conditional_rate_over_alpha", "bruteforce/_paths.py",
        "    lrate = nv.lda - jnp.where(valid, nv.l1a, 0.0)  # log of alpha' / (1 - alpha)",
        "    lrate = nv.lda - jnp.where(valid, nv.la, 0.0)  # log of alpha' / (1 - alpha)",
        (PC + "test_thm31_kinetic_conditional.py", PC + "test_thm32_conditional_geodesic.py"),
        "conditional rate alpha'/alpha instead of alpha'/(1 - alpha)",
    ),
    Mutant(
        "geodesic_without_factor4", "bruteforce/_paths.py",
        "log_terms = _LOG4 + 2.0 * _safe_log(jnp.abs(dy)) + _safe_log(qf)[None, :]",
        "log_terms = 2.0 * _safe_log(jnp.abs(dy)) + _safe_log(qf)[None, :]",
        (PC + "test_thm32_conditional_geodesic.py",),
        "geodesic energy without the Fisher-Rao factor 4",
    ),
    Mutant(
        "bruteforce_ignores_gamma", "bruteforce/_paths.py",
        "jnp.exp(jnp.where(zero, 0.0, log_total) - lg))",
        "jnp.exp(jnp.where(zero, 0.0, log_total)))",
        (PC + "test_thm31_kinetic_conditional.py", PC + "test_thm32_conditional_geodesic.py"),
        "brute-force energies without the 1/gamma' weight",
    ),
    Mutant(
        "conditional_path_swapped", "bruteforce/_core.py",
        "per_pos = jnp.where(sp.match, la, jnp.where(sp.masked[:, None, :], l1a, -jnp.inf))",
        "per_pos = jnp.where(sp.match, l1a, jnp.where(sp.masked[:, None, :], la, -jnp.inf))",
        ("tests/bruteforce/test_paths.py",),
        "conditional path with alpha and 1 - alpha swapped",
    ),
    # ---------------------------------------------------------------- NELBO
    Mutant(
        "nelbo_counts_unmasked", "bruteforce/_nelbo.py",
        "nll = -jnp.sum(jnp.where(sp.masked[:, None, :], logp, 0.0), axis=-1)",
        "nll = -jnp.sum(logp, axis=-1)",
        (PC + "test_propC2_nelbo_invariance.py", "tests/bruteforce/test_paths.py"),
        "NELBO summing -log p over unmasked positions too",
    ),
    Mutant(
        "nelbo_weight_over_alpha", "bruteforce/_nelbo.py",
        "lw = nv.lda - jnp.where(valid, nv.l1a, 0.0) + jnp.where(valid, lcond, 0.0)",
        "lw = nv.lda - jnp.where(valid, nv.la, 0.0) + jnp.where(valid, lcond, 0.0)",
        (PC + "test_propC2_nelbo_invariance.py",),
        "NELBO weight alpha'/alpha instead of alpha'/(1 - alpha)",
    ),
    # ---------------------------------------------------------------- sampling
    Mutant(
        "tokens_per_step_off_by_one", "sampling/_grid.py",
        "return (fl + (rank < extra)).astype(jnp.int32)",
        "return (fl + (rank <= extra)).astype(jnp.int32)",
        ("tests/sampling/test_sampling.py",),
        "off-by-one in tokens per step (one extra token at a step)",
    ),
    Mutant(
        "split_water_level_off", "sampling/_grid.py",
        "    lam = (jnp.cumsum(s) - total) / j\n",
        "    lam = (jnp.cumsum(s) - total) / (j + 1)\n",
        ("tests/sampling/test_split.py",),
        "at least M tokens per step: the water level of the wrong simplex (not the least-squares split)",
    ),
    Mutant(
        "model_calls_count_empty_steps", "sampling/_grid.py",
        "(num_blocks, k // num_blocks)) > 0, axis=-1)",
        "(num_blocks, k // num_blocks)) >= 0, axis=-1)",
        ("tests/sampling/test_model_calls.py", "tests/sampling/test_split.py"),
        "model calls of the count sampler: steps that reveal nothing counted as calls",
    ),
    Mutant(
        "stochastic_calls_exponent", "sampling/_grid.py",
        "hit = -jnp.expm1(jnp.asarray(length, alphas.dtype) * jnp.log1p(-da))",
        "hit = -jnp.expm1((jnp.asarray(length, alphas.dtype) - 1) * jnp.log1p(-da))",
        ("tests/sampling/test_model_calls.py",),
        "expected model calls of the stochastic sampler: (1 - da)^(L - 1) for an empty step",
    ),
    Mutant(
        "reveal_probability_unnormalized", "sampling/_core.py",
        "rho = jnp.where(prev > 0, (prev - omegas[1:]) / jnp.where(prev > 0, prev, 1), 1)",
        "rho = jnp.where(prev > 0, (prev - omegas[1:]), 1)",
        (PC + "test_fig4_toy.py", "tests/sampling/test_exact.py"),
        "stochastic reveal probability alpha_k - alpha_(k-1), not divided by 1 - alpha_(k-1)",
    ),
    Mutant(
        "confidence_count_off_by_one", "sampling/_samplers.py",
        "(_rank_with_ties(conf, eligible, tol) < counts[:, k][:, None])",
        "(_rank_with_ties(conf, eligible, tol) <= counts[:, k][:, None])",
        ("tests/sampling/test_sampling.py",),
        "confidence sampler reveals one token too many per step",
    ),
    Mutant(
        "exact_drops_transition", "sampling/_exact.py",
        "return jax.ops.segment_sum(mass[src] * tokw * w, struct[\"dst\"], num_states), None",
        "return jax.ops.segment_sum((mass[src] * tokw * w).at[-1].set(0), struct[\"dst\"],"
        " num_states), None",
        ("tests/sampling/test_exact.py", PC + "test_fig4_toy.py"),
        "exact output distribution dropping one transition (all masked -> all last token)",
    ),
    Mutant(
        "exact_count_without_binomial", "sampling/_exact.py",
        "inv_binom = 1 / jnp.asarray(_binom_table(n), dtype)",
        "inv_binom = jnp.ones_like(jnp.asarray(_binom_table(n), dtype))",
        ("tests/sampling/test_exact.py",),
        "exact count sampler: reveal patterns not weighted 1 / C(m, c)",
    ),
    Mutant(
        "temper_inverted", "sampling/_core.py",
        "logits = jnp.log(probs) / jnp.where(t > 0, t, 1)",
        "logits = jnp.log(probs) * jnp.where(t > 0, t, 1)",
        ("tests/sampling/test_sampling.py", "tests/sampling/test_exact.py"),
        "tempering p^T instead of p^(1/T)",
    ),
    Mutant(
        "kl_directions_swapped", "sampling/_exact.py",
        "kl_qp = jnp.sum(xlogy(q, q) - xlogy(q, p))",
        "kl_qp = jnp.sum(xlogy(p, p) - xlogy(p, q))",
        ("tests/sampling/test_exact.py", PC + "test_fig4_toy.py"),
        "KL(q || p) computed as KL(p || q)",
    ),
    # ---------------------------------------------------------------- tuning
    Mutant(
        "tuning_kl_metric_swapped", "tuning/_objectives.py",
        "return {\"kl\": div.kl_data_to_model, \"kl-reverse\": div.kl_model_to_data,",
        "return {\"kl\": div.kl_model_to_data, \"kl-reverse\": div.kl_data_to_model,",
        ("tests/tuning/test_tuning.py",),
        "the exact-output objective's 'kl' and 'kl-reverse' swapped",
    ),
    Mutant(
        "best_index_nan_is_best", "tuning/_core.py",
        "    key = np.where(np.isnan(v), np.inf, -v if maximize else v)\n    return int(np.argmin(key))",
        "    key = np.where(np.isnan(v), -np.inf, -v if maximize else v)\n    return int(np.argmin(key))",
        ("tests/tuning/test_search.py", "tests/tuning/test_tuning.py"),
        "the best point: a NaN value counts as the best",
    ),
    Mutant(
        "gradient_sign_ignores_maximize", "tuning/_core.py",
        "return -1.0 if objective.maximize else 1.0",
        "return 1.0",
        ("tests/tuning/test_tuning.py",),
        "gradient tuning descends a maximized objective",
    ),
    # ---------------------------------------------------------------- tuning engine, outputs, CLI
    Mutant(
        "answer_nonfinite_score_scored", "tuning/_protocol.py",
        "    if not math.isfinite(score):\n        raise EvaluationError(",
        "    if False:\n        raise EvaluationError(",
        ("tests/tuning/test_protocol.py",),
        "an evaluator's NaN or infinite score is scored instead of failing the trial",
    ),
    Mutant(
        "atomic_file_leaves_temporary", "_io.py",
        "        with contextlib.suppress(OSError):\n            os.unlink(tmp)\n        raise",
        "        raise",
        ("tests/test_io.py",),
        "a failed or interrupted atomic write leaves its temporary file behind",
    ),
    Mutant(
        "interrupt_exit_status", "cli/__init__.py",
        "    return 128 + signum",
        "    return 1",
        ("tests/cli/test_cli_signals.py",),
        "Ctrl-C / SIGTERM exit with status 1 instead of 130 / 143",
    ),
    # ---------------------------------------------------------------- fast energies (issue 14)
    Mutant(
        "jacobi_node_product", "_jacobi.py",
        "lo = a * (a + 1.0) / (s1 * s2) / hi",
        "lo = a * (a + 2.0) / (s1 * s2) / hi",
        ("tests/test_energies.py",),
        "Gauss-Jacobi: the smaller node wrong (invisible for constant factors; the cubic test)",
    ),
    Mutant(
        "jacobi_divergence_strict", "_jacobi.py",
        "div0, div1 = p <= -1.0, q <= -1.0",
        "div0, div1 = p < -1.0, q < -1.0",
        ("tests/test_energies.py",),
        "an endpoint exponent of exactly -1 (logarithmic divergence) reported finite",
    ),
    Mutant(
        "integrand_exponent_sign", "energies.py",
        "2.0 * theta_exp[1] - gamma_exp[1]",
        "2.0 * theta_exp[1] + gamma_exp[1]",
        ("tests/test_energies.py",),
        "the integrand's exponent at t = 1 adds gamma's instead of subtracting it",
    ),
    Mutant(
        "beta_rate_exponent", "schedules/_families.py",
        "return self.a - 1.0, self.b - 1.0",
        "return self.a - 1.0, self.b - 0.5",
        ("tests/schedules/test_schedules.py",),
        "BetaCDF declares a wrong exponent of its density at t = 1",
    ),
    # ---------------------------------------------------------------- model-only schedule (issue 16)
    Mutant(
        "chain_rule_wrong_survivor_power", "model_only/_exact.py",
        "_powers(step, s) * _powers(1 - b, m - s)",
        "_powers(step, s) * _powers(1 - a, m - s)",
        (PC + "test_model_only.py",),
        "exact per-step term: (1 - a) instead of (1 - b) for the masked positions left masked",
    ),
    Mutant(
        "tc_drops_conditioning_entropy", "model_only/_exact.py",
        "tc = gain - (h[u | sub] - h[u])",
        "tc = gain - h[u | sub]",
        ("tests/model_only/test_construction.py",),
        "total correlation without subtracting H(x_U)",
    ),
    Mutant(
        "count_second_order_c_squared", "model_only/_construct.py",
        "c * (c - 1) / np.where(mm >= 2, mm * (mm - 1), 1)",
        "c * c / np.where(mm >= 2, mm * mm, 1)",
        ("tests/model_only/test_construction.py",),
        "the count sampler's pair fraction c(c-1)/(m(m-1)) replaced by (c/m)^2",
    ),
    Mutant(
        "profile_c_wrong_power", "model_only/_core.py",
        "a ** (n - m) * (1 - a) ** (m - 2)",
        "a ** (n - m) * (1 - a) ** m",
        ("tests/model_only/test_construction.py", PC + "test_model_only.py"),
        "c(alpha) = P without the 1/(1 - alpha)^2",
    ),
    Mutant(
        "mc_pair_half", "model_only/_monte_carlo.py",
        "return 0.5 * m * jnp.sum(",
        "return jnp.sum(",
        ("tests/model_only/test_monte_carlo.py",),
        "Monte-Carlo pair score without the |M|/2 factor",
    ),
    Mutant(
        "mc_self_pair", "model_only/_monte_carlo.py",
        "masked = (z == d).at[rows, pick].set(False)",
        "masked = (z == d)",
        ("tests/model_only/test_monte_carlo.py",),
        "the filled-in position's own KL counted as a pair",
    ),
    Mutant(
        "mc_calls", "model_only/_monte_carlo.py",
        "calls.append(2 * int(active.size))",
        "calls.append(2 * num_samples)",
        ("tests/model_only/test_monte_carlo.py",),
        "samples with < 2 masked positions counted as model calls",
    ),
    Mutant(
        "mc_fill_temperature", "model_only/_monte_carlo.py",
        'order="random", temperature=1.0)',
        'order="random", temperature=0.0)',
        ("tests/model_only/test_monte_carlo.py",),
        "masked inputs completed greedily, not from the model's law",
    ),
)

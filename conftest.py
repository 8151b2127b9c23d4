"""Shared pytest set-up: float64 (accuracy is the point of these tests) and Hypothesis profiles."""

import os
from pathlib import Path

# JAX's persistent compilation cache (issue 14): most of a test run is XLA compilation, and
# a repeated run (the mutation suite re-runs the tests on every mutant; a developer's second
# run) finds unchanged programs on disk. Keyed by the compiled program, so a changed library
# compiles afresh. Set before jax is imported, through the environment, so that the CLI tests'
# subprocesses share it. A size limit turns on jax's file lock (filelock), needed because
# pytest-xdist workers write to the cache at the same time. Opt out: MDM_OT_TEST_JAX_CACHE=0.
if os.environ.get("MDM_OT_TEST_JAX_CACHE", "1") != "0":
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(__file__).resolve().parent / ".pytest_cache" / "jax"))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(4 * 2**30))
# XLA's CPU backend at optimization level 0: the tests' arrays are tiny, so compiling is most
# of their time and LLVM's optimizations do not pay for themselves (tests/sampling plus
# paper_checks from a cold cache: 78 s -> 65 s on 2 cores). The numerics are IEEE either way
# (XLA's CPU backend does not reassociate floating point by default). Opt out:
# MDM_OT_TEST_XLA_OPT=default.
if os.environ.get("MDM_OT_TEST_XLA_OPT", "0") != "default" and "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

import jax  # noqa: E402
from hypothesis import HealthCheck, Phase, settings  # noqa: E402

jax.config.update("jax_enable_x64", True)

# Imported after x64 is switched on, so that nothing in mdm_ot is created in float32.
from mdm_ot.testing.strategies import CI_MAX_EXAMPLES, PROFILE_SCALE  # noqa: E402

# `ci`: deterministic, no example database, modest example counts (the default).
# `thorough`: 20x the examples, for a manual run: HYPOTHESIS_PROFILE=thorough pytest.
# Tests that set their own count write `max_examples=mdm_ot.testing.strategies.examples(n)`,
# which scales n by the same factor (the profile's max_examples over CI_MAX_EXAMPLES).
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    database=None,
    max_examples=CI_MAX_EXAMPLES * PROFILE_SCALE["ci"],
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    deadline=None,
    max_examples=CI_MAX_EXAMPLES * PROFILE_SCALE["thorough"],
    suppress_health_check=[HealthCheck.too_slow],
)
# `mutation`: `ci` without shrinking, for `python -m mdm_ot.testing.mutation` runs, where a
# failing example only needs to be found, not minimised (shrinking costs a minute or more).
settings.register_profile(
    "mutation",
    parent=settings.get_profile("ci"),
    max_examples=CI_MAX_EXAMPLES * PROFILE_SCALE["mutation"],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

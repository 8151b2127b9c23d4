"""Shared pytest set-up: float64 (accuracy is the point of these tests) and Hypothesis profiles."""

import os

import jax
from hypothesis import HealthCheck, Phase, settings

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

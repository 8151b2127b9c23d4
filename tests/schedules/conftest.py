"""The ``variant`` fixture: each schedule test that takes it runs eagerly and under ``jax.jit``."""

import jax
import pytest


@pytest.fixture(params=[pytest.param(lambda f: f, id="eager"), pytest.param(jax.jit, id="jit")])
def variant(request):
    """Wraps a function of (schedule, arrays...): the identity, or ``jax.jit``."""
    return request.param

"""Small numerical helpers shared by several packages."""

from __future__ import annotations

import jax.numpy as jnp

__all__ = ["safe_log"]


def safe_log(x):
    """log x with log 0 = -inf and a zero (not NaN) derivative there."""
    pos = x > 0
    return jnp.where(pos, jnp.log(jnp.where(pos, x, 1.0)), -jnp.inf)

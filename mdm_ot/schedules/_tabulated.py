r"""A schedule known on a grid of knots (any increasing schedule, as a K-step sampler sees it).

References:
  MATH.md section 4 (the K-step sampler depends on alpha on the grid only).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from mdm_ot._pytree import frozen_pytree as _pytree
from mdm_ot._pytree import is_concrete
from mdm_ot.schedules._families import MaskSchedule

__all__ = ["FreeFormSchedule", "check_knots"]


def _default_knots(num_steps: int, dtype=None) -> jax.Array:
    # t_k = k / K, as the samplers' default grid (mdm_ot.sampling.default_grid)
    return jnp.arange(num_steps + 1, dtype=dtype if dtype is not None else jnp.result_type(float)) / num_steps


@_pytree(data=("increments", "knots"))
class FreeFormSchedule(MaskSchedule):
    r"""Any increasing schedule on a grid of knots :math:`t_0 = 0 < \dots < t_K = 1`:
    :math:`\alpha(t_k) = \sum_{j \le k} w_j` with increments :math:`w_j \ge 0` summing to 1,
    linear in between.

    A K-step sampler on the grid ``knots`` sees the schedule only through
    :math:`\alpha(t_0), \dots, \alpha(t_K)`, so this family contains the effect of every
    mask schedule at that step budget: the best free-form value is a lower bound for any
    parametric family. :math:`1 - \alpha` is summed from the right, so it is accurate where
    it is small.

    Build with :meth:`from_logits` (softmax increments: the parametrization
    :func:`tune_free_form` optimizes) or :meth:`from_alphas`.

    References:
      MATH.md section 4 (the K-step sampler depends on :math:`\alpha` on the grid only).
    """

    increments: jax.Array
    knots: jax.Array

    @classmethod
    def from_logits(cls, logits: ArrayLike, knots: ArrayLike | None = None) -> FreeFormSchedule:
        """Increments ``softmax(logits)``; ``knots`` default to ``k / K``."""
        logits = jnp.asarray(logits)
        if logits.ndim != 1 or logits.shape[0] < 1:
            raise ValueError(f"logits must be a vector of K >= 1 numbers, got shape {logits.shape}")
        knots = _default_knots(logits.shape[0], logits.dtype if jnp.issubdtype(logits.dtype, jnp.floating) else None) if knots is None else jnp.asarray(knots)
        check_knots(knots, logits.shape[0])
        return cls(jax.nn.softmax(logits), knots.astype(jax.nn.softmax(logits).dtype))

    @classmethod
    def from_alphas(cls, alphas: ArrayLike, knots: ArrayLike | None = None) -> FreeFormSchedule:
        """From :math:`\\alpha` on the knots: nondecreasing, from 0 to 1 (``K + 1`` values)."""
        alphas = jnp.asarray(alphas)
        alphas = alphas.astype(jnp.result_type(alphas.dtype, float))
        if alphas.ndim != 1 or alphas.shape[0] < 2:
            raise ValueError(f"alphas must be a vector of K + 1 >= 2 values, got shape {alphas.shape}")
        if is_concrete(alphas):
            al = np.asarray(alphas, float)
            if not np.all(np.isfinite(al)) or al[0] != 0 or al[-1] != 1 or np.any(np.diff(al) < 0):
                raise ValueError("alphas must be finite, nondecreasing, start at 0 and end at 1")
        k = alphas.shape[0] - 1
        knots = _default_knots(k, alphas.dtype) if knots is None else jnp.asarray(knots, alphas.dtype)
        check_knots(knots, k)
        return cls(jnp.diff(alphas), knots)

    def alphas(self) -> jax.Array:
        """:math:`\\alpha` on the knots, ``[K + 1]`` (0 first, 1 last)."""
        return jnp.concatenate([jnp.zeros((1,), self.increments.dtype), jnp.cumsum(self.increments)])

    def _omegas(self) -> jax.Array:
        rev = jnp.cumsum(self.increments[::-1])[::-1]
        return jnp.concatenate([rev, jnp.zeros((1,), self.increments.dtype)])

    def pair(self, t, tc=None):
        t = jnp.asarray(t, jnp.result_type(t, self.increments, float))
        return jnp.interp(t, self.knots, self.alphas()), jnp.interp(t, self.knots, self._omegas())

    def theta(self, t, tc=None):
        # arctan2(sqrt(alpha), sqrt(1 - alpha)) with the square roots guarded at 0, where
        # their derivative is infinite (times a zero tangent: NaN gradients otherwise).
        al, om = self.pair(t, tc)
        ra = jnp.where(al > 0, jnp.sqrt(jnp.where(al > 0, al, 1)), 0)
        ro = jnp.where(om > 0, jnp.sqrt(jnp.where(om > 0, om, 1)), 0)
        return jnp.arctan2(ra, ro)

    def inverse(self, alpha):
        return jnp.interp(jnp.asarray(alpha), self.alphas(), self.knots)

    @property
    def spec(self) -> str:
        try:
            return "free:" + ",".join(f"{float(x):.6g}" for x in np.asarray(self.alphas()))
        except (TypeError, jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
            return "free:<traced>"


def check_knots(knots, k: int) -> None:
    if np.shape(knots) != (k + 1,):
        raise ValueError(f"the knots must be K + 1 = {k + 1} times, got shape {np.shape(knots)}")
    if is_concrete(knots):
        kn = np.asarray(knots, float)
        if kn[0] != 0 or kn[-1] != 1 or np.any(np.diff(kn) <= 0):
            raise ValueError("the knots must increase strictly from t=0 to t=1")

r"""A schedule known on a grid of knots: any increasing schedule, as a K-step sampler sees it.

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
from mdm_ot.schedules._core import MaskSchedule

__all__ = ["TabulatedSchedule", "check_knots"]


def _default_knots(num_steps: int, dtype=None) -> jax.Array:
    # t_k = k / K, as the samplers' default grid (mdm_ot.sampling.default_grid)
    return jnp.arange(num_steps + 1, dtype=dtype if dtype is not None else jnp.result_type(float)) / num_steps


@_pytree(data=("knots", "alpha", "omega"))
class TabulatedSchedule(MaskSchedule):
    r"""A mask schedule given by its values on knots :math:`t_0 = 0 < \dots < t_K = 1`:
    ``alpha[k]`` :math:`= \alpha(t_k)` and ``omega[k]`` :math:`= 1 - \alpha(t_k)` (kept
    separately, accurate where it is small), linear in between (exact at the knots).

    A K-step sampler on the grid ``knots`` sees a schedule only through
    :math:`\alpha(t_0), \dots, \alpha(t_K)`, so tabulating any schedule there changes no
    sample, lets schedules of different families share one pytree structure (one compiled
    sampler, ``jax.vmap`` over many), and the tables with increments :math:`\ge 0` summing
    to 1 contain the effect of every mask schedule at that step budget: the best one
    bounds any parametric family from below.

    Build with :meth:`from_schedule` (any schedule on the knots), :meth:`from_alphas`
    (:math:`\alpha` on the knots) or :meth:`from_logits` (softmax increments: the
    parametrization that :func:`mdm_ot.tuning.tune_free_form` optimizes).

    Example:
      >>> from mdm_ot.schedules import TabulatedSchedule, parse_alpha
      >>> s = TabulatedSchedule.from_schedule(parse_alpha("sin2"), [0.0, 0.5, 1.0])
      >>> s.spec
      'free:0,0.5,1'

    References:
      MATH.md section 4 (the K-step sampler depends on :math:`\alpha` on the grid only).
    """

    knots: jax.Array
    alpha: jax.Array
    omega: jax.Array

    @classmethod
    def from_logits(cls, logits: ArrayLike, knots: ArrayLike | None = None) -> TabulatedSchedule:
        """Increments ``softmax(logits)``: ``alpha`` their cumulative sum from 0, ``omega`` the
        sum from the right (accurate where it is small); ``knots`` default to ``k / K``."""
        logits = jnp.asarray(logits)
        if logits.ndim != 1 or logits.shape[0] < 1:
            raise ValueError(f"logits must be a vector of K >= 1 numbers, got shape {logits.shape}")
        knots = _default_knots(logits.shape[0], logits.dtype if jnp.issubdtype(logits.dtype, jnp.floating) else None) if knots is None else jnp.asarray(knots)
        check_knots(knots, logits.shape[0])
        return cls._from_increments(jax.nn.softmax(logits), knots.astype(jax.nn.softmax(logits).dtype))

    @classmethod
    def from_alphas(cls, alphas: ArrayLike, knots: ArrayLike | None = None) -> TabulatedSchedule:
        """From :math:`\\alpha` on the knots: nondecreasing, from 0 to 1 (``K + 1`` values);
        ``omega`` is summed from the right."""
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
        return cls._from_increments(jnp.diff(alphas), knots)

    @classmethod
    def from_schedule(cls, schedule: MaskSchedule, knots: ArrayLike) -> TabulatedSchedule:
        """A schedule's :meth:`~MaskSchedule.pair` on the knots (no rescaling, no checks
        on the values: a traced schedule may be tabulated)."""
        knots = jnp.asarray(knots)
        if knots.ndim != 1:
            raise ValueError(f"the knots must be a vector of K + 1 times, got shape {knots.shape}")
        check_knots(knots, knots.shape[0] - 1)
        alpha, omega = schedule.pair(knots, 1 - knots)
        return cls(knots, jnp.asarray(alpha), jnp.asarray(omega))

    @classmethod
    def _from_increments(cls, increments: jax.Array, knots: jax.Array) -> TabulatedSchedule:
        zero = jnp.zeros((1,), increments.dtype)
        alpha = jnp.concatenate([zero, jnp.cumsum(increments)])
        omega = jnp.concatenate([jnp.cumsum(increments[::-1])[::-1], zero])
        return cls(knots, alpha, omega)

    def alphas(self) -> jax.Array:
        """:math:`\\alpha` on the knots, ``[K + 1]``."""
        return self.alpha

    def pair(self, t, tc=None):
        t = jnp.asarray(t, jnp.result_type(t, self.alpha, float))
        return jnp.interp(t, self.knots, self.alpha), jnp.interp(t, self.knots, self.omega)

    def theta(self, t, tc=None):
        # arctan2(sqrt(alpha), sqrt(1 - alpha)) with the square roots guarded at 0, where
        # their derivative is infinite (times a zero tangent at the fixed end knots: NaN
        # gradients otherwise). Only this class needs it: its alpha is exactly 0 on the
        # first piece's end, and its parameters move the other knots.
        al, om = self.pair(t, tc)
        ra = jnp.where(al > 0, jnp.sqrt(jnp.where(al > 0, al, 1)), 0)
        ro = jnp.where(om > 0, jnp.sqrt(jnp.where(om > 0, om, 1)), 0)
        return jnp.arctan2(ra, ro)

    def inverse(self, alpha):
        return jnp.interp(jnp.asarray(alpha), self.alpha, self.knots)

    @property
    def spec(self) -> str:
        try:
            return "free:" + ",".join(f"{float(x):.6g}" for x in np.asarray(self.alpha))
        except (TypeError, jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
            return "free:<traced>"


def check_knots(knots, k: int) -> None:
    """Raise ``ValueError`` unless ``knots`` are ``K + 1`` times increasing strictly from 0 to 1."""
    if np.shape(knots) != (k + 1,):
        raise ValueError(f"the knots must be K + 1 = {k + 1} times, got shape {np.shape(knots)}")
    if is_concrete(knots):
        kn = np.asarray(knots, float)
        if kn[0] != 0 or kn[-1] != 1 or np.any(np.diff(kn) <= 0):
            raise ValueError("the knots must increase strictly from t=0 to t=1")

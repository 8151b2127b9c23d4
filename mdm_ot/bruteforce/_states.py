r"""The states :math:`z \in (V \cup \{M\})^n`: the one enumeration and its indexing.

A state of ``n`` positions over ``d`` tokens holds tokens ``0 .. d-1`` and the mask token
``d``. States are indexed by :math:`\sum_i z_i (d+1)^{n-1-i}` (first position most
significant), so that a table over states reshaped to ``(d+1,) * n`` is indexed by ``z``
directly; data sequences :math:`x \in V^n` by :math:`\sum_i x_i d^{n-1-i}`, the order of
``q.reshape(-1)``. Every brute-force sum (:mod:`mdm_ot.bruteforce`), exact oracle and exact
output distribution (:mod:`mdm_ot.sampling`) uses this enumeration.

Example:
  >>> all_states(2, 1)  # n = 2 positions, d = 1 token; 1 is the mask
  array([[0, 0],
         [0, 1],
         [1, 0],
         [1, 1]], dtype=int32)

References:
  MATH.md section 1 (the state space); the paper's section 2.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

__all__ = ["StateSpace", "all_states", "state_index", "state_space"]

# Above this many states the dense arrays stop being a sensible brute force.
_MAX_STATES = 4096


def state_index(z: ArrayLike, vocab_size: int) -> jax.Array:
    r"""Index of each state :math:`z \in \{0..d\}^n` in the base-(d+1) enumeration.

    Args:
      z: integer array ``[..., n]`` with tokens ``0 .. d-1`` and mask ``d``.
      vocab_size: ``d``.

    Returns:
      integer array ``[...]``: :math:`\sum_i z_i (d+1)^{n-1-i}`.
    """
    z = jnp.asarray(z)
    n = z.shape[-1]
    powers = jnp.asarray((vocab_size + 1) ** np.arange(n - 1, -1, -1), dtype=jnp.int32)
    return jnp.sum(z.astype(jnp.int32) * powers, axis=-1)


@functools.lru_cache(maxsize=16)
def _all_states_np(n: int, vocab_size: int, base: int) -> np.ndarray:
    idx = np.arange(base**n)
    powers = base ** np.arange(n - 1, -1, -1)
    states = (idx[:, None] // powers[None, :]) % base
    states.setflags(write=False)
    return states.astype(np.int32)


def all_states(n: int, vocab_size: int, *, masked: bool = True) -> np.ndarray:
    r"""Every state of length ``n`` in index order, as an int32 NumPy array.

    Args:
      n: sequence length.
      vocab_size: ``d``.
      masked: if True, the :math:`(d+1)^n` states over :math:`V \cup \{M\}` (mask = ``d``);
        if False, the :math:`d^n` sequences of :math:`V^n` (in the order of ``q.ravel()``).

    Returns:
      ``[(d+1)^n, n]`` or ``[d^n, n]`` int32 array: row ``k`` holds the base-(d+1)
      (base-d) digits of ``k``, the order of ``itertools.product(range(base), repeat=n)``.
    """
    if n < 1 or vocab_size < 1:
        raise ValueError(f"need n >= 1 and vocab_size >= 1, got n={n}, vocab_size={vocab_size}")
    return _all_states_np(n, vocab_size, vocab_size + 1 if masked else vocab_size)


class StateSpace(NamedTuple):
    """Enumeration of the states of ``n`` positions over ``d`` tokens plus the mask ``d``.

    Attributes:
      n, d: sequence length and vocabulary size.
      states: ``(S, n)`` int, ``S = (d+1)**n``; entry ``d`` is the mask.
      data: ``(D, n)`` int, ``D = d**n``, the sequences of ``V^n`` in ``q.reshape(-1)`` order.
      masked: ``(S, n)`` bool, ``states == d``.
      num_masked: ``(S,)`` int, :math:`m(z)`.
      match: ``(S, D, n)`` bool, ``states[z, i] == data[x, i]``.
      compatible: ``(S, D)`` bool, :math:`z_i \\in \\{x_i, M\\}` for every ``i``.
      src, dst, pos, tok: ``(E,)`` int, the allowed transitions ``src -> dst``: ``dst`` is
        ``src`` with its masked position ``pos`` set to token ``tok``.
      cond_edge: ``(D, E)`` bool, transition ``e`` is the one the conditional rate given
        ``x1`` uses (``tok == x1[pos]`` and ``src`` compatible with ``x1``).
      by_value: ``(n * (d+1), S // (d+1))`` int, row ``i * (d+1) + v`` lists the states
        with ``z_i == v``.
    """

    n: int
    d: int
    states: np.ndarray
    data: np.ndarray
    masked: np.ndarray
    num_masked: np.ndarray
    match: np.ndarray
    compatible: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    pos: np.ndarray
    tok: np.ndarray
    cond_edge: np.ndarray
    by_value: np.ndarray


@functools.lru_cache(maxsize=32)
def _state_space(n: int, d: int) -> StateSpace:
    states = all_states(n, d).astype(np.int64)
    data = all_states(n, d, masked=False).astype(np.int64)
    masked = states == d
    match = states[:, None, :] == data[None, :, :]
    compatible = np.all(match | masked[:, None, :], axis=-1)
    radix = (d + 1) ** np.arange(n - 1, -1, -1)
    src, dst, pos, tok = [], [], [], []
    for z, row in enumerate(states):
        for i in np.flatnonzero(row == d):
            for v in range(d):
                src.append(z)
                dst.append(z + (v - d) * radix[i])
                pos.append(i)
                tok.append(v)
    src, dst, pos, tok = (np.array(a, dtype=np.int64) for a in (src, dst, pos, tok))
    cond_edge = (data[:, pos] == tok[None, :]) & compatible[src, :].T
    by_value = np.stack([np.flatnonzero(states[:, i] == v) for i in range(n) for v in range(d + 1)])
    arrays = [states, data, masked, masked.sum(-1), match, compatible, src, dst, pos, tok,
              cond_edge, by_value]
    for a in arrays:
        a.setflags(write=False)
    return StateSpace(n, d, *arrays)


def state_space(n: int, d: int) -> StateSpace:
    """The enumerated state space of ``n`` positions over ``d`` tokens (cached).

    Raises:
      ValueError: if ``n < 1``, ``d < 1`` or there are more than 4096 states.
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n (sequence length) must be an integer >= 1, got {n!r}")
    if not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 1:
        raise ValueError(f"d (vocabulary size) must be an integer >= 1, got {d!r}")
    # (d+1)^n >= 2^n: bound n first, so that the exact power is only computed when small
    # (n = 10^12 would otherwise build an integer of 10^11 digits and hang)
    if n > _MAX_STATES.bit_length() or (d + 1) ** n > _MAX_STATES:
        shown = f"{(d + 1) ** n}" if n <= _MAX_STATES.bit_length() else f"more than 2^{_MAX_STATES.bit_length()}"
        raise ValueError(
            f"(d+1)^n = {shown} states (n = {n}, d = {d}) is too many for the brute force; "
            f"allowed: at most {_MAX_STATES}"
        )
    return _state_space(int(n), int(d))

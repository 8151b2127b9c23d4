r"""The paper's toy targets (Figure 4): sentences of ``n = 5`` tokens over ``{a, b}``.

Tokens: ``a = 0``, ``b = 1`` (the mask is ``2``). Targets, as tables of shape ``(2,) * 5``
indexed by the sentence:

* ``"modes"``: uniform over ``{aaaaa, bbbbb}``;
* ``"middle"``: uniform over the sentences with two or three a's (20 sentences).

References:
  The paper's Figure 4 (toy experiment, 3 sampling steps); MATH.md section 5.
"""

from __future__ import annotations

import numpy as np
from jax.typing import ArrayLike

__all__ = ["LETTERS", "TOY_LENGTH", "TOY_TARGETS", "TOY_VOCAB", "sentence", "toy_sentences", "toy_target"]

TOY_LENGTH = 5
TOY_VOCAB = 2
LETTERS = "ab"
TOY_TARGETS = ("modes", "middle")


def toy_target(name: str) -> np.ndarray:
    """The target ``q`` of shape ``(2,) * 5`` (float64 NumPy; convert with ``jnp.asarray``).

    Raises:
      ValueError: for a name other than ``"modes"`` or ``"middle"``.
    """
    grid = np.indices((TOY_VOCAB,) * TOY_LENGTH).reshape(TOY_LENGTH, -1).T
    num_a = np.sum(grid == 0, axis=1)
    if name == "modes":
        keep = (num_a == 0) | (num_a == TOY_LENGTH)
    elif name == "middle":
        keep = (num_a == 2) | (num_a == 3)
    else:
        raise ValueError(f"unknown toy target {name!r}; allowed: {', '.join(TOY_TARGETS)}")
    q = keep.astype(np.float64)
    return (q / q.sum()).reshape((TOY_VOCAB,) * TOY_LENGTH)


def sentence(tokens: ArrayLike) -> str:
    """Write a sequence of tokens (0, 1, and 2 for the mask) with letters: ``a``, ``b``, ``_``."""
    return "".join((LETTERS + "_")[int(t)] for t in np.asarray(tokens).reshape(-1))


def toy_sentences() -> list[str]:
    """The 32 sentences in the order of ``toy_target(name).ravel()`` (``aaaaa`` first)."""
    grid = np.indices((TOY_VOCAB,) * TOY_LENGTH).reshape(TOY_LENGTH, -1).T
    return [sentence(row) for row in grid]

"""LLaDA-style export: the alpha grid and the tokens per step, JSON-ready (``mdm-ot export``)."""

from __future__ import annotations

import re

import numpy as np

from mdm_ot.sampling._core import alpha_on_grid, check_sizes, default_grid, num_transfer_tokens
from mdm_ot.schedules import MaskSchedule, parse_alpha

__all__ = ["default_export_name", "export_table"]


def export_table(alpha: str | MaskSchedule, length: int, num_steps: int, *, block_length: int | None = None) -> dict:
    r"""The α grid and tokens per step of a LLaDA-style (count) sampler, JSON-ready.

    LLaDA generates ``length`` tokens in ``length / block_length`` blocks, each with
    ``steps_per_block = num_steps / num_blocks`` steps, and asks ``get_num_transfer_tokens``
    how many of a block's masked tokens to reveal at each step. The table replaces that
    function: ``tokens_per_block_step[block][step]`` (every block starts with
    ``block_length`` masked tokens, so all rows are equal), computed with the largest
    remainder rule of :func:`mdm_ot.sampling.transfer_counts` (for the linear schedule
    it is exactly LLaDA's split). ``alpha_grid`` is :math:`\alpha` on one block's time grid,
    for samplers that recompute counts for other numbers of masked tokens.

    Raises:
      ValueError: for a bad spec or sizes (the block length must divide the length, the
        steps must be divisible by the number of blocks).

    References:
      MATH.md section 4 (count step, semi-autoregressive blocks).
    """
    nb, spb = check_sizes(num_steps, length, block_length)
    sched = parse_alpha(alpha) if isinstance(alpha, str) else alpha
    counts = np.asarray(num_transfer_tokens(sched, length, num_steps, block_length=block_length), np.int64)
    grid = default_grid(spb)
    return {
        "alpha": sched.spec,
        "length": int(length),
        "steps": int(num_steps),
        "block_length": int(length // nb) if block_length is None else int(block_length),
        "num_blocks": int(nb),
        "steps_per_block": int(spb),
        "time_grid": [float(t) for t in np.asarray(grid)],
        "alpha_grid": [float(x) for x in np.asarray(alpha_on_grid(sched, grid))],
        "tokens_per_step": [int(c) for c in counts],
        "tokens_per_block_step": counts.reshape(nb, spb).tolist(),
    }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_")


def default_export_name(table: dict) -> str:
    """``tokens_<alpha>_L<length>_K<steps>[_B<block>].npy``."""
    blk = f"_B{table['block_length']}" if table["num_blocks"] > 1 else ""
    return f"tokens_{_slug(table['alpha'])}_L{table['length']}_K{table['steps']}{blk}.npy"


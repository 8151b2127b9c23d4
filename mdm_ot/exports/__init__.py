r"""Native exports: a schedule as one self-contained Python file per sampler ecosystem.

``mdm-ot export --format F`` writes, for F in :data:`NATIVE_FORMATS`, a file that imports
only what its ecosystem already has (torch, or JAX for MD4), with every constant inlined,
whose docstring states the convention, the spec, L, K, the blocks, the rounding, the model
calls and how to use it:

* ``llada``: ``get_num_transfer_tokens(mask_index, steps)`` and ``TOKENS_PER_STEP``;
* ``dream``: the ``timesteps`` tensor (mask ratios, 1 down to 0);
* ``dllm``: ``MdmOtAlphaScheduler`` (alpha(0) = 1, clean at 0);
* ``mdlm``: ``MdmOtNoise`` (total noise :math:`-\log\alpha` with eps clipping);
* ``md4``: ``alpha(t)``, ``dalpha(t)`` (JAX, closed form);
* ``flow_matching``: ``MdmOtScheduler`` (a ``ConvexScheduler``) and ``TIME_GRID``.

Example:
  >>> from mdm_ot.exports import render_native
  >>> from mdm_ot.sampling import export_table
  >>> from mdm_ot.schedules import Linear
  >>> src = render_native("llada", export_table(Linear(), 8, 4), Linear())
  >>> "TOKENS_PER_STEP = [[2, 2, 2, 2]]" in src
  True

References:
  docs/export.md (per ecosystem: the upstream file and function each file replaces, the
  time direction, the rounding, the time-conditioning caveat).
"""

from __future__ import annotations

import re

import numpy as np

from mdm_ot.exports._closed_form import closed_form as _closed_form
from mdm_ot.exports._continuous import dllm_counts
from mdm_ot.exports._continuous import render_continuous as _render_continuous
from mdm_ot.exports._core import NATIVE_FORMATS as _ECOSYSTEMS
from mdm_ot.exports._core import check_native
from mdm_ot.exports._core import table_fields as _table_fields
from mdm_ot.exports._tables import dream_counts
from mdm_ot.exports._tables import render_dream as _render_dream
from mdm_ot.exports._tables import render_llada as _render_llada
from mdm_ot.schedules import MaskSchedule

__all__ = [
    "FORMATS",
    "NATIVE_FORMATS",
    "check_native",
    "default_native_name",
    "dllm_counts",
    "dream_counts",
    "render_native",
]

#: The formats with a Python file of their own (one per sampler ecosystem).
NATIVE_FORMATS: tuple[str, ...] = tuple(_ECOSYSTEMS)
#: Every format of ``mdm-ot export``: the table as JSON or as an int64 ``.npy``, and the native files.
FORMATS: tuple[str, ...] = ("json", "npy", *NATIVE_FORMATS)


def default_native_name(fmt: str, table: dict) -> str:
    """``mdm_ot_<fmt>_<spec>_L<L>_K<K>[_B<B>].py``, an importable module name."""
    slug = re.sub(r"\W+", "_", table["alpha"].replace(".", "p")).strip("_")
    blk = f"_B{table['block_length']}" if table["num_blocks"] > 1 else ""
    return f"mdm_ot_{fmt}_{slug}_L{table['length']}_K{table['steps']}{blk}.py"


def render_native(fmt: str, table: dict, schedule: MaskSchedule, *, module: str = "mdm_ot_schedule") -> str:
    r"""The source of the native file of ``fmt`` for ``schedule`` and its export table.

    Args:
      fmt: one of :data:`NATIVE_FORMATS`.
      table: :func:`mdm_ot.sampling.export_table` of ``schedule`` (sizes, counts, grids).
      schedule: the mask schedule; the continuous formats inline its closed form, with its
        parameters at full precision (they must be float64).
      module: the name the file will be imported under, for the usage in its docstring.

    Raises:
      ValueError: for sizes or options the target sampler does not take (blocks for a
        sampler without blocks, ``min_tokens_per_step``/``drop_empty`` for a format without
        mdm_ot's integer table), or a schedule with no closed form here (continuous formats).
    """
    check_native(fmt, length=table["length"], block_length=table["block_length"],
                 min_tokens_per_step=table["min_tokens_per_step"], drop_empty=table["drop_empty"])
    if table["alpha"] != schedule.spec:
        raise ValueError(f"the table is for {table['alpha']!r}, the schedule is {schedule.spec!r}")
    f = _table_fields(table)
    if fmt in ("llada", "dream"):
        try:
            formula = _closed_form(schedule, "torch")[0]
        except ValueError:
            formula = f"alpha = {schedule!r}"
        render = _render_llada if fmt == "llada" else _render_dream
        return render(f, table, formula, module)
    formula, source = _closed_form(schedule, "jax" if fmt == "md4" else "torch")
    mask_ratio = [float(x) for x in np.asarray(schedule.pair(np.asarray(table["time_grid"], np.float64))[1])]
    return _render_continuous(fmt, f, table, formula, source, module, mask_ratio)

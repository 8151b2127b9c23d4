r"""The native files that carry a table: LLaDA's counts and Dream's timesteps.

* ``llada``: ``TOKENS_PER_STEP`` (per-block lists of ints, importable without torch) and
  ``get_num_transfer_tokens(mask_index, steps)`` with LLaDA's signature, to assign to
  ``generate.get_num_transfer_tokens`` at run time.
* ``dream``: ``TIMESTEPS``, the mask ratios :math:`1 - \alpha(t_k)` in Dream's order (1
  down to 0), and ``timesteps(steps, eps, device)`` to call where Dream's ``_sample`` builds
  ``torch.linspace(1, eps, steps + 1)``; also the counts that Dream's own rounding makes of
  them for ``L`` tokens (``DREAM_TOKENS_PER_STEP``).

References:
  ML-GSAI/LLaDA ``generate.py`` (``get_num_transfer_tokens``, ``generate``); Dream's
  ``generation_utils.py`` (``DreamGenerationMixin._sample``), also vendored in ZHZisZZ/dllm
  at ``dllm/pipelines/dream/models/generation_utils.py``.
"""

from __future__ import annotations

from mdm_ot.exports._core import floats, header

__all__ = ["dream_counts", "render_dream", "render_llada"]

# The tie tolerance of mdm_ot.sampling.transfer_counts (64 float64 epsilons times L).
_TIE_EPS = 64 * 2.0**-52

_LLADA_USE = """
    import generate                      # LLaDA's generate.py
    import {module}
    generate.get_num_transfer_tokens = {module}.get_num_transfer_tokens
    out = generate.generate(model, prompt, steps={table_steps}, gen_length={length}, block_length={block_length})
  steps must be {table_steps} ({table_steps_per_block} per block, the table's columns); every block
  starts with {block_length} masked positions, so each row of the result is the table's row.
  No source edit.
"""

_LLADA_BODY = '''
SPEC = {spec!r}
LENGTH = {length}
BLOCK_LENGTH = {block_length}
NUM_BLOCKS = {num_blocks}
#: The steps to pass to LLaDA's generate(steps=...): the table's columns, over all blocks.
STEPS = {table_steps}
STEPS_PER_BLOCK = {table_steps_per_block}
#: The K of the schedule's grid (STEPS is smaller when empty steps were dropped).
SCHEDULE_STEPS = {steps}
MIN_TOKENS_PER_STEP = {min_tokens_per_step}
DROP_EMPTY = {drop_empty}
MODEL_CALLS = {model_calls}

#: Tokens revealed at each step of each block (LLaDA's num_transfer_tokens, one list per block).
TOKENS_PER_STEP = {tokens}

#: alpha on one block's time grid t_k = k / {grid_steps} (mdm_ot's convention: t = 0 all masked),
#: for blocks that start with another number of masked positions (tokens_for).
ALPHA_GRID = {alpha_grid}

_TIE_EPS = {tie_eps!r}  # ties of the largest remainder rule: 64 float64 epsilons times n


def _largest_remainder(n):
    """mdm_ot's split of n tokens along ALPHA_GRID: floors of x_k = n (alpha_k - alpha_(k-1)) / span,
    then one more token each to the steps with the largest fractional parts. Ties: sorted by
    decreasing fractional part, neighbours within 64 float64 epsilons times n form one class
    (a chain of near-ties too); classes in decreasing order, the earlier step first in a class."""
    span = ALPHA_GRID[-1] - ALPHA_GRID[0]
    x = [max(n * (hi - lo) / span, 0.0) for lo, hi in zip(ALPHA_GRID[:-1], ALPHA_GRID[1:])]
    base = [math.floor(v) for v in x]
    frac = [v - f for v, f in zip(x, base)]
    extra = n - sum(base)
    tol = _TIE_EPS * max(n, 1)
    by_frac = sorted(range(len(frac)), key=lambda i: -frac[i])  # stable: earlier step first
    cls, level = {{}}, 0
    for prev, i in zip([None] + by_frac[:-1], by_frac):
        if prev is not None and frac[prev] - frac[i] > tol:
            level += 1
        cls[i] = level
    order = sorted(range(len(frac)), key=lambda i: (cls[i], i))
    winners = set(order[:extra])
    return [f + (1 if i in winners else 0) for i, f in enumerate(base)]


def tokens_for(num_masked):
    """Tokens to reveal at each step of a block that starts with num_masked masked positions."""
    num_masked = int(num_masked)
    if num_masked == BLOCK_LENGTH:
        return list(TOKENS_PER_STEP[0])
    if MIN_TOKENS_PER_STEP or DROP_EMPTY:
        raise ValueError(
            f"this table was exported for blocks of {{BLOCK_LENGTH}} masked positions with "
            f"--min-tokens-per-step/--drop-empty; got a block with {{num_masked}}: export for that length")
    if num_masked < 0:
        raise ValueError(f"the number of masked positions must be >= 0, got {{num_masked}}")
    return _largest_remainder(num_masked)


def get_num_transfer_tokens(mask_index, steps):
    """Drop-in for LLaDA's get_num_transfer_tokens(mask_index, steps): a (batch, steps) int64
    tensor on mask_index's device; row i splits row i's masked positions over the steps."""
    import torch

    if int(steps) != STEPS_PER_BLOCK:
        raise ValueError(
            f"this table has {{STEPS_PER_BLOCK}} steps per block, got steps={{steps}} per block: call generate() "
            f"with steps={{STEPS}}, gen_length={{LENGTH}}, block_length={{BLOCK_LENGTH}}, or export for your sizes")
    rows = [tokens_for(n) for n in mask_index.sum(dim=1).tolist()]
    out = torch.tensor(rows, dtype=torch.int64, device=mask_index.device)
    return out.reshape(len(rows), STEPS_PER_BLOCK)
'''

_DREAM_USE = """
  In Dream's generation_utils.py, DreamGenerationMixin._sample, replace the line
    timesteps = torch.linspace(1, eps, steps + 1, device=x.device)
  by
    import {module}
    timesteps = {module}.timesteps(steps, eps, device=x.device)
  and generate with steps={steps}, max_new_tokens={length}. Dream's 'origin' algorithm reveals each
  masked token with probability 1 - s/t; the other algorithms reveal floor(n (1 - s/t)) of the n
  still masked tokens (DREAM_TOKENS_PER_STEP for n = L at the start); both end by revealing the rest.
"""

_DREAM_BODY = '''
SPEC = {spec!r}
LENGTH = {length}
STEPS = {steps}
#: Dream calls the model at every step, also at steps that reveal nothing.
MODEL_CALLS = STEPS

#: Dream's timesteps: the mask ratio 1 - alpha(k / K), k = 0..K, from 1 (all masked) to 0 (data).
TIMESTEPS = {timesteps}

#: Tokens Dream's count algorithms reveal with TIMESTEPS from L masked tokens (its rule,
#: floor of n (1 - s / t) of the n still masked, everything at the last step; float64).
DREAM_TOKENS_PER_STEP = {dream_counts}


def timesteps(steps, eps=None, device=None, dtype=None):
    """The tensor to use where Dream builds torch.linspace(1, eps, steps + 1). eps is ignored:
    the grid ends at 0 (Dream's last step reveals every remaining token whatever its end)."""
    import torch

    if int(steps) != STEPS:
        raise ValueError(f"these timesteps were exported for steps={{STEPS}}, got steps={{steps}}: export again")
    return torch.tensor(TIMESTEPS, dtype=dtype or torch.float64, device=device)
'''


def render_llada(f: dict, table: dict, formula: str, module: str) -> str:
    """The LLaDA file (``f``: ``table_fields(table)``; ``module``: its import name in the usage)."""
    rows = [[int(c) for c in row] for row in table["tokens_per_block_step"]]
    if any(row != rows[0] for row in rows):
        raise ValueError("LLaDA's get_num_transfer_tokens does not know the block index, so every block must have "
                         "the same counts")
    alpha_grid = table["alpha_grid"]
    use = _LLADA_USE.format(module=module, **f)
    rounding = (f"{f['rounding']}. The table is exact for blocks of {f['block_length']} masked positions (LLaDA's "
                "case); tokens_for(n) applies the same rule to other n (only without --min-tokens-per-step and "
                "--drop-empty).")
    body = _LLADA_BODY.format(tokens=repr(rows), alpha_grid=floats(alpha_grid), grid_steps=len(alpha_grid) - 1,
                              tie_eps=_TIE_EPS, **f)
    return header("llada", f, formula, rounding=rounding, use=use) + "\nimport math\n" + body


def dream_counts(mask_ratio: list[float], length: int) -> list[int]:
    """Tokens that Dream's count algorithms reveal from ``length`` masked tokens with
    ``timesteps = mask_ratio`` (our transcription of its rule, in float64)."""
    n, out = length, []
    steps = len(mask_ratio) - 1
    for i in range(steps):
        t, s = mask_ratio[i], mask_ratio[i + 1]
        c = int(n * (1 - s / t)) if i < steps - 1 else n
        out.append(c)
        n -= c
    return out


def render_dream(f: dict, table: dict, formula: str, module: str) -> str:
    """The Dream file."""
    ratio = [float(r) for r in table["mask_ratio_grid"]]
    use = _DREAM_USE.format(module=module, **f)
    counts = dream_counts(ratio, f["length"])
    rounding = ("Dream's own, not mdm_ot's: each step reveals floor(n (1 - s/t)) of the n tokens still masked "
                "(t, s: consecutive timesteps), the last step the rest; with these timesteps and L tokens "
                f"that is {counts} ({sum(1 for c in counts if c)} of {len(counts)} steps reveal a token; Dream calls "
                "the model at all of them).")
    body = _DREAM_BODY.format(timesteps=floats(ratio), dream_counts=repr(counts), **f)
    return header("dream", f, formula, rounding=rounding, use=use) + body

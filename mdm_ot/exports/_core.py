r"""What every native file shares: its header, the format-specific size rules, and the fields
of the export table it reads.

The header is the module docstring of the generated file: the command that made it, the
schedule, mdm_ot's convention and the file's own, the sizes, the rounding, the model calls
and how to use it. Numbers are inlined with ``repr`` (shortest round-trip form), so a float
in the file is bit-for-bit the float64 that mdm_ot computed.

References:
  docs/export.md (per ecosystem: where the file goes, time direction, rounding).
"""

from __future__ import annotations

import dataclasses

__all__ = ["NATIVE_FORMATS", "Ecosystem", "check_native", "command_line", "floats", "header", "table_fields"]

#: mdm_ot's time convention, as the export table states it.
OUR_CONVENTION = "t = 0 all masked, t = 1 data; alpha(t) = P(a token is unmasked)"


@dataclasses.dataclass(frozen=True)
class Ecosystem:
    """What a native format targets: its name, its time convention, whether its sampler has
    semi-autoregressive blocks, and whether the file carries mdm_ot's integer table (so that
    ``--min-tokens-per-step`` and ``--drop-empty`` mean something)."""

    title: str
    convention: str
    blocks: bool
    integer_table: bool


NATIVE_FORMATS: dict[str, Ecosystem] = {
    "llada": Ecosystem("LLaDA (ML-GSAI/LLaDA, generate.py)",
                       "integer counts only: no time axis (the table follows mdm_ot's order, first step first)",
                       blocks=True, integer_table=True),
    "dream": Ecosystem("Dream (Dream-org/Dream, generation_utils.py)",
                       "Dream's timesteps are mask ratios 1 - alpha, from 1 (all masked) down to 0 (data)",
                       blocks=False, integer_table=False),
    "dllm": Ecosystem("dllm (ZHZisZZ/dllm, dllm/core/schedulers/alpha.py)",
                      "dllm's: alpha(0) = 1 (clean at i = 0), alpha(1) = 0; alpha_dllm(i) = alpha(1 - i)",
                      blocks=True, integer_table=False),
    "mdlm": Ecosystem("MDLM (kuleshov-group/mdlm, noise_schedule.py)",
                      "MDLM's: t = 0 clean, t = 1 noise; total noise sigma(t) = -log(EPS + (1 - EPS) alpha(1 - t))",
                      blocks=False, integer_table=False),
    "md4": Ecosystem("MD4 (google-deepmind/md4, md4/models/diffusion/md4.py)",
                     "MD4's: t = 0 clean (alpha = 1), t = 1 all masked; alpha_md4(t) = alpha(1 - t)",
                     blocks=False, integer_table=False),
    "flow_matching": Ecosystem(
        "flow_matching (facebookresearch/flow_matching, discrete solver)",
        "flow_matching's kappa_t = alpha(t): the same direction as mdm_ot (t = 0 source = all masked, t = 1 data)",
        blocks=False, integer_table=False),
}

_IMPORTS = {
    "llada": "torch only inside get_num_transfer_tokens (the constants and tokens_for need nothing)",
    "dream": "torch only inside timesteps() (the constants need nothing)",
    "dllm": "torch and dllm's BaseAlphaScheduler",
    "mdlm": "torch",
    "md4": "jax, MD4's own dependency",
    "flow_matching": "torch and flow_matching's ConvexScheduler, SchedulerOutput",
}

_DEFAULT_NAMES = {"length": "length", "block_length": "block_length",
                  "min_tokens_per_step": "min_tokens_per_step", "drop_empty": "drop_empty"}


def check_native(fmt: str, *, length: int, block_length: int | None, min_tokens_per_step: int = 0,
                 drop_empty: bool = False, names: dict[str, str] | None = None) -> None:
    """Raise ValueError (starting with the offending option's name, from ``names``) when the
    sizes or options do not fit the target sampler of ``fmt``."""
    names = {**_DEFAULT_NAMES, **(names or {})}
    if fmt not in NATIVE_FORMATS:
        raise ValueError(f"unknown native format {fmt!r}; allowed: {', '.join(NATIVE_FORMATS)}")
    eco = NATIVE_FORMATS[fmt]
    if not eco.blocks and block_length not in (None, length):
        raise ValueError(f"{names['block_length']}: {eco.title.split(' (')[0]}'s sampler has no blocks, got "
                         f"{block_length} < {names['length']} {length}; allowed: omit it or give the length")
    if not eco.integer_table:
        why = (f"{fmt} does not carry mdm_ot's integer table (its sampler rounds by its own rule); allowed "
               "with json, npy, llada")
        if min_tokens_per_step:
            raise ValueError(f"{names['min_tokens_per_step']}: {why}")
        if drop_empty:
            raise ValueError(f"{names['drop_empty']}: {why}")


def table_fields(table: dict) -> dict:
    """The export table's fields a header needs, with the names the native files use.

    ``table_steps_per_block`` is the number of steps a sampler runs per block with the
    table: ``steps_per_block`` of the K-step schedule, fewer with ``drop_empty``.
    """
    kept = len(table["tokens_per_block_step"][0])
    return {
        "spec": table["spec"],
        "length": int(table["length"]),
        "steps": int(table["steps"]),
        "block_length": int(table["block_length"]),
        "num_blocks": int(table["num_blocks"]),
        "steps_per_block": int(table["steps_per_block"]),
        "table_steps_per_block": kept,
        "table_steps": kept * int(table["num_blocks"]),
        "min_tokens_per_step": int(table["min_tokens_per_step"]),
        "drop_empty": bool(table["drop_empty"]),
        "model_calls": int(table["model_calls"]),
        "model_calls_per_block": [int(c) for c in table["model_calls_per_block"]],
        "rounding": table["rounding"]["description"],
    }


def floats(values) -> str:
    """A Python list literal of floats, each in its shortest round-trip form."""
    return "[" + ", ".join(repr(float(v)) for v in values) + "]"


def command_line(fmt: str, f: dict) -> str:
    """The ``mdm-ot export`` command that reproduces a file (spec as printed by mdm_ot)."""
    cmd = f"mdm-ot export --format {fmt} --alpha {f['spec']} --length {f['length']} --steps {f['steps']}"
    if f["num_blocks"] > 1:
        cmd += f" --block-length {f['block_length']}"
    if f["min_tokens_per_step"]:
        cmd += f" --min-tokens-per-step {f['min_tokens_per_step']}"
    if f["drop_empty"]:
        cmd += " --drop-empty"
    return cmd + " --out FILE"


def header(fmt: str, f: dict, formula: str, *, rounding: str, use: str) -> str:
    """The generated file's docstring (a raw string: formulas may hold backslashes)."""
    eco = NATIVE_FORMATS[fmt]
    blocks = (f"{f['num_blocks']} blocks of {f['block_length']} tokens, {f['steps_per_block']} steps per block"
              if f["num_blocks"] > 1 else "one block")
    calls = ", ".join(str(c) for c in f["model_calls_per_block"])
    lines = [
        f"Mask schedule {f['spec']} for {eco.title}. Generated by mdm_ot; re-export rather than edit.",
        "",
        f"Command: {command_line(fmt, f)}",
        f"Schedule: {f['spec']}: {formula} (parameters below at full precision).",
        f"mdm_ot's convention: {OUR_CONVENTION}.",
        f"This file's convention: {eco.convention}.",
        f"Sizes: L = {f['length']} tokens, K = {f['steps']} steps in all, {blocks}.",
        f"Rounding: {rounding}",
        f"Model calls (steps of mdm_ot's table that reveal at least one token): {f['model_calls']} in all; per "
        f"block {calls}. Options: min_tokens_per_step = {f['min_tokens_per_step']}, drop_empty = {f['drop_empty']}.",
        "",
        "Use:",
        *use.strip("\n").splitlines(),
        "",
        f"Imports nothing from mdm_ot; {_IMPORTS[fmt]}. Every constant is inlined.",
    ]
    return 'r"""' + "\n".join(lines).replace('"""', "'''") + '\n"""\n'

#!/usr/bin/env python3
"""A LLaDA-style evaluator for ``mdm-ot tune --command``: a template to adapt, not run as is.

``mdm-ot tune`` runs it once per trial with an evaluation request (JSON) on stdin:

    mdm-ot tune --command 'python llada_evaluator.py --benchmark gsm8k.jsonl' \\
        --steps 64 --grid paper --two-stage --coarse-size 32 --fine-size 128 \\
        --workers 4 --worker-env 'CUDA_VISIBLE_DEVICES=0;CUDA_VISIBLE_DEVICES=1;CUDA_VISIBLE_DEVICES=2;CUDA_VISIBLE_DEVICES=3'

It reads the request, turns the schedule's ``alpha_grid`` into the tokens revealed at each
step of each block (the largest remainder rule of ``mdm_ot.sampling.transfer_counts``,
re-implemented here so that the script needs only NumPy and PyTorch), generates answers for
``subset_size`` benchmark items chosen with ``seed`` (a smaller subset is a prefix of a larger
one), scores them and prints ``{"score": ..., ...}`` as the LAST line of stdout. Logs go to
stderr. What you change: :func:`load_model`, :func:`score_answer`, the prompt format in
:func:`encode_prompt`, and the constants below.

The generation loop follows LLaDA's semi-autoregressive count sampler (Nie et al., "Large
Language Diffusion Models", arXiv:2502.09992; ``generate.py`` of ML-GSAI/LLaDA): the answer
is cut into blocks of ``--block-length`` tokens, each block starts fully masked, and step
``k`` of a block reveals the ``counts[k]`` masked positions of that block with the highest
confidence (temperature 0). Only the counts differ from LLaDA's (linear) split; a step with
0 tokens needs no forward pass and is skipped (the request's ``model_calls`` counts the
others). Written for this project; not LLaDA's code.

``--dry-run`` prints the plan (counts per block and step, chosen items) as JSON on stdout
and stops before anything imports PyTorch: check a request before spending GPU time.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

# ----------------------------------------------------------------------------- settings
MODEL_NAME = "GSAI-ML/LLaDA-8B-Instruct"  # any Hugging Face masked diffusion LM
MASK_ID = 126336  # LLaDA's [MASK] token id; Dream, MDLM... use their own
GEN_LENGTH = 256  # answer tokens per item
BLOCK_LENGTH = 32  # semi-autoregressive block; GEN_LENGTH for a single block


# ----------------------------------------------------------------------------- request


def read_request(text: str) -> dict:
    """Parse and check the request fields this script uses; ValueError says what is wrong."""
    try:
        req = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the request is not JSON: {exc}") from None
    if not isinstance(req, dict):
        raise ValueError("the request must be a JSON object")
    steps = req.get("steps")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    alpha = req.get("alpha_grid")
    if not isinstance(alpha, list) or len(alpha) != steps + 1:
        raise ValueError(f"alpha_grid must hold steps + 1 = {steps + 1} numbers")
    a = np.asarray(alpha, dtype=np.float64)
    if not np.all(np.isfinite(a)) or np.any(np.diff(a) < 0) or not a[-1] > a[0]:
        raise ValueError("alpha_grid must be finite and increase from t = 0 to t = 1")
    size = req.get("subset_size")
    if size is not None and (not isinstance(size, int) or size < 1):
        raise ValueError(f"subset_size must be null or an integer >= 1, got {size!r}")
    return req


def transfer_counts(alpha_grid, num_masked: int) -> np.ndarray:
    r"""Tokens revealed at each step when ``num_masked`` positions start masked.

    :math:`x_k = n (\alpha_k - \alpha_{k-1}) / (\alpha_K - \alpha_0)`; every step gets
    :math:`\lfloor x_k \rfloor` and the tokens left over go one each to the steps with the
    largest fractional parts, ties (to 9 decimals) to the earlier step. The counts sum to
    ``num_masked``; for the linear schedule this is LLaDA's split (``n // K`` per step, one
    more for each of the first ``n % K`` steps).
    """
    a = np.asarray(alpha_grid, dtype=np.float64)
    x = num_masked * np.diff(a) / (a[-1] - a[0])
    base = np.floor(x)
    extra = int(round(num_masked - base.sum()))
    frac = np.round(x - base, 9)
    order = np.argsort(-frac, kind="stable")  # largest first; a stable sort keeps ties in step order
    counts = base.astype(np.int64)
    counts[order[:extra]] += 1
    return counts


def block_counts(alpha_grid, gen_length: int, block_length: int) -> np.ndarray:
    """``[num_blocks, steps_per_block]`` counts: each block runs the whole schedule.

    With ``K`` steps and ``B = gen_length / block_length`` blocks, a block has ``K / B``
    steps at times ``j / (K / B)``, which are every ``B``-th point of the request's K-step
    grid: its alpha values are ``alpha_grid[::B]``.
    """
    steps = len(alpha_grid) - 1
    if gen_length % block_length:
        raise ValueError(f"the block length {block_length} must divide the length {gen_length}")
    blocks = gen_length // block_length
    if steps % blocks:
        raise ValueError(f"{steps} steps cannot be split over {blocks} blocks; "
                         f"use a multiple of {blocks} steps")
    row = transfer_counts(np.asarray(alpha_grid, np.float64)[::blocks], block_length)
    return np.tile(row, (blocks, 1))


def choose_items(num_items: int, subset_size: int | None, seed: int) -> list[int]:
    """``subset_size`` item indices (all when None) from a permutation fixed by ``seed``:
    the stage-1 subset is a prefix of the stage-2 subset, and every trial of a stage sees
    the same items (common random numbers)."""
    order = np.random.default_rng(seed).permutation(num_items)
    n = num_items if subset_size is None else min(subset_size, num_items)
    return [int(i) for i in order[:n]]


def load_benchmark(path: str) -> list[dict]:
    """One JSON object per line with ``prompt`` and ``answer`` (adapt to your benchmark)."""
    with open(path) as fh:
        items = [json.loads(line) for line in fh if line.strip()]
    if not items:
        raise ValueError(f"{path}: no items")
    return items


def score_answer(generated: str, answer: str) -> float:
    """1 if the last number in the generated text equals the answer (GSM8K style), else 0.
    Replace with your benchmark's metric."""
    import re

    numbers = re.findall(r"-?\d[\d,]*\.?\d*", generated)
    if not numbers:
        return 0.0
    return float(numbers[-1].replace(",", "").rstrip(".") == str(answer).replace(",", "").strip())


# ----------------------------------------------------------------------------- the model (PyTorch)


def load_model(device: str):
    """The tokenizer and the model (Hugging Face ``transformers``; LLaDA needs trust_remote_code)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(MODEL_NAME, trust_remote_code=True)
    model = AutoModel.from_pretrained(MODEL_NAME, trust_remote_code=True, torch_dtype=torch.bfloat16)
    return tok, model.to(device).eval()


def encode_prompt(tok, prompt: str):
    """The prompt as token ids ``[1, P]`` (LLaDA-Instruct's chat template)."""
    text = tok.apply_chat_template([{"role": "user", "content": prompt}],
                                   add_generation_prompt=True, tokenize=False)
    return tok(text, return_tensors="pt")["input_ids"]


def generate(model, prompt_ids, counts: np.ndarray):
    """Semi-autoregressive count sampling with the given counts ``[blocks, steps_per_block]``."""
    import torch

    blocks, _ = counts.shape
    block_length = GEN_LENGTH // blocks
    device = next(model.parameters()).device
    prompt_ids = prompt_ids.to(device)
    p = prompt_ids.shape[1]
    x = torch.full((1, p + GEN_LENGTH), MASK_ID, dtype=torch.long, device=device)
    x[:, :p] = prompt_ids
    calls = 0
    with torch.no_grad():
        for b in range(blocks):
            lo, hi = p + b * block_length, p + (b + 1) * block_length
            for k in counts[b]:
                if k == 0:
                    continue  # nothing to reveal: no forward pass
                logits = model(x).logits
                calls += 1
                probs = torch.softmax(logits.float(), dim=-1)
                conf, guess = probs.max(dim=-1)  # temperature 0: the most probable token
                masked = x == MASK_ID
                masked[:, :lo] = False
                masked[:, hi:] = False  # only this block's masked positions compete
                conf = torch.where(masked, conf, torch.full_like(conf, -math.inf))
                pick = torch.topk(conf, int(k), dim=-1).indices
                x[0, pick[0]] = guess[0, pick[0]]
    return x[:, p:], calls


# ----------------------------------------------------------------------------- main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--benchmark", required=True, help="JSONL file with prompt and answer")
    parser.add_argument("--device", default="cuda", help="torch device (the engine's --worker-env "
                        "sets CUDA_VISIBLE_DEVICES per worker, so 'cuda' is that worker's GPU)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan (counts, items) as JSON and stop; no PyTorch needed")
    args = parser.parse_args(argv)
    try:
        req = read_request(sys.stdin.read())
        counts = block_counts(req["alpha_grid"], GEN_LENGTH, BLOCK_LENGTH)
        items = load_benchmark(args.benchmark)
    except (ValueError, OSError) as exc:
        print(f"llada_evaluator: {exc}", file=sys.stderr)
        return 2
    chosen = choose_items(len(items), req.get("subset_size"), int(req.get("seed") or 0))
    if args.dry_run:
        print(json.dumps({"schedule": req.get("schedule"), "tokens_per_block_step": counts.tolist(),
                          "items": chosen}))
        return 0

    t0 = time.perf_counter()
    tok, model = load_model(args.device)
    scores, calls = [], 0
    for n, i in enumerate(chosen):
        out, c = generate(model, encode_prompt(tok, items[i]["prompt"]), counts)
        calls += c
        text = tok.batch_decode(out, skip_special_tokens=True)[0]
        scores.append(score_answer(text, items[i]["answer"]))
        print(f"item {n + 1}/{len(chosen)}: {scores[-1]:.0f}", file=sys.stderr)
    mean = float(np.mean(scores))
    se = float(np.std(scores, ddof=1) / math.sqrt(len(scores))) if len(scores) > 1 else 0.0
    print(json.dumps({"score": mean, "score_se": se, "items": len(scores),
                      "forward_passes": calls, "seconds": time.perf_counter() - t0}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: AntiBERTy in JAX: forward pass and K = 16 infilling throughput.

Goals (issue 6): sequences per second of the jit forward pass at batch 64, length 130
(128 residues + [CLS]/[SEP]), and of a K = 16 count-sampler infilling run; where torch and
transformers are importable (never a project dependency: use a throwaway environment),
the logits of ``BertForMaskedLM`` on the same weights (goal: max |difference| <= 1e-3) and
its speed on the same device and threads (goal: JAX at least as fast). Ratios are printed
against torch measured in the same process. Compilation is excluded (one warm-up call).

Needs the weights: ``mdm-ot antibody fetch``. Without them it says so and exits 0.

Run: .venv/bin/python benchmarks/antibody_forward.py [--batch 64] [--length 128] [--repeats 5]
     [--steps 16] [--torch] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

# JAX must not take most of the GPU memory when torch runs in the same process.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402


def _time(fn, repeats):
    fn()  # warm-up (compilation)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--length", type=int, default=128, help="residues (tokens = length + 2)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--torch", action="store_true", help="compare with transformers' BertForMaskedLM")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from mdm_ot.experiments.antibody import fetch, model, tasks

    if fetch.missing_files():
        print("AntiBERTy weights absent: run `mdm-ot antibody fetch` first; nothing measured.")
        return 0
    den = model.load_antiberty()
    rng = np.random.default_rng(0)
    z = rng.integers(0, 20, size=(args.batch, args.length)).astype(np.int32)
    z[rng.random(z.shape) < 0.15] = model.MASK_ID
    zj = jnp.asarray(z)
    out = {"device": str(jax.devices()[0]), "batch": args.batch, "tokens": args.length + 2}

    # default matmul precision (TF32 on recent NVIDIA GPUs) and full float32 ("highest")
    t_fwd = _time(lambda: den(zj).block_until_ready(), args.repeats)
    out["jax_forward_seq_per_s"] = args.batch / t_fwd
    with jax.default_matmul_precision("highest"):
        t_fwd_hi = _time(lambda: den(zj).block_until_ready(), args.repeats)
    out["jax_forward_highest_seq_per_s"] = args.batch / t_fwd_hi

    hidden = rng.random(z.shape) < 0.5
    x = np.where(z == model.MASK_ID, 0, z)
    al, om = tasks.alphas_on_grid(["linear"], args.steps)
    smp = tasks.SAMPLERS[0]
    t_inf = _time(lambda: tasks.infill(den, smp, al, om, x, hidden, jax.random.key(0),
                                       batch_size=args.batch), max(1, args.repeats // 2))
    out[f"jax_infill_K{args.steps}_seq_per_s"] = args.batch / t_inf

    if args.torch:
        try:
            import torch
            from transformers import BertConfig, BertForMaskedLM
        except ImportError as exc:
            out["torch"] = f"not importable: {exc}"
        else:
            cfg = json.loads(fetch.require_file("antiberty/config.json").read_text())
            bert = BertForMaskedLM(BertConfig(**{k: v for k, v in cfg.items() if not k.startswith("_")}))
            state = torch.load(fetch.require_file("antiberty/pytorch_model.bin"),
                               map_location="cpu", weights_only=True)
            keep = {k: v for k, v in state.items() if not k.startswith(("cls.species", "cls.chain", "cls.graft"))}
            bert.load_state_dict(keep, strict=False)
            dev = "cuda" if torch.cuda.is_available() else "cpu"
            bert = bert.to(dev).eval()
            tok, att = model._frame(zj)
            tt = torch.as_tensor(np.array(tok), dtype=torch.long, device=dev)
            ta = torch.as_tensor(np.array(att), dtype=torch.long, device=dev)
            with torch.no_grad():
                ref = bert(input_ids=tt, attention_mask=ta).logits.float().cpu().numpy()
            with jax.default_matmul_precision("highest"):
                mine = np.asarray(den.logits(tok, att))
            out["torch_version"] = torch.__version__
            out["max_abs_logit_diff_highest_precision"] = float(np.abs(mine - ref).max())
            out["max_abs_logit_diff_default_precision"] = float(np.abs(np.asarray(den.logits(tok, att)) - ref).max())

            def run_torch():
                with torch.no_grad():
                    bert(input_ids=tt, attention_mask=ta)
                if dev == "cuda":
                    torch.cuda.synchronize()

            out["torch_threads"] = torch.get_num_threads()
            tf32 = torch.backends.cuda.matmul.allow_tf32
            torch.backends.cuda.matmul.allow_tf32 = False  # float32 like "highest"
            t_torch = _time(run_torch, args.repeats)
            out["torch_forward_seq_per_s"] = args.batch / t_torch
            out["jax_highest_over_torch_fp32_speed"] = t_torch / t_fwd_hi
            if dev == "cuda":  # both at TF32
                torch.backends.cuda.matmul.allow_tf32 = True
                torch.backends.cudnn.allow_tf32 = True
                t_torch32 = _time(run_torch, args.repeats)
                out["torch_forward_tf32_seq_per_s"] = args.batch / t_torch32
                out["jax_default_over_torch_tf32_speed"] = t_torch32 / t_fwd
            torch.backends.cuda.matmul.allow_tf32 = tf32

    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

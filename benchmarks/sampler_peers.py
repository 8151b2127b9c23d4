"""Benchmark: mdm_ot's samplers against the samplers users run today, in one process (issue 14).

Three parts, CPU, float32, the same denoiser, batch and K on both sides, torch and JAX on the
same ``--threads`` CPUs; times are the best of ``--repeats`` runs (at most 2 where AntiBERTy
runs) after a warm-up run (compilation excluded; the warm-up's time is in the JSON): the
whole call for ours and the flow_matching solver, one step for the torch LLaDA loop (nothing
to compile: the same kernels), none for a forward pass compiled ahead.

1. facebookresearch/flow_matching's ``MixtureDiscreteEulerSolver`` with our exported
   scheduler (``mdm-ot export --format flow_matching``, the linear schedule, its K-step
   time grid) against ``sample_stochastic`` (jit/scan), on the ``modes`` toy (table oracle)
   and a Markov chain (Markov oracle). Their model is a torch port of our oracle
   (benchmarks/_peers.py), checked here to give our probabilities on random states.
   Samples per second; goal: ours >= 3x theirs.
2. LLaDA's few-step infilling (low-confidence remasking, temperature 0), written in PyTorch
   from the paper (benchmarks/_peers.py), with transformers' ``BertForMaskedLM`` holding the
   AntiBERTy weights mdm_ot's reader loads, against ``sample_count(order="confidence",
   temperature=0)`` with the linear schedule over our JAX AntiBERTy, on real V domains with
   one masked span. Sequences per second at K = 4, 16, 64; goal >= 1.0x. Both are
   deterministic, so the outputs must be the same tokens: checked (the benchmark exits 1
   when they are not, after the table), with the fraction of identical sequences reported.
3. The samplers' own overhead at batch 256, n = 128 (AntiBERTy's vocabulary). Method: the
   sampler runs K steps with a denoiser that costs almost nothing (a lookup of a fixed
   distribution by the current token, so XLA cannot hoist it out of the loop; its cost is
   counted as overhead), giving the overhead per step ``o``; the real denoiser's forward
   pass alone (jit, compiled ahead) takes ``f``; the share is ``o / (o + f)``. Goal <= 5%
   with AntiBERTy. The same share with the Markov oracle (d = 8) is printed for scale (no goal:
   that oracle costs less than the sampler's own work; the JSON has both times).

A peer that is not installed (torch, flow_matching, transformers: ``pip install -e
'.[bench]'``) is skipped with one line, and so are the AntiBERTy parts without the weights
(``mdm-ot antibody fetch``). ``--quick`` runs every part at toy sizes, with a tiny random
AntiBERTy-shaped model instead of the real weights (the tests run it). Timings taken while
other jobs share the machine are noisy; each ratio is measured within this one run.

Run: .venv/bin/python benchmarks/sampler_peers.py [--quick] [--json PATH] [--repeats N] [--threads N]
     [--parts 1,2,3]
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import platform
import sys
import time

# JAX must not take the memory of an accelerator that torch shares (none on CPU runs).
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/_peers.py

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

FULL = {
    "toy": {"target": "modes", "batch": 256, "steps": 4},
    "markov": {"vocab": 8, "length": 128, "batch": 256, "steps": 32},
    "llada": {"batch": 4, "length": 100, "span": (18, 82), "steps": (4, 16, 64)},
    "overhead": {"batch": 256, "length": 128, "steps": 32, "markov_vocab": 8},
}
QUICK = {
    "toy": {"target": "modes", "batch": 16, "steps": 4},
    "markov": {"vocab": 4, "length": 16, "batch": 8, "steps": 4},
    "llada": {"batch": 3, "length": 12, "span": (2, 10), "steps": (2, 4)},
    "overhead": {"batch": 8, "length": 16, "steps": 4, "markov_vocab": None},
}
#: the tiny AntiBERTy-shaped model of --quick and the tests (AntiBERTy: 512, 8, 8, 2048)
TINY = {"hidden": 16, "layers": 2, "heads": 2, "intermediate": 32, "max_positions": 64}


def _missing(*modules: str) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def _skip(part: str, why: str) -> None:
    print(f"{part}: skipped ({why})")


def _best(fn, repeats: int, warm_up=None):
    """(best of ``repeats`` timed calls, time of the warm-up call, last output). The warm-up
    calls ``fn`` (compilation) or ``warm_up`` (a cheaper call that warms the same kernels;
    ``False``: none, for code compiled ahead)."""
    t = time.perf_counter()
    out = None
    if warm_up is None:
        out = jax.block_until_ready(fn())
    elif warm_up is not False:
        jax.block_until_ready(warm_up())
    first = time.perf_counter() - t
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        out = jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t)
    return best, first, out


def _row(case, ours, peer, unit, goal, met, ratio=None, **details):
    return {"case": case, "ours": ours, "peer": peer, "unit": unit, "ratio": ratio, "goal": goal,
            "met": met, **details}


def random_bert_state(rng, *, hidden, layers, intermediate, max_positions, vocab=25, type_vocab=2):
    """A random BERT masked-LM state dict (HuggingFace names, float32 numpy), scaled so that
    its per-position distributions are far from uniform (few near-ties of confidence)."""

    def w(out_dim, in_dim, gain=1.0):
        return (rng.normal(size=(out_dim, in_dim)) * gain / np.sqrt(in_dim)).astype(np.float32)

    def v(size, loc=0.0, scale=0.1):
        return (loc + scale * rng.normal(size=size)).astype(np.float32)

    state = {
        "bert.embeddings.word_embeddings.weight": v((vocab, hidden), scale=1.0),
        "bert.embeddings.position_embeddings.weight": v((max_positions, hidden), scale=0.5),
        "bert.embeddings.token_type_embeddings.weight": v((type_vocab, hidden), scale=0.5),
        "bert.embeddings.LayerNorm.weight": v(hidden, 1.0), "bert.embeddings.LayerNorm.bias": v(hidden),
        "cls.predictions.transform.dense.weight": w(hidden, hidden),
        "cls.predictions.transform.dense.bias": v(hidden),
        "cls.predictions.transform.LayerNorm.weight": v(hidden, 1.0),
        "cls.predictions.transform.LayerNorm.bias": v(hidden),
        "cls.predictions.decoder.weight": w(vocab, hidden, gain=3.0),
        "cls.predictions.bias": v(vocab, scale=0.5),
    }
    for i in range(layers):
        p = f"bert.encoder.layer.{i}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            state[p + name + ".weight"], state[p + name + ".bias"] = w(hidden, hidden, 2.0), v(hidden)
        state[p + "intermediate.dense.weight"], state[p + "intermediate.dense.bias"] = w(intermediate, hidden), v(intermediate)
        state[p + "output.dense.weight"], state[p + "output.dense.bias"] = w(hidden, intermediate), v(hidden)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            state[p + ln + ".weight"], state[p + ln + ".bias"] = v(hidden, 1.0), v(hidden)
    return state


def tiny_antiberty(seed: int = 0):
    """(state dict, BertConfig) of a tiny random AntiBERTy-shaped model."""
    from mdm_ot.experiments.antibody.model import BertConfig

    state = random_bert_state(np.random.default_rng(seed), hidden=TINY["hidden"], layers=TINY["layers"],
                              intermediate=TINY["intermediate"], max_positions=TINY["max_positions"])
    config = BertConfig(hidden_size=TINY["hidden"], num_layers=TINY["layers"], num_heads=TINY["heads"],
                        intermediate_size=TINY["intermediate"], max_positions=TINY["max_positions"])
    return state, config


def _antiberty(quick: bool):
    """(state dict, AntibertyDenoiser, source) or None when the real weights are absent."""
    from mdm_ot.experiments.antibody import fetch, model, torchzip

    if quick:
        state, config = tiny_antiberty()
        source = "tiny random AntiBERTy-shaped model"
    else:
        if fetch.missing_files():
            return None
        state = torchzip.load_state_dict(fetch.require_file("antiberty/pytorch_model.bin"))
        config = model.BertConfig.from_json(fetch.require_file("antiberty/config.json"))
        source = "AntiBERTy 0.1.3 weights"
    return state, model.AntibertyDenoiser(model.params_from_state_dict(state, config), config), source


# ----------------------------------------------------------------------------- part 1

def part_flow_matching(cfg, repeats, rows, quick):
    missing = _missing("torch", "flow_matching")
    if missing:
        return _skip("flow_matching peer", f"{', '.join(missing)} not installed: pip install -e '.[bench]'")
    import _peers
    import torch
    from flow_matching.path import MixtureDiscreteProbPath
    from flow_matching.solver import MixtureDiscreteEulerSolver

    from mdm_ot.sampling import initial_state, markov_oracle, sample_stochastic, table_oracle
    from mdm_ot.schedules import Linear
    from mdm_ot.tuning import toy_target

    rng = np.random.default_rng(0)
    for case in ("toy", "markov"):
        c = cfg[case]
        if case == "toy":
            q = np.asarray(toy_target(c["target"]), np.float64)
            n, d = q.ndim, q.shape[0]
            ours, port = table_oracle(q.astype(np.float32)), _peers.TorchTableOracle(q)
            label = f"toy '{c['target']}' (n={n}, d={d}, table oracle)"
        else:
            n, d = c["length"], c["vocab"]
            init, trans = rng.dirichlet(np.ones(d)), rng.dirichlet(np.full(d, 0.5), size=d)
            ours = markov_oracle(init.astype(np.float32), trans.astype(np.float32))
            port = _peers.TorchMarkovOracle(init, trans, n)
            label = f"Markov (n={n}, d={d}, Markov oracle)"
        z = rng.integers(0, d, size=(256, n))
        z[rng.random(z.shape) < rng.random((256, 1))] = d  # every mask rate from 0 to 1
        port_err = float(np.abs(np.asarray(ours(jnp.asarray(z, jnp.int32))) - port(torch.as_tensor(z)).numpy()).max())
        if not port_err <= 1e-5:
            raise AssertionError(f"{label}: the torch port differs from our oracle by {port_err:.3g}")

        batch, steps = c["batch"], c["steps"]
        fm = _peers.exported_scheduler("linear", n, steps)
        solver = MixtureDiscreteEulerSolver(model=_peers.flow_matching_model(port),
                                            path=MixtureDiscreteProbPath(fm.MdmOtScheduler()), vocabulary_size=d + 1)
        x0 = torch.full((batch, n), d, dtype=torch.long)
        z0 = initial_state(n, d, batch=batch)
        t_theirs, first_theirs, x_theirs = _best(
            functools.partial(solver.sample, x_init=x0, step_size=None, time_grid=fm.time_grid()), repeats)
        t_ours, first_ours, x_ours = _best(
            functools.partial(sample_stochastic, ours, Linear(), jax.random.key(0), z0, num_steps=steps), repeats)
        if int((x_theirs == d).sum()) or int(jnp.sum(x_ours == d)):
            raise AssertionError(f"{label}: a sampler left masks")
        ratio = t_theirs / t_ours
        rows.append(_row(f"flow_matching Euler vs sample_stochastic, {label}, batch {batch}, K={steps}",
                         batch / t_ours, batch / t_theirs, "samples/s", ">= 3x", ratio >= 3, ratio,
                         seconds_ours=t_ours, seconds_peer=t_theirs, warm_up_seconds_ours=first_ours,
                         warm_up_seconds_peer=first_theirs, torch_port_max_abs_err=port_err,
                         schedule="linear (exported flow_matching scheduler, K-step grid)"))


# ----------------------------------------------------------------------------- part 2

def _infill_batch(c, quick):
    """``[batch, L]`` sequences and the masked span: real V domains when available."""
    from mdm_ot.experiments.antibody import data

    rng = np.random.default_rng(1)
    x, source = None, "random amino acids"
    if not quick:
        try:
            recs = [r for r in data.v_domains(data.load_germlines()) if len(r.sequence) >= c["length"]]
        except (OSError, ValueError):
            recs = []
        if len(recs) >= c["batch"]:
            pick = np.linspace(0, len(recs) - 1, c["batch"]).astype(int)
            x = np.asarray(data.batch([recs[i] for i in pick]))[:, : c["length"]]
            source = f"ANARCI germline V domains (first {c['length']} residues)"
    if x is None:
        x = rng.integers(0, 20, size=(c["batch"], c["length"]))
    hidden = np.zeros(x.shape, bool)
    hidden[:, c["span"][0]:c["span"][1]] = True
    return x.astype(np.int32), hidden, source


def part_llada(cfg, repeats, rows, quick):
    missing = _missing("torch", "transformers")
    if missing:
        return _skip("LLaDA peer", f"{', '.join(missing)} not installed: pip install -e '.[bench]'")
    loaded = _antiberty(quick)
    if loaded is None:
        return _skip("LLaDA peer", "AntiBERTy weights absent: run `mdm-ot antibody fetch`")
    import _peers
    import torch

    from mdm_ot.experiments.antibody.model import MASK_ID
    from mdm_ot.sampling import sample_count
    from mdm_ot.schedules import Linear

    state, den, model_source = loaded
    bert = _peers.hf_bert(state, num_heads=den.config.num_heads, layer_norm_eps=den.config.layer_norm_eps)
    c = cfg["llada"]
    x, hidden, data_source = _infill_batch(c, quick)
    z0 = np.where(hidden, MASK_ID, x).astype(np.int32)
    zj, zt = jnp.asarray(z0), torch.as_tensor(z0, dtype=torch.long)
    repeats = min(repeats, 2)  # a K = 64 run takes tens of seconds on 2 cores
    for steps in c["steps"]:
        # torch compiles nothing: its warm-up is one step (the same kernels), not K
        t_theirs, first_theirs, x_theirs = _best(functools.partial(_peers.llada_infill, bert, zt, steps), repeats,
                                                 warm_up=functools.partial(_peers.llada_infill, bert, zt, 1))
        t_ours, first_ours, x_ours = _best(
            functools.partial(sample_count, den, Linear(), jax.random.key(0), zj, num_steps=steps,
                              order="confidence", temperature=0.0), repeats)
        x_theirs, x_ours = x_theirs.numpy(), np.asarray(x_ours)
        same_rows = float(np.mean(np.all(x_ours == x_theirs, axis=1)))
        same_tokens = float(np.mean((x_ours == x_theirs)[hidden]))
        ratio = t_theirs / t_ours
        where = (f"{model_source}, {data_source}, batch {c['batch']}, L={c['length']}, "
                 f"{int(hidden[0].sum())} masked")
        rows.append(_row(f"LLaDA loop (torch BertForMaskedLM) vs sample_count confidence, K={steps}",
                         c["batch"] / t_ours, c["batch"] / t_theirs, "sequences/s", ">= 1.0x", ratio >= 1.0, ratio,
                         seconds_ours=t_ours, seconds_peer=t_theirs, warm_up_seconds_ours=first_ours,
                         warm_up_seconds_peer=first_theirs, setting=where))
        rows.append(_row(f"LLaDA loop vs sample_count, K={steps}: same tokens at temperature 0",
                         same_rows, None, "fraction of identical sequences", "= 1", same_rows == 1.0,
                         masked_token_agreement=same_tokens, setting=where, assertion=True))


# ----------------------------------------------------------------------------- part 3

def part_overhead(cfg, repeats, rows, quick):
    from mdm_ot.sampling import initial_state, markov_oracle, sample_count, sample_stochastic
    from mdm_ot.schedules import Linear

    c = cfg["overhead"]
    batch, n, steps = c["batch"], c["length"], c["steps"]
    rng = np.random.default_rng(2)
    loaded = _antiberty(quick)
    denoisers = []
    if loaded is None:
        _skip("overhead with AntiBERTy", "AntiBERTy weights absent: run `mdm-ot antibody fetch`")
    else:
        denoisers.append(("AntiBERTy" + (" (tiny random)" if quick else ""), loaded[1], 20, True))
    dm = c["markov_vocab"]
    if dm:  # for scale, full runs only
        markov = markov_oracle(rng.dirichlet(np.ones(dm)).astype(np.float32),
                               rng.dirichlet(np.full(dm, 0.5), size=dm).astype(np.float32))
        denoisers.append((f"Markov oracle d={dm}", markov, dm, False))
    samplers = (
        ("stochastic", lambda den, z0: sample_stochastic(den, Linear(), jax.random.key(0), z0, num_steps=steps)),
        ("count, random", lambda den, z0: sample_count(den, Linear(), jax.random.key(0), z0, num_steps=steps)),
        ("count, confidence, T=0", lambda den, z0: sample_count(den, Linear(), jax.random.key(0), z0, num_steps=steps,
                                                                order="confidence", temperature=0.0)),
    )
    for name, den, d, goal in denoisers:
        z0 = initial_state(n, d, batch=batch)
        z_mid = np.asarray(rng.integers(0, d, size=(batch, n)), np.int32)
        z_mid[rng.random(z_mid.shape) < 0.5] = d
        z_mid = jnp.asarray(z_mid)
        forward = jax.jit(lambda den, z: den(z)).lower(den, z_mid).compile()
        # compiled ahead, so no warm-up run (a real AntiBERTy forward at batch 256 takes ~40 s on 2 cores)
        t_forward = _best(functools.partial(forward, den, z_mid), 1 if goal else repeats, warm_up=False)[0]
        table = jnp.asarray(rng.dirichlet(np.ones(d), size=d + 1), jnp.float32)  # [d + 1, d]

        def free(z, table=table):
            return table[z]

        for sampler, run in samplers:
            t_free, first, _ = _best(functools.partial(run, free, z0), repeats)
            per_step = t_free / steps
            share = per_step / (per_step + t_forward)
            rows.append(_row(f"sampler overhead, {sampler}, {name}, batch {batch}, n={n}, K={steps}",
                             share, None, "share of a step", "<= 5%" if goal else "none (scale)",
                             share <= 0.05 if goal else None, seconds_per_step_overhead=per_step,
                             seconds_denoiser_forward=t_forward, warm_up_seconds=first,
                             method="o / (o + f): o = K-step run with a lookup denoiser / K, f = forward alone"))


# ----------------------------------------------------------------------------- main

def _fmt(v, unit):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if unit == "share of a step":
        return f"{100 * v:.2f}%"
    if unit.startswith("fraction"):
        return f"{v:.3f}"
    return f"{v:.4g}"


def print_table(rows):
    print(f"{'case':<100} {'ours':>10} {'peer':>10} {'ratio':>7} {'goal':>13} {'met':>5}")
    for r in rows:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        met = "-" if r["met"] is None else ("yes" if r["met"] else "NO")
        print(f"{r['case'][:100]:<100} {_fmt(r['ours'], r['unit']):>10} {_fmt(r['peer'], r['unit']):>10} "
              f"{ratio:>7} {r['goal']:>13} {met:>5}")


def main(argv=None) -> int:
    from mdm_ot._io import check_output_file
    from mdm_ot.cli._args import integer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="toy sizes and a tiny random AntiBERTy (smoke run)")
    ap.add_argument("--json", metavar="PATH", help="also write the rows and the settings to PATH")
    ap.add_argument("--repeats", type=integer("--repeats", 1, 100), default=None,
                    help="timed runs per case, best kept (default 3; 1 with --quick; at most 2 for AntiBERTy)")
    ap.add_argument("--threads", type=integer("--threads", 1, 1024), default=2,
                    help="torch threads, and the CPUs this process may use (default 2)")
    ap.add_argument("--parts", default="1,2,3", help="which parts to run, e.g. 1,3 (default all)")
    args = ap.parse_args(argv)
    parts = set(args.parts.split(","))
    if not parts <= {"1", "2", "3"}:
        print(f"sampler_peers: error: --parts: {args.parts!r}; allowed: comma-separated 1, 2, 3", file=sys.stderr)
        return 2
    if args.json:
        try:
            check_output_file(args.json, "--json")
        except ValueError as exc:
            print(f"sampler_peers: error: {exc}", file=sys.stderr)
            return 2
    repeats = args.repeats or (1 if args.quick else 3)
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if cpus is not None and len(cpus) > args.threads:
        # JAX's thread pool, made on its first computation, follows the CPUs this process
        # may use: the same number for both sides (restored at the end, for callers)
        os.sched_setaffinity(0, sorted(cpus)[: args.threads])
    try:
        return _run(args, parts, repeats)
    finally:
        if cpus is not None:
            os.sched_setaffinity(0, cpus)


def _run(args, parts, repeats) -> int:
    from mdm_ot._io import atomic_file

    if not _missing("torch"):
        import torch

        torch.set_num_threads(args.threads)
    cfg = QUICK if args.quick else FULL
    rows = []
    load = os.getloadavg()
    t0 = time.perf_counter()
    part_seconds = {}
    for part, run in (("1", part_flow_matching), ("2", part_llada), ("3", part_overhead)):
        if part in parts:
            t = time.perf_counter()
            run(cfg, repeats, rows, args.quick)
            part_seconds[part] = time.perf_counter() - t
    print_table(rows)
    out = {"rows": rows, "settings": cfg, "quick": args.quick, "repeats": repeats, "threads": args.threads,
           "cpus": os.cpu_count(), "cpus_used": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
           "load_average_at_start": load, "load_average_at_end": os.getloadavg(),
           "seconds": time.perf_counter() - t0, "part_seconds": part_seconds, "backend": jax.default_backend(),
           "jax": jax.__version__, "python": platform.python_version()}
    if not _missing("torch"):
        out["torch"] = torch.__version__
    if args.json:
        with atomic_file(args.json) as fh:
            fh.write(json.dumps(out, allow_nan=False, default=float) + "\n")
    broken = [r["case"] for r in rows if r.get("assertion") and not r["met"]]
    if broken:
        print(f"sampler_peers: the outputs differ: {broken}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

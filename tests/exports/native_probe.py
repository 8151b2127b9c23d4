"""Imports generated native files the way their users would, and reports what they compute.

Run as a script by tests/exports/test_native_files.py (not collected by pytest): it reads a
JSON request on stdin, makes the modules named in ``block`` unimportable (``mdm_ot``, ``jax``,
and ``torch`` where the ecosystem does without it), stands in for the upstream packages that
do not install (dllm's scheduler base, flow_matching's scheduler base, when not importable)
with transcriptions of their documented API, imports each file from ``dir`` and prints one
JSON object. It never imports mdm_ot: the test compares its numbers with mdm_ot's.
"""

from __future__ import annotations

import abc
import dataclasses
import importlib
import json
import os
import sys
import types


def _block(names):
    for name in names:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
        sys.modules[name] = None  # `import name` now raises ImportError


def _install(name, **attrs):
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        sys.modules.setdefault(".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
    sys.modules[name].__dict__.update(attrs)


def _dllm_stand_in():
    """dllm.core.schedulers.BaseAlphaScheduler as ZHZisZZ/dllm documents it: a registry of
    subclasses by name, public alpha()/alpha_derivative() that check i in [0, 1] and compute
    in float32, and reverse_mask_prob(s, t) = (1 - alpha(s)) / (1 - alpha(t))."""
    import torch

    @dataclasses.dataclass
    class BaseAlphaScheduler:
        registry = {}

        def __init_subclass__(cls, **kwargs):
            super().__init_subclass__(**kwargs)
            BaseAlphaScheduler.registry[cls.__name__] = cls

        def __call__(self, t):
            return self.alpha(t)

        def _public(self, fn, i):
            i_t = torch.as_tensor(i, dtype=torch.float32)
            if not bool(((i_t >= 0) & (i_t <= 1)).all()):
                raise ValueError(f"i={i} not in [0,1]")
            out = fn(i_t)
            return out.item() if isinstance(i, float) else out

        def alpha(self, i):
            return self._public(self._alpha, i)

        def alpha_derivative(self, i):
            return self._public(self._alpha_derivative, i)

        def reverse_mask_prob(self, s, t):
            return (1 - self(s)) / (1 - self(t))

    def make_alpha_scheduler(name, **kwargs):
        return BaseAlphaScheduler.registry[name](**kwargs)

    _install("dllm.core.schedulers", BaseAlphaScheduler=BaseAlphaScheduler, make_alpha_scheduler=make_alpha_scheduler)


def _dllm_counts(scheduler, num_masked, steps):
    """dllm's get_num_transfer_tokens for one row (dllm/core/samplers/utils.py): walk t from
    1 down to 0 in `steps` steps, reveal round(n * (1 - reverse_mask_prob(s, t))) of the n still
    masked, capped at n; zero steps are kept here (dllm compacts them away)."""
    import torch

    n, out = torch.tensor(num_masked, dtype=torch.int64), []
    for j in range(steps):
        t, s = (steps - j) / steps, (steps - j - 1) / steps
        p = 1 - scheduler.reverse_mask_prob(s=s, t=t)
        c = torch.minimum(torch.round(n.to(torch.float64) * p).to(torch.int64), n)
        out.append(int(c))
        n = n - c
        if int(n) == 0:
            out += [0] * (steps - j - 1)
            break
    return out


def _flow_matching_stand_in():
    """flow_matching.path.scheduler as facebookresearch/flow_matching documents it:
    SchedulerOutput(alpha_t, sigma_t, d_alpha_t, d_sigma_t) and the abstract ConvexScheduler."""

    @dataclasses.dataclass
    class SchedulerOutput:
        alpha_t: object
        sigma_t: object
        d_alpha_t: object
        d_sigma_t: object

    class Scheduler(abc.ABC):
        @abc.abstractmethod
        def __call__(self, t): ...

    class ConvexScheduler(Scheduler):
        @abc.abstractmethod
        def kappa_inverse(self, kappa): ...

    _install("flow_matching.path.scheduler", SchedulerOutput=SchedulerOutput, ConvexScheduler=ConvexScheduler)


def _f(x):
    return [float(v) for v in x.reshape(-1).tolist()]


def _error(fn):
    try:
        fn()
    except ValueError as exc:
        return str(exc)
    return None


def probe(task, t):
    kind, mod = task["kind"], importlib.import_module(task["module"])
    if kind == "llada":
        out = {"tokens": mod.TOKENS_PER_STEP, "steps": mod.STEPS, "steps_per_block": mod.STEPS_PER_BLOCK,
               "model_calls": mod.MODEL_CALLS, "tokens_for": {}}
        for n in task.get("n_values", []):
            try:
                out["tokens_for"][str(n)] = mod.tokens_for(n)
            except ValueError as exc:
                out["tokens_for"][str(n)] = str(exc)
        return out
    if kind == "dream":
        return {"timesteps": mod.TIMESTEPS, "counts": mod.DREAM_TOKENS_PER_STEP, "steps": mod.STEPS}
    import torch

    t64 = torch.tensor(t, dtype=torch.float64)
    if kind == "llada_torch":
        masked = task["masked"]  # masked positions per row of a block of BLOCK_LENGTH
        mask = torch.zeros(len(masked), mod.BLOCK_LENGTH, dtype=torch.bool)
        for row, m in enumerate(masked):
            mask[row, mod.BLOCK_LENGTH - m:] = True
        res = mod.get_num_transfer_tokens(mask, mod.STEPS_PER_BLOCK)
        return {"counts": res.tolist(), "dtype": str(res.dtype), "shape": list(res.shape),
                "wrong_steps": _error(lambda: mod.get_num_transfer_tokens(mask, mod.STEPS_PER_BLOCK + 1))}
    if kind == "dream_torch":
        ts = mod.timesteps(mod.STEPS, 1e-3)
        # Dream's count rule (generation_utils.py, _sample), on a float32 mask count as Dream has it
        n, counts = torch.tensor(float(task["length"])), []
        for i in range(mod.STEPS):
            s, tt = ts[i + 1], ts[i]
            c = int(n * (1 - s / tt)) if i < mod.STEPS - 1 else int(n)
            counts.append(c)
            n = n - c
        return {"timesteps": _f(ts), "dtype": str(ts.dtype), "counts": counts,
                "wrong_steps": _error(lambda: mod.timesteps(mod.STEPS + 1, 1e-3))}
    if kind == "dllm":
        make = sys.modules["dllm.core.schedulers"].make_alpha_scheduler
        sched = make("MdmOtAlphaScheduler")
        return {"alpha": _f(sched._alpha(t64)), "dalpha": _f(sched._alpha_derivative(t64)),
                "alpha_public": float(sched.alpha(0.5)), "public_dtype": str(sched.alpha(torch.tensor([0.5])).dtype),
                "counts": _dllm_counts(sched, task["block_length"], task["steps_per_block"])}
    if kind == "mdlm":
        noise = mod.MdmOtNoise(eps=task["eps"])
        total, rate = noise(t64)
        return {"total": _f(total), "rate": _f(rate), "is_module": isinstance(noise, torch.nn.Module),
                "float32": str(noise(t64.to(torch.float32))[0].dtype)}
    if kind == "flow_matching":
        sched = mod.MdmOtScheduler()
        o = sched(t=t64)
        kappa = torch.tensor(task["kappa"], dtype=torch.float64)
        return {"alpha": _f(o.alpha_t), "sigma": _f(o.sigma_t), "dalpha": _f(o.d_alpha_t), "dsigma": _f(o.d_sigma_t),
                "kappa_inverse": _f(sched.kappa_inverse(kappa)), "time_grid": _f(mod.time_grid())}
    raise ValueError(f"unknown kind {kind!r}")


def probe_md4(task, t, h):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    mod = importlib.import_module(task["module"])
    tt = jnp.asarray(t, jnp.float64)
    inner = jnp.clip(tt, h, 1 - h)
    return {"alpha": _f(mod.alpha(tt)), "dalpha": _f(mod.dalpha(tt)), "plus": _f(mod.alpha(inner + h)),
            "minus": _f(mod.alpha(inner - h)), "dtype32": str(mod.alpha(jnp.float32(0.5)).dtype)}


def main():
    req = json.load(sys.stdin)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") not in (here, os.getcwd())]
    _block(req["block"])
    sys.path.insert(0, req["dir"])
    if "torch" not in req["block"]:
        try:
            importlib.import_module("dllm.core.schedulers")
        except ImportError:
            _dllm_stand_in()
        try:
            importlib.import_module("flow_matching.path.scheduler")
        except ImportError:
            _flow_matching_stand_in()
    out = {}
    for task in req["tasks"]:
        if task["kind"] == "md4":
            out[task["module"]] = probe_md4(task, req["t"], req["h"])
        else:
            out[task["module"]] = probe(task, req["t"])
    out["blocked"] = {name: sys.modules.get(name, 0) is None for name in req["block"]}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()

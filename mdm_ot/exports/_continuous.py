r"""The native files that carry the schedule as a function of continuous time.

* ``dllm``: an alpha scheduler class (``BaseAlphaScheduler`` subclass) in dllm's convention,
  :math:`\alpha_{dllm}(i) = \alpha(1 - i)`;
* ``mdlm``: a noise module (``forward(t) -> (total_noise, rate_noise)``) with MDLM's eps
  clipping, :math:`\sigma(t) = -\log(\epsilon + (1-\epsilon)\alpha(1-t))`;
* ``md4``: ``alpha(t)`` and ``dalpha(t)`` in MD4's convention, as JAX functions;
* ``flow_matching``: a ``ConvexScheduler`` whose :math:`\kappa_t` is :math:`\alpha(t)`.

Each file holds the closed form of the family (:func:`closed_form`) in mdm_ot's time and
converts to its ecosystem's time in exactly one function (``_to_ours``), which every
public function goes through.

References:
  ZHZisZZ/dllm ``dllm/core/schedulers/alpha.py`` (``BaseAlphaScheduler``) and
  ``dllm/core/samplers/utils.py`` (``get_num_transfer_tokens``); kuleshov-group/mdlm
  ``noise_schedule.py`` (``Noise``, ``LogLinearNoise``); google-deepmind/md4
  ``md4/models/diffusion/md4.py`` (``MaskingSchedule``); facebookresearch/flow_matching
  ``flow_matching/path/scheduler/scheduler.py`` (``ConvexScheduler``, ``SchedulerOutput``) and
  ``flow_matching/solver/discrete_solver.py`` (``MixtureDiscreteEulerSolver``).
"""

from __future__ import annotations

from mdm_ot.exports._core import floats, header

__all__ = ["dllm_counts", "render_continuous"]

_TORCH_IMPORTS = '''
import dataclasses
import math

import torch
'''

_TORCH_PRELUDE = '''
_xp = torch


def _f64(x):
    """x as a float64 tensor, and the dtype to return results in (x's, if floating)."""
    if not isinstance(x, torch.Tensor):
        return torch.as_tensor(x, dtype=torch.float64), torch.float64
    dtype = x.dtype if x.is_floating_point() else torch.float64
    return x.to(torch.float64), dtype
'''

_JAX_IMPORTS = '''
import math

import jax
import jax.numpy as jnp
'''

_JAX_PRELUDE = '''
_xp = jnp


def _as_float(x):
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.result_type(float))
'''

_DLLM = '''

def _to_ours(i):
    """dllm's time i (clean at i = 0) as mdm_ot's (t, 1 - t) = (1 - i, i): the only time flip."""
    return 1.0 - i, i


@dataclasses.dataclass
class MdmOtAlphaScheduler(BaseAlphaScheduler):
    """SPEC in dllm's convention: alpha(0) = 1, alpha(1) = 0, alpha_dllm(i) = alpha(1 - i).

    Registered by dllm under its class name: make_alpha_scheduler("MdmOtAlphaScheduler").
    Computes in float64 and returns the dtype of its input (dllm's public alpha() passes float32).
    """

    def _alpha(self, i):
        i, dtype = _f64(i)
        return _alpha_pair(*_to_ours(i))[0].to(dtype)

    def _alpha_derivative(self, i):
        i, dtype = _f64(i)
        return (-_alpha_rate(*_to_ours(i))).to(dtype)  # d/di alpha(1 - i) = -alpha'(1 - i)
'''

_MDLM = '''

def _to_ours(t):
    """MDLM's time t (clean at t = 0) as mdm_ot's (1 - t, t): the only time flip."""
    return 1.0 - t, t


class MdmOtNoise(torch.nn.Module):
    """SPEC as an MDLM noise: total_noise(t) = -log(eps + (1 - eps) alpha(1 - t)) (MDLM's eps
    clipping, as in its CosineNoise), rate_noise(t) its t-derivative; forward(t) returns both.

    exp(-total_noise) = P(unmasked) at MDLM's time t. Float64 inside, input dtype out.
    """

    def __init__(self, eps=1e-3):
        super().__init__()
        self.eps = eps

    def forward(self, t):
        return self.total_noise(t), self.rate_noise(t)

    def total_noise(self, t):
        t, dtype = _f64(t)
        alpha = _alpha_pair(*_to_ours(t))[0]
        return (-torch.log(self.eps + (1.0 - self.eps) * alpha)).to(dtype)

    def rate_noise(self, t):
        t, dtype = _f64(t)
        ours = _to_ours(t)
        alpha, rate = _alpha_pair(*ours)[0], _alpha_rate(*ours)
        return ((1.0 - self.eps) * rate / (self.eps + (1.0 - self.eps) * alpha)).to(dtype)
'''

_MD4 = '''

def _to_ours(t):
    """MD4's time t (clean at t = 0) as mdm_ot's (1 - t, t): the only time flip."""
    return 1.0 - t, t


def alpha(t):
    """MD4's _alpha(t) for SPEC: alpha_md4(t) = alpha(1 - t); alpha_md4(0) = 1 (clean)."""
    t = _as_float(t)
    return _alpha_pair(*_to_ours(t))[0]


def dalpha(t):
    """MD4's _dalpha(t): d/dt alpha_md4(t) = -alpha'(1 - t), in closed form."""
    t = _as_float(t)
    return -_alpha_rate(*_to_ours(t))
'''

_FLOW = '''

#: The K-step time grid t_k = k / K (flow_matching's time runs as mdm_ot's: no flip).
TIME_GRID = {time_grid}


def _to_ours(t):
    """flow_matching's time is mdm_ot's: (t, 1 - t), no flip."""
    return t, 1.0 - t


def time_grid(device=None):
    """TIME_GRID as a float64 tensor, for MixtureDiscreteEulerSolver.sample(time_grid=..., step_size=None)."""
    return torch.tensor(TIME_GRID, dtype=torch.float64, device=device)


class MdmOtScheduler(ConvexScheduler):
    """SPEC as a flow_matching ConvexScheduler: alpha_t = kappa_t = alpha(t), sigma_t = 1 - alpha(t),
    d_alpha_t = alpha'(t), d_sigma_t = -alpha'(t). Float64 inside, input dtype out."""

    def __call__(self, t):
        t, dtype = _f64(t)
        ours = _to_ours(t)
        alpha, one_minus = _alpha_pair(*ours)
        rate = _alpha_rate(*ours)
        return SchedulerOutput(alpha_t=alpha.to(dtype), sigma_t=one_minus.to(dtype),
                               d_alpha_t=rate.to(dtype), d_sigma_t=(-rate).to(dtype))

    def kappa_inverse(self, kappa):
        """t with alpha(t) = kappa, by bisection (alpha is increasing)."""
        kappa, dtype = _f64(kappa)
        lo, hi = torch.zeros_like(kappa), torch.ones_like(kappa)
        for _ in range(64):
            mid = 0.5 * (lo + hi)
            below = _alpha_pair(*_to_ours(mid))[0] < kappa
            lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
        return (0.5 * (lo + hi)).to(dtype)
'''

_USE = {
    "dllm": """
  Put this file next to your dllm code and import it once (the class registers itself):
    import {module}
    from dllm.core.schedulers import make_alpha_scheduler
    scheduler = make_alpha_scheduler("MdmOtAlphaScheduler")
  and pass it where dllm takes a scheduler (e.g. the MDLM sampler's scheduler, the trainer's
  alpha scheduler). Do not flip time again: i = 0 is clean here, as in dllm.
""",
    "mdlm": """
  Put this file next to MDLM's noise_schedule.py and add to get_noise():
    elif config.noise.type == 'mdm_ot':
      import {module}
      return {module}.MdmOtNoise()
  (eps defaults to MDLM's 1e-3; for SPEC = loglinear, which already has alpha(0) = EPS, pass eps=0.)
""",
    "md4": """
  In md4/models/diffusion/md4.py, MaskingSchedule, add a branch to _alpha and _dalpha:
    elif self.schedule_fn_type == 'mdm_ot':
      import {module}
      return {module}.alpha(t)        # in _dalpha: {module}.dalpha(t)
  MD4 still applies its own eps clipping, alpha = (1 - 2 eps) _alpha + eps. Sample with
  sampling_grid='uniform': MD4's default 'cosine' grid warps time, and mdm_ot's K-step
  schedule is meant on the uniform grid t_k = k / K.
""",
    "flow_matching": """
    from flow_matching.path import MixtureDiscreteProbPath
    from flow_matching.solver import MixtureDiscreteEulerSolver
    import {module}
    path = MixtureDiscreteProbPath(scheduler={module}.MdmOtScheduler())
    solver = MixtureDiscreteEulerSolver(model=model, path=path, vocabulary_size=V + 1)  # + the mask token
    x1 = solver.sample(x_init=all_masked, step_size=None, time_grid={module}.time_grid(device))
  The source is the all-masked sequence (mask token id V); the model returns posterior
  probabilities over the V + 1 tokens (zero on the mask).
""",
}

_ROUNDING = {
    "dllm": ("dllm's own, not mdm_ot's: per block, step j reveals round(n (1 - (1 - alpha(s)) / (1 - alpha(t)))) of "
             "the n tokens still masked (float32 in dllm), steps that reveal nothing are skipped; for L tokens in "
             "these blocks (float64) that is {counts} per block ({calls} model calls per block)."),
    "mdlm": ("none: MDLM's ddpm update unmasks each masked token independently with probability "
             "(move_chance_t - move_chance_s) / move_chance_t, move_chance = 1 - exp(-total_noise)."),
    "md4": ("none: MD4's ancestral step unmasks each masked token independently with probability "
            "(alpha_s - alpha_t) / (1 - alpha_t) (MD4's time: s < t)."),
    "flow_matching": ("none: the discrete Euler step moves each masked token with probability "
                      "1 - exp(-h alpha'(t) / (1 - alpha(t))), an Euler approximation of "
                      "(alpha(t + h) - alpha(t)) / (1 - alpha(t)); the last step draws every remaining token."),
}

_IMPORTS = {
    "dllm": "from dllm.core.schedulers import BaseAlphaScheduler\n",
    "mdlm": "",
    "md4": "",
    "flow_matching": "from flow_matching.path.scheduler import ConvexScheduler, SchedulerOutput\n",
}


def dllm_counts(mask_ratio: list[float], length: int) -> list[int]:
    """Tokens dllm's ``get_num_transfer_tokens`` reveals from ``length`` masked tokens, with
    ``mask_ratio[k]`` = 1 - alpha at mdm_ot's ``k / K`` (our transcription, float64; empty
    steps kept as zeros here, dllm drops them)."""
    n, out = length, []
    for j in range(len(mask_ratio) - 1):
        c = 0 if n == 0 else min(round(n * (1.0 - mask_ratio[j + 1] / mask_ratio[j])), n)
        out.append(int(c))
        n -= c
    return out


def render_continuous(fmt: str, f: dict, table: dict, formula: str, source: str, module: str,
                      mask_ratio: list[float]) -> str:
    """The dllm, mdlm, md4 or flow_matching file. ``source``: :func:`closed_form`'s code in
    the flavour of ``fmt``; ``mask_ratio``: 1 - alpha (unrescaled) on one block's grid."""
    if fmt == "dllm":
        counts = dllm_counts(mask_ratio, f["block_length"])
        rounding = _ROUNDING["dllm"].format(counts=counts, calls=sum(1 for c in counts if c))
    else:
        rounding = _ROUNDING[fmt]
    imports, prelude = (_JAX_IMPORTS, _JAX_PRELUDE) if fmt == "md4" else (_TORCH_IMPORTS, _TORCH_PRELUDE)
    body = {"dllm": _DLLM, "mdlm": _MDLM, "md4": _MD4,
            "flow_matching": _FLOW.format(time_grid=floats(table["time_grid"]))}[fmt]
    consts = f"\n\nSPEC = {f['spec']!r}\nLENGTH = {f['length']}\nSTEPS = {f['steps']}\n"
    use = _USE[fmt].format(module=module)
    return (header(fmt, f, formula, rounding=rounding, use=use) + imports + _IMPORTS[fmt] + prelude + consts
            + "\n" + source + body)

"""AntiBERTy (a pretrained antibody masked language model) in JAX as a masked-diffusion
denoiser, real antibody V domains from ANARCI's germlines, and few-step infilling tasks.

Nothing is downloaded at import time: ``mdm-ot antibody fetch`` fills the cache
(:mod:`.fetch`). Submodules: :mod:`.torchzip` (restricted reader of torch checkpoints),
:mod:`.model` (the network and the denoiser), :mod:`.data` (V-domain sequences),
:mod:`.tasks` (masks, samplers, metrics, tuning), :mod:`.table` (the schedule table).

References:
    Ruffolo et al., arXiv:2112.07782 (AntiBERTy); the paper (arXiv:2509.13866), section 4.
"""

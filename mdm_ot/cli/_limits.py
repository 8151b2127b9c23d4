"""Size limits of the ``mdm-ot`` command line: one place, one reason each.

Every command checks its options against these before any work starts, and the error names
the limit (``--steps must be an integer in [1, 100000], got 1000000``). The reasons are ours,
sized for the smallest machine the project supports: 24 GiB of memory and 2 CPU cores. A
limit is a promise that a run within it finishes within bounded memory, not that it is fast.

The library keeps its own, tighter checks where an exact computation grows exponentially
(the brute force's state count, the exact tuning's transition count); the CLI limits below
are coarse fences in front of them so that no check ever has to compute a huge power.
"""

from __future__ import annotations

__all__ = [
    "MAX_WORKERS",
    "MAX_TRIALS",
    "MAX_RETRIES",
    "MAX_HEARTBEAT",
    "MAX_PROFILE_SAMPLES",
    "MAX_BATCH",
    "MAX_BLOCK_LENGTH",
    "MAX_CASES",
    "MAX_ENERGY_D",
    "MAX_ENERGY_N",
    "MAX_GRID_SIDE",
    "MAX_ITERATIONS",
    "MAX_LAYERS",
    "MAX_LENGTH",
    "MAX_LR",
    "MAX_MODEL_STEPS",
    "MAX_RESTARTS",
    "MAX_SAMPLES",
    "MAX_SEED",
    "MAX_SHOW",
    "MAX_STATE_LENGTH",
    "MAX_STEPS",
    "MAX_TEMPERATURE",
    "MAX_TEST_SEQUENCES",
    "MAX_TRAIN_STEPS",
    "MAX_WIDTH",
]

#: Sampling steps K of a schedule-only command (transfer-tokens, export, toy, tune): the
#: token split and the alpha grid are O(K); 10^5 steps is a 1 MB JSON list, and no sampler
#: needs more steps than tokens (LLaDA's lengths are at most a few thousand).
MAX_STEPS = 100_000

#: Sampling steps of a command that runs a network once per step (code eval/table, antibody):
#: 1024 forward passes take minutes on 2 cores; LLaDA's largest step counts are 1024.
MAX_MODEL_STEPS = 1024

#: Generation length L (transfer-tokens, export): only integers of size <= L are stored, so
#: memory does not grow with L; 2^20 tokens is far above any released MDM's context (8192).
MAX_LENGTH = 1 << 20

#: Block length B of the semi-autoregressive split: at most the length.
MAX_BLOCK_LENGTH = MAX_LENGTH

#: ``energy --n``: the energies are closed forms, but the kinetic constant n (d+1)^(n-1) must
#: be a float64 (< 1.8e308); even at d = 1 that caps n near 1000. The command also checks
#: the constant itself in logs (no huge power is ever computed).
MAX_ENERGY_N = 1024

#: ``energy --d``: the vocabulary size enters only the closed-form constants; 10^6 is above
#: any tokenizer (LLaDA: 126k) and keeps (d+1)^(n-1) in float64 for small n.
MAX_ENERGY_D = 1_000_000

#: Sequence length n of an exact (enumerated) target such as ``markov:n=N``: the library's
#: own transition bound ((2d+1)^n <= 2e6) caps n at 13 for d = 2; this fence (checked first,
#: on n alone) keeps the check from ever computing (2d+1)^n for a huge n.
MAX_STATE_LENGTH = 64

#: Samples per cell or per schedule (code eval/table, tune two-stage, antibody): a batch of
#: 65,536 lines of 128 positions with 100 float32 logits each is 3.4 GB, the most a
#: 24 GiB machine holds with the model's activations beside it.
MAX_SAMPLES = 1 << 16

#: ``theorems --cases``: each case is a brute force over at most 4096 states (a few
#: seconds); 1000 cases is about an hour on 2 cores.
MAX_CASES = 1000

#: ``tune --iterations`` (gradient evaluations per start): each is one exact evaluation;
#: 10^5 is hours on 2 cores, and Adam converges in a few hundred.
MAX_ITERATIONS = 100_000

#: ``tune --restarts``: each restart repeats the whole gradient run.
MAX_RESTARTS = 1000

#: Points per axis of a tuning grid (``--grid A0:A1:N,B0:B1:N``): 1000 x 1000 = 10^6 exact
#: evaluations is the most that fits in memory as one batch of (a, b) values (8 MB per
#: float64 array) and finishes in hours; the paper's grid is 10 x 10.
MAX_GRID_SIDE = 1000

#: Seeds: NumPy's ``default_rng`` and ``jax.random.key`` both take a 32-bit seed without
#: wrapping; a larger one would silently alias a smaller one.
MAX_SEED = 2**32 - 1

#: Sampling temperature: at T = 10^6 every float64 probability p >= 1e-308 has tempered
#: weight p^(1/T) within 0.08 % of 1 (the draw is uniform to that accuracy), so a larger T
#: adds nothing; above ~1e300, 1/T is subnormal and the tempered logits lose all precision.
MAX_TEMPERATURE = 1e6

#: Peak learning rate of ``code train`` (Adam): each step moves a weight by about lr, and the
#: weights are O(1); beyond 1 training diverges to NaN.
MAX_LR = 1.0

#: ``code train --steps`` (optimizer steps): time, not memory, grows with it; 10^6 steps
#: is days on 2 cores.
MAX_TRAIN_STEPS = 1_000_000

#: ``code train --batch-size`` and ``antibody table --batch-size``: activations of 4096
#: sequences of 128 positions at width 1024 are 2 GB per layer in float32.
MAX_BATCH = 4096

#: ``code train --layers``: memory and time are linear in layers; 64 layers at width 1024
#: is 800M parameters (3.2 GB + 2 Adam moments: ~10 GB), within 24 GiB.
MAX_LAYERS = 64

#: ``code train --width`` (d_model; d_ff = 4 x width): parameters grow as width^2.
MAX_WIDTH = 1024

#: ``antibody table --n-test``: test sequences per set; the largest set has a few thousand.
MAX_TEST_SEQUENCES = 100_000

#: ``code eval --show``: lines printed.
MAX_SHOW = MAX_SAMPLES

#: ``tune --workers``: evaluation processes started by one ``mdm-ot tune``; each is a process
#: of the user's evaluator, so the bound is the process table, not our memory.
MAX_WORKERS = 1024

#: ``tune --trials`` of a TPE/CMA-ES study: Optuna's samplers slow down with the number of
#: finished trials; 10^6 is far past where a schedule search has converged.
MAX_TRIALS = 1_000_000

#: ``tune --retries`` of one failed trial: a trial that fails 100 times is a broken evaluator.
MAX_RETRIES = 100

#: ``tune --heartbeat`` seconds: a dead worker's trial is re-queued after 2 heartbeats; an
#: hour between heartbeats is the longest wait that still resumes the same day.
MAX_HEARTBEAT = 3600

#: ``tune --model ... --profile-samples``: Monte-Carlo draws of the path for a model's dependence
#: profile; each costs a few forward passes of the model, so 2^16 is hours of a GPU.
MAX_PROFILE_SAMPLES = 1 << 16

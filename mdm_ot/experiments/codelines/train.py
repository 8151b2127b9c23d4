r"""Training the code-line denoiser with the MDM NELBO (Proposition C.2), and checkpoints.

**The objective.** With time running from t = 0 (all masked) to t = 1 (data), the
continuous-time NELBO of a line x of L positions is (MATH.md, Proposition C.2)

.. math::

    \mathcal{L}(x) = \int_0^1 \frac{\alpha'(t)}{1-\alpha(t)}\,
        \mathbb{E}_{z \sim p_t(\cdot|x)} \Big[\sum_{i: z_i = M} -\log p_\theta(x_i | z)\Big] dt .

Substituting ``m = 1 - α(t)`` (the masking probability) removes the schedule:
``∫_0^1 (1/m) E_{z ~ mask each position w.p. m}[Σ_masked ...] dm``. Given that k positions
are masked, the mask set is uniform among the k-subsets, and integrating m out,
``P(k) = 1/(L+1)`` and ``E[1/m | k] = (L+1)/k``, so

.. math::

    \mathcal{L}(x) = \sum_{k=1}^{L} \mathbb{E}_{S:\,|S|=k}\Big[\frac{1}{k}\sum_{i\in S}
        -\log p_\theta(x_i | x \text{ with } S \text{ masked})\Big]
      = L\;\mathbb{E}_{k\sim U\{1..L\}}\,\mathbb{E}_S\big[\overline{\ell}_S\big],

the mean masked cross-entropy times L, with k drawn uniformly from 1..L. This is the
estimator used here (one k and one subset per line): it has the same expectation as the
``α'/(1-α)``-weighted form for every schedule, with bounded weights (the continuous form's
weight ``1/m`` blows up as ``m → 0``). The tests check the identity both ways, by
enumerating all masks of a short line and integrating the continuous form by quadrature,
and with the exact denoiser of an explicit q, for which the NELBO equals the entropy H(q).

Since the denoiser has no time input, the trained model can be sampled with any schedule
afterwards (the point of Proposition C.2): the schedule is chosen after training.

**Padding** is a token like the characters (the 64 positions of every line are
predicted), so the NELBO is that of the padded line; it is reported in *bits per
character* as ``NELBO / ln 2 / (characters + 1)``: the ``+ 1`` counts the end of the line
(the first padding token), as a character-level language model counts the newline.

**Tasks.** Each batch holds unconditional lines (the line alone, 64 positions) and
next-line pairs (the previous line visible as a prompt, 128 positions, loss on the line
only), in equal numbers; the same network serves both (see :mod:`~mdm_ot.experiments.codelines.model`).

**Reproducibility.** The batch of step s comes from ``numpy.random.default_rng([seed, s])``
and the masks from ``jax.random.fold_in(PRNGKey(seed), s)``, so a resumed run gives the
same parameters as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mdm_ot._io import atomic_file
from mdm_ot.experiments.codelines import data as codedata
from mdm_ot.experiments.codelines.model import ModelConfig, apply, init_params, num_params


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of a training run (stored in every checkpoint).

    Attributes:
        steps: optimizer steps.
        batch_size: lines per step, half unconditional and half next-line pairs (even).
        peak_lr: learning rate after warm-up.
        warmup_steps: linear warm-up steps.
        final_lr_fraction: the cosine decay ends at ``peak_lr * final_lr_fraction``.
        weight_decay: AdamW's decoupled weight decay.
        grad_clip: global-norm gradient clipping.
        seed: seeds the initialisation, the batches and the masks.
        eval_every: steps between held-out evaluations.
        eval_examples: held-out lines (and as many pairs) per evaluation.
        checkpoint_every: steps between checkpoints.
    """

    steps: int = 2000
    batch_size: int = 64
    peak_lr: float = 2e-3
    warmup_steps: int = 100
    final_lr_fraction: float = 0.05
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0
    eval_every: int = 200
    eval_examples: int = 512
    checkpoint_every: int = 200

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 2 or self.batch_size % 2:
            raise ValueError("steps must be >= 1 and batch_size an even number >= 2")
        if not (self.peak_lr > 0 and 0 <= self.final_lr_fraction <= 1):
            raise ValueError("peak_lr must be > 0 and final_lr_fraction in [0, 1]")
        if self.warmup_steps < 0 or self.eval_every < 1 or self.checkpoint_every < 1:
            raise ValueError("warmup_steps >= 0, eval_every >= 1, checkpoint_every >= 1")
        if self.eval_examples < 1:
            raise ValueError("eval_examples must be >= 1")


DEFAULT_MODEL = ModelConfig(num_layers=3, d_model=64, num_heads=4, d_ff=256, conv_kernel=5)
"""The shipped checkpoint's network (about 0.17 M parameters)."""
DEFAULT_TRAIN = TrainConfig(
    steps=7000, batch_size=32, peak_lr=6e-3, warmup_steps=50, eval_every=500,
    eval_examples=512, checkpoint_every=500,
)
"""The shipped checkpoint's training settings (``mdm-ot code train`` with no options:
1441 s = 24 minutes measured on this project's 2-core CPU machine; held-out 2.91
bits/char unconditional, 2.84 completion)."""


# ------------------------------------------------------------------------ the objective


def random_masks(key: jax.Array, batch: int, length: int) -> tuple[jax.Array, jax.Array]:
    """For each row, k ~ U{1..L} and a uniformly random k-subset of positions.

    Returns:
        ``(mask [B, L] bool, k [B] int32)``.
    """
    k_key, perm_key = jax.random.split(key)
    k = jax.random.randint(k_key, (batch,), 1, length + 1)
    noise = jax.random.uniform(perm_key, (batch, length))
    ranks = jnp.argsort(jnp.argsort(noise, axis=1), axis=1)  # a random permutation per row
    return ranks < k[:, None], k


def stratified_masks(key: jax.Array, batch: int, length: int) -> tuple[jax.Array, jax.Array]:
    """As :func:`random_masks` with ``k = (row mod L) + 1``: every k equally often (evaluation)."""
    k = (jnp.arange(batch) % length + 1).astype(jnp.int32)
    noise = jax.random.uniform(key, (batch, length))
    ranks = jnp.argsort(jnp.argsort(noise, axis=1), axis=1)
    return ranks < k[:, None], k


def nelbo_from_logits(logits: jax.Array, x: jax.Array, mask: jax.Array, k: jax.Array):
    r"""The one-sample NELBO estimate of each line, in nats: ``(L/k) Σ_{i masked} -log p(x_i|z)``.

    Args:
        logits: ``[B, L, V]`` the denoiser's logits for the masked lines.
        x: ``[B, L]`` the clean lines.
        mask: ``[B, L]`` bool, which positions were masked (``k`` of them per row).
        k: ``[B]`` number of masked positions.

    Returns:
        ``[B]`` unbiased estimates of the NELBO (when k ~ U{1..L} and the subset is uniform).

    References:
        Proposition C.2 (the NELBO is schedule-invariant); module docstring for the
        derivation of the k-form.
    """
    L = x.shape[1]
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    nll = -jnp.take_along_axis(logp, x[..., None], axis=-1)[..., 0]
    masked_nll = jnp.sum(jnp.where(mask, nll, 0.0), axis=1)
    return masked_nll * (L / k.astype(jnp.float32))


def nelbo_batch(params, key, lines, prompts, *, config: ModelConfig):
    """One-sample NELBO estimates (nats) of unconditional lines and of next-line pairs.

    Args:
        params: model parameters.
        key: PRNG key for the masks.
        lines: int ``[Bu, L]`` lines modelled alone.
        prompts: ``(prev [Bc, L], line [Bc, L])`` next-line pairs (loss on ``line``).
        config: model sizes.

    Returns:
        ``(nelbo_lines [Bu], nelbo_pairs [Bc])``.
    """
    k1, k2 = jax.random.split(key)
    mask_id = config.mask_id
    mask_u, k_u = random_masks(k1, lines.shape[0], lines.shape[1])
    logits_u = apply(params, jnp.where(mask_u, mask_id, lines), None, config=config)
    prev, line = prompts
    mask_c, k_c = random_masks(k2, line.shape[0], line.shape[1])
    logits_c = apply(params, jnp.where(mask_c, mask_id, line), prev, config=config)
    return (
        nelbo_from_logits(logits_u, lines, mask_u, k_u),
        nelbo_from_logits(logits_c, line, mask_c, k_c),
    )


def characters_plus_end(x: np.ndarray | jax.Array) -> jax.Array:
    """Characters of each padded line plus one for its end (the bits-per-character divisor)."""
    x = jnp.asarray(x)
    return jnp.sum(x < codedata.NUM_CHARS, axis=1) + 1


# ------------------------------------------------------------------------ optimizer


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """AdamW with linear warm-up and cosine decay, and global-norm clipping."""
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=cfg.peak_lr,
        warmup_steps=cfg.warmup_steps,
        decay_steps=max(cfg.steps, cfg.warmup_steps + 1),
        end_value=cfg.peak_lr * cfg.final_lr_fraction,
    )
    return optax.chain(
        optax.clip_by_global_norm(cfg.grad_clip),
        optax.adamw(schedule, b1=0.9, b2=0.99, weight_decay=cfg.weight_decay),
    )


def make_train_step(config: ModelConfig, optimizer: optax.GradientTransformation):
    """A jitted ``(params, opt_state, key, lines, prev, line) -> (params, opt_state, loss)``.

    The loss minimised is the mean NELBO per position (NELBO / L), averaged over both tasks.
    """

    def loss_fn(params, key, lines, prev, line):
        nu, nc = nelbo_batch(params, key, lines, (prev, line), config=config)
        return (jnp.mean(nu) + jnp.mean(nc)) / (2 * config.line_length)

    @jax.jit
    def step(params, opt_state, key, lines, prev, line):
        loss, grads = jax.value_and_grad(loss_fn)(params, key, lines, prev, line)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


@functools.lru_cache(maxsize=8)
def _cached_train_step(model_config: ModelConfig, train_config: TrainConfig):
    # one compiled step per configuration, shared by repeated train() calls (resume, tests)
    return make_train_step(model_config, make_optimizer(train_config))


# ------------------------------------------------------------------------ data for training


@dataclasses.dataclass(frozen=True)
class EncodedSplit:
    """A split as arrays: ``lines [N, 64]`` and next-line pairs ``prev, line [M, 64]`` (uint8)."""

    lines: np.ndarray
    prev: np.ndarray
    line: np.ndarray

    @classmethod
    def from_data(cls, data: codedata.CodeLines, split: str) -> EncodedSplit:
        lines = codedata.encode_lines(data.lines(split)).astype(np.uint8)
        pairs = data.pairs(split)
        prev = codedata.encode_lines([p for p, _ in pairs]).astype(np.uint8)
        line = codedata.encode_lines([x for _, x in pairs]).astype(np.uint8)
        return cls(lines, prev, line)


def batch_for_step(split: EncodedSplit, seed: int, step: int, batch_size: int):
    """The batch of a step: ``batch_size/2`` lines and as many pairs, drawn with replacement."""
    rng = np.random.default_rng([seed, step])
    half = batch_size // 2
    iu = rng.integers(0, split.lines.shape[0], half)
    ic = rng.integers(0, split.line.shape[0], half)
    as_i32 = lambda a: jnp.asarray(a.astype(np.int32))  # noqa: E731
    return as_i32(split.lines[iu]), as_i32(split.prev[ic]), as_i32(split.line[ic])


def heldout_examples(split: EncodedSplit, n: int, seed: int = 1234):
    """A fixed random set of ``n`` lines and ``n`` pairs of a split (for evaluation)."""
    rng = np.random.default_rng(seed)
    iu = rng.choice(split.lines.shape[0], size=min(n, split.lines.shape[0]), replace=False)
    ic = rng.choice(split.line.shape[0], size=min(n, split.line.shape[0]), replace=False)
    return split.lines[iu].astype(np.int32), split.prev[ic].astype(np.int32), split.line[ic].astype(np.int32)


@functools.lru_cache(maxsize=8)
def make_evaluator(config: ModelConfig, chunk: int = 256):
    """A function ``(params, lines, prev, line) -> dict`` of held-out bits per character.

    Each line gets one stratified mask (k cycles through 1..L over the rows), so the estimate
    is unbiased; its standard error is over lines.
    """
    mask_id = config.mask_id

    @functools.partial(jax.jit, static_argnames=("use_prompt",))
    def one(params, x, prev, chunk_index, use_prompt):
        key = jax.random.fold_in(jax.random.PRNGKey(0), chunk_index)
        mask, k = stratified_masks(key, x.shape[0], x.shape[1])
        z = jnp.where(mask, mask_id, x)
        logits = apply(params, z, prev if use_prompt else None, config=config)
        return nelbo_from_logits(logits, x, mask, k)

    def evaluate(params, lines, prev, line) -> dict:
        out = {}
        for name, x, p, use in (("unconditional", lines, lines, False), ("completion", line, prev, True)):
            nats = []
            for s in range(0, x.shape[0], chunk):
                xs, ps = jnp.asarray(x[s : s + chunk]), jnp.asarray(p[s : s + chunk])
                nats.append(np.asarray(one(params, xs, ps, s, use_prompt=use)))
            nats = np.concatenate(nats)
            chars = np.asarray(characters_plus_end(x))
            bits = nats / math.log(2)
            # ratio estimator: total bits / total characters, with the delta-method SE
            bpc = bits.sum() / chars.sum()
            resid = bits - bpc * chars
            se = math.sqrt(np.var(resid, ddof=1) / len(bits)) / chars.mean() if len(bits) > 1 else float("nan")
            out[name] = {"bits_per_char": float(bpc), "se": float(se), "examples": int(len(bits))}
        return out

    return evaluate


# ------------------------------------------------------------------------ checkpoints


def _flatten(tree: dict, prefix: str = "", leaf=np.asarray) -> dict:
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}/", leaf))
        else:
            out[f"{prefix}{k}"] = leaf(v)
    return out


def _unflatten(flat: dict[str, np.ndarray]) -> dict:
    tree: dict = {}
    for path, v in flat.items():
        node = tree
        parts = path.split("/")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = jnp.asarray(v)
    return tree


def save_checkpoint(path: str | Path, params: dict, config: ModelConfig, meta: dict, opt_state=None):
    """Write an ``.npz``: ``params/...`` arrays, ``opt/i`` leaves (optional), ``meta_json``.

    ``meta`` must hold JSON values; the model config is stored under ``meta["model"]``.
    The file is written to a temporary sibling and renamed (:func:`mdm_ot._io.atomic_file`),
    so a crash or an interrupt leaves the old one and no stray temporary file.

    Raises:
        ValueError: a parameter is NaN or infinite (a diverged run is never saved).
    """
    path = Path(path)
    arrays = {f"params/{k}": v for k, v in _flatten(params).items()}
    bad = [k for k, v in arrays.items() if not np.all(np.isfinite(v))]
    if bad:
        raise ValueError(f"refusing to save {str(path)!r}: parameter {bad[0][len('params/'):]} is NaN or "
                         "infinite (training diverged; allowed: a smaller learning rate)")
    if opt_state is not None:
        for i, leaf in enumerate(jax.tree_util.tree_leaves(opt_state)):
            arrays[f"opt/{i:04d}"] = np.asarray(leaf)
    meta = dict(meta, model=config.to_dict())
    arrays["meta_json"] = np.array(json.dumps(meta, sort_keys=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(str(path), "wb") as fh:
        np.savez_compressed(fh, **arrays)


#: The most bytes a checkpoint may unpack to (the shipped one: about 1 MB; a 24 GiB machine
#: holds a 2 GiB model with its optimizer state). Checked from the zip directory, before reading.
_MAX_CHECKPOINT_BYTES = 2 << 30


def _read_npz(path: Path, where: str) -> tuple[dict, dict[str, np.ndarray], list[np.ndarray]]:
    """(meta, flat params, opt leaves) of an ``.npz``, every malformed input a ValueError."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            total = sum(info.file_size for info in zf.infolist())
        if total > _MAX_CHECKPOINT_BYTES:
            raise ValueError(f"unpacks to {total} bytes, more than {_MAX_CHECKPOINT_BYTES}")
        z = np.load(path, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        with z:
            if "meta_json" not in z.files:
                raise ValueError("not an mdm_ot code checkpoint (no meta_json)")
            raw = z["meta_json"]
            if raw.shape != () or raw.dtype.kind not in "US":
                raise ValueError("not an mdm_ot code checkpoint (meta_json is not a string)")
            meta = json.loads(str(raw))
            flat = {k[len("params/"):]: z[k] for k in z.files if k.startswith("params/")}
            opt = [z[k] for k in sorted(f for f in z.files if f.startswith("opt/"))]
    except ValueError as exc:
        raise ValueError(f"{where}: {str(exc).splitlines()[0] if str(exc) else 'unreadable'}") from None
    except Exception as exc:  # noqa: BLE001 (truncated, bit-flipped, wrong types: any is bad input)
        reason = str(exc).splitlines()[0][:120] if str(exc) else ""
        raise ValueError(f"{where}: not a readable .npz checkpoint ({type(exc).__name__}"
                         f"{': ' + reason if reason else ''})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("model"), dict):
        raise ValueError(f"{where}: not an mdm_ot code checkpoint (meta_json holds no model config)")
    return meta, flat, opt


def load_checkpoint(path: str | Path, option: str = "checkpoint"):
    """Read a checkpoint written by :func:`save_checkpoint`: the one loader of this format.

    Every malformed input (a folder, an empty, truncated or bit-flipped file, another
    ``.npz``, ``meta_json`` that is not a config, a parameter missing, extra or of the wrong
    shape, dtype or value) is a ``ValueError`` of one line naming ``option`` and the file.

    Returns:
        ``(params, config, meta, opt_leaves)``; ``opt_leaves`` is a list (empty if none).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not such a checkpoint.
    """
    path = Path(path)
    where = f"{option} {str(path)!r}"
    if path.is_dir():
        raise ValueError(f"{where} is a folder, expected a .npz checkpoint file")
    if not path.is_file():
        raise FileNotFoundError(f"{where}: no such checkpoint file")
    meta, flat, opt = _read_npz(path, where)
    try:
        config = ModelConfig.from_dict(meta["model"])
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{where}: bad model config in meta_json ({str(exc).splitlines()[0][:120]})") from None
    if config.num_layers > len(flat):  # before building the expected shapes: a crafted config stays cheap
        raise ValueError(f"{where}: the config asks for {config.num_layers} layers, the file holds "
                         f"{len(flat)} arrays")
    expected = _flatten(jax.eval_shape(lambda: init_params(0, config)), leaf=lambda v: v)
    for name, spec in expected.items():
        if name not in flat:
            raise ValueError(f"{where}: parameter {name} is missing")
        v = flat[name]
        if v.shape != spec.shape or v.dtype.kind != "f":
            raise ValueError(f"{where}: parameter {name} has shape {v.shape} and dtype {v.dtype}, "
                             f"expected {spec.shape} {spec.dtype}")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{where}: parameter {name} holds NaN or infinite values")
    extra = sorted(set(flat) - set(expected))
    if extra:
        raise ValueError(f"{where}: unexpected parameter {extra[0]}")
    if any(v.dtype.kind not in "biuf" for v in opt):
        raise ValueError(f"{where}: an optimizer leaf is not numeric")
    params = _unflatten({k: flat[k] for k in expected})
    return params, config, meta, [jnp.asarray(v) for v in opt]


# ------------------------------------------------------------------------ the loop


def train(
    out_dir: str | Path,
    *,
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    data: codedata.CodeLines | None = None,
    resume: bool = False,
    progress: bool = True,
    log=print,
) -> dict:
    """Train (or resume) and write ``out_dir/checkpoint.npz``, ``out_dir/log.jsonl``.

    Args:
        out_dir: where checkpoints and the log go.
        model_config: network sizes (ignored on resume: the checkpoint's are used).
        train_config: optimisation settings (on resume, must equal the checkpoint's).
        data: the data set; default :func:`~mdm_ot.experiments.codelines.data.load_dataset`.
        resume: continue from ``out_dir/checkpoint.npz`` if it exists.
        progress: show a tqdm progress bar.
        log: where one-line messages go.

    Returns:
        A summary: steps, seconds, last held-out bits per character, fingerprint, paths.
    """
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "checkpoint.npz"
    log_path = out_dir / "log.jsonl"
    data = data if data is not None else codedata.load_dataset()
    tc = train_config if train_config is not None else DEFAULT_TRAIN
    model_config = model_config if model_config is not None else DEFAULT_MODEL
    optimizer = make_optimizer(tc)
    start_step, elapsed_before = 0, 0.0
    if resume and ckpt_path.is_file():
        params, model_config, meta, opt_leaves = load_checkpoint(ckpt_path)
        if meta.get("train") != dataclasses.asdict(tc):
            raise ValueError(
                "resume: the training settings differ from the checkpoint's "
                f"({meta.get('train')} vs {dataclasses.asdict(tc)})"
            )
        codedata.check_fingerprint(data, meta.get("data_fingerprint"), what="checkpoint being resumed")
        opt_state = jax.tree_util.tree_unflatten(
            jax.tree_util.tree_structure(optimizer.init(params)), opt_leaves
        )
        start_step = int(meta["step"])
        elapsed_before = float(meta.get("train_seconds", 0.0))
        log(f"resuming from step {start_step} ({ckpt_path})")
    else:
        params = init_params(tc.seed, model_config)
        opt_state = optimizer.init(params)
    train_split = EncodedSplit.from_data(data, "train")
    held = heldout_examples(EncodedSplit.from_data(data, "tune"), tc.eval_examples)
    step_fn = _cached_train_step(model_config, tc)
    evaluate = make_evaluator(model_config)
    base_key = jax.random.PRNGKey(tc.seed)
    log(
        f"model: {num_params(params)} parameters {model_config.to_dict()}; "
        f"train lines {train_split.lines.shape[0]}, data {data.fingerprint[:16]}"
    )

    def meta_now(step, seconds, last_eval):
        return {
            "step": step,
            "train": dataclasses.asdict(tc),
            "data_fingerprint": data.fingerprint,
            "data_source": data.source,
            "train_seconds": seconds,
            "heldout": last_eval,
            "jax_version": jax.__version__,
        }

    last_eval = None
    t0 = time.perf_counter()
    bar = tqdm(total=tc.steps, initial=start_step, disable=not progress, desc="train", unit="step")
    loss_ema = None
    with open(log_path, "a") as flog:
        for step in range(start_step, tc.steps):
            lines, prev, line = batch_for_step(train_split, tc.seed, step, tc.batch_size)
            key = jax.random.fold_in(base_key, step)
            params, opt_state, loss = step_fn(params, opt_state, key, lines, prev, line)
            done = step + 1
            if done % 10 == 0 or done == tc.steps:
                loss_f = float(loss)
                if not math.isfinite(loss_f):
                    raise ValueError(f"training diverged: the loss is {loss_f} at step {done} "
                                     f"(peak learning rate {tc.peak_lr:g}); allowed: a smaller learning rate")
                loss_ema = loss_f if loss_ema is None else 0.9 * loss_ema + 0.1 * loss_f
                bar.set_postfix(loss=f"{loss_ema:.3f}", refresh=False)
            bar.update(1)
            seconds = elapsed_before + time.perf_counter() - t0
            if done % tc.eval_every == 0 or done == tc.steps:
                last_eval = evaluate(params, *held)
                rec = {"step": done, "seconds": round(seconds, 1), "train_loss_per_pos": loss_ema, **last_eval}
                flog.write(json.dumps(rec) + "\n")
                flog.flush()
                with bar.external_write_mode():  # through `log`: stdout stays free for --json
                    log(
                        f"step {done}: held-out bits/char unconditional "
                        f"{last_eval['unconditional']['bits_per_char']:.3f}, completion "
                        f"{last_eval['completion']['bits_per_char']:.3f} ({seconds:.0f} s)"
                    )
            if done % tc.checkpoint_every == 0 or done == tc.steps:
                save_checkpoint(ckpt_path, params, model_config, meta_now(done, seconds, last_eval), opt_state)
    bar.close()
    seconds = elapsed_before + time.perf_counter() - t0
    return {
        "steps": tc.steps,
        "seconds": seconds,
        "heldout": last_eval,
        "data_fingerprint": data.fingerprint,
        "checkpoint": str(ckpt_path),
        "num_params": num_params(params),
    }


def export_checkpoint(src: str | Path, dst: str | Path) -> dict:
    """Copy a training checkpoint without its optimizer state (the file that ships)."""
    params, config, meta, _ = load_checkpoint(src)
    save_checkpoint(dst, params, config, meta)
    return meta


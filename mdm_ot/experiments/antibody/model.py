r"""AntiBERTy, a BERT masked language model over antibody sequences, in plain JAX.

The network is HuggingFace's ``BertForMaskedLM`` layout with the configuration of
AntiBERTy (8 layers, hidden size 512, 8 heads, feed-forward 2048, exact (erf) GELU,
LayerNorm eps 1e-12, learned absolute positions, token-type embeddings) and its MLM
head (dense, GELU, LayerNorm, decoder tied to the word embeddings). The parameters are
a pytree of arrays (:class:`BertParams`, layers stacked on a leading axis and run with
``lax.scan``), the forward pass :func:`mlm_logits` is a pure function.

As a masked diffusion denoiser (MATH.md section 4), :class:`AntibertyDenoiser` maps a
state ``z`` over the 20 amino acids (ids 0..19 in the order of :data:`AMINO_ACIDS`, 20 =
mask) to per-position probabilities over the 20 amino acids, ``[..., L, 20]``: the
model's 25-token vocabulary, [CLS]/[SEP] framing and padding are handled inside; the
five special tokens are dropped from the output (logits restricted to the amino acids).
The network takes no time input: a BERT MLM is a time-independent MDM denoiser
(the paper's Proposition C.2 explains why its schedule can be chosen after training).

References:
    Devlin et al., "BERT", arXiv:1810.04805; Ruffolo et al., arXiv:2112.07782 (AntiBERTy);
    the paper (arXiv:2509.13866), Proposition C.2 (schedule-free training objective).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from mdm_ot._pytree import register_dataclass
from mdm_ot.experiments.antibody import fetch
from mdm_ot.experiments.antibody.torchzip import load_state_dict

__all__ = [
    "AMINO_ACIDS",
    "MASK_ID",
    "PAD_ID",
    "VOCAB",
    "BertConfig",
    "BertParams",
    "AntibertyDenoiser",
    "params_from_state_dict",
    "load_antiberty",
    "mlm_logits",
    "encode",
    "decode",
]

#: AntiBERTy's vocabulary (``vocab.txt``): 5 special tokens, then the 20 amino acids.
VOCAB: tuple[str, ...] = (
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "A", "C", "D", "E", "F", "G", "H", "I", "K", "L", "M", "N", "P", "Q", "R", "S", "T",
    "V", "W", "Y",
)
#: the denoiser's alphabet: ids 0..19 (the same order as the vocabulary).
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
#: mask id of the denoiser's states (= number of amino acids, the project's convention).
MASK_ID = 20
#: padding id of the denoiser's states: right-padding for batches of unequal lengths.
PAD_ID = 21

_PAD_TOKEN, _CLS_TOKEN, _SEP_TOKEN, _MASK_TOKEN = 0, 2, 3, 4
_AA_OFFSET = 5


@dataclass(frozen=True)
class BertConfig:
    """Static sizes of a BERT masked language model (hashable: a jit static argument)."""

    vocab_size: int = 25
    hidden_size: int = 512
    num_layers: int = 8
    num_heads: int = 8
    intermediate_size: int = 2048
    max_positions: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    def __post_init__(self):
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not a multiple of num_heads {self.num_heads}"
            )

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> BertConfig:
        """Read a HuggingFace ``config.json`` (BERT, absolute positions, erf GELU only)."""
        with open(path) as f:
            cfg = json.load(f)
        if cfg.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"hidden_act {cfg['hidden_act']!r}: only 'gelu' (erf) is supported")
        if cfg.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only absolute position embeddings are supported")
        return cls(
            vocab_size=cfg["vocab_size"],
            hidden_size=cfg["hidden_size"],
            num_layers=cfg["num_hidden_layers"],
            num_heads=cfg["num_attention_heads"],
            intermediate_size=cfg["intermediate_size"],
            max_positions=cfg["max_position_embeddings"],
            type_vocab_size=cfg["type_vocab_size"],
            layer_norm_eps=float(cfg["layer_norm_eps"]),
        )


def _register(cls):
    names = [f.name for f in cls.__dataclass_fields__.values()]
    return register_dataclass(cls, data_fields=names, meta_fields=[])


@_register
@dataclass(frozen=True)
class BertParams:
    """BERT MLM parameters; dense weights are ``[in, out]`` (``x @ w + b``).

    ``layers`` holds each encoder-layer array stacked on a leading axis of size
    ``num_layers``: keys ``wq, bq, wk, bk, wv, bv, wo, bo, ln1_g, ln1_b, wi, bi, wf, bf,
    ln2_g, ln2_b``.
    """

    word: jax.Array
    position: jax.Array
    token_type: jax.Array
    emb_ln_g: jax.Array
    emb_ln_b: jax.Array
    layers: dict = field(default_factory=dict)
    head_w: jax.Array = None
    head_b: jax.Array = None
    head_ln_g: jax.Array = None
    head_ln_b: jax.Array = None
    decoder_w: jax.Array = None
    decoder_b: jax.Array = None


_LAYER_KEYS = {
    "wq": "attention.self.query.weight",
    "bq": "attention.self.query.bias",
    "wk": "attention.self.key.weight",
    "bk": "attention.self.key.bias",
    "wv": "attention.self.value.weight",
    "bv": "attention.self.value.bias",
    "wo": "attention.output.dense.weight",
    "bo": "attention.output.dense.bias",
    "ln1_g": "attention.output.LayerNorm.weight",
    "ln1_b": "attention.output.LayerNorm.bias",
    "wi": "intermediate.dense.weight",
    "bi": "intermediate.dense.bias",
    "wf": "output.dense.weight",
    "bf": "output.dense.bias",
    "ln2_g": "output.LayerNorm.weight",
    "ln2_b": "output.LayerNorm.bias",
}


def params_from_state_dict(
    state: dict[str, np.ndarray], config: BertConfig, dtype=np.float32
) -> BertParams:
    """Map a HuggingFace BERT-MLM state dict (``bert.*``, ``cls.predictions.*``) to :class:`BertParams`.

    Linear weights are transposed from torch's ``[out, in]``. The decoder bias is
    ``cls.predictions.bias`` (tied to ``cls.predictions.decoder.bias`` in HuggingFace),
    the decoder weight ``cls.predictions.decoder.weight`` if present, else the word
    embeddings (tied). Shapes are checked against ``config``.

    Raises:
        ValueError: a needed tensor is missing or has the wrong shape.
    """
    H, F, V = config.hidden_size, config.intermediate_size, config.vocab_size

    def get(name, shape, transpose=False):
        if name not in state:
            raise ValueError(f"state dict lacks {name!r}")
        a = np.asarray(state[name])
        if transpose:
            a = a.T
        if a.shape != shape:
            raise ValueError(f"{name}: shape {a.shape}, expected {shape}")
        return jnp.asarray(a, dtype=dtype)

    per_layer_shape = {
        "wq": (H, H), "wk": (H, H), "wv": (H, H), "wo": (H, H), "wi": (H, F), "wf": (F, H),
        "bi": (F,),
    }
    layers = {}
    for key, suffix in _LAYER_KEYS.items():
        shape = per_layer_shape.get(key, (H,))
        layers[key] = jnp.stack([
            get(f"bert.encoder.layer.{i}.{suffix}", shape, transpose=key.startswith("w"))
            for i in range(config.num_layers)
        ])
    if f"bert.encoder.layer.{config.num_layers}.attention.self.query.weight" in state:
        raise ValueError(f"state dict has more than {config.num_layers} layers")
    dec_name = "cls.predictions.decoder.weight"
    return BertParams(
        word=get("bert.embeddings.word_embeddings.weight", (V, H)),
        position=get("bert.embeddings.position_embeddings.weight", (config.max_positions, H)),
        token_type=get("bert.embeddings.token_type_embeddings.weight", (config.type_vocab_size, H)),
        emb_ln_g=get("bert.embeddings.LayerNorm.weight", (H,)),
        emb_ln_b=get("bert.embeddings.LayerNorm.bias", (H,)),
        layers=layers,
        head_w=get("cls.predictions.transform.dense.weight", (H, H), transpose=True),
        head_b=get("cls.predictions.transform.dense.bias", (H,)),
        head_ln_g=get("cls.predictions.transform.LayerNorm.weight", (H,)),
        head_ln_b=get("cls.predictions.transform.LayerNorm.bias", (H,)),
        decoder_w=get(dec_name if dec_name in state else "bert.embeddings.word_embeddings.weight",
                      (H, V), transpose=True),
        decoder_b=get("cls.predictions.bias", (V,)),
    )


def _layer_norm(x, g, b, eps):
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + eps) * g + b


def _gelu(x):
    return jax.nn.gelu(x, approximate=False)


@partial(jax.jit, static_argnames=("config",))
def mlm_logits(
    params: BertParams, tokens: ArrayLike, attention_mask: ArrayLike, config: BertConfig
) -> jax.Array:
    r"""Masked-LM logits of a BERT encoder (pure forward pass, eval mode: no dropout).

    .. math::
        h_0 = \mathrm{LN}(E_{tok} + E_{pos} + E_{type}),\quad
        h_{l+1} = \mathrm{LN}(a + \mathrm{FFN}(a)),\ a = \mathrm{LN}(h_l + \mathrm{MHA}(h_l)),
        \quad \mathrm{logits} = \mathrm{LN}(\mathrm{GELU}(h W_t + b_t)) W_{dec} + b_{dec}.

    Args:
        params: :class:`BertParams`.
        tokens: int ``[B, T]`` ids in the model's vocabulary (token type 0 everywhere,
            positions ``0..T-1``).
        attention_mask: bool ``[B, T]``, False at padding (keys there are ignored).
        config: static sizes.

    Returns:
        ``[B, T, vocab_size]`` logits in the parameters' dtype.

    References:
        Devlin et al., arXiv:1810.04805 (BERT); HuggingFace ``BertForMaskedLM``.
    """
    tokens = jnp.asarray(tokens)
    B, T = tokens.shape
    nh = config.num_heads
    dh = config.hidden_size // nh
    eps = config.layer_norm_eps
    dtype = params.word.dtype
    x = params.word[tokens] + params.position[:T][None] + params.token_type[0]
    x = _layer_norm(x, params.emb_ln_g, params.emb_ln_b, eps)
    bias = jnp.where(jnp.asarray(attention_mask, bool), 0.0, jnp.finfo(dtype).min)
    bias = bias.astype(dtype)[:, None, None, :]
    scale = jnp.asarray(1.0 / math.sqrt(dh), dtype)

    def layer(h, p):
        def heads(w, b):
            return (h @ w + b).reshape(B, T, nh, dh)

        q, k, v = heads(p["wq"], p["bq"]), heads(p["wk"], p["bk"]), heads(p["wv"], p["bv"])
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) * scale + bias
        att = jax.nn.softmax(scores, axis=-1)
        ctx = jnp.einsum("bhqk,bkhd->bqhd", att, v).reshape(B, T, nh * dh)
        a = _layer_norm(h + ctx @ p["wo"] + p["bo"], p["ln1_g"], p["ln1_b"], eps)
        f = _gelu(a @ p["wi"] + p["bi"]) @ p["wf"] + p["bf"]
        return _layer_norm(a + f, p["ln2_g"], p["ln2_b"], eps), None

    x, _ = jax.lax.scan(layer, x, params.layers)
    y = _layer_norm(_gelu(x @ params.head_w + params.head_b), params.head_ln_g, params.head_ln_b, eps)
    return y @ params.decoder_w + params.decoder_b


def _frame(z: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``[B, L]`` denoiser states -> ``[B, L+2]`` model tokens and attention mask."""
    B, L = z.shape
    is_pad = z == PAD_ID
    length = jnp.sum(~is_pad, axis=-1, keepdims=True)
    body = jnp.where(z == MASK_ID, _MASK_TOKEN, jnp.where(is_pad, _PAD_TOKEN, z + _AA_OFFSET))
    tokens = jnp.concatenate(
        [jnp.full((B, 1), _CLS_TOKEN, body.dtype), body, jnp.full((B, 1), _PAD_TOKEN, body.dtype)],
        axis=1,
    )
    pos = jnp.arange(L + 2)[None]
    tokens = jnp.where(pos == length + 1, _SEP_TOKEN, tokens)
    return tokens, pos <= length + 1


@partial(jax.jit, static_argnames=("config",))
def _denoise(params: BertParams, z: jax.Array, config: BertConfig) -> jax.Array:
    lead, L = z.shape[:-1], z.shape[-1]
    flat = z.reshape(-1, L)
    tokens, att = _frame(flat)
    logits = mlm_logits(params, tokens, att, config)[:, 1 : L + 1, _AA_OFFSET:]
    probs = jax.nn.softmax(logits, axis=-1)
    probs = jnp.where((flat == PAD_ID)[..., None], 1.0 / len(AMINO_ACIDS), probs)
    return probs.reshape(*lead, L, len(AMINO_ACIDS))


@dataclass(frozen=True)
class AntibertyDenoiser:
    r"""AntiBERTy as a masked-diffusion denoiser over the 20 amino acids.

    ``denoiser(z)`` with integer ``z`` of shape ``[..., L]`` (ids 0..19 amino acids in the
    order of :data:`AMINO_ACIDS`, :data:`MASK_ID` = 20 for a mask, :data:`PAD_ID` = 21 for
    right-padding) returns ``[..., L, 20]`` probabilities
    :math:`p_\theta(x_i = v \mid z)` from the model's logits restricted to the amino acids.
    [CLS] and [SEP] are added inside; padded positions are excluded from attention and get
    the uniform distribution (samplers leave them untouched since they are not masks).
    The call is jit-compiled and batched over all leading axes; it is a pytree (its
    parameters are leaves), so it can be passed into jitted samplers.

    References:
        MATH.md section 4 (denoiser interface); the paper (arXiv:2509.13866), Prop. C.2.
    """

    params: BertParams
    config: BertConfig = BertConfig()

    vocab_size = len(AMINO_ACIDS)
    mask_id = MASK_ID

    def __call__(self, z: ArrayLike) -> jax.Array:
        z = jnp.asarray(z)
        if not jnp.issubdtype(z.dtype, jnp.integer):
            raise ValueError(f"denoiser states must be integers, got {z.dtype}")
        if z.ndim < 1 or z.shape[-1] + 2 > self.config.max_positions:
            raise ValueError(
                f"sequence length {z.shape[-1] if z.ndim else None} must be in "
                f"1..{self.config.max_positions - 2}"
            )
        return _denoise(self.params, z, self.config)

    def logits(self, tokens: ArrayLike, attention_mask: ArrayLike | None = None) -> jax.Array:
        """Full 25-token logits for raw model tokens ``[B, T]`` (with [CLS]/[SEP])."""
        tokens = jnp.asarray(tokens)
        if attention_mask is None:
            attention_mask = jnp.ones(tokens.shape, bool)
        return mlm_logits(self.params, tokens, attention_mask, self.config)


register_dataclass(
    AntibertyDenoiser, data_fields=["params"], meta_fields=["config"]
)


def encode(seqs: str | list[str], length: int | None = None) -> np.ndarray:
    """Amino-acid strings -> denoiser ids (``_`` or ``?`` -> mask), right-padded with :data:`PAD_ID`.

    Raises:
        ValueError: a character outside the 20 amino acids and the mask characters.
    """
    single = isinstance(seqs, str)
    seqs = [seqs] if single else list(seqs)
    lut = {a: i for i, a in enumerate(AMINO_ACIDS)} | {"_": MASK_ID, "?": MASK_ID}
    n = max((len(s) for s in seqs), default=0) if length is None else length
    out = np.full((len(seqs), n), PAD_ID, dtype=np.int32)
    for r, s in enumerate(seqs):
        if len(s) > n:
            raise ValueError(f"sequence {r} has length {len(s)} > {n}")
        try:
            out[r, : len(s)] = [lut[c] for c in s]
        except KeyError as exc:
            raise ValueError(
                f"sequence {r}: character {exc.args[0]!r} is not one of {AMINO_ACIDS} or '_'"
            ) from None
    return out[0] if single else out


def decode(z: ArrayLike) -> str | list[str]:
    """Denoiser ids -> strings (mask -> ``_``, padding dropped)."""
    z = np.asarray(z)
    if z.ndim == 1:
        return "".join("_" if v == MASK_ID else AMINO_ACIDS[v] for v in z if v != PAD_ID)
    return [decode(row) for row in z]


def load_antiberty(root: str | os.PathLike | None = None, dtype=np.float32) -> AntibertyDenoiser:
    """Load AntiBERTy from the cache filled by ``mdm-ot antibody fetch``.

    Checks the pinned SHA-256 of each file, reads the weights with the restricted
    unpickler (:func:`mdm_ot.experiments.antibody.torchzip.load_state_dict`), and checks the
    vocabulary against :data:`VOCAB`.

    Raises:
        FileNotFoundError: the weights are not in the cache (the message says how to fetch).
    """
    vocab = fetch.require_file("antiberty/vocab.txt", root).read_text().split()
    if tuple(vocab) != VOCAB:
        raise ValueError(f"unexpected AntiBERTy vocabulary {vocab}")
    config = BertConfig.from_json(fetch.require_file("antiberty/config.json", root))
    state = load_state_dict(fetch.require_file("antiberty/pytorch_model.bin", root))
    return AntibertyDenoiser(params_from_state_dict(state, config, dtype), config)

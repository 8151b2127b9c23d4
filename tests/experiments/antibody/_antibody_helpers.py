"""Helpers for the antibody tests: a torch-free writer of torch zip checkpoints and a tiny BERT.

The writer emits pickle protocol 2 opcodes by hand, with the same global names and
persistent ids that ``torch.save`` writes (``collections OrderedDict``,
``torch._utils _rebuild_tensor_v2``, ``torch FloatStorage`` ...), so the reader is
tested on the real layout without torch being installed.
"""

from __future__ import annotations

import dataclasses
import io
import struct
import zipfile

import jax
import jax.numpy as jnp
import numpy as np

from mdm_ot import register_dataclass

PAD_ID = 21

_STORAGE_NAMES = {
    np.dtype("float32"): "FloatStorage",
    np.dtype("float64"): "DoubleStorage",
    np.dtype("int64"): "LongStorage",
}


def op_global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def op_str(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def op_int(v: int) -> bytes:
    return b"J" + struct.pack("<i", v)


def op_int_tuple(vals) -> bytes:
    return b"(" + b"".join(op_int(v) for v in vals) + b"t"


EMPTY_ORDERED_DICT = op_global("collections", "OrderedDict") + b")R"


def tensor_ops(key: str, storage: str, numel: int, offset: int, size, stride,
               hooks: bytes = EMPTY_ORDERED_DICT) -> bytes:
    """Opcodes that push ``_rebuild_tensor_v2(storage, offset, size, stride, False, hooks)``."""
    pid = b"(" + op_str("storage") + op_global("torch", storage) + op_str(key) + op_str("cpu") \
        + op_int(numel) + b"t" + b"Q"
    args = b"(" + pid + op_int(offset) + op_int_tuple(size) + op_int_tuple(stride) + b"\x89" \
        + hooks + b"t"
    return op_global("torch._utils", "_rebuild_tensor_v2") + args + b"R"


def state_dict_pickle(entries) -> bytes:
    """``entries``: list of ``(name, tensor_opcodes)``; returns the pickled OrderedDict."""
    body = b"".join(op_str(name) + ops for name, ops in entries)
    return b"\x80\x02" + EMPTY_ORDERED_DICT + b"(" + body + b"u."


def write_archive(path_or_buf, pickle_bytes: bytes, storages: dict[str, bytes],
                  prefix: str = "archive") -> None:
    with zipfile.ZipFile(path_or_buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{prefix}/data.pkl", pickle_bytes)
        for key, raw in storages.items():
            zf.writestr(f"{prefix}/data/{key}", raw)
        zf.writestr(f"{prefix}/version", "3\n")


def save_state_dict(path_or_buf, state: dict[str, np.ndarray]) -> None:
    """Write contiguous numpy arrays as a torch zip checkpoint (one storage per array)."""
    entries, storages = [], {}
    for i, (name, arr) in enumerate(state.items()):
        arr = np.array(arr, order="C")  # keeps 0-d arrays 0-d
        key = str(1000 + i)
        storages[key] = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        strides = tuple(s // arr.itemsize for s in arr.strides)
        entries.append((name, tensor_ops(key, _STORAGE_NAMES[arr.dtype], arr.size, 0,
                                         arr.shape, strides)))
    write_archive(path_or_buf, state_dict_pickle(entries), storages)


def archive_bytes(state: dict[str, np.ndarray]) -> io.BytesIO:
    buf = io.BytesIO()
    save_state_dict(buf, state)
    buf.seek(0)
    return buf


def tiny_bert_state(rng, *, vocab=25, hidden=16, layers=2, inter=32, positions=40, dtype=np.float64):
    """A random HuggingFace-named BERT-MLM state dict (weights [out, in] as torch has them)."""
    def w(*shape, scale=0.3):
        return (scale * rng.standard_normal(shape)).astype(dtype)

    s = {
        "bert.embeddings.word_embeddings.weight": w(vocab, hidden),
        "bert.embeddings.position_embeddings.weight": w(positions, hidden),
        "bert.embeddings.token_type_embeddings.weight": w(2, hidden),
        "bert.embeddings.LayerNorm.weight": 1 + w(hidden, scale=0.1),
        "bert.embeddings.LayerNorm.bias": w(hidden, scale=0.1),
    }
    for i in range(layers):
        p = f"bert.encoder.layer.{i}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense"):
            s[p + name + ".weight"] = w(hidden, hidden)
            s[p + name + ".bias"] = w(hidden, scale=0.1)
        s[p + "attention.output.LayerNorm.weight"] = 1 + w(hidden, scale=0.1)
        s[p + "attention.output.LayerNorm.bias"] = w(hidden, scale=0.1)
        s[p + "intermediate.dense.weight"] = w(inter, hidden)
        s[p + "intermediate.dense.bias"] = w(inter, scale=0.1)
        s[p + "output.dense.weight"] = w(hidden, inter)
        s[p + "output.dense.bias"] = w(hidden, scale=0.1)
        s[p + "output.LayerNorm.weight"] = 1 + w(hidden, scale=0.1)
        s[p + "output.LayerNorm.bias"] = w(hidden, scale=0.1)
    s["cls.predictions.transform.dense.weight"] = w(hidden, hidden)
    s["cls.predictions.transform.dense.bias"] = w(hidden, scale=0.1)
    s["cls.predictions.transform.LayerNorm.weight"] = 1 + w(hidden, scale=0.1)
    s["cls.predictions.transform.LayerNorm.bias"] = w(hidden, scale=0.1)
    s["cls.predictions.decoder.weight"] = s["bert.embeddings.word_embeddings.weight"].copy()
    s["cls.predictions.bias"] = w(vocab, scale=0.5)
    return s


@register_dataclass
@dataclasses.dataclass(frozen=True)
class PrevTokenDenoiser:
    """A toy 20-letter denoiser: probs_i ∝ exp(W[z_{i-1}] + B[i]) (state-dependent, cheap)."""

    W: jax.Array  # [22, 20]: previous id 0..19, mask 20, pad/start 21
    B: jax.Array  # [L, 20]

    def __call__(self, z):
        z = jnp.asarray(z)
        prev = jnp.concatenate([jnp.full(z.shape[:-1] + (1,), PAD_ID), z[..., :-1]], axis=-1)
        return jax.nn.softmax(self.W[prev] + self.B[: z.shape[-1]], axis=-1)

    @classmethod
    def random(cls, seed: int, length: int, scale: float = 1.0):
        rng = np.random.default_rng(seed)
        return cls(jnp.asarray(scale * rng.normal(size=(22, 20))),
                   jnp.asarray(scale * rng.normal(size=(length, 20))))

r"""Read a PyTorch zip checkpoint (``torch.save`` state dict) with numpy alone.

A ``pytorch_model.bin`` written by ``torch.save`` (PyTorch >= 1.6) is a zip archive::

    <prefix>/data.pkl          the pickled state dict (protocol 2)
    <prefix>/data/<key>        one raw little-endian buffer per storage
    <prefix>/version           format version
    <prefix>/byteorder         optional, "little" or "big"

Unpickling ``data.pkl`` with :mod:`pickle` as is would import and call whatever the
pickle names. This reader is a restricted unpickler: the only global names it admits are

* ``torch._utils._rebuild_tensor_v2`` (the tensor-rebuild function),
* ``collections.OrderedDict`` (the state dict itself and the empty hook dict),
* ``torch.<Type>Storage`` (the storage type names, mapped to numpy dtypes),

and each is replaced by a stand-in written here, so no torch code and no code named by the
file ever runs. Any other global (``os.system``, ``builtins.eval``, ...) raises
:class:`UnsafeCheckpointError` at the moment the pickle asks for it, before anything is
called. Persistent ids must have the storage layout
``('storage', StorageType, key, location, numel)``.

References:
    PyTorch serialization format (``torch/serialization.py``, ``_load`` and
    ``torch/_utils.py``, ``_rebuild_tensor_v2``); Python's ``pickle`` documentation,
    "Restricting Globals".
"""

from __future__ import annotations

import collections
import io
import math
import pickle
import zipfile
from collections.abc import Mapping
from os import PathLike

import numpy as np

__all__ = ["UnsafeCheckpointError", "STORAGE_DTYPES", "load_state_dict"]


class UnsafeCheckpointError(ValueError):
    """The checkpoint's pickle asked for something the restricted unpickler does not admit."""


#: storage type name -> numpy dtype (little-endian unless the archive says otherwise)
STORAGE_DTYPES: Mapping[str, str] = {
    "FloatStorage": "f4",
    "DoubleStorage": "f8",
    "HalfStorage": "f2",
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ShortStorage": "i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


class _Sealed:
    """Base of the unpickler's stand-ins: no ``__dict__``, and ``BUILD`` is refused.

    A crafted pickle can fetch any memoized object and apply ``BUILD`` to it; refusing
    that keeps the fields checked at construction (storage size, offsets) as they were.
    """

    __slots__ = ()

    def __setstate__(self, state):
        raise UnsafeCheckpointError(
            f"checkpoint pickle tries to set state on a {type(self).__name__.lstrip('_')}"
        )


class _StorageType(_Sealed):
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(STORAGE_DTYPES[self.name])


class _StorageRef(_Sealed):
    __slots__ = ("key", "storage_type", "numel")

    def __init__(self, key: str, storage_type: _StorageType, numel: int):
        self.key = key
        self.storage_type = storage_type
        self.numel = numel


class _TensorRef(_Sealed):
    """What the stand-in rebuild function returns; turned into numpy after unpickling."""

    __slots__ = ("storage", "offset", "size", "stride")

    def __init__(self, storage, offset, size, stride):
        self.storage = storage
        self.offset = offset
        self.size = size
        self.stride = stride


def _is_int_tuple(x) -> bool:
    return isinstance(x, tuple) and all(type(v) is int for v in x)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    """Stand-in for ``torch._utils._rebuild_tensor_v2``: validates and records, runs nothing."""
    if not isinstance(storage, _StorageRef):
        raise UnsafeCheckpointError("tensor rebuild without a storage persistent id")
    if type(storage_offset) is not int or storage_offset < 0:
        raise UnsafeCheckpointError(f"bad storage offset {storage_offset!r}")
    if not (_is_int_tuple(size) and _is_int_tuple(stride)) or len(size) != len(stride):
        raise UnsafeCheckpointError(f"bad tensor size/stride {size!r}/{stride!r}")
    if any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise UnsafeCheckpointError(f"negative size or stride {size!r}/{stride!r}")
    if type(requires_grad) is not bool:
        raise UnsafeCheckpointError("bad requires_grad flag")
    if backward_hooks is not None and (
        not isinstance(backward_hooks, collections.OrderedDict) or backward_hooks
    ):
        raise UnsafeCheckpointError("checkpoint tensor carries backward hooks")
    if metadata is not None and not (isinstance(metadata, dict) and not metadata):
        raise UnsafeCheckpointError("checkpoint tensor carries metadata")
    if all(s > 0 for s in size):
        last = storage_offset + sum((n - 1) * st for n, st in zip(size, stride, strict=True))
        if last >= storage.numel:
            raise UnsafeCheckpointError(
                f"tensor view reaches element {last} of a storage with {storage.numel}"
            )
    # A view with more elements than its storage repeats elements (a stride 0 or overlapping
    # strides): copying it would turn a tiny file into gigabytes. No state dict needs one.
    elements = math.prod(size)
    if elements > max(storage.numel - storage_offset, 0):
        raise UnsafeCheckpointError(
            f"tensor of {elements} elements views a storage of {storage.numel} from offset "
            f"{storage_offset} (strides {stride!r} repeat elements)"
        )
    return _TensorRef(storage, storage_offset, size, stride)


def _ordered_dict(*args):
    if args and not (len(args) == 1 and isinstance(args[0], list)):
        raise UnsafeCheckpointError("OrderedDict called with unexpected arguments")
    return collections.OrderedDict(*args)


_ALLOWED_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("collections", "OrderedDict"): _ordered_dict,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):  # noqa: D102 - pickle hook
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafeCheckpointError(
                f"checkpoint pickle asks for {module}.{name}; only the tensor-rebuild "
                "function, OrderedDict and storage types are admitted"
            ) from None

    def persistent_load(self, pid):  # noqa: D102 - pickle hook
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise UnsafeCheckpointError(f"unexpected persistent id {pid!r:.80}")
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, _StorageType):
            raise UnsafeCheckpointError("persistent id without a storage type")
        if not (isinstance(key, str) and key.isalnum()) or type(numel) is not int or numel < 0:
            raise UnsafeCheckpointError(f"bad storage key or size {key!r}, {numel!r}")
        return _StorageRef(key, storage_type, numel)


def _archive_prefix(names: list[str]) -> str:
    pkl = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pkl) != 1:
        raise ValueError(
            "not a PyTorch zip checkpoint: expected exactly one '<prefix>/data.pkl', "
            f"found {len(pkl)}"
        )
    return pkl[0][: -len("data.pkl")]


def load_state_dict(path: str | PathLike | io.IOBase) -> dict[str, np.ndarray]:
    """Load a ``torch.save`` zip checkpoint into numpy arrays without torch.

    Args:
        path: the ``.bin``/``.pt`` file (zip format), or an open binary file object.

    Returns:
        An insertion-ordered ``dict`` mapping parameter names to C-contiguous numpy arrays
        (copies: views that share a storage get independent arrays).

    Raises:
        UnsafeCheckpointError: the pickle names a global other than the tensor-rebuild
            function, OrderedDict or a storage type, or has an unexpected structure.
        ValueError: the file is not a zip checkpoint, or a storage is missing or short.

    References:
        PyTorch ``torch.serialization._load`` (zip layout), ``torch._utils._rebuild_tensor_v2``.
    """
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path!s}: not a zip archive (legacy non-zip torch checkpoints are not supported)"
        )
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        prefix = _archive_prefix(names)
        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = zf.read(prefix + "byteorder").decode("ascii").strip()
            if byteorder not in ("little", "big"):
                raise ValueError(f"unknown byteorder {byteorder!r} in checkpoint")
        unpickler = _RestrictedUnpickler(io.BytesIO(zf.read(prefix + "data.pkl")))
        try:
            obj = unpickler.load()
        except UnsafeCheckpointError:
            raise
        except (pickle.UnpicklingError, TypeError, EOFError, AttributeError, IndexError,
                KeyError, ValueError) as exc:
            raise UnsafeCheckpointError(f"malformed checkpoint pickle: {exc}") from exc
        if not isinstance(obj, collections.OrderedDict):
            raise UnsafeCheckpointError(
                f"checkpoint holds a {type(obj).__name__}, expected a state dict"
            )
        buffers: dict[str, tuple[str, np.ndarray]] = {}
        out: dict[str, np.ndarray] = {}
        for name, ref in obj.items():
            if not isinstance(name, str) or not isinstance(ref, _TensorRef):
                raise UnsafeCheckpointError(f"state dict entry {name!r:.80} is not a tensor")
            st = ref.storage
            if st.key not in buffers:
                member = f"{prefix}data/{st.key}"
                if member not in names:
                    raise ValueError(f"checkpoint misses storage {member}")
                dtype = st.storage_type.dtype.newbyteorder("<" if byteorder == "little" else ">")
                need = st.numel * dtype.itemsize
                if zf.getinfo(member).file_size < need:  # from the zip directory, before reading
                    raise ValueError(f"storage {member} holds {zf.getinfo(member).file_size} bytes, "
                                     f"needs {need}")
                with zf.open(member) as fh:
                    raw = fh.read(need)  # never more than the storage: a zip bomb stops here
                if len(raw) < st.numel * dtype.itemsize:
                    raise ValueError(
                        f"storage {member} holds {len(raw)} bytes, needs "
                        f"{st.numel * dtype.itemsize}"
                    )
                buffers[st.key] = (st.storage_type.name,
                                   np.frombuffer(raw, dtype=dtype, count=st.numel))
            type_name, buf = buffers[st.key]
            if type_name != st.storage_type.name:
                raise ValueError(f"storage {st.key} is used with two different types")
            if all(n > 0 for n in ref.size):
                # checked again here, against the buffer actually read
                last = ref.offset + sum(
                    (n - 1) * s for n, s in zip(ref.size, ref.stride, strict=True)
                )
                if last >= buf.size:
                    raise UnsafeCheckpointError(f"tensor {name} reaches past its storage")
            if 0 in ref.size:
                arr = np.zeros(ref.size, dtype=buf.dtype)
            else:
                arr = np.lib.stride_tricks.as_strided(
                    buf[ref.offset:],
                    shape=ref.size,
                    strides=tuple(s * buf.itemsize for s in ref.stride),
                    writeable=False,
                )
            out[name] = arr.astype(buf.dtype.newbyteorder("="), order="C")  # a copy, any ndim
    return out

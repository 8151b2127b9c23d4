"""The restricted reader of torch zip checkpoints (mdm_ot.experiments.antibody.torchzip)."""

from __future__ import annotations

import io
import pickletools
import zipfile

import numpy as np
import pytest
from _antibody_helpers import (
    EMPTY_ORDERED_DICT,
    archive_bytes,
    op_global,
    op_int,
    op_str,
    state_dict_pickle,
    tensor_ops,
    write_archive,
)

from mdm_ot.experiments.antibody.torchzip import UnsafeCheckpointError, load_state_dict


def test_written_pickle_is_valid_protocol_2():
    """The hand-written pickle parses as a pickle and names only the torch globals."""
    buf = archive_bytes({"w": np.arange(6, dtype=np.float32).reshape(2, 3)})
    with zipfile.ZipFile(buf) as zf:
        raw = zf.read("archive/data.pkl")
    out = io.StringIO()
    pickletools.dis(raw, out=out)
    text = out.getvalue()
    assert "highest protocol among opcodes = 2" in text
    assert "'torch._utils _rebuild_tensor_v2'" in text and "'torch FloatStorage'" in text


def test_round_trip_dtypes_and_shapes():
    rng = np.random.default_rng(0)
    state = {
        "a.weight": rng.standard_normal((3, 4)).astype(np.float32),
        "a.bias": rng.standard_normal(4).astype(np.float64),
        "ids": np.arange(7, dtype=np.int64)[None],
        "scalar": np.asarray(2.5, np.float32),
    }
    out = load_state_dict(archive_bytes(state))
    assert list(out) == list(state)
    for k, v in state.items():
        assert out[k].dtype == v.dtype and out[k].shape == v.shape
        np.testing.assert_array_equal(out[k], v)
        assert out[k].flags.c_contiguous


def test_views_offsets_strides_and_shared_storage(tmp_path):
    """Two tensors sharing one storage (tied weights), an offset view and a transposed view."""
    base = np.arange(24, dtype=np.float32)
    entries = [
        ("full", tensor_ops("7", "FloatStorage", 24, 0, (4, 6), (6, 1))),
        ("tied", tensor_ops("7", "FloatStorage", 24, 0, (4, 6), (6, 1))),
        ("tail", tensor_ops("7", "FloatStorage", 24, 12, (2, 3), (3, 1))),
        ("transposed", tensor_ops("7", "FloatStorage", 24, 0, (6, 4), (1, 6))),
        ("empty", tensor_ops("7", "FloatStorage", 24, 0, (0, 3), (3, 1))),
    ]
    path = tmp_path / "m.bin"
    write_archive(path, state_dict_pickle(entries), {"7": base.tobytes()}, prefix="some_name")
    out = load_state_dict(path)
    np.testing.assert_array_equal(out["full"], base.reshape(4, 6))
    np.testing.assert_array_equal(out["tied"], base.reshape(4, 6))
    np.testing.assert_array_equal(out["tail"], base[12:18].reshape(2, 3))
    np.testing.assert_array_equal(out["transposed"], base.reshape(4, 6).T)
    assert out["empty"].shape == (0, 3)
    out["full"][0, 0] = -1  # copies: tied tensors do not alias
    assert out["tied"][0, 0] == 0


def test_big_endian_archive():
    base = np.arange(5, dtype=">f4")
    buf = io.BytesIO()
    entries = [("x", tensor_ops("1", "FloatStorage", 5, 0, (5,), (1,)))]
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", state_dict_pickle(entries))
        zf.writestr("archive/data/1", base.tobytes())
        zf.writestr("archive/byteorder", "big")
    buf.seek(0)
    np.testing.assert_array_equal(load_state_dict(buf)["x"], np.arange(5, dtype=np.float32))


@pytest.mark.parametrize(
    "module, name",
    [("os", "system"), ("posix", "system"), ("builtins", "eval"), ("builtins", "exec"),
     ("subprocess", "Popen"), ("torch", "load"), ("collections", "defaultdict"),
     ("numpy", "frombuffer")],
)
def test_refuses_other_globals_without_running_them(tmp_path, module, name):
    """A pickle that asks for anything else is refused at the lookup, before any call."""
    marker = tmp_path / "pwned"
    payload = f"open({str(marker)!r}, 'w').write('x')"
    evil = b"\x80\x02" + op_global(module, name) + b"(" + op_str(payload) + b"tR."
    buf = io.BytesIO()
    write_archive(buf, evil, {})
    buf.seek(0)
    with pytest.raises(UnsafeCheckpointError, match=f"{module}.{name}"):
        load_state_dict(buf)
    assert not marker.exists()


def test_refuses_exec_payload_nested_in_a_state_dict(tmp_path):
    marker = tmp_path / "pwned"
    evil_value = op_global("builtins", "exec") + b"(" + op_str(
        f"open({str(marker)!r}, 'w').write('x')") + b"tR"
    pkl = state_dict_pickle([("w", evil_value)])
    buf = io.BytesIO()
    write_archive(buf, pkl, {})
    buf.seek(0)
    with pytest.raises(UnsafeCheckpointError):
        load_state_dict(buf)
    assert not marker.exists()


def _one(ops, storages=None, numel_bytes=None):
    buf = io.BytesIO()
    write_archive(buf, state_dict_pickle([("x", ops)]), storages or {"1": bytes(numel_bytes or 40)})
    buf.seek(0)
    return buf


def test_refuses_view_past_the_storage():
    ops = tensor_ops("1", "FloatStorage", 10, 4, (3, 3), (3, 1))  # last element 12 >= 10
    with pytest.raises(UnsafeCheckpointError, match="reaches element"):
        load_state_dict(_one(ops))


def test_refuses_short_storage_file():
    ops = tensor_ops("1", "FloatStorage", 10, 0, (10,), (1,))
    with pytest.raises(ValueError, match="holds 8 bytes"):
        load_state_dict(_one(ops, {"1": bytes(8)}))


def test_refuses_backward_hooks():
    # OrderedDict([(1, 2)]): a non-empty hook dict
    hooks = op_global("collections", "OrderedDict") + b"(((" + op_int(1) + op_int(2) + b"tltR"
    ops = tensor_ops("1", "FloatStorage", 10, 0, (10,), (1,), hooks=hooks)
    with pytest.raises(UnsafeCheckpointError, match="backward hooks"):
        load_state_dict(_one(ops))


def test_refuses_build_on_a_storage_reference():
    """BUILD (setting state) on a checked object is refused, so sizes cannot change later."""
    pid = b"(" + op_str("storage") + op_global("torch", "FloatStorage") + op_str("1") \
        + op_str("cpu") + op_int(10) + b"tQ"
    state = b"}" + op_str("numel") + op_int(10**9) + b"s"
    pkl = b"\x80\x02" + pid + state + b"b."
    buf = io.BytesIO()
    write_archive(buf, pkl, {"1": bytes(40)})
    buf.seek(0)
    with pytest.raises(UnsafeCheckpointError, match="set state"):
        load_state_dict(buf)


def test_refuses_non_state_dict_and_bad_persistent_ids():
    buf = io.BytesIO()
    write_archive(buf, b"\x80\x02" + op_str("hello") + b".", {})
    buf.seek(0)
    with pytest.raises(UnsafeCheckpointError, match="expected a state dict"):
        load_state_dict(buf)
    buf = io.BytesIO()
    write_archive(buf, b"\x80\x02" + op_str("not-a-pid") + b"Q.", {})
    buf.seek(0)
    with pytest.raises(UnsafeCheckpointError, match="persistent id"):
        load_state_dict(buf)


def test_refuses_non_tensor_entries():
    pkl = b"\x80\x02" + EMPTY_ORDERED_DICT + b"(" + op_str("x") + op_int(3) + b"u."
    buf = io.BytesIO()
    write_archive(buf, pkl, {})
    buf.seek(0)
    with pytest.raises(UnsafeCheckpointError, match="not a tensor"):
        load_state_dict(buf)


def test_malformed_pickle_is_refused_cleanly():
    buf = io.BytesIO()
    write_archive(buf, b"\x80\x02" + EMPTY_ORDERED_DICT + b"(" + op_str("x") + b"u", {})
    buf.seek(0)
    with pytest.raises(UnsafeCheckpointError, match="malformed"):
        load_state_dict(buf)


def test_not_a_zip(tmp_path):
    p = tmp_path / "legacy.bin"
    p.write_bytes(b"\x80\x02not a zip")
    with pytest.raises(ValueError, match="not a zip archive"):
        load_state_dict(p)
    z = tmp_path / "other.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a.txt", "x")
    with pytest.raises(ValueError, match="data.pkl"):
        load_state_dict(z)

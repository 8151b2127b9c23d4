"""The one loader of code-line checkpoints turns any malformed file into one ValueError line
naming the option and the file (issue 15, item 3)."""

from __future__ import annotations

import json
import zipfile

import jax
import numpy as np
import pytest

from mdm_ot.experiments.codelines import train as T
from mdm_ot.experiments.codelines.model import ModelConfig, init_params

TINY = ModelConfig(num_layers=1, d_model=8, num_heads=2, d_ff=16, conv_kernel=3)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "good.npz"
    T.save_checkpoint(path, init_params(0, TINY), TINY, {"step": 1})
    return path


def _arrays(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _mutants(good, tmp):
    raw = good.read_bytes()
    yield "empty", b""
    yield "truncated", raw[: len(raw) // 2]
    flipped = bytearray(raw)
    flipped[len(raw) // 3] ^= 0xFF
    yield "bit-flipped", bytes(flipped)
    yield "text", b"hello"
    arrays = _arrays(good)
    for name, change in (
        ("meta_json list", lambda a: a.update(meta_json=np.array("[]"))),
        ("meta_json number array", lambda a: a.update(meta_json=np.arange(3))),
        ("meta_json not json", lambda a: a.update(meta_json=np.array("{"))),
        ("no model config", lambda a: a.update(meta_json=np.array(json.dumps({"step": 1})))),
        ("bad model config", lambda a: a.update(meta_json=np.array(json.dumps({"model": {"num_layers": -1}})))),
        ("huge model config", lambda a: a.update(meta_json=np.array(json.dumps(
            {"model": {**TINY.to_dict(), "num_layers": 10**9}})))),
        ("missing parameter", lambda a: a.pop(sorted(k for k in a if k.startswith("params/"))[0])),
        ("extra parameter", lambda a: a.update({"params/extra": np.zeros(2, np.float32)})),
        ("wrong shape", lambda a: a.update({sorted(k for k in a if k.startswith("params/"))[0]: np.zeros(3)})),
        ("string parameter", lambda a: a.update({sorted(k for k in a if k.startswith("params/"))[0]: np.array("x")})),
        ("nan parameter", lambda a: a.update({k: np.full_like(v, np.nan) for k, v in a.items()
                                             if k.startswith("params/") and v.dtype.kind == "f"})),
    ):
        a = dict(arrays)
        change(a)
        p = tmp / "m.npz"
        np.savez(p, **a)
        yield name, p.read_bytes()
    p = tmp / "npy.npy"
    np.save(p, np.zeros(3))
    yield "a .npy", p.read_bytes()


def test_checkpoint_loader_refuses_every_malformed_file(good, tmp_path):
    seen = 0
    for what, data in _mutants(good, tmp_path):
        path = tmp_path / f"{what.replace(' ', '_')}.npz"
        path.write_bytes(data)
        with pytest.raises(ValueError, match=r"^--checkpoint '") as info:
            T.load_checkpoint(path, option="--checkpoint")
        assert "\n" not in str(info.value), what
        seen += 1
    assert seen == 16


def test_checkpoint_loader_refuses_a_folder_and_reads_a_good_file(good, tmp_path):
    with pytest.raises(ValueError, match="is a folder"):
        T.load_checkpoint(tmp_path, option="--checkpoint")
    params, config, meta, _ = T.load_checkpoint(good)
    assert config == TINY and meta["step"] == 1


def test_a_diverged_run_is_never_saved_and_no_stray_temporary(tmp_path):
    params = init_params(0, TINY)
    bad = jax.tree_util.tree_map(lambda v: v * np.nan, params)
    with pytest.raises(ValueError, match="NaN"):
        T.save_checkpoint(tmp_path / "c.npz", bad, TINY, {"step": 1})
    T.save_checkpoint(tmp_path / "ok.npz", params, TINY, {"step": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.npz"]
    assert zipfile.is_zipfile(tmp_path / "ok.npz")

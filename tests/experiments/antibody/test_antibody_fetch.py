"""Fetching with pinned SHA-256 (mdm_ot.experiments.antibody.fetch) on fake wheels; no network used."""

from __future__ import annotations

import hashlib
import re
import subprocess
import zipfile

import pytest

from mdm_ot import cli
from mdm_ot.experiments.antibody import fetch


def _sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


@pytest.fixture
def fake_wheels(tmp_path, monkeypatch):
    """Two fake wheels and the pins that describe them, swapped in for the real ones."""
    members = {
        "pkg-a.whl": {"a/model.bin": b"\x00weights" * 100, "a/vocab.txt": b"A\nC\n", "a/other.py": b"x"},
        "pkg-b.whl": {"b/germlines.py": b"all_germlines = {}"},
    }
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    pins = []
    for name, files in members.items():
        path = wheel_dir / name
        with zipfile.ZipFile(path, "w") as zf:
            for m, raw in files.items():
                zf.writestr(m, raw)
        keep = {m: (f"{name[:5]}/{m.split('/')[-1]}", _sha(raw)) for m, raw in files.items()
                if not m.endswith("other.py")}
        pins.append(fetch.Wheel(f"{name[:5]}==1", name, _sha(path.read_bytes()), keep))
    monkeypatch.setattr(fetch, "WHEELS", tuple(pins))
    return wheel_dir, tmp_path / "cache"


def test_real_pins_are_well_formed():
    dests = [d for w in fetch.WHEELS for d, _ in w.members.values()]
    assert len(dests) == len(set(dests))
    for w in fetch.WHEELS:
        assert re.fullmatch(r"[0-9a-f]{64}", w.sha256) and "==" in w.requirement
        assert all(re.fullmatch(r"[0-9a-f]{64}", s) for _, s in w.members.values())
    assert "antiberty/pytorch_model.bin" in dests and "anarci/germlines.py" in dests


def test_extracts_only_pinned_files_and_verifies(fake_wheels):
    wheel_dir, root = fake_wheels
    written = fetch.fetch(root=root, wheel_dir=wheel_dir)
    base = fetch.antibody_dir(root)
    assert sorted(str(p) for p in base.rglob("*") if p.is_file()) == sorted(written)
    assert (base / "pkg-a/model.bin").read_bytes() == b"\x00weights" * 100
    assert not (base / "pkg-a/other.py").exists()
    assert fetch.missing_files(root) == []
    assert fetch.fetch(root=root, wheel_dir=wheel_dir) == []  # present and verified
    # tampering is detected on read, and a new fetch repairs it
    (base / "pkg-a/vocab.txt").write_bytes(b"A\nX\n")
    with pytest.raises(ValueError, match="differs from the pinned"):
        fetch.require_file("pkg-a/vocab.txt", root)
    assert len(fetch.fetch(root=root, wheel_dir=wheel_dir)) == 2
    assert fetch.require_file("pkg-a/vocab.txt", root).read_bytes() == b"A\nC\n"


def test_wrong_wheel_sum_is_refused(fake_wheels):
    wheel_dir, root = fake_wheels
    with zipfile.ZipFile(wheel_dir / "pkg-b.whl", "a") as zf:
        zf.writestr("b/extra.txt", b"tampered")
    with pytest.raises(ValueError, match="refusing to use it"):
        fetch.fetch(root=root, wheel_dir=wheel_dir)
    assert not (fetch.antibody_dir(root) / "pkg-b").exists()


def test_missing_file_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="mdm-ot antibody fetch"):
        fetch.require_file("antiberty/vocab.txt", tmp_path)
    with pytest.raises(ValueError, match="not one of"):
        fetch.require_file("nope.txt", tmp_path)


def test_no_network_gives_a_clear_message(fake_wheels, monkeypatch, capsys):
    _, root = fake_wheels

    def offline(cmd, **kw):
        assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not find a version (network)")

    monkeypatch.setattr(fetch.subprocess, "run", offline)
    with pytest.raises(RuntimeError, match="no network") as exc:
        fetch.fetch(root=root)
    assert "--wheels" in str(exc.value) and "pip download" in str(exc.value)
    assert cli.main(["antibody", "fetch", "--cache", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mdm-ot: error: pip download") and err.count("\n") == 1


def test_cli_fetch_from_a_wheel_folder(fake_wheels, capsys):
    wheel_dir, root = fake_wheels
    assert cli.main(["antibody", "fetch", "--cache", str(root), "--wheels", str(wheel_dir), "--json"]) == 0
    out = capsys.readouterr().out
    assert '"written"' in out and out.count("\n") == 1


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MDM_OT_CACHE", str(tmp_path / "c"))
    assert fetch.cache_dir() == tmp_path / "c"
    assert fetch.antibody_dir() == tmp_path / "c" / "antibody"
    monkeypatch.delenv("MDM_OT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert fetch.cache_dir() == tmp_path / "x" / "mdm_ot"


def test_cli_eval_without_weights_says_how_to_fetch(tmp_path, capsys):
    assert cli.main(["antibody", "eval", "QV_LV", "--cache", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "mdm-ot antibody fetch" in err and err.count("\n") == 1
    assert cli.main(["antibody", "eval", "QVXLV", "--cache", str(tmp_path)]) == 2
    assert "'X'" in capsys.readouterr().err

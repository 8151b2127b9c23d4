"""Tests of `mdm-ot export` (in process, through mdm_ot.cli.main). What the native files
compute is tested in tests/exports/test_native_files.py."""

import json
import os

import numpy as np
import pytest

import mdm_ot.exports
from mdm_ot.cli import main
from mdm_ot.cli.export import FORMAT_CHOICES
from mdm_ot.exports import FORMATS
from mdm_ot.sampling import export_table


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_export_json_stdout_and_file(capsys, tmp_path):
    rc, out, err = run(capsys, "export", "--alpha", "linear", "--length", "256", "--steps", "8")
    assert rc == 0, err
    d = json.loads(out)
    assert d["tokens_per_step"] == [32] * 8 and d["alpha_grid"][-1] == 1.0 and d["num_blocks"] == 1
    path = tmp_path / "t.json"
    rc, out, err = run(capsys, "export", "--alpha", "beta:1,0.2", "--length", "256", "--steps", "16",
                       "--block-length", "32", "--out", str(path))
    assert rc == 0 and str(path) in out
    d = json.loads(path.read_text())
    assert d == export_table("beta:1,0.2", 256, 16, block_length=32)
    assert len(d["tokens_per_block_step"]) == 8 and all(sum(r) == 32 for r in d["tokens_per_block_step"])


def test_export_npy_default_name(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, "export", "--alpha", "linear", "--length", "10", "--steps", "4", "--format", "npy")
    assert rc == 0, err
    arr = np.load(tmp_path / "tokens_linear_L10_K4.npy")
    assert arr.dtype == np.int64 and arr.tolist() == [[3, 3, 2, 2]]  # LLaDA's split of 10 into 4
    rc, out, err = run(capsys, "export", "--alpha", "linear", "--length", "12", "--steps", "6",
                       "--block-length", "4", "--format", "npy", "--out", "x.npy")
    assert rc == 0 and np.load(tmp_path / "x.npy").tolist() == [[2, 2]] * 3


def test_export_min_tokens_and_drop_empty(capsys):
    argv = ["export", "--alpha", "beta:1,0.2", "--length", "64", "--steps", "16", "--block-length", "16"]
    rc, out, err = run(capsys, *argv)
    plain = json.loads(out)
    assert plain["tokens_per_block_step"][0] == [0, 0, 2, 14] and plain["model_calls"] == 8
    rc, out, err = run(capsys, *argv, "--min-tokens-per-step", "1")
    d = json.loads(out)
    assert rc == 0 and all(min(r) >= 1 and sum(r) == 16 for r in d["tokens_per_block_step"])
    assert d["model_calls"] == 16 and d["min_tokens_per_step"] == 1
    rc, out, err = run(capsys, *argv, "--drop-empty")
    d = json.loads(out)
    assert d["tokens_per_block_step"] == [[2, 14]] * 4 and d["steps_kept"] == [2, 3] and d["model_calls"] == 8


def test_export_json_flag_prints_only_the_table(capsys, tmp_path):
    path = tmp_path / "sched.py"
    argv = ["export", "--format", "llada", "--alpha", "sin2", "--length", "16", "--steps", "4", "--out", str(path)]
    rc, out, err = run(capsys, *argv, "--json")
    assert rc == 0, err
    assert json.loads(out) == export_table("sin2", 16, 4) and "wrote" not in out  # one document, nothing else
    assert "TOKENS_PER_STEP = [[" in path.read_text()
    rc, out, err = run(capsys, *argv)
    assert rc == 0 and out.startswith(f"wrote {path}") and "model calls 4" in out
    rc, out, err = run(capsys, "export", "--alpha", "sin2", "--length", "16", "--steps", "4", "--json")
    assert json.loads(out) == export_table("sin2", 16, 4)


def test_native_default_name_and_summary(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, "export", "--format", "md4", "--alpha", "beta:1,0.2", "--length", "8", "--steps", "4")
    assert rc == 0, err
    (name,) = os.listdir(tmp_path)
    assert name == "mdm_ot_md4_beta_1_0p2_L8_K4.py" and name in out
    src = (tmp_path / name).read_text()
    assert "def alpha(t):" in src and "def dalpha(t):" in src and "_A = 1.0" in src and "_B = 0.2" in src
    compile(src, name, "exec")


def test_format_choices_are_the_library_formats():
    assert FORMAT_CHOICES == FORMATS


@pytest.mark.parametrize("argv, match", [
    (["--block-length", "3"], "--block-length: 3 does not divide --length 10"),
    (["--block-length", "20"], "--block-length: 20 exceeds --length 10"),
    (["--length", "12", "--block-length", "4"], "--steps: 4 is not divisible by the number of blocks"),
    (["--alpha", "cubic"], "--alpha: unknown mask schedule"),
    (["--length", "0"], "--length must be an integer in [1,"),
    (["--steps", "0"], "--steps must be an integer in [1,"),
    (["--format", "llamacpp"], "invalid choice: 'llamacpp'"),
    (["--min-tokens-per-step", "3"], "--min-tokens-per-step 3: M*K = 12 exceeds the length L = 10"),
    (["--format", "npy", "--out", "x.txt"], "--out: 'x.txt' must end in .npy"),
    (["--format", "llada", "--out", "my-schedule.py"], "--out: 'my-schedule.py' must be a Python module"),
    (["--format", "llada", "--out", "missing/x.py"], "--out: the folder"),
    (["--format", "dream", "--length", "12", "--block-length", "4", "--steps", "3"], "--block-length: Dream's sampler"),
    (["--format", "mdlm", "--min-tokens-per-step", "1"], "--min-tokens-per-step: mdlm does not carry"),
    (["--format", "dllm", "--drop-empty"], "--drop-empty: dllm does not carry"),
])
def test_export_bad_input(assert_one_line_error, tmp_path, monkeypatch, argv, match):
    monkeypatch.chdir(tmp_path)
    base = {"--alpha": "linear", "--length": "10", "--steps": "4"}
    for opt in list(base):
        if opt in argv:
            base.pop(opt)
    assert_one_line_error(["export", *[x for kv in base.items() for x in kv], *argv], match)
    assert os.listdir(tmp_path) == []  # nothing written, not even a temporary


def test_export_out_is_a_folder(assert_one_line_error, tmp_path):
    assert_one_line_error(["export", "--alpha", "linear", "--length", "8", "--steps", "4", "--format", "json",
                           "--out", str(tmp_path)], "is a folder")


def test_a_failed_render_leaves_the_old_file(capsys, tmp_path, monkeypatch):
    path = tmp_path / "sched.py"
    path.write_text("old\n")

    def broken(*args, **kwargs):
        raise ValueError("render failed")

    monkeypatch.setattr(mdm_ot.exports, "render_native", broken)
    rc, out, err = run(capsys, "export", "--format", "dllm", "--alpha", "linear", "--length", "8", "--steps", "4",
                       "--out", str(path))
    assert rc == 2 and err == "mdm-ot: error: render failed\n" and out == ""
    assert path.read_text() == "old\n" and os.listdir(tmp_path) == ["sched.py"]


def test_a_failed_write_leaves_the_old_file(capsys, tmp_path, monkeypatch):
    """An error halfway through writing (a full disk) leaves the old file whole, no temporary."""
    path = tmp_path / "t.npy"
    path.write_bytes(b"old")

    def half_save(fh, arr):
        fh.write(b"\x93NUMPY")
        raise ValueError("disk full")

    monkeypatch.setattr(np, "save", half_save)
    rc, out, err = run(capsys, "export", "--format", "npy", "--alpha", "linear", "--length", "8", "--steps", "4",
                       "--out", str(path))
    assert rc == 2 and err == "mdm-ot: error: disk full\n"
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["t.npy"]

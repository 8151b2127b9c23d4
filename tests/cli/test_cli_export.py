"""Tests of `mdm-ot export` (in process, through mdm_ot.cli.main)."""

import json

import numpy as np
import pytest

from mdm_ot.cli import main
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


@pytest.mark.parametrize("argv, match", [
    (["--alpha", "linear", "--length", "10", "--steps", "4", "--block-length", "3"], "does not divide"),
    (["--alpha", "linear", "--length", "12", "--steps", "4", "--block-length", "4"], "not divisible"),
    (["--alpha", "cubic", "--length", "10", "--steps", "4"], "unknown mask schedule"),
    (["--alpha", "linear", "--length", "10", "--steps", "4", "--format", "npy", "--out", "x.txt"], ".npy"),
])
def test_export_bad_input(capsys, argv, match):
    rc, out, err = run(capsys, "export", *argv)
    assert rc == 2 and err.startswith("mdm-ot: error:") and err.count("\n") == 1 and match in err


def _doc_rule_numpy(num_masked: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """A line-by-line NumPy transcription of num_transfer_tokens_from_alpha in
    docs/export_llada.md (torch.argsort(stable=True) = np.argsort(kind='stable'))."""
    n = num_masked[:, None].astype(np.float64)
    x = n * np.diff(alpha)[None, :] / (alpha[-1] - alpha[0])
    base = np.floor(x)
    extra = np.round(n - base.sum(axis=1, keepdims=True))
    frac = np.round(x - base, 9)
    order = np.argsort(-frac, axis=1, kind="stable")
    rank = np.argsort(order, axis=1)
    return (base + (rank < extra)).astype(np.int64)


@pytest.mark.parametrize("alpha, length, steps", [("linear", 256, 8), ("linear", 10, 4), ("beta:1,0.2", 256, 16),
                                                   ("sin2", 37, 5)])
def test_doc_snippet_rule_matches_export(alpha, length, steps):
    from mdm_ot.sampling import num_transfer_tokens
    from mdm_ot.schedules import parse_alpha

    tab = export_table(alpha, length, steps)
    got = _doc_rule_numpy(np.array([length, 3, 1]), np.array(tab["alpha_grid"]))
    assert got[0].tolist() == tab["tokens_per_step"]
    # other numbers of masked positions: the library's rule on the same schedule
    for row, m in zip(got[1:], (3, 1), strict=True):
        assert row.tolist() == np.asarray(num_transfer_tokens(parse_alpha(alpha), m, steps)).tolist()

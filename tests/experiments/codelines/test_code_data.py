"""The code-line data: extraction rules, split, fingerprint, cache, encoding."""

import json
import math
import textwrap
import tokenize

import numpy as np
import pytest

from mdm_ot.experiments.codelines import data as D

SOURCE = textwrap.dedent(
    '''\
    """Module docstring
    spanning lines."""
    import os  # a comment
    # a comment-only line

    def f(x,
          y):
        if x:
            return "é"
        else:
            return (x +
                    y)
        z = """inline""" ; w = 1
        s = "''' + "x" * 70 + '''"
        try: pass
        finally: pass

    class C:
        pass
    '''
)


def test_extract_keeps_single_line_logical_lines_only():
    lines = D.extract_code_lines(SOURCE.encode())
    assert lines == [
        "import os  # a comment",
        # `def f(x,\n y):` spans two physical lines: dropped
        "if x:",
        # the line with a non-ASCII character is dropped
        "else:",
        # the continued `return (x +` is dropped
        'z = """inline""" ; w = 1',
        # the 74-character line is dropped, not cut
        "try: pass",
        "finally: pass",
        "class C:",
        "pass",
    ]


def test_extract_rejects_untokenizable_source():
    with pytest.raises((tokenize.TokenError, SyntaxError)):
        D.extract_code_lines(b"x = '''unterminated\n")


def test_split_is_deterministic_and_roughly_80_10_10():
    paths = [f"pkg{i // 50}/mod{i}.py" for i in range(4000)]
    splits = [D.split_of(p) for p in paths]
    assert splits == [D.split_of(p) for p in paths]
    n = len(paths)
    for name, p in (("train", 0.8), ("tune", 0.1), ("test", 0.1)):
        frac = splits.count(name) / n
        # binomial: 5 standard errors
        assert abs(frac - p) < 5 * math.sqrt(p * (1 - p) / n), (name, frac)


def _write_tree(root):
    (root / "a.py").write_text("x = 1\ny = 2\n")
    (root / "pkg").mkdir()
    (root / "pkg" / "b.py").write_text("def g():\n    return 3\n")
    (root / "pkg" / "broken.py").write_text("x = '''\n")
    for skipped in ("site-packages", "test", "tests", "idle_test", "config-3.11-x86_64"):
        (root / skipped).mkdir()
        (root / skipped / "c.py").write_text("z = 0\n")
    (root / "_sysconfigdata__linux.py").write_text("build = 1\n")


def test_build_dataset_files_and_fingerprint(tmp_path):
    _write_tree(tmp_path)
    assert D.list_source_files(tmp_path) == ["a.py", "pkg/b.py", "pkg/broken.py"]
    data = D.build_dataset(tmp_path)
    by_path = {f.path: f.lines for s in D.SPLITS for f in data.splits[s]}
    assert by_path == {"a.py": ("x = 1", "y = 2"), "pkg/b.py": ("def g():", "return 3")}
    assert data.source["num_files_skipped"] == 1
    for s in D.SPLITS:
        for f in data.splits[s]:
            assert D.split_of(f.path) == s
    assert D.build_dataset(tmp_path).fingerprint == data.fingerprint
    (tmp_path / "a.py").write_text("x = 1\ny = 3\n")
    assert D.build_dataset(tmp_path).fingerprint != data.fingerprint


def test_pairs_follow_files():
    files = {"train": (D.CodeFile("a.py", ("a", "b", "c")), D.CodeFile("b.py", ("d",))), "tune": (), "test": ()}
    data = D.CodeLines(files, D.fingerprint_of(files), {})
    assert data.pairs("train") == [("", "a"), ("a", "b"), ("b", "c"), ("", "d")]
    assert data.pairs("train", skip_empty_prompt=True) == [("a", "b"), ("b", "c")]
    assert data.lines("train") == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="unknown split"):
        data.lines("valid")


def test_load_dataset_cache_round_trip_and_corruption(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    _write_tree(src)
    cache = tmp_path / "cache"
    monkeypatch.setenv("MDM_OT_CACHE", str(cache))
    D.load_dataset.cache_clear()
    first = D.load_dataset(str(src))
    files = list(cache.glob("code_lines_*.json"))
    assert len(files) == 1
    D.load_dataset.cache_clear()
    assert D.load_dataset(str(src)).fingerprint == first.fingerprint
    # a cache whose content no longer matches its fingerprint is rebuilt, not trusted
    raw = json.loads(files[0].read_text())
    raw["splits"]["train"] = [["a.py", ["tampered"]]]
    files[0].write_text(json.dumps(raw))
    D.load_dataset.cache_clear()
    assert D.load_dataset(str(src)).fingerprint == first.fingerprint
    D.load_dataset.cache_clear()


def test_encode_decode_round_trip():
    lines = ["", "x = 1", "~" * 64, " !\"#$%&'()*+,-./0123456789:;<=>?@AZ[\\]^_`az{|}~"]
    enc = D.encode_lines(lines)
    assert enc.shape == (4, 64) and enc.dtype == np.int32
    assert enc.min() >= 0 and enc.max() <= D.PAD_ID
    assert D.decode_batch(enc) == lines
    assert D.decode_tokens([0, 1, D.PAD_ID, 2]) == " !"  # stops at the first padding
    assert D.decode_tokens([0, D.MASK_ID, 2]) == " "
    with pytest.raises(ValueError, match="at most 64"):
        D.encode_line("x" * 65)
    with pytest.raises(ValueError, match="printable ASCII"):
        D.encode_line("tab\there")


def test_check_fingerprint_warns_but_does_not_fail():
    files = {"train": (D.CodeFile("a.py", ("a",)),), "tune": (), "test": ()}
    data = D.CodeLines(files, D.fingerprint_of(files), {"python": "3.x"})
    assert D.check_fingerprint(data, data.fingerprint)
    assert D.check_fingerprint(data, None)
    with pytest.warns(RuntimeWarning, match="differ"):
        assert not D.check_fingerprint(data, "0" * 64)


def test_save_read_and_override(tmp_path, monkeypatch):
    files = {"train": (D.CodeFile("a.py", ("a = 1",)),), "tune": (), "test": (D.CodeFile("t.py", ("b",)),)}
    data = D.CodeLines(files, D.fingerprint_of(files), {"python": "9.9"})
    path = D.save_dataset(data, tmp_path / "d.json")
    back = D.read_dataset(path)
    assert back.fingerprint == data.fingerprint and back.splits == data.splits
    monkeypatch.setenv("MDM_OT_CODE_DATA", str(path))
    D.load_dataset.cache_clear()
    assert D.load_dataset().fingerprint == data.fingerprint
    D.load_dataset.cache_clear()
    raw = json.loads(path.read_text())
    raw["splits"]["test"][0][1] = ["c"]
    path.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="fingerprint"):
        D.read_dataset(path)
    (tmp_path / "junk.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a code-lines"):
        D.read_dataset(tmp_path / "junk.json")

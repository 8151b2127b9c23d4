"""Target specs from files and strings: the ``npy:`` loader and the Markov parser refuse bad
input with one line, and size checks never compute a huge power (issue 15, items 3, 5, 6)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mdm_ot.bruteforce import state_space
from mdm_ot.tuning import parse_target


def _write(tmp_path, name, writer):
    path = tmp_path / name
    writer(path)
    return path


NPY_CASES = [
    ("strings.npy", lambda p: np.save(p, np.array(["a", "b"])), "holds <U1"),
    ("empty.npy", lambda p: p.write_bytes(b""), "cannot read"),
    ("truncated.npy", lambda p: p.write_bytes(_npy_bytes(p)[:-8]), "cannot read"),
    ("object.npy", lambda p: np.save(p, np.array([{}], dtype=object), allow_pickle=True), "cannot read"),
    ("archive.npz", lambda p: np.savez(p, a=np.ones(2)), "not a single .npy array"),
    ("nan.npy", lambda p: np.save(p, np.array([np.nan, 1.0])), "finite"),
    ("ragged.npy", lambda p: np.save(p, np.full((2, 3), 1 / 6)), "shape (2, 3)"),
    ("scalar.npy", lambda p: np.save(p, np.float64(1.0)), "shape ()"),
    ("complex.npy", lambda p: np.save(p, np.ones(2, complex) / 2), "complex128"),
    ("huge.npy", lambda p: np.save(p, np.zeros((3,) * 14)), "too large"),
]


def _npy_bytes(path):
    np.save(path, np.full((2, 2), 0.25))
    return path.read_bytes()


@pytest.mark.parametrize(("name", "writer", "match"), NPY_CASES, ids=[c[0] for c in NPY_CASES])
def test_npy_loader_refuses_malformed_tables(tmp_path, name, writer, match):
    path = _write(tmp_path, name, writer)
    with pytest.raises(ValueError, match=r"^bad target 'npy:") as info:
        parse_target(f"npy:{path}")
    assert match in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)


def test_npy_loader_reads_a_table_and_refuses_folders(tmp_path):
    q = np.arange(1.0, 9.0).reshape(2, 2, 2)
    np.save(tmp_path / "q.npy", q / q.sum())
    target = parse_target(f"npy:{tmp_path / 'q.npy'}")
    np.testing.assert_allclose(target.q, q / q.sum(), rtol=1e-15, atol=0)
    with pytest.raises(ValueError, match="is a folder"):
        parse_target(f"npy:{tmp_path}")
    with pytest.raises(ValueError, match="no such file"):
        parse_target(f"npy:{tmp_path / 'missing.npy'}")


@pytest.mark.parametrize(("spec", "match"), [
    ("markov:n=3,d=2,seed=0,conc=abc", "conc must be a number"),
    ("markov:n=3,d=2,seed=0,conc=inf", "conc must be a finite number"),
    ("markov:n=3,d=2,seed=-1", "seed must be an integer >= 0"),
    ("markov:n=10**12,d=2,seed=0", "n must be an integer"),
    ("markov:n=1000000000000,d=2,seed=0", "too large"),
    ("markov:n=1,d=100000000,seed=0", "too large"),
    ("markov:n=3,init=0.5/0.5,trans=nan/1/0/1", "finite"),
])
def test_markov_specs_refused_fast_with_the_spec_named(spec, match):
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=match) as info:
        parse_target(spec)
    assert str(info.value).startswith(f"bad target {spec!r}")
    assert time.perf_counter() - t0 < 1.0  # no huge power, no d x d allocation


def test_markov_size_limit_is_exact_at_the_boundary():
    # (2d+1)^n <= 2e6: d = 2 allows n = 9 (5^9 = 1,953,125) and refuses n = 10
    assert parse_target("markov:n=9,d=2,seed=0").q.shape == (2,) * 9
    with pytest.raises(ValueError, match="too large"):
        parse_target("markov:n=10,d=2,seed=0")


def test_state_space_refuses_huge_n_without_computing_the_power():
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="too many"):
        state_space(10**12, 2)
    assert time.perf_counter() - t0 < 1.0
    with pytest.raises(ValueError, match=r"\(d\+1\)\^n = 6561 states"):
        state_space(8, 2)  # 3^8
    assert state_space(3, 15).states.shape == (4096, 3)  # 16^3 = 4096
    assert state_space(12, 1).states.shape == (4096, 12)  # 2^12 = 4096: the largest allowed

"""V-domain sequences from germlines (mdm_ot.experiments.antibody.data), on a small synthetic germline file."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from mdm_ot.experiments.antibody import data


def _aligned(residues: dict[int, str]) -> str:
    """A 128-character IMGT-aligned string with residues at the given IMGT positions."""
    s = ["-"] * 128
    for pos, aa in residues.items():
        s[pos - 1] = aa
    return "".join(s)


def _v(seed: int, last: int = 106, gap_at=(10,)) -> str:
    rng = np.random.default_rng(seed)
    res = {p: "ACDEFGHIKLMNPQRSTVWY"[rng.integers(20)] for p in range(1, last + 1) if p not in gap_at}
    res.update({23: "C", 41: "W", 104: "C"})
    return _aligned(res)


def _j(motif: str, start: int = 115) -> str:
    return _aligned({start + i: aa for i, aa in enumerate(motif)})


@pytest.fixture(scope="module")
def germ():
    V = {
        "IGHV1-2*01": _v(1),
        "IGHV1-2*02": _v(1),  # identical assembled sequence: dropped as a duplicate
        "IGHV1-3*01": _v(2),
        "IGHV2-5*01": _v(3),
        "IGHV3-23*01": _v(4),
        "IGHV3S1*01": _v(5),
        "IGHV4-4*01": _v(6)[:22] + "S" + _v(6)[23:],  # no Cys 23: not admitted
    }
    J = {
        "IGHJ1*01": _j("AEYFQHWGQGTLVTVSS", 112),
        "IGHJ4*02": _j("FDYWGQGTLVTVSS"),
        "IGHJ9*01": _j("FDYAGQGTLVTVSS"),  # no Trp 118: not admitted
    }
    text = "all_germlines = " + repr({"V": {"H": {"human": V}}, "J": {"H": {"human": J}}})
    return data.parse_germlines(text)


def test_assembly_rule_by_hand(germ):
    v = germ["V"]["H"]["human"]["IGHV1-3*01"]
    j = germ["J"]["H"]["human"]["IGHJ1*01"]
    seq, imgt = data.assemble(v, j)
    # V up to its last residue (IMGT 106), then J residues after 106 (J starts at 112)
    want_pos = [p for p in range(1, 107) if p != 10] + list(range(112, 129))
    assert imgt.tolist() == want_pos
    assert seq == "".join(v[p - 1] for p in range(1, 107) if p != 10) + "AEYFQHWGQGTLVTVSS"
    # overlap: a J that starts inside the V keeps only its residues after the V's end
    seq2, imgt2 = data.assemble(v, _j("XXXXXXXXXXWGQG", 100).replace("X", "K"))
    assert imgt2[-7:].tolist() == list(range(107, 114)) and seq2.endswith("KKKWGQG")
    assert len(seq2) == 105 + 7


def test_v_domains_admission_choice_dedup_and_cdrs(germ):
    recs = data.v_domains(germ, "human", "H")
    names = [r.v for r in recs]
    assert "IGHV4-4*01" not in names  # no conserved Cys 23
    assert "IGHV1-2*01" in names and "IGHV1-2*02" not in names  # duplicate sequence
    admitted_j = ["IGHJ1*01", "IGHJ4*02"]  # IGHJ9 lacks the J motif
    for r in recs:
        assert r.j == admitted_j[zlib.crc32(r.v.encode()) % 2]
        assert len(r.sequence) == len(r.imgt)
        cdr = r.region(data.CDR1, data.CDR2)
        assert cdr.sum() == 12 + 10  # every IMGT CDR1/CDR2 position is filled here
        assert set(r.imgt[cdr]) == set(range(27, 39)) | set(range(56, 66))
    assert {r.family for r in recs} == {"IGHV1", "IGHV2", "IGHV3"}


def test_split_by_family(germ):
    recs = data.v_domains(germ, "human", "H")
    tune, test = data.split(recs)
    assert {r.family for r in tune} == {"IGHV1", "IGHV3"}
    assert {r.family for r in test} == {"IGHV2"}
    assert len(tune) + len(test) == len(recs)


def test_family_names():
    assert data.family_of("IGHV3-23*01") == "IGHV3"
    assert data.family_of("IGKV1D-12*01") == "IGKV1D"
    assert data.family_of("IGHV1S45*01") == "IGHV1"
    assert data.family_of("IGHV10-1*02") == "IGHV10"
    with pytest.raises(ValueError):
        data.family_of("xyz")


def test_batch_pads(germ):
    recs = data.v_domains(germ, "human", "H")
    z = data.batch(recs, 140)
    assert z.shape == (len(recs), 140)
    assert (z[:, 130:] == 21).all()


def test_parser_executes_nothing(tmp_path):
    marker = tmp_path / "pwned"
    evil = f"all_germlines = __import__('os').system('touch {marker}')"
    with pytest.raises(ValueError):
        data.parse_germlines(evil)
    with pytest.raises(ValueError, match="exactly one"):
        data.parse_germlines("import os\nall_germlines = {'V': {}, 'J': {}}")
    with pytest.raises(ValueError, match="exactly one"):
        data.parse_germlines("other = {'V': {}, 'J': {}}")
    with pytest.raises(ValueError, match="keys 'V' and 'J'"):
        data.parse_germlines("all_germlines = {'V': {}}")
    assert not marker.exists()


def test_bad_requests(germ):
    with pytest.raises(ValueError, match="chain"):
        data.v_domains(germ, "human", "Q")
    with pytest.raises(ValueError, match="no V domains"):
        data.v_domains(germ, "llama", "H")

r"""Real antibody V-domain sequences assembled from ANARCI's IMGT-aligned germlines.

ANARCI ships ``anarci/germlines.py`` with one dict literal,
``all_germlines[segment][chain][species][allele]``, segment ``'V'`` or ``'J'``, chain
``'H'`` (heavy), ``'K'`` (kappa), ``'L'`` (lambda) and T-cell chains (not used here).
Each string has 128 characters, character ``i`` at IMGT position ``i + 1``, ``'-'`` a gap.
The file is parsed with :func:`ast.literal_eval` (never imported or executed).

**Admission rule.** A V allele is kept when it uses only the 20 amino acids and gaps,
starts at IMGT 1 and has the IMGT conserved residues Cys 23, Trp 41 and Cys 104 (this
drops ANARCI's rat heavy and rhesus heavy/kappa V strings, which are not aligned to IMGT
positions in that file). A J allele is kept when it uses only the 20 amino acids and gaps
and has the J motif Trp/Phe 118, Gly 119, Gly 121.

**Assembly rule (V + J, no D, no N additions).** For a V allele with last residue at IMGT
position :math:`p_V`, the sequence is the V residues at IMGT positions :math:`1..p_V`
followed by the J residues at positions :math:`> p_V`, gaps removed. The J allele is
chosen deterministically among the admitted J alleles of the same species and chain
(sorted by name): index ``crc32(V allele name) mod (number of J alleles)``. The CDR3 is thus
the germline-encoded ends only (e.g. human heavy ``AR`` + ``FDY``): real CDR3s are longer.
Identical assembled sequences (alleles that differ only outside the kept region) are
kept once, the first by (species, chain, V name).

**CDRs.** IMGT positions 27-38 are CDR1, 56-65 CDR2, 105-117 CDR3.

**Split.** Within each (species, chain), the V gene families (``IGHV1``, ``IGKV2`` ... :
the allele name up to the first ``-``, ``S``, ``*`` or ``/`` after the family number)
are sorted by name; families at even positions of that list (0, 2, ...) go to ``tune``,
the others to ``test``. Alleles of one gene family never straddle the split.

References:
    Dunbar and Deane, "ANARCI", Bioinformatics 32 (2016), 298-300; Lefranc et al., "IMGT
    unique numbering for immunoglobulin and T cell receptor variable domains", Dev. Comp.
    Immunol. 27 (2003), 55-77.
"""

from __future__ import annotations

import ast
import os
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from mdm_ot.experiments.antibody import fetch
from mdm_ot.experiments.antibody.model import AMINO_ACIDS, encode

__all__ = [
    "CDR1",
    "CDR2",
    "CDR3",
    "CHAINS",
    "Germline",
    "parse_germlines",
    "load_germlines",
    "assemble",
    "v_domains",
    "split",
    "family_of",
    "batch",
]

CDR1 = (27, 38)
CDR2 = (56, 65)
CDR3 = (105, 117)
CHAINS = ("H", "K", "L")
_AA = frozenset(AMINO_ACIDS)
_IMGT_LEN = 128


@dataclass(frozen=True)
class Germline:
    """One assembled V-domain sequence.

    Attributes:
        species: ANARCI species name (``human``, ``mouse``, ...).
        chain: ``H``, ``K`` or ``L``.
        v: V allele name; ``j``: J allele name; ``family``: V gene family.
        sequence: amino-acid string.
        imgt: IMGT position of each residue (int array, same length as ``sequence``).
    """

    species: str
    chain: str
    v: str
    j: str
    family: str
    sequence: str
    imgt: np.ndarray

    @property
    def name(self) -> str:
        return f"{self.species}:{self.v}+{self.j}"

    def region(self, *ranges: tuple[int, int]) -> np.ndarray:
        """Bool mask over residues whose IMGT position lies in any of the inclusive ``ranges``."""
        m = np.zeros(len(self.sequence), bool)
        for lo, hi in ranges:
            m |= (self.imgt >= lo) & (self.imgt <= hi)
        return m


def parse_germlines(source: str) -> dict:
    """Parse the text of ANARCI's ``germlines.py`` without executing it.

    Raises:
        ValueError: the text is not a single ``all_germlines = {...}`` literal assignment.
    """
    tree = ast.parse(source, mode="exec")
    if (
        len(tree.body) != 1
        or not isinstance(tree.body[0], ast.Assign)
        or [getattr(t, "id", None) for t in tree.body[0].targets] != ["all_germlines"]
    ):
        raise ValueError("germlines file must hold exactly one 'all_germlines = {...}' assignment")
    data = ast.literal_eval(tree.body[0].value)
    if not isinstance(data, dict) or not {"V", "J"} <= set(data):
        raise ValueError("all_germlines must be a dict with keys 'V' and 'J'")
    return data


@lru_cache(maxsize=4)
def _load_cached(path: str) -> dict:
    return parse_germlines(Path(path).read_text())


def load_germlines(root: str | os.PathLike | None = None) -> dict:
    """``all_germlines`` from the fetched ANARCI wheel (pinned SHA-256 checked)."""
    return _load_cached(str(fetch.require_file("anarci/germlines.py", root)))


def family_of(allele: str) -> str:
    """V gene family of an allele name: ``IGHV3-23*01`` -> ``IGHV3``, ``IGKV1D-12*01`` -> ``IGKV1D``,
    ``IGHV1S45*01`` -> ``IGHV1``."""
    m = re.match(r"^([A-Z]+V\d+D?)", allele)
    if not m:
        raise ValueError(f"cannot read a V gene family from {allele!r}")
    return m.group(1)


def _v_ok(s: str) -> bool:
    return (
        len(s) == _IMGT_LEN
        and set(s) <= _AA | {"-"}
        and s[0] != "-"
        and s[22] == "C"
        and s[40] == "W"
        and s[103] == "C"
    )


def _j_ok(s: str) -> bool:
    return (
        len(s) == _IMGT_LEN
        and set(s) <= _AA | {"-"}
        and s[117] in "WF"
        and s[118] == "G"
        and s[120] == "G"
    )


def assemble(v: str, j: str) -> tuple[str, np.ndarray]:
    """Join an IMGT-aligned V and J string by the assembly rule (module docstring).

    Returns:
        ``(sequence, imgt_positions)``.
    """
    if len(v) != _IMGT_LEN or len(j) != _IMGT_LEN:
        raise ValueError(f"aligned germline strings must have {_IMGT_LEN} characters")
    last_v = max(i for i, c in enumerate(v) if c != "-")
    pos = [i for i in range(last_v + 1) if v[i] != "-"]
    pos += [i for i in range(last_v + 1, _IMGT_LEN) if j[i] != "-"]
    seq = "".join(v[i] if i <= last_v else j[i] for i in pos)
    return seq, np.asarray(pos, dtype=np.int32) + 1


def v_domains(
    germlines: dict, species: str | None = None, chain: str | None = None
) -> list[Germline]:
    """All admitted, assembled, de-duplicated V domains, optionally of one species and chain.

    Raises:
        ValueError: an unknown chain, or no sequence matches.
    """
    if chain is not None and chain not in CHAINS:
        raise ValueError(f"chain {chain!r}: allowed {CHAINS}")
    out, seen = [], set()
    for ch in CHAINS if chain is None else (chain,):
        vs = germlines["V"].get(ch, {})
        for sp in sorted(vs):
            if species is not None and sp != species:
                continue
            js = sorted(n for n, s in germlines["J"].get(ch, {}).get(sp, {}).items() if _j_ok(s))
            if not js:
                continue
            for vname in sorted(vs[sp]):
                vs_str = vs[sp][vname]
                if not _v_ok(vs_str):
                    continue
                jname = js[zlib.crc32(vname.encode()) % len(js)]
                seq, imgt = assemble(vs_str, germlines["J"][ch][sp][jname])
                if seq in seen:
                    continue
                seen.add(seq)
                out.append(Germline(sp, ch, vname, jname, family_of(vname), seq, imgt))
    if not out:
        raise ValueError(f"no V domains for species={species!r} chain={chain!r}")
    return out


def split(records: list[Germline]) -> tuple[list[Germline], list[Germline]]:
    """Tune/test split by V gene family (module docstring): even-indexed families -> tune."""
    tune, test = [], []
    groups: dict[tuple[str, str], list[str]] = {}
    for r in records:
        fams = groups.setdefault((r.species, r.chain), [])
        if r.family not in fams:
            fams.append(r.family)
    rank = {
        (k, f): i for k, fams in groups.items() for i, f in enumerate(sorted(fams))
    }
    for r in records:
        (tune if rank[((r.species, r.chain), r.family)] % 2 == 0 else test).append(r)
    return tune, test


def batch(records: list[Germline], length: int | None = None) -> np.ndarray:
    """Denoiser ids ``[N, L]`` of the records, right-padded with ``model.PAD_ID``."""
    return encode([r.sequence for r in records], length)


"""The mutation runner itself (issue 13): mutants apply exactly once, only to a copy.

The whole suite (``python -m mdm_ot.testing.mutation``) is not run here; `.ci/run` runs it.
One end-to-end run of a probe mutant checks that the child really tests the mutated copy.
"""

import hashlib
import math
import pathlib
import shutil

import pytest

import mdm_ot
from mdm_ot.testing.mutation import (
    MUTANTS,
    Mutant,
    MutantError,
    apply_mutant,
    check_mutants,
    main,
    mutant_source,
    run_mutant,
)

PKG = pathlib.Path(mdm_ot.__file__).resolve().parent


def _tree_digest(root: pathlib.Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def test_every_mutant_matches_the_current_sources_exactly_once():
    assert len(MUTANTS) >= 25
    assert check_mutants() == []
    modules = {m.path.split("/")[0] for m in MUTANTS}
    assert {"schedules", "quadrature.py", "energies.py", "bruteforce", "sampling", "tuning"} <= modules


def test_apply_edits_the_copy_once_and_leaves_the_working_tree_alone(tmp_path):
    before = _tree_digest(PKG)
    copy = tmp_path / "mdm_ot"
    shutil.copytree(PKG, copy, ignore=shutil.ignore_patterns("__pycache__"))
    mutant = next(m for m in MUTANTS if m.name == "kq_single_position_marginals")
    original = (PKG / mutant.path).read_text()
    edited = apply_mutant(mutant, copy)
    text = edited.read_text()
    assert edited == copy / mutant.path
    assert text == original.replace(mutant.old, mutant.new)
    assert text.count(mutant.new) == original.count(mutant.new) + 1
    assert mutant.old not in text
    assert (PKG / mutant.path).read_text() == original
    assert _tree_digest(PKG) == before
    with pytest.raises(MutantError, match="0 times"):  # applied already: no longer matches
        apply_mutant(mutant, copy)


def test_a_mutant_that_does_not_match_exactly_once_fails_loudly(tmp_path):
    absent = Mutant("absent", "energies.py", "no such text", "x", (), "")
    twice = Mutant("twice", "energies.py", "a", "b", (), "")
    with pytest.raises(MutantError, match="0 times"):
        mutant_source(absent, "some text")
    with pytest.raises(MutantError, match="2 times"):
        mutant_source(twice, "a a")
    with pytest.raises(MutantError, match="working tree"):
        apply_mutant(MUTANTS[0], PKG)
    assert "duplicate mutant name 'absent'" in check_mutants([absent, absent])


def test_command_line_arguments(capsys):
    assert main(["--only", "no_such_mutant"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no_such_mutant" in err
    assert main(["--timeout", "0", "--list"]) == 2
    capsys.readouterr()
    assert main(["--list", "--only", MUTANTS[1].name, MUTANTS[0].name]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == [MUTANTS[1].name, MUTANTS[0].name]


def test_the_child_runs_the_tests_against_the_mutated_copy():
    """A probe test that passes on the library fails under a mutant: so pytest in the child
    imported the edited copy, not the installed package."""
    assert math.pi**2 == mdm_ot.energies.minimum_reduced_energy()
    before = _tree_digest(PKG)
    probe = Mutant("probe", "energies.py", "    return math.pi**2\n", "    return math.pi**2 + 1.0\n",
                   ("tests/testing/mutation_probe.py",), "probe")
    row = run_mutant(probe, timeout=120)
    assert row["result"] == "killed", row
    assert row["killer"] == "tests/testing/mutation_probe.py::test_minimum_is_pi_squared"
    assert _tree_digest(PKG) == before
    assert "return math.pi**2\n" in (PKG / "energies.py").read_text()

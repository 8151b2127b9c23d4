"""The `theorems` command (mdm_ot.cli.theorems) and the library call behind it."""

import json
import sys

from mdm_ot.cli import main


def test_theorems_table_runs_and_holds():
    from mdm_ot.experiments.theorems import format_table, run_all

    res = run_all(seed=3, cases=1)
    assert len(res["checks"]) >= 9
    for row in res["checks"]:
        assert row["verdict"] == "holds", row
        assert row["worst_deviation"] is not None and row["worst_deviation"] <= row["tolerance"]
    table = format_table(res)
    assert "Theorem 3.1" in table and "Proposition C.2" in table


def test_theorems_command_json(capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert main(["theorems", "--seed", "3", "--cases", "1", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert all(row["verdict"] == "holds" for row in res["checks"])


def test_theorems_bounds_seed_and_cases(assert_one_line_error):
    """Seeds are 32-bit (a larger one would alias a smaller one); cases are bounded (the
    limits live in mdm_ot.cli._limits; the message states them)."""
    assert_one_line_error(["theorems", "--seed", "-1"], "seed must be an integer in [0, 4294967295]")
    assert_one_line_error(["theorems", "--seed", str(2**32)], "--seed")
    assert_one_line_error(["theorems", "--cases", str(10**9)], "cases must be an integer in [1, ")
    assert_one_line_error(["theorems", "--cases", "0"], "--cases")

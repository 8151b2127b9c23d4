"""`mdm-ot theorems`: check the paper's theorems on fresh random cases
(:func:`mdm_ot.experiments.theorems.run_all`)."""

from __future__ import annotations

import sys

from mdm_ot.cli._args import integer, seed, write_json
from mdm_ot.cli._limits import MAX_CASES

__all__ = ["register"]


def register(sub) -> None:
    t = sub.add_parser(
        "theorems",
        help="check the paper's theorems on fresh random cases",
        description="Runs each theorem check of the paper on fresh random cases (brute "
        "force over the state space against the reduced formulas) and prints a table.",
    )
    t.add_argument("--json", action="store_true", help="one JSON object on stdout")
    t.add_argument("--seed", type=seed(), default=None,
                   help="random seed (default: fresh)")
    t.add_argument("--cases", type=integer("cases", 1, MAX_CASES), default=6,
                   help=f"random cases per statement (default 6, at most {MAX_CASES})")
    t.set_defaults(func=_cmd_theorems)


def _cmd_theorems(args) -> int:
    from mdm_ot.experiments.theorems import format_table, run_all

    show = not args.json and sys.stderr.isatty()
    result = run_all(seed=args.seed, cases=args.cases, progress=show)
    if args.json:
        write_json(result)
    else:
        print(format_table(result))
    return 0 if all(r["verdict"] == "holds" for r in result["checks"]) else 1

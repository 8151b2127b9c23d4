"""`mdm-ot reproduce`: the report folder (the project's main job)."""

from __future__ import annotations

import os
import sys

from mdm_ot._io import check_output_dir

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser(
        "reproduce",
        help="write the report: theorems, energy landscape, toy, tuned schedules (main job)",
        description="Reproduces the paper's checks and figures and writes OUT/report.md, PNG "
        "figures and OUT/results.json. About 5 minutes on 2 CPU cores by default; --quick "
        "takes under a minute; --full adds the real-data tables where their data are present.",
    )
    p.add_argument("--out", default="report",
                   help="output folder (default: report); replaced as a whole when the run ends, "
                   "left as it was if the run fails or is interrupted")
    p.add_argument("--quick", action="store_true", help="smaller grids and fewer budgets (< 1 min)")
    p.add_argument("--full", action="store_true", help="also the code-line and antibody tables")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd)


def _cmd(args) -> int:
    # Before the (slow) import of the report and any work: a path that cannot become the
    # report folder is refused at once.
    check_output_dir(args.out, "--out")
    from mdm_ot.experiments.report import reproduce

    res = reproduce(args.out, quick=args.quick, full=args.full,
                    progress=not args.no_progress and sys.stderr.isatty())
    fails = [c["statement"] for c in res["theorems"]["checks"] if c["verdict"] != "holds"]
    print(f"wrote {os.path.join(args.out, 'report.md')}, results.json and "
          f"{len([f for f in os.listdir(args.out) if f.endswith('.png')])} figures "
          f"in {res['seconds']['total']} s")
    if fails:
        print("theorem checks that FAILED: " + "; ".join(fails))
        return 1
    return 0

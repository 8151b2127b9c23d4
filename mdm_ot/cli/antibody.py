"""``mdm-ot antibody``: fetch AntiBERTy and the germlines, run the schedule table, infill one sequence.

Commands:
  ``antibody fetch``   download the pinned wheels with pip, check SHA-256, extract the files;
  ``antibody table``   the schedule × steps table on AntiBERTy infilling (markdown, JSON, PNG);
  ``antibody eval``    infill the ``_`` positions of one sequence with one schedule.
"""

from __future__ import annotations

import dataclasses
import sys

from mdm_ot._io import check_output_dir
from mdm_ot.cli._args import (
    ALPHA_HELP,
    alpha_spec,
    antibody_task,
    integer,
    integer_list,
    seed,
    write_json,
)
from mdm_ot.cli._limits import MAX_BATCH, MAX_MODEL_STEPS, MAX_SAMPLES, MAX_TEST_SEQUENCES

#: ``antibody eval``: AntiBERTy's 512 positions less the two special tokens.
_MAX_SEQUENCE = 510


def _log(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def _fetch(args) -> int:
    from mdm_ot.experiments.antibody import fetch

    try:
        written = fetch.fetch(root=args.cache, wheel_dir=args.wheels,
                              keep_wheels=args.keep_wheels, force=args.force)
    except RuntimeError as exc:  # pip could not download: one clean line, exit status 2
        raise ValueError(str(exc)) from exc
    where = str(fetch.antibody_dir(args.cache))
    if args.json:
        write_json({"cache": where, "written": written})
    else:
        print(f"antibody files in {where}: " + (f"{len(written)} written" if written
                                                 else "already present and verified"))
    return 0


def _table(args) -> int:
    from mdm_ot.experiments.antibody import table

    if args.out:
        check_output_dir(args.out, "--out")
    if args.from_json:
        result = table.read_result(args.from_json, "--from-json")
    else:
        cfg = table.SMALL if args.small else table.TableConfig()
        changes = {"task": args.task, "seed": args.seed}
        if args.steps:
            changes["steps"] = args.steps
        if args.n_test is not None:
            changes["n_test"] = args.n_test
        if args.no_tune:
            changes["tune"] = False
        if args.no_pll:
            changes["pll"] = False
        if args.no_transfer:
            changes["transfer"] = ()
        if args.batch_size is not None:
            changes["batch_size"] = args.batch_size
        cfg = dataclasses.replace(cfg, **changes)
        result = table.antibody_table(cfg, root=args.cache, log=_log)
    paths = table.write(result, args.out) if args.out else {}
    if args.json:
        write_json({**result, "files": paths}, default=float)
    else:
        print(table.to_markdown(result))
        for kind, path in paths.items():
            _log(f"wrote {kind}: {path}")
    return 0


def _eval(args) -> int:
    import jax
    import numpy as np

    from mdm_ot.experiments.antibody import model, tasks

    if not 1 <= len(args.sequence) <= _MAX_SEQUENCE:
        raise ValueError(f"sequence: {len(args.sequence)} characters; allowed: 1 to {_MAX_SEQUENCE}")
    try:
        z = model.encode(args.sequence)
    except ValueError as exc:
        raise ValueError(f"sequence: {str(exc).splitlines()[0]}") from None
    hidden = z == model.MASK_ID
    if not hidden.any():
        raise ValueError("the sequence has no '_' to infill")
    den = model.load_antiberty(args.cache)
    al, om = tasks.alphas_on_grid([args.schedule], args.steps)
    smp = {s.name: s for s in tasks.SAMPLERS}[args.sampler]
    smp = dataclasses.replace(smp, samples=args.samples)
    # the hidden positions are masked in the state; the sampler fills exactly those
    x = np.where(hidden, 0, z)[None]
    out = tasks.infill(den, smp, al, om, x, hidden[None], jax.random.key(args.seed),
                       batch_size=args.samples)[0, 0]
    seqs = model.decode(out)
    if args.json:
        write_json({"input": args.sequence, "schedule": args.schedule, "steps": args.steps,
                    "sampler": args.sampler, "samples": seqs})
    else:
        print("\n".join(seqs))
    return 0


def register(subparsers) -> None:
    """Add ``antibody fetch|table|eval`` to the ``mdm-ot`` parser."""
    p = subparsers.add_parser("antibody", help="AntiBERTy few-step infilling of antibody sequences")
    sub = p.add_subparsers(dest="antibody_command", metavar="SUBCOMMAND", parser_class=type(p))
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    def common(q):
        q.add_argument("--cache", default=None,
                       help="cache root (default $MDM_OT_CACHE, else ~/.cache/mdm_ot)")
        q.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    f = sub.add_parser("fetch", help="download AntiBERTy 0.1.3 and ANARCI wheels (pip), verify, extract")
    common(f)
    f.add_argument("--wheels", default=None, metavar="DIR",
                   help="use wheels already downloaded into DIR (offline)")
    f.add_argument("--keep-wheels", action="store_true", help="keep the downloaded wheels (97 MB)")
    f.add_argument("--force", action="store_true", help="extract again even if present")
    f.set_defaults(func=_fetch)

    t = sub.add_parser("table", help="schedules x steps table of AntiBERTy infilling")
    common(t)
    t.add_argument("--task", default="cdr12", type=antibody_task, help="cdr12 | random:F | span:F (default cdr12)")
    t.add_argument("--small", action="store_true",
                   help="CPU-sized run (4 test sequences, K=2,4, 2x2 tuning grid, no transfer)")
    t.add_argument("--steps", type=integer_list("--steps", 1, MAX_MODEL_STEPS), default=None,
                   help="comma-separated K values (default 2,4,8,16,32)")
    t.add_argument("--n-test", type=integer("--n-test", 1, MAX_TEST_SEQUENCES), default=None,
                   help="at most N test sequences per set")
    t.add_argument("--no-tune", action="store_true", help="leave out the tuned row")
    t.add_argument("--no-pll", action="store_true", help="skip the pseudo-log-likelihood")
    t.add_argument("--no-transfer", action="store_true", help="only the home species/chain")
    t.add_argument("--batch-size", type=integer("--batch-size", 1, MAX_BATCH), default=None)
    t.add_argument("--seed", type=seed(), default=0)
    t.add_argument("--out", default=None, metavar="DIR", help="write .md, .json and .png into DIR")
    t.add_argument("--from-json", default=None, metavar="FILE",
                   help="render a table JSON written earlier instead of running")
    t.set_defaults(func=_table)

    e = sub.add_parser("eval", help="infill the '_' positions of one sequence")
    common(e)
    e.add_argument("sequence", help="amino acids with '_' at the positions to infill")
    e.add_argument("--schedule", default="linear", type=alpha_spec(), help=f"{ALPHA_HELP}; default linear")
    e.add_argument("--steps", type=integer("--steps", 1, MAX_MODEL_STEPS), default=4)
    e.add_argument("--sampler", default="count-confidence", choices=("count-confidence", "stochastic"))
    e.add_argument("--samples", type=integer("--samples", 1, MAX_SAMPLES), default=1)
    e.add_argument("--seed", type=seed(), default=0)
    e.set_defaults(func=_eval)

"""``mdm-ot score antibody|code``: answer one evaluation request with one of our real models.

Reads one request (a JSON object, :func:`mdm_ot.tuning.make_request`) on stdin, or from
``--request FILE``, evaluates its schedule (:mod:`mdm_ot.experiments.scoring`) and prints the
answer, one JSON line with ``score`` (maximize it) and the model's metrics, on stdout. Logs
go to stderr. It is the evaluator of ``mdm-ot tune --command 'mdm-ot score antibody'``.
"""

from __future__ import annotations

import json
import sys

from mdm_ot.cli._args import antibody_task, integer, write_json
from mdm_ot.cli._limits import MAX_BATCH, MAX_SAMPLES

# A request is a few numbers per step: K = 1024 steps is ~60 kB; this fence keeps a
# runaway pipe from being read into memory whole.
_MAX_REQUEST_BYTES = 16 << 20


def _read_request(path: str) -> dict:
    where = "stdin" if path == "-" else path
    try:
        if path == "-":
            text = sys.stdin.read(_MAX_REQUEST_BYTES + 1)
        else:
            with open(path) as fh:
                text = fh.read(_MAX_REQUEST_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"--request: cannot read {where}: {exc.strerror or exc}") from None
    if len(text) > _MAX_REQUEST_BYTES:
        raise ValueError(f"--request: the request on {where} is larger than {_MAX_REQUEST_BYTES} bytes")
    if not text.strip():
        raise ValueError(f"--request: nothing on {where}; expected one JSON request object")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--request: the request on {where} is not JSON ({exc.msg} at line "
                         f"{exc.lineno}); expected one JSON object") from None


def _check_species(species: str, chain: str, cache) -> None:
    from mdm_ot.experiments.antibody import data

    germ = data.load_germlines(cache)
    known = sorted({r.species for r in data.v_domains(germ, chain=chain)})
    if species not in known:
        raise ValueError(f"--species: no {chain} chain V domains for {species!r}; allowed: {', '.join(known)}")


def _run(args) -> int:
    from mdm_ot.experiments import scoring
    from mdm_ot.tuning import check_request

    request = _read_request(args.request)
    try:
        check_request(request)
    except ValueError as exc:
        raise ValueError(f"--request: {exc}") from None
    if args.model == "antibody":
        _check_species(args.species, args.chain, args.cache)
        settings = scoring.AntibodyScoring(
            task=args.task or "cdr12", species=args.species, chain=args.chain, split=args.split,
            sampler=args.sampler or "count-confidence", max_items=args.max_items,
            batch_size=args.batch_size or 16, cache=args.cache)
        answer = scoring.score_antibody(request, settings)
    else:
        settings = scoring.CodeScoring(
            task=args.task or "completion", split=args.split, sampler=args.sampler or "count",
            max_items=args.max_items or 256, batch_size=args.batch_size or 256, checkpoint=args.checkpoint)
        answer = scoring.score_code(request, settings)
    sys.stderr.write(f"mdm-ot score {args.model}: {request['schedule']} K={request['steps']} "
                     f"stage {request['stage']}: score {answer['score']:.6g} on {answer['items']} items "
                     f"({answer['seconds']:.1f} s)\n")
    write_json(answer, allow_nan=False)
    return 0


def register(subparsers) -> None:
    """Add ``score antibody|code`` to the ``mdm-ot`` parser."""
    p = subparsers.add_parser(
        "score", help="answer one tuning request (JSON on stdin) with a real model: the "
                      "evaluator for `mdm-ot tune --command 'mdm-ot score MODEL'`")
    sub = p.add_subparsers(dest="model", metavar="MODEL", parser_class=type(p))
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    def common(q):
        q.add_argument("--request", default="-", metavar="FILE",
                       help="read the request from FILE instead of stdin ('-')")
        q.add_argument("--split", default="tune", choices=("tune", "test"),
                       help="which split the items come from (default tune)")
        q.add_argument("--max-items", type=integer("--max-items", 1, MAX_SAMPLES), default=None,
                       help="the whole evaluation set: this many items of the split "
                            "(default: antibody all, code 256); a request's subset_size "
                            "takes a prefix of it")
        q.add_argument("--batch-size", type=integer("--batch-size", 1, MAX_BATCH), default=None,
                       help="items per sampler call (default: antibody 16, code 256)")
        q.set_defaults(func=_run)

    a = sub.add_parser("antibody", help="AntiBERTy infilling recovery (needs `mdm-ot antibody fetch`)")
    common(a)
    a.add_argument("--task", default=None, type=antibody_task, help="cdr12 | random:F | span:F (default cdr12)")
    a.add_argument("--species", default="human", help="ANARCI species (default human)")
    a.add_argument("--chain", default="H", choices=("H", "K", "L"), help="default H")
    a.add_argument("--sampler", default=None, choices=("count-confidence", "stochastic"),
                   help="default count-confidence (temperature 0)")
    a.add_argument("--cache", default=None,
                   help="cache root (default $MDM_OT_CACHE, else ~/.cache/mdm_ot)")
    a.set_defaults(checkpoint=None)

    c = sub.add_parser("code", help="the shipped code-line model (completion similarity by default)")
    common(c)
    c.add_argument("--task", default=None, choices=("completion", "unconditional"),
                   help="default completion")
    c.add_argument("--sampler", default=None, choices=("count", "stochastic"), help="default count")
    c.add_argument("--checkpoint", default=None, metavar="FILE", help="default: the shipped model")
    c.set_defaults(species=None, chain=None, cache=None)

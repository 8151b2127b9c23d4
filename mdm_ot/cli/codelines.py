"""``mdm-ot code``: the code-line masked diffusion model (train, eval, table).

``mdm-ot code train [--out DIR] [--steps N] [--resume]``
    trains the denoiser on this interpreter's standard library (progress bar, held-out
    bits per character, checkpoints in DIR); ``--export FILE`` also writes the
    optimizer-free checkpoint that ships with the package.
``mdm-ot code eval --alpha SPEC --steps K [--task unconditional|completion] [--json]``
    samples with one schedule and step count and prints the metrics.
``mdm-ot code table [--json] [--out DIR]``
    the paper's table format: schedules x steps, both samplers; markdown, PNG, JSON.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mdm_ot._io import check_output_dir, check_output_file
from mdm_ot.cli._args import ALPHA_HELP, alpha_spec, integer, integer_list, number, seed, write_json
from mdm_ot.cli._limits import (
    MAX_BATCH,
    MAX_LAYERS,
    MAX_LR,
    MAX_MODEL_STEPS,
    MAX_SAMPLES,
    MAX_SHOW,
    MAX_TEMPERATURE,
    MAX_TRAIN_STEPS,
    MAX_WIDTH,
)

#: ``code eval/table --samples``: a standard error needs two samples.
_MIN_SAMPLES = 2


def register(subparsers) -> None:
    """Add ``code`` and its sub-commands to the ``mdm-ot`` parser."""
    p = subparsers.add_parser(
        "code",
        help="a code-line masked diffusion model trained on the standard library",
        description="A code-line masked diffusion model trained here on this interpreter's "
        "standard library: train it, sample with any schedule, the paper's table.",
    )
    sub = p.add_subparsers(dest="code_command", metavar="SUBCOMMAND", parser_class=type(p))
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    t = sub.add_parser("train", help="train the denoiser (the shipped one: 24 minutes measured on 2 CPU cores)")
    t.add_argument("--out", default="runs/code", help="run folder (checkpoint.npz, log.jsonl)")
    t.add_argument("--steps", type=integer("--steps", 1, MAX_TRAIN_STEPS), default=None,
                   help=f"optimizer steps, at most {MAX_TRAIN_STEPS}")
    t.add_argument("--batch-size", type=integer("--batch-size", 2, MAX_BATCH), default=None,
                   help=f"lines per step (even, at most {MAX_BATCH})")
    t.add_argument("--lr", type=number("--lr", 0.0, strict=True, hi=MAX_LR), default=None,
                   help=f"peak learning rate, in (0, {MAX_LR:g}]")
    t.add_argument("--seed", type=seed(), default=None)
    t.add_argument("--layers", type=integer("--layers", 1, MAX_LAYERS), default=None)
    t.add_argument("--width", type=integer("--width", 1, MAX_WIDTH), default=None,
                   help="d_model (d_ff = 4 x width), a multiple of the 4 attention heads")
    t.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.npz")
    t.add_argument("--export", default=None, help="also write the optimizer-free checkpoint here")
    t.add_argument("--no-progress", action="store_true")
    t.add_argument("--json", action="store_true", help="print a JSON summary at the end")
    t.set_defaults(func=_train)

    e = sub.add_parser("eval", help="sample with one schedule and step count; print the metrics")
    e.add_argument("--alpha", required=True, type=alpha_spec(), help=ALPHA_HELP)
    e.add_argument("--steps", type=integer("--steps", 1, MAX_MODEL_STEPS), required=True,
                   help=f"sampling steps K, at most {MAX_MODEL_STEPS}")
    e.add_argument("--task", choices=("unconditional", "completion"), default="unconditional")
    e.add_argument("--sampler", choices=("count", "stochastic"), default="count")
    e.add_argument("--order", choices=("confidence", "random"), default="confidence")
    e.add_argument("--block-length", type=integer("--block-length", 1, 64), default=None,
                   help="semi-autoregressive blocks, a divisor of 64 (default: none)")
    e.add_argument("--temperature", type=number("--temperature", hi=MAX_TEMPERATURE), default=None,
                   help="default: 1 for unconditional generation, 0 for completion")
    e.add_argument("--split", choices=("tune", "test"), default="test")
    e.add_argument("--samples", type=integer("--samples", _MIN_SAMPLES, MAX_SAMPLES), default=256)
    e.add_argument("--seed", type=seed(), default=0)
    e.add_argument("--checkpoint", default=None, help="default: the shipped checkpoint")
    e.add_argument("--show", type=integer("--show", 0, MAX_SHOW), default=5, help="print this many samples")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=_eval)

    b = sub.add_parser("table", help="schedules x steps for both samplers (markdown, PNG, JSON)")
    b.add_argument("--out", default=None, help="folder for table.md, table.png, table.json")
    b.add_argument("--json", action="store_true", help="print the JSON on stdout")
    b.add_argument("--task", choices=("unconditional", "completion", "both"), default="both")
    b.add_argument("--samples", type=integer("--samples", _MIN_SAMPLES, MAX_SAMPLES), default=None,
                   help="samples per cell")
    b.add_argument("--steps-list", type=integer_list("--steps-list", 1, MAX_MODEL_STEPS), default=None,
                   help="comma-separated K values (default 4,8,16,32,64)")
    b.add_argument("--tune-steps", type=integer("--tune-steps", 1, MAX_MODEL_STEPS), default=None, help="K at which to tune (default 8)")
    b.add_argument("--tune-small", type=integer("--tune-small", 1, MAX_SAMPLES), default=None, help="samples per grid point, stage 1")
    b.add_argument("--tune-large", type=integer("--tune-large", _MIN_SAMPLES, MAX_SAMPLES), default=None, help="samples per candidate, stage 2")
    b.add_argument("--shortlist", type=integer("--shortlist", 1, 100), default=None, help="grid points kept for stage 2")
    b.add_argument("--no-tune", action="store_true", help="leave out the tuned row")
    b.add_argument("--baselines-compete", action="store_true",
                   help="the hand-made schedules may win the tuning too (default: the paper's protocol, "
                        "which picks among the grid shortlist only)")
    b.add_argument("--block-length", type=integer("--block-length", 1, 64), default=None,
                   help="semi-autoregressive blocks for the count sampler, a divisor of 64 (default: none)")
    b.add_argument("--seed", type=seed(), default=0)
    b.add_argument("--checkpoint", default=None)
    b.add_argument("--no-progress", action="store_true")
    b.set_defaults(func=_table)


def _train(args) -> int:
    import dataclasses

    from mdm_ot.experiments.codelines import train as tr

    mc_kw, tc_kw = {}, {}
    if args.layers is not None:
        mc_kw["num_layers"] = args.layers
    if args.width is not None:
        mc_kw["d_model"] = args.width
        mc_kw["d_ff"] = 4 * args.width
    for name, key in (("steps", "steps"), ("batch_size", "batch_size"), ("lr", "peak_lr"), ("seed", "seed")):
        if getattr(args, name) is not None:
            tc_kw[key] = getattr(args, name)
    if args.width is not None and args.width % tr.DEFAULT_MODEL.num_heads:
        raise ValueError(f"--width must be a multiple of {tr.DEFAULT_MODEL.num_heads} (the attention heads), "
                         f"got {args.width}")
    if args.batch_size is not None and args.batch_size % 2:
        raise ValueError(f"--batch-size must be even (half unconditional lines, half pairs), got {args.batch_size}")
    check_output_dir(args.out, "--out")
    if args.export:
        check_output_file(args.export, "--export")
    model_config = dataclasses.replace(tr.DEFAULT_MODEL, **mc_kw)
    train_config = dataclasses.replace(tr.DEFAULT_TRAIN, **tc_kw)
    log = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    summary = tr.train(
        args.out,
        model_config=model_config,
        train_config=train_config,
        resume=args.resume,
        progress=not args.no_progress,
        log=log,
    )
    if args.export:
        tr.export_checkpoint(summary["checkpoint"], args.export)
        summary["exported"] = str(args.export)
    if args.json:
        write_json(summary)
    else:
        print(f"trained {summary['steps']} steps in {summary['seconds']:.0f} s; checkpoint {summary['checkpoint']}")
    return 0


def _eval(args) -> int:
    from mdm_ot.experiments.codelines import evaluate as ev

    result = ev.evaluate_cli(
        alpha=args.alpha,
        steps=args.steps,
        task=args.task,
        sampler=args.sampler,
        order=args.order,
        temperature=args.temperature,
        split=args.split,
        samples=args.samples,
        seed=args.seed,
        checkpoint=args.checkpoint,
        block_length=args.block_length,
    )
    if args.json:
        write_json(result)
        return 0
    print(ev.format_result(result, show=args.show))
    return 0


def _table(args) -> int:
    import dataclasses

    from mdm_ot.experiments.codelines import table as tb

    steps_list = args.steps_list
    if args.out:
        check_output_dir(args.out, "--out")
    sizes = tb.TableSizes()
    for name in ("tune_small", "tune_large", "shortlist"):
        if getattr(args, name) is not None:
            sizes = dataclasses.replace(sizes, **{name: getattr(args, name)})
    result = tb.run_table(
        task=args.task,
        samples=args.samples,
        sizes=sizes,
        steps_list=steps_list,
        tune_steps=args.tune_steps,
        tune=not args.no_tune,
        block_length=args.block_length,
        baselines_compete=args.baselines_compete,
        seed=args.seed,
        checkpoint=args.checkpoint,
        progress=not args.no_progress,
    )
    if args.out:
        paths = tb.write_outputs(result, Path(args.out))
        result["files"] = {k: str(v) for k, v in paths.items()}
    if args.json:
        write_json(result)
    else:
        print(tb.to_markdown(result))
    return 0

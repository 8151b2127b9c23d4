"""The ``mdm-ot`` command line.

Each command family lives in its own module with a ``register(subparsers)`` function that
adds its parsers and sets ``func`` (a callable ``args -> int``) on each. Bad input raises
:class:`ValueError` (or argparse's error) and becomes a one-line message with exit status 2;
so does an :class:`OSError` (the message names the path).
Commands: ``energy`` (energy.py), ``theorems`` (theorems.py), ``reproduce`` (report.py),
``toy`` (toy.py), ``transfer-tokens`` (sampling.py), ``tune`` (tuning.py), ``export`` (export.py),
``code`` (codelines.py), ``antibody`` (antibody.py), ``score`` (score.py). Each command parses its arguments,
calls one library function and formats the result.

Two entry points: :func:`main` runs one command in the calling process and returns its exit
status (130 after a ``KeyboardInterrupt``); :func:`run` is the process entry point (the
``mdm-ot`` script and ``python -m mdm_ot.cli``): it turns SIGINT and SIGTERM into an
interrupt, calls :func:`main`, and after an interrupt leaves without tearing down the
interpreter (see :func:`run` for why).

This module imports nothing heavy at import time (no jax), so that :func:`run` installs its
signal handlers before the slow imports start.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
import time

__all__ = ["ALPHA_HELP", "GAMMA_HELP", "Interrupted", "build_parser", "finite_or_none", "integer",
           "main", "number", "run"]

# The argument types and spec help texts every command module uses (public for tests and
# for command families added outside this package). They live in `_args`, which imports the
# schedules (and so jax): loaded on first use, not when the entry point is imported.
_ARGS_NAMES = ("ALPHA_HELP", "GAMMA_HELP", "finite_or_none", "integer", "number")


def __getattr__(name: str):
    if name in _ARGS_NAMES:
        from mdm_ot.cli import _args

        return getattr(_args, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_ARGS_NAMES))


# Command modules, loaded lazily so `mdm-ot --help` stays fast and one broken family does
# not take the others down.
_COMMAND_MODULES = (
    "mdm_ot.cli.energy",
    "mdm_ot.cli.theorems",
    "mdm_ot.cli.report",
    "mdm_ot.cli.toy",
    "mdm_ot.cli.sampling",
    "mdm_ot.cli.tuning",
    "mdm_ot.cli.export",
    "mdm_ot.cli.codelines",
    "mdm_ot.cli.antibody",
    "mdm_ot.cli.score",
)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM, raised in the main thread by :func:`run`'s handler.

    A ``KeyboardInterrupt``, so every ``except BaseException`` / ``finally`` on the way out
    runs (the atomic outputs of :mod:`mdm_ot._io` remove their temporaries there).
    """

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit status 2, no usage dump
        sys.stderr.write(f"mdm-ot: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mdm-ot",
        description="Masked diffusion schedules as energy minimization (arXiv:2509.13866).",
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # family not built yet
                continue
            raise
        module.register(sub)
    return parser


def _one_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def _os_error_message(exc: OSError) -> str:
    """``'PATH': what went wrong`` (``'A' -> 'B'`` for a rename), one line."""
    what = exc.strerror or _one_line(str(exc)) or type(exc).__name__
    if exc.filename is None:
        return what
    where = repr(os.fsdecode(exc.filename))
    if getattr(exc, "filename2", None) is not None:
        where += f" -> {os.fsdecode(exc.filename2)!r}"
    return f"{where}: {what}"


def _interrupted(exc: KeyboardInterrupt) -> int:
    signum = getattr(exc, "signum", signal.SIGINT)
    word = "terminated" if signum == signal.SIGTERM else "interrupted"
    with contextlib.suppress(Exception):
        sys.stderr.write(f"mdm-ot: {word}\n")
    return 128 + signum


def _main(argv: list[str] | None) -> int:
    import jax

    # The command line computes in float64: accuracy is the point of its numbers.
    jax.config.update("jax_enable_x64", True)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ValueError as exc:
        sys.stderr.write(f"mdm-ot: error: {_one_line(str(exc)) or type(exc).__name__}\n")
        return 2
    except OSError as exc:  # a path that cannot be read or written: name it, no traceback
        sys.stderr.write(f"mdm-ot: error: {_os_error_message(exc)}\n")
        return 2


def main(argv: list[str] | None = None) -> int:
    """Run ``mdm-ot ARGV`` in this process; returns the exit status.

    Bad input, and a path that cannot be read or written, give one line on stderr and 2; an
    interrupt gives ``mdm-ot: interrupted`` and 130 (143 for :class:`Interrupted` from
    SIGTERM). argparse's ``--help`` and usage errors leave through ``SystemExit``.
    """
    try:
        return _main(argv)
    except KeyboardInterrupt as exc:
        return _interrupted(exc)


# The signal `run`'s handler is holding (None: none yet), and whether it has been raised as
# Interrupted into ordinary code (then repeats are ignored while the interrupt unwinds, so
# that a second Ctrl-C cannot cut the removal of partial outputs short).
_pending: int | None = None
_raised = False


def _unsafe(frame) -> bool:
    """Whether an exception raised in ``frame`` could not unwind the command cleanly.

    Raised inside an import, it can abort the process or surface as an ``ImportError``
    (jaxlib's module init turns it into "Encountered an error while initializing");
    raised inside a garbage-collector callback (jax registers ``_xla_gc_callback``), a
    ``__del__`` or the unraisable hook, Python prints "Exception ignored" and carries on as
    if no signal had come.
    """
    import gc

    callbacks = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    callbacks.add(_on_unraisable.__code__)
    while frame is not None:
        code = frame.f_code
        if (code.co_filename.startswith("<frozen importlib") or code in callbacks
                or code.co_name == "__del__"):
            return True
        frame = frame.f_back
    return False


def _redeliver_later():
    """Send the held signal to the main thread again, every 20 ms, until it is raised."""

    def loop():
        while not _raised:
            time.sleep(0.02)
            if not _raised and _pending is not None:
                signal.pthread_kill(threading.main_thread().ident, _pending)

    threading.Thread(target=loop, name="mdm-ot-redeliver", daemon=True).start()


def _on_signal(signum, frame):
    global _pending, _raised
    if _raised:
        return
    first = _pending is None
    if first:
        _pending = signum
    if _unsafe(frame):
        if first:
            _redeliver_later()
        return
    _raised = True
    raise Interrupted(_pending)


def _on_unraisable(unraisable):
    """An Interrupted swallowed anyway (a weakref callback, say): hold it and send it again."""
    global _raised
    if not isinstance(unraisable.exc_value, Interrupted):
        return _previous_unraisablehook(unraisable)
    _raised = False
    _redeliver_later()
    return None


_previous_unraisablehook = sys.unraisablehook


def _on_late_signal(signum, frame):
    # The command has finished and its outputs are complete: leave at once.
    _exit_now(_interrupted(Interrupted(signum)))


def _exit_now(code: int):
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def run(argv: list[str] | None = None):
    """The process entry point (``mdm-ot``, ``python -m mdm_ot.cli``); never returns.

    SIGINT and SIGTERM raise :class:`Interrupted` in the main thread; :func:`main` reports it
    and returns 130 / 143. After an interrupt the process leaves with ``os._exit`` (stdout
    and stderr flushed first, partial outputs already removed while the interrupt unwound),
    not through the interpreter's teardown. Why: an interrupt can abandon XLA work that is
    still running on jaxlib's own threads (``backend.compile_and_load`` waits for the
    compile with signal checks, so Ctrl-C returns while a compile-pool thread is still
    building the executable). At teardown the garbage collector frees the XLA client, whose
    destructor frees the devices before it joins that pool; the compile thread then calls
    ``SingleDeviceSharding::Create`` on a freed device and the process dies with SIGSEGV
    (exit 139, seen with jaxlib 0.10.2). Nothing remains to be done after an interrupt, so
    the process skips the teardown that races with those threads.
    """
    global _previous_unraisablehook
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _on_signal)
    _previous_unraisablehook, sys.unraisablehook = sys.unraisablehook, _on_unraisable
    try:
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
            if not isinstance(exc.code, int) and exc.code is not None:
                sys.stderr.write(f"{exc.code}\n")
        if _pending is None:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, _on_late_signal)
    except KeyboardInterrupt as exc:  # arrived between main's return and the line above
        code = _interrupted(exc)
    if _pending is not None:
        if not _raised:  # held through the end (it came during a final import, say)
            code = _interrupted(Interrupted(_pending))
        _exit_now(code)
    raise SystemExit(code)

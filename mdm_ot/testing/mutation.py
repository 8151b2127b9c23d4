r"""The mutation suite: do the tests catch a wrong library?

``python -m mdm_ot.testing.mutation [--json] [--only NAME ...] [--list] [--timeout S]``

Each named mutant (:data:`mdm_ot.testing._mutants.MUTANTS`) is a small semantic edit of one
source file: an exact ``old -> new`` text replacement that must match exactly once (else the
run stops with an error: a mutant must never silently become a no-op after a refactor). It
is applied to a *temporary copy* of the package, never to the working tree: ``mdm_ot/`` is
copied to a temporary directory, edited there, and pytest runs its test files (``-x``, the
default ``not slow`` selection) in a child process whose ``PYTHONPATH`` puts the copy first;
the child checks that ``mdm_ot`` really is imported from the copy before pytest starts.

Outcomes:
  - ``killed``: pytest exit status 1 (a test failed, or errored in its setup, under the
    mutant). The first ``FAILED``/``ERROR`` node id is the killer. An exception the mutated
    library raises inside a test counts: the test failed.
  - ``survived``: exit status 0 (every selected test passed).
  - ``error``: anything else: the mutated file does not compile, the edit does not match
    exactly once, the child imported the wrong package, a collection error (pytest exit
    2-5; a mutant that breaks the *import* of a test module is reported here, not as
    killed, since no test ran), or the timeout.

Exit status: 0 when every mutant is killed, 1 when one survived or errored, 2 for bad
arguments. ``--json`` prints ``{"mutants": [...], "killed": [...], "survived": [...],
"errors": [...], "details": [...], "seconds": ...}``.

References:
  paper_checks/README.md, section "Mutation suite" (the kill table, equivalent mutants).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

from mdm_ot.testing._mutants import MUTANTS, Mutant

__all__ = ["MUTANTS", "Mutant", "MutantError", "apply_mutant", "mutant_source", "run_mutant", "main"]

PACKAGE_DIR = pathlib.Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_DIR.parent
DEFAULT_TIMEOUT = 300.0

# Run in the child with `python -c`: drop the working directory from sys.path (what
# `python -P` does, on every supported Python), import mdm_ot, make sure it is the mutated
# copy, then hand over to pytest.
_BOOT = r"""
import os, sys
root = os.path.realpath(sys.argv[1])
sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd())]
import mdm_ot
where = os.path.realpath(mdm_ot.__file__)
if not where.startswith(root + os.sep):
    print(f"MUTATION-RUNNER: mdm_ot imported from {where}, not from the copy in {root}")
    sys.exit(97)
sys.path.insert(0, os.getcwd())  # as `python -m pytest` does; mdm_ot is already bound
import pytest
sys.exit(pytest.main(sys.argv[2:]))
"""
_WRONG_PACKAGE = 97


class MutantError(RuntimeError):
    """A mutant that cannot be applied (its text does not occur exactly once)."""


def mutant_source(mutant: Mutant, text: str) -> str:
    """``text`` with the mutant's edit applied; raises :class:`MutantError` unless ``old``
    occurs exactly once."""
    count = text.count(mutant.old)
    if count != 1:
        raise MutantError(
            f"mutant {mutant.name!r}: its text occurs {count} times in mdm_ot/{mutant.path} "
            f"(must be exactly once; update the mutant after a refactor): {mutant.old!r}"
        )
    return text.replace(mutant.old, mutant.new)


def apply_mutant(mutant: Mutant, package_copy: pathlib.Path) -> pathlib.Path:
    """Apply ``mutant`` to the copy of the package at ``package_copy`` (a directory named
    ``mdm_ot``); returns the edited file. Refuses to edit this package itself."""
    package_copy = pathlib.Path(package_copy).resolve()
    if package_copy == PACKAGE_DIR:
        raise MutantError("refusing to mutate the working tree; apply mutants to a copy")
    target = package_copy / mutant.path
    new = mutant_source(mutant, target.read_text())
    compile(new, str(target), "exec")  # a SyntaxError here is a bug of the mutant
    target.write_text(new)
    return target


def check_mutants(mutants: Sequence[Mutant] = MUTANTS) -> list[str]:
    """Problems with the mutant table against the current sources: names, files, edits."""
    problems, seen = [], set()
    for m in mutants:
        if m.name in seen:
            problems.append(f"duplicate mutant name {m.name!r}")
        seen.add(m.name)
        try:
            new = mutant_source(m, (PACKAGE_DIR / m.path).read_text())
            compile(new, m.path, "exec")
        except (MutantError, OSError, SyntaxError) as exc:
            problems.append(str(exc))
        for t in m.tests:
            if not (REPO_ROOT / t).is_file():
                problems.append(f"mutant {m.name!r}: test file {t} not found")
    return problems


_NODE = re.compile(r"^(FAILED|ERROR) (.+?)(?: - .*)?$", re.MULTILINE)  # node ids may hold spaces


def _summarize(code: int | None, output: str, timed_out: bool, timeout: float) -> tuple[str, str | None, str]:
    if timed_out:
        return "error", None, f"timeout after {timeout:.0f} s"
    if code == 1:
        hit = _NODE.search(output)
        if hit is None:
            return "error", None, "pytest exit 1 without a FAILED/ERROR line"
        killer = hit.group(2) if hit.group(1) == "FAILED" else f"{hit.group(2)} (error in setup)"
        return "killed", killer, ""
    if code == 0:
        return "survived", None, ""
    if code == _WRONG_PACKAGE:
        return "error", None, "the child did not import the mutated copy"
    tail = " | ".join(line for line in output.strip().splitlines()[-3:])
    return "error", None, f"pytest exit {code}: {tail[-300:]}"


def run_mutant(mutant: Mutant, *, timeout: float = DEFAULT_TIMEOUT, python: str | None = None) -> dict:
    """Apply ``mutant`` to a temporary copy of the package and run its tests there.

    Returns a dict ``name, module, result ("killed" | "survived" | "error"), killer, reason,
    seconds, tests``.
    """
    start = time.monotonic()
    out = {"name": mutant.name, "module": f"mdm_ot/{mutant.path}", "what": mutant.what,
           "tests": list(mutant.tests), "result": "error", "killer": None, "reason": ""}
    with tempfile.TemporaryDirectory(prefix="mdm_ot_mutant_") as tmp:
        copy = pathlib.Path(tmp) / "mdm_ot"
        shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        try:
            apply_mutant(mutant, copy)
        except (MutantError, SyntaxError) as exc:
            out["reason"] = str(exc)
            out["seconds"] = round(time.monotonic() - start, 1)
            return out
        env = dict(os.environ)
        env["PYTHONPATH"] = tmp + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        # The root conftest's `mutation` profile: the `ci` examples without shrinking (a
        # killing example only needs to be found, not minimised).
        env["HYPOTHESIS_PROFILE"] = "mutation"
        cmd = [python or sys.executable, "-c", _BOOT, tmp,
               "-x", "-q", "-p", "no:cacheprovider", "-m", "not slow", *mutant.tests]
        timed_out, code, output = False, None, ""
        try:
            proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                                  timeout=timeout)
            code, output = proc.returncode, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as exc:
            timed_out = True
            output = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        result, killer, reason = _summarize(code, output, timed_out, timeout)
        out.update(result=result, killer=killer, reason=reason)
    out["seconds"] = round(time.monotonic() - start, 1)
    return out


def _table(rows: list[dict]) -> str:
    head = ("name", "module", "result", "killer")
    cells = [head] + [(r["name"], r["module"], r["result"], r["killer"] or r["reason"] or "-") for r in rows]
    widths = [max(len(c[i]) for c in cells[:]) if i < 3 else 0 for i in range(4)]
    lines = []
    for c in cells:
        lines.append("  ".join(c[i].ljust(widths[i]) for i in range(3)) + "  " + c[3])
    lines.insert(1, "-" * min(120, sum(widths) + 6 + 20))
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mdm_ot.testing.mutation",
                                description="Run the mutation suite: each mutant on a temporary copy of mdm_ot.")
    p.add_argument("--json", action="store_true", help="print a JSON object instead of the table")
    p.add_argument("--only", nargs="+", action="extend", metavar="NAME", help="run only these mutants")
    p.add_argument("--list", action="store_true", help="list the mutants and exit")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per mutant (default 300)")
    return p


class _ArgError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 2 (argparse's own status too)
        raise _ArgError(message)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    parser.__class__ = _Parser
    try:
        args = parser.parse_args(argv)
        by_name = {m.name: m for m in MUTANTS}
        if args.only:
            unknown = [n for n in args.only if n not in by_name]
            if unknown:
                raise _ArgError(f"unknown mutant(s): {', '.join(unknown)} (see --list)")
        if not args.timeout > 0:
            raise _ArgError(f"--timeout must be > 0, got {args.timeout}")
    except _ArgError as exc:
        print(f"mutation: error: {exc}", file=sys.stderr)
        return 2
    selected = [by_name[n] for n in dict.fromkeys(args.only)] if args.only else list(MUTANTS)
    if args.list:
        for m in selected:
            print(f"{m.name:34s} mdm_ot/{m.path:24s} {m.what}")
        return 0
    problems = check_mutants(selected)
    if problems:
        for line in problems:
            print(f"mutation: error: {line}", file=sys.stderr)
        return 1
    start = time.monotonic()
    rows = []
    for m in selected:
        row = run_mutant(m, timeout=args.timeout)
        rows.append(row)
        print(f"[{len(rows)}/{len(selected)}] {m.name}: {row['result']} "
              f"({row['killer'] or row['reason'] or '-'}; {row['seconds']} s)",
              file=sys.stderr if args.json else sys.stdout, flush=True)
    seconds = round(time.monotonic() - start, 1)
    killed = [r["name"] for r in rows if r["result"] == "killed"]
    survived = [r["name"] for r in rows if r["result"] == "survived"]
    errors = [r["name"] for r in rows if r["result"] == "error"]
    if args.json:
        print(json.dumps({"mutants": [m.name for m in selected], "killed": killed, "survived": survived,
                          "errors": errors, "details": rows, "seconds": seconds}, indent=1))
    else:
        print()
        print(_table(rows))
        print(f"\n{len(killed)} killed, {len(survived)} survived, {len(errors)} errors "
              f"of {len(rows)} mutants in {seconds} s")
    return 0 if len(killed) == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())

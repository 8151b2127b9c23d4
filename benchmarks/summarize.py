"""One table of every issue-14 figure, from the JSON each benchmark wrote in one run.

Usage (the commands that produce the inputs are in benchmarks/README.md):
  python benchmarks/summarize.py --energy E.json --peers P.json --scaling S.json \
      --suite T.json [--write benchmarks/README.md]

Prints the markdown table; ``--write`` replaces the part of the file between the markers
``<!-- figures:start -->`` and ``<!-- figures:end -->``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

START, END = "<!-- figures:start -->", "<!-- figures:end -->"
COMMANDS = {
    "energy": "python benchmarks/energy_throughput.py",
    "peers": "python benchmarks/sampler_peers.py",
    "scaling": "python benchmarks/scaling.py",
    "suite": "python benchmarks/test_suite.py",
}


def _num(v, unit=""):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if unit == "share of a step":
        return f"{100 * v:.2g}%"
    if isinstance(v, bool):
        return str(v)
    a = abs(v)
    text = f"{v:.3g}" if 1e-3 <= a < 1e5 or a == 0 else f"{v:.2e}"
    return f"{text} {unit}".strip()


def _met(m):
    return {True: "met", False: "**not met**", None: "–"}.get(m, str(m))


def _rows_of(kind, data):
    for r in data["rows"]:
        unit = r.get("unit", "")
        ratio = r.get("ratio")
        extra = f"; worst rel. error {r['worst_rel_error']:.1e}" if r.get("worst_rel_error") is not None else ""
        yield (COMMANDS[kind], r["case"] + extra, _num(r.get("ours"), unit), _num(r.get("peer"), unit),
               "–" if ratio is None else f"{ratio:.3g}×", r.get("goal", ""), _met(r.get("met")))


def _scaling_rows(data):
    for c in data["curves"]:
        for what in ("time", "memory_above_base"):
            fit = c.get("fits", {}).get(what)
            if not fit or fit.get("exponent") is None:
                continue
            expected = c.get(f"expected_{'time' if what == 'time' else 'memory'}_exponent")
            label = "time" if what == "time" else "peak memory above the fixed cost"
            yield (COMMANDS["scaling"], f"{c['name']}: fitted exponent of {label} vs {c['x']}",
                   f"{fit['exponent']:.2f} ± {fit.get('stderr') or 0:.2f}", "–" if expected is None else f"{expected:.2f} (expected)",
                   "–", "report", "–")


def _suite_rows(data):
    goal = 360.0
    for key, label in (("cold", "empty compilation cache (fresh clone, CI)"), ("warm", "second run (cache filled)"),
                       ("no_cache", "cache switched off (baseline)")):
        if key in data:
            w = data[key]["wall_s"]
            yield (COMMANDS["suite"], f"default `{data['command']}` on {data['cpus']} cores, {label}: {data[key]['summary']}",
                   f"{w:.0f} s", "–", "–", "< 360 s", _met(w < goal and data[key]["returncode"] == 0))


def table(sources: dict) -> str:
    lines = ["| command | case | ours | peer / floor / expected | ratio | goal | met |", "|---|---|---|---|---|---|---|"]
    rows = []
    if "energy" in sources:
        rows += list(_rows_of("energy", sources["energy"]))
    if "peers" in sources:
        rows += list(_rows_of("peers", sources["peers"]))
    if "scaling" in sources:
        rows += list(_scaling_rows(sources["scaling"]))
    if "suite" in sources:
        rows += list(_suite_rows(sources["suite"]))
    lines += ["| " + " | ".join(str(x).replace("|", "/") for x in r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for k in COMMANDS:
        ap.add_argument(f"--{k}", type=Path, help=f"the JSON of `{COMMANDS[k]} --json PATH`")
    ap.add_argument("--write", type=Path, help="replace the figures section of this markdown file")
    args = ap.parse_args(argv)
    sources = {k: json.loads(getattr(args, k).read_text()) for k in COMMANDS if getattr(args, k) is not None}
    text = table(sources)
    print(text)
    if args.write:
        doc = args.write.read_text()
        if START not in doc or END not in doc:
            print(f"summarize: error: --write: {args.write} has no {START} ... {END} section", file=sys.stderr)
            return 2
        head, rest = doc.split(START, 1)
        _, tail = rest.split(END, 1)
        args.write.write_text(head + START + "\n" + text + "\n" + END + tail)
    return 0


if __name__ == "__main__":
    sys.exit(main())

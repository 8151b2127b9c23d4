r"""Lines of Python source from the running interpreter's standard library.

The data set is built from files nobody on this project wrote and nothing is downloaded:
the ``*.py`` files under ``sysconfig.get_paths()["stdlib"]``.

**Which files.** Every ``*.py`` file under the standard-library directory, walked in sorted
order, except folders named ``site-packages`` (installed packages differ between machines),
``test``, ``tests`` and ``idle_test`` (test data holds deliberately broken and Python-2
files), ``__pycache__``, the ``config-*`` build folder, and ``_sysconfigdata_*.py`` (written
by the build, different on every machine).

**Which lines.** A *code line* is a logical line of Python (as :mod:`tokenize` sees it)
that starts and ends on one physical line: a complete simple statement or a block header
(``def f(x):``, ``else:``). Blank lines, comment-only lines, lines inside strings, and
statements spread over several physical lines are not code lines. Each code line is
de-indented (leading and trailing whitespace removed); it is kept when it is 1 to
:data:`LINE_LENGTH` = 64 characters long and all its characters are printable ASCII
(``' '`` to ``'~'``). Longer lines are dropped, not cut, so that every kept line is a
complete line of real code. A file that :mod:`tokenize` rejects is skipped whole.

**Split.** By file, so that no file contributes to two splits: the file's path relative to
the standard-library folder (with ``/`` separators) is hashed,
``u = int(sha256("mdm_ot-code-split:" + path)[:8 bytes]) / 2**64``, and the file goes to
``train`` if ``u < 0.8``, ``tune`` if ``u < 0.9``, else ``test``. The split therefore does
not depend on which other files exist.

**Pairs.** For next-line completion, the *previous line* of a code line is the code line
before it in the same file (anything in between that is not a code line is skipped); the
first code line of a file has the empty line as its previous line.

**Vocabulary.** Token ``c - 32`` for a printable ASCII character ``c`` (ids 0..94),
:data:`PAD_ID` = 95 fills a line up to 64 positions, :data:`MASK_ID` = 96 is the mask. The
data vocabulary the model predicts is the 96 tokens 0..95: padding is a normal token (as
LLaDA's end-of-sequence padding), so the number of characters of a generated line is
decided by the sampler too. A generated line is decoded as the characters before its
first padding token.

**Fingerprint.** ``sha256`` of the extracted data (every split's file paths, in order, and
their lines, with separators). It goes into every checkpoint and every result; a result
computed from a different standard library shows a different fingerprint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import sys
import sysconfig
import tokenize
import warnings
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

LINE_LENGTH = 64
"""Positions per line (characters plus padding)."""
NUM_CHARS = 95
"""Printable ASCII characters, ``' '`` (32) to ``'~'`` (126)."""
PAD_ID = 95
"""Padding token: fills a line up to :data:`LINE_LENGTH`; predicted like any token."""
VOCAB_SIZE = 96
"""Size of the data vocabulary (characters and padding) that the denoiser predicts."""
MASK_ID = 96
"""The mask token (``= VOCAB_SIZE``, the convention of the project's samplers)."""
SPLITS = ("train", "tune", "test")
_SPLIT_BOUNDS = (0.8, 0.9)
_EXCLUDED_DIRS = frozenset({"site-packages", "test", "tests", "idle_test", "__pycache__"})
_DATA_VERSION = 1  # bump when the extraction rules above change


@dataclasses.dataclass(frozen=True)
class CodeFile:
    """The code lines of one source file.

    Attributes:
        path: path relative to the standard-library folder, ``/``-separated.
        lines: its code lines, in order (see the module docstring for the rules).
    """

    path: str
    lines: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class CodeLines:
    """The data set: files per split, and the fingerprint of the whole.

    Attributes:
        splits: ``{"train": (CodeFile, ...), "tune": ..., "test": ...}``.
        fingerprint: hex sha256 of the extracted data (see :func:`fingerprint_of`).
        source: where it came from (folder, Python version), for the record.
    """

    splits: dict[str, tuple[CodeFile, ...]]
    fingerprint: str
    source: dict

    def lines(self, split: str) -> list[str]:
        """All code lines of a split, file after file."""
        return [line for f in self._files(split) for line in f.lines]

    def pairs(self, split: str, *, skip_empty_prompt: bool = False) -> list[tuple[str, str]]:
        """``(previous line, line)`` pairs of a split, file after file.

        Args:
            split: ``"train"``, ``"tune"`` or ``"test"``.
            skip_empty_prompt: leave out each file's first line (whose previous line is empty).
        """
        out = []
        for f in self._files(split):
            prev = ""
            for i, line in enumerate(f.lines):
                if not (skip_empty_prompt and i == 0):
                    out.append((prev, line))
                prev = line
        return out

    def summary(self) -> dict:
        """Counts per split, the fingerprint and the source, as plain JSON values."""
        return {
            "fingerprint": self.fingerprint,
            "source": dict(self.source),
            "splits": {
                s: {
                    "files": len(self._files(s)),
                    "lines": sum(len(f.lines) for f in self._files(s)),
                    "characters": sum(len(x) for f in self._files(s) for x in f.lines),
                }
                for s in SPLITS
            },
        }

    def _files(self, split: str) -> tuple[CodeFile, ...]:
        if split not in self.splits:
            raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        return self.splits[split]


def split_of(path: str) -> str:
    """The split a file belongs to, from a hash of its relative path (module docstring)."""
    digest = hashlib.sha256(("mdm_ot-code-split:" + path).encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    if u < _SPLIT_BOUNDS[0]:
        return "train"
    if u < _SPLIT_BOUNDS[1]:
        return "tune"
    return "test"


def _is_kept(line: str) -> bool:
    return 0 < len(line) <= LINE_LENGTH and all(32 <= ord(c) < 127 for c in line)


def extract_code_lines(source: bytes) -> list[str]:
    """The code lines of one Python source file (module docstring's rules).

    Args:
        source: the file's bytes.

    Returns:
        The de-indented single-physical-line logical lines of 1..64 printable ASCII
        characters, in order.

    Raises:
        tokenize.TokenError, SyntaxError, UnicodeDecodeError: the file does not tokenize.
    """
    out: list[str] = []
    start_row = None
    first_line = ""
    skip = (tokenize.ENCODING, tokenize.INDENT, tokenize.DEDENT, tokenize.NL, tokenize.COMMENT)
    for tok in tokenize.tokenize(io.BytesIO(source).readline):
        if tok.type in skip or tok.type == tokenize.ENDMARKER:
            continue
        if tok.type == tokenize.NEWLINE:
            if start_row is not None and start_row == tok.start[0]:
                line = first_line.strip()
                if _is_kept(line):
                    out.append(line)
            start_row = None
            continue
        if start_row is None:
            start_row = tok.start[0]
            first_line = tok.line.split("\n")[0]
    return out


def stdlib_root() -> Path:
    """The standard-library folder of the running interpreter."""
    return Path(sysconfig.get_paths()["stdlib"])


def list_source_files(root: Path) -> list[str]:
    """The relative paths (``/``-separated, sorted) of the source files used from ``root``."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        if rel_dir.parts and (
            _EXCLUDED_DIRS.intersection(rel_dir.parts) or rel_dir.parts[0].startswith("config-")
        ):
            dirnames[:] = []
            continue
        for name in filenames:
            if name.endswith(".py") and not name.startswith("_sysconfigdata"):
                found.append((rel_dir / name).as_posix())
    return sorted(found)


def fingerprint_of(splits: dict[str, Sequence[CodeFile]]) -> str:
    """sha256 of the extracted data: split names, file paths and lines, with separators."""
    h = hashlib.sha256(f"mdm_ot-code-lines-v{_DATA_VERSION}\n".encode())
    for s in SPLITS:
        h.update(f"\x00split {s}\n".encode())
        for f in splits.get(s, ()):
            h.update(f"\x01{f.path}\n".encode())
            for line in f.lines:
                h.update(line.encode() + b"\n")
    return h.hexdigest()


def build_dataset(root: Path | str | None = None, files: Sequence[str] | None = None) -> CodeLines:
    """Extract the data set (no cache).

    Args:
        root: the folder to read; default the running interpreter's standard library.
        files: relative paths to use; default :func:`list_source_files` of ``root``.
    """
    root = Path(root) if root is not None else stdlib_root()
    if not root.is_dir():
        raise ValueError(f"source folder {str(root)!r} does not exist")
    paths = list(files) if files is not None else list_source_files(root)
    splits: dict[str, list[CodeFile]] = {s: [] for s in SPLITS}
    skipped = []
    for rel in paths:
        try:
            lines = extract_code_lines((root / rel).read_bytes())
        except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
            skipped.append(rel)
            continue
        splits[split_of(rel)].append(CodeFile(rel, tuple(lines)))
    frozen = {s: tuple(v) for s, v in splits.items()}
    source = {
        "root": str(root),
        "python": sys.version.split()[0],
        "num_files_listed": len(paths),
        "num_files_skipped": len(skipped),
    }
    return CodeLines(frozen, fingerprint_of(frozen), source)


def _cache_dir() -> Path:
    return Path(os.environ.get("MDM_OT_CACHE", Path.home() / ".cache" / "mdm_ot"))


def _stat_key(root: Path, paths: Sequence[str]) -> str:
    h = hashlib.sha256(f"v{_DATA_VERSION}|{root}|".encode())
    for rel in paths:
        st = (root / rel).stat()
        h.update(f"{rel}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def save_dataset(data: CodeLines, path: str | Path) -> Path:
    """Write the data set as JSON (the cache's format; see :func:`read_dataset`)."""
    path = Path(path)
    payload = {
        "fingerprint": data.fingerprint,
        "source": data.source,
        "splits": {s: [[f.path, list(f.lines)] for f in data.splits[s]] for s in SPLITS},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(payload))
    tmp.replace(path)
    return path


def read_dataset(path: str | Path) -> CodeLines:
    """Read a data set written by :func:`save_dataset`.

    Raises:
        ValueError: the file is not such a data set, or its lines do not match its
            stored fingerprint.
    """
    try:
        raw = json.loads(Path(path).read_text())
        splits = {s: tuple(CodeFile(p, tuple(ls)) for p, ls in raw["splits"][s]) for s in SPLITS}
        stored = raw["fingerprint"]
        source = raw["source"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{str(path)!r} is not a code-lines data file ({exc})") from None
    if fingerprint_of(splits) != stored:
        raise ValueError(f"{str(path)!r}: the lines do not match the stored fingerprint")
    return CodeLines(splits, stored, source)


@lru_cache(maxsize=4)
def load_dataset(root: str | None = None) -> CodeLines:
    """The data set of ``root`` (default: this interpreter's standard library), cached.

    Extraction tokenizes every file (about 10 s). The result is kept in memory and in a
    JSON file under ``$MDM_OT_CACHE`` (default ``~/.cache/mdm_ot``), keyed by the files'
    paths, sizes and modification times; the cache is only a shortcut: its content is
    checked against its stored fingerprint on load, and rebuilt when anything differs.

    With ``root`` None and the environment variable ``MDM_OT_CODE_DATA`` set to a file
    written by :func:`save_dataset`, that file is used instead: this evaluates on another
    machine's data (e.g. a machine with another Python version) with the same fingerprint.
    """
    override = os.environ.get("MDM_OT_CODE_DATA")
    if root is None and override:
        return read_dataset(override)
    root_path = Path(root) if root is not None else stdlib_root()
    paths = list_source_files(root_path)
    cache = _cache_dir() / f"code_lines_{_stat_key(root_path, paths)}.json"
    if cache.is_file():
        try:
            return read_dataset(cache)
        except (OSError, ValueError):
            pass  # a broken cache is rebuilt below
    data = build_dataset(root_path, paths)
    try:
        save_dataset(data, cache)
    except OSError:
        pass  # no writable cache: fine, just slower next time
    return data


def check_fingerprint(data: CodeLines, expected: str | None, *, what: str = "checkpoint") -> bool:
    """Warn (never fail) when the data differ from those a checkpoint was trained on.

    Returns:
        True when the fingerprints agree.
    """
    if expected is None or expected == data.fingerprint:
        return True
    warnings.warn(
        f"the code-line data here (fingerprint {data.fingerprint[:16]}..., Python "
        f"{data.source.get('python')}) differ from those of the {what} "
        f"(fingerprint {expected[:16]}...); results are still computed, on these data",
        RuntimeWarning,
        stacklevel=2,
    )
    return False


# ---------------------------------------------------------------------------- encoding


def encode_line(line: str) -> np.ndarray:
    """A line as :data:`LINE_LENGTH` token ids, padded with :data:`PAD_ID`.

    Raises:
        ValueError: the line is longer than 64 characters or not printable ASCII.
    """
    if len(line) > LINE_LENGTH:
        raise ValueError(f"line of {len(line)} characters; at most {LINE_LENGTH} allowed")
    if not all(32 <= ord(c) <= 126 for c in line):
        raise ValueError(f"line {line!r} has characters outside printable ASCII")
    codes = np.frombuffer(line.encode("ascii"), dtype=np.uint8).astype(np.int32)
    out = np.full(LINE_LENGTH, PAD_ID, dtype=np.int32)
    out[: codes.size] = codes - 32
    return out


def encode_lines(lines: Sequence[str]) -> np.ndarray:
    """Lines as an int32 array ``[len(lines), 64]`` (see :func:`encode_line`)."""
    out = np.full((len(lines), LINE_LENGTH), PAD_ID, dtype=np.int32)
    for i, line in enumerate(lines):
        out[i] = encode_line(line)
    return out


def decode_tokens(tokens: np.ndarray | Sequence[int]) -> str:
    """The characters before the first padding (or mask) token."""
    chars = []
    for t in np.asarray(tokens).tolist():
        if t >= NUM_CHARS:
            break
        chars.append(chr(int(t) + 32))
    return "".join(chars)


def decode_batch(tokens: np.ndarray) -> list[str]:
    """:func:`decode_tokens` of each row of ``[B, L]`` tokens."""
    return [decode_tokens(row) for row in np.asarray(tokens)]

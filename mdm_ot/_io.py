"""Atomic outputs shared by every package: a file or a folder appears complete or not at all.

A file is written to a temporary sibling and renamed into place (``os.replace`` is atomic on
one file system); a folder is built as a temporary sibling and swapped in at the end. On any
exception (``KeyboardInterrupt`` included) the temporary is removed and the old output, if
any, is left as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator

__all__ = ["atomic_dir", "atomic_file", "check_output_dir", "check_output_file"]


def _parent(path: str) -> str:
    return os.path.dirname(os.path.abspath(path)) or "."


def check_output_file(path: str, option: str = "--out") -> None:
    """Raise ValueError (one line, naming ``option``) unless ``path`` can be written as a file."""
    if os.path.isdir(path):
        raise ValueError(f"{option}: {path!r} is a folder, expected a file path")
    parent = _parent(path)
    if not os.path.isdir(parent):
        raise ValueError(f"{option}: the folder {parent!r} does not exist (or is not a folder)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{option}: the folder {parent!r} is not writable")


def check_output_dir(path: str, option: str = "--out") -> None:
    """Raise ValueError (one line, naming ``option``) unless ``path`` can be made a folder.

    An existing folder is fine (it will be replaced as a whole at the end); an existing file
    is not; a missing folder needs a writable existing ancestor.
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{option}: {path!r} is a file, expected a folder")
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise ValueError(f"{option}: {probe!r} is a file, so {path!r} cannot be a folder")
    parent = _parent(path) if os.path.exists(path) else probe
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{option}: the folder {parent!r} is not writable")


def _default_mode(kind: str) -> int:
    """The mode ``open``/``mkdir`` would give a new file/folder (``mkstemp``/``mkdtemp`` give
    0600/0700, which would make every output private to its writer)."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o666 if kind == "file" else 0o777) & ~mask


@contextlib.contextmanager
def atomic_file(path: str, mode: str = "w") -> Iterator:
    """``with atomic_file(p) as fh: fh.write(...)``: ``p`` appears complete or not at all.

    The new file keeps the permission bits of the file it replaces (a new one gets the
    umask's default).
    """
    path = os.fspath(path)
    try:
        perms = os.stat(path).st_mode & 0o7777
    except OSError:
        perms = _default_mode("file")
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=_parent(path))
    try:
        with os.fdopen(fd, mode) as fh:
            os.fchmod(fh.fileno(), perms)
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str) -> Iterator[str]:
    """``with atomic_dir(out) as tmp: write into tmp``: ``out`` is replaced as a whole at the end.

    The folder is built in a temporary sibling; an old ``out`` is moved aside and removed only
    after the new one is in place, so an interrupt leaves either the old folder or the new one,
    never a mix (if it comes between the two renames, the old folder is moved back). Missing
    parent folders are created, and removed again if the block fails. ``out`` must not be an
    existing file.
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and not os.path.isdir(path):
        raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder", path)
    parent = os.path.dirname(path)
    created = []
    probe = parent
    while not os.path.exists(probe):
        created.append(probe)
        probe = os.path.dirname(probe)
    os.makedirs(parent, exist_ok=True)
    name = os.path.basename(path)
    tmp = old = None
    try:
        tmp = tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=parent)
        os.chmod(tmp, _default_mode("dir"))
        yield tmp
        if os.path.exists(path):
            old = tempfile.mkdtemp(prefix=f".{name}.", suffix=".old", dir=parent)
            os.rmdir(old)
            os.replace(path, old)
        os.replace(tmp, path)
        tmp = None
    except BaseException:
        if old is not None and os.path.isdir(old) and not os.path.exists(path):
            os.replace(old, path)
            old = None
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        for folder in created:  # innermost first; only if still empty
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

r"""Fetch the AntiBERTy weights and the ANARCI germlines into a local cache.

Nothing here runs at import time. :func:`fetch` downloads two wheels from PyPI with
``pip download --no-deps`` (never ``pip install``: antiberty depends on torch), checks
each wheel against a pinned SHA-256, and extracts only the files this project needs::

    <cache>/antibody/antiberty/config.json          model configuration (BERT, 8 layers)
    <cache>/antibody/antiberty/pytorch_model.bin    weights (torch zip format, 104 MB)
    <cache>/antibody/antiberty/vocab.txt            the 25-token vocabulary
    <cache>/antibody/antiberty/LICENSE.MD           MIT licence of AntiBERTy
    <cache>/antibody/anarci/germlines.py            IMGT-aligned V and J germlines
    <cache>/antibody/anarci/LICENCE                 BSD-3 licence of ANARCI

Every extracted file also has a pinned SHA-256, checked when it is read.
The cache root is ``$MDM_OT_CACHE`` if set, else ``$XDG_CACHE_HOME/mdm_ot``, else
``~/.cache/mdm_ot``. Without network, download the wheels elsewhere with the command that
:data:`OFFLINE_HINT` prints and pass their folder as ``wheel_dir``.

References:
    Ruffolo, Gray, Sulam, "Deciphering antibody affinity maturation with language models
    and weakly supervised learning", arXiv:2112.07782 (AntiBERTy, MIT licence);
    Dunbar and Deane, "ANARCI: antigen receptor numbering and receptor classification",
    Bioinformatics 32 (2016) (germlines, BSD-3 licence).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "WHEELS",
    "Wheel",
    "cache_dir",
    "antibody_dir",
    "fetch",
    "missing_files",
    "require_file",
    "OFFLINE_HINT",
]


@dataclass(frozen=True)
class Wheel:
    """One pinned wheel and the members extracted from it.

    Attributes:
        requirement: the pip requirement (exact version).
        filename: the wheel's file name on PyPI.
        sha256: SHA-256 of the wheel file.
        members: archive member -> (path under ``<cache>/antibody``, SHA-256 of the member).
    """

    requirement: str
    filename: str
    sha256: str
    members: dict[str, tuple[str, str]]


# Sums computed from the wheels downloaded from PyPI on this project's machine.
WHEELS: tuple[Wheel, ...] = (
    Wheel(
        requirement="antiberty==0.1.3",
        filename="antiberty-0.1.3-py3-none-any.whl",
        sha256="30d910992b190013871bac49cdc032e01a19339f7d2b958ab99b0eb44638352a",
        members={
            "antiberty/trained_models/AntiBERTy_md_smooth/config.json": (
                "antiberty/config.json",
                "e199c1692b5f0246ebc5522102044d6e900ffc7d56fa5932fdd5b3d56ef487e9",
            ),
            "antiberty/trained_models/AntiBERTy_md_smooth/pytorch_model.bin": (
                "antiberty/pytorch_model.bin",
                "f1ae33eac8cc8784a7d4be5a600141d2fa7bc7d8d5b3f5324d64a6a63bd0f137",
            ),
            "antiberty/trained_models/vocab.txt": ("antiberty/vocab.txt", "6db8c6cd6361eb233005b2dfe665d40d7f1ba78951bdf0fe61fa670ce192419a"),
            "antiberty-0.1.3.dist-info/LICENSE.MD": ("antiberty/LICENSE.MD", "b4bec861cb4d300996c9d35b9ec16eaeff2ee83ed5e43dc85aad4b6193469cb9"),
        },
    ),
    Wheel(
        requirement="anarci==2026.2.13.2",
        filename="anarci-2026.2.13.2-py3-none-any.whl",
        sha256="8f88d49857abc2c5427c6cc903ebdac7b35e6636635eaa9d60bd8f0d4e7d14b7",
        members={
            "anarci/germlines.py": ("anarci/germlines.py", "95a13463e2620b8037bf7ea67ecdf9ec6f8a8f973c5658f3c54126e9e36f3452"),
            "anarci-2026.2.13.2.dist-info/licenses/LICENCE": ("anarci/LICENCE", "a96381064678f6052d1e291d83e0fe8bc0fc8fcb03930a145548c76124b9516c"),
        },
    ),
)

OFFLINE_HINT = (
    "on a machine with network: `pip download --no-deps --only-binary=:all: -d WHEELS "
    + " ".join(w.requirement for w in WHEELS)
    + "`, copy the folder WHEELS here, then `mdm-ot antibody fetch --wheels WHEELS`"
)


def cache_dir() -> Path:
    """The cache root: ``$MDM_OT_CACHE``, else ``$XDG_CACHE_HOME/mdm_ot``, else ``~/.cache/mdm_ot``."""
    env = os.environ.get("MDM_OT_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "mdm_ot"


def antibody_dir(root: str | os.PathLike | None = None) -> Path:
    """The folder holding the extracted antibody files (``<root>/antibody``)."""
    return (Path(root) if root is not None else cache_dir()) / "antibody"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _pinned(relpath: str) -> str:
    for wheel in WHEELS:
        for dest, digest in wheel.members.values():
            if dest == relpath:
                return digest
    raise ValueError(f"{relpath!r} is not one of the fetched antibody files")


def missing_files(root: str | os.PathLike | None = None) -> list[str]:
    """Extracted files that are absent under ``antibody_dir(root)`` (no hashing)."""
    base = antibody_dir(root)
    return [
        dest
        for wheel in WHEELS
        for dest, _ in wheel.members.values()
        if not (base / dest).is_file()
    ]


def require_file(relpath: str, root: str | os.PathLike | None = None) -> Path:
    """Path of one fetched file, after checking its pinned SHA-256.

    Raises:
        FileNotFoundError: the file is not in the cache (the message says how to fetch it).
        ValueError: the file is there but its SHA-256 differs from the pinned one.
    """
    expected = _pinned(relpath)
    path = antibody_dir(root) / relpath
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: run `mdm-ot antibody fetch` (needs PyPI access; {OFFLINE_HINT})"
        )
    got = _sha256(path)
    if got != expected:
        raise ValueError(
            f"{path}: SHA-256 {got} differs from the pinned {expected}; delete it and run "
            "`mdm-ot antibody fetch` again"
        )
    return path


def _download(wheel: Wheel, dest: Path) -> Path:
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--no-cache-dir", "--disable-pip-version-check", "-d", str(dest), wheel.requirement,
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"pip download {wheel.requirement} failed ({exc}); {OFFLINE_HINT}") from exc
    path = dest / wheel.filename
    if proc.returncode != 0 or not path.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(
            f"pip download {wheel.requirement} failed (no network or no pip?): {tail[0]}; "
            f"{OFFLINE_HINT}"
        )
    return path


def _extract(wheel: Wheel, wheel_path: Path, base: Path) -> list[str]:
    got = _sha256(wheel_path)
    if got != wheel.sha256:
        raise ValueError(
            f"{wheel_path}: SHA-256 {got} differs from the pinned {wheel.sha256} "
            f"({wheel.requirement}); refusing to use it"
        )
    written = []
    with zipfile.ZipFile(wheel_path) as zf:
        for member, (relpath, digest) in wheel.members.items():
            target = base / relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".part")
            with zf.open(member) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            if _sha256(tmp) != digest:
                tmp.unlink()
                raise ValueError(f"{member} in {wheel_path.name} does not match its pinned SHA-256")
            os.replace(tmp, target)
            written.append(str(target))
    return written


def fetch(
    root: str | os.PathLike | None = None,
    wheel_dir: str | os.PathLike | None = None,
    keep_wheels: bool = False,
    force: bool = False,
) -> list[str]:
    """Download (or take from ``wheel_dir``), verify and extract the antibody files.

    Args:
        root: cache root (default :func:`cache_dir`); files go to ``<root>/antibody``.
        wheel_dir: a folder that already holds the pinned wheels (offline use); when
            ``None`` they are downloaded with pip into ``<root>/antibody/wheels``.
        keep_wheels: keep downloaded wheels (97 MB) after extraction.
        force: extract again even when every file is present and matches its pin.

    Returns:
        The paths written (empty when everything was already present and verified).

    Raises:
        RuntimeError: pip could not download a wheel (the message says what to do offline).
        ValueError: a wheel or an extracted file does not match its pinned SHA-256.
        FileNotFoundError: ``wheel_dir`` lacks a pinned wheel.
    """
    base = antibody_dir(root)
    written: list[str] = []
    for wheel in WHEELS:
        if not force:
            try:
                for relpath, _ in wheel.members.values():
                    require_file(relpath, root)
                continue  # all present and verified
            except (FileNotFoundError, ValueError):
                pass
        base.mkdir(parents=True, exist_ok=True)
        if wheel_dir is not None:
            path = Path(wheel_dir) / wheel.filename
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing; {OFFLINE_HINT}")
            written += _extract(wheel, path, base)
            continue
        keep = base / "wheels"
        if keep_wheels:
            keep.mkdir(parents=True, exist_ok=True)
            path = keep / wheel.filename
            if not (path.is_file() and _sha256(path) == wheel.sha256):
                path = _download(wheel, keep)
            written += _extract(wheel, path, base)
        else:
            with tempfile.TemporaryDirectory(dir=base) as tmp:
                path = _download(wheel, Path(tmp))
                written += _extract(wheel, path, base)
    return written

"""Atomic outputs (mdm_ot._io): a file or a folder appears complete or not at all.

Read-only folders: the tests run as root, for whom a chmod'ed folder stays writable, so the
unwritable case is made by monkeypatching ``os.access`` for that one path (what the checks
consult), and the "cannot be a folder" case by a path under a regular file.
"""

import os
import stat

import pytest

from mdm_ot._io import atomic_dir, atomic_file, check_output_dir, check_output_file


def _entries(folder):
    return sorted(os.listdir(folder))


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------------------ atomic_file


def test_atomic_file_writes_and_replaces(tmp_path):
    path = tmp_path / "out.txt"
    with atomic_file(path) as fh:
        fh.write("first")
        assert not path.exists()  # nothing at the final path until the block ends
    assert path.read_text() == "first"
    with atomic_file(path, "wb") as fh:
        fh.write(b"second")
        assert path.read_text() == "first"  # the old file stays complete meanwhile
    assert path.read_bytes() == b"second"
    assert _entries(tmp_path) == ["out.txt"]


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_atomic_file_leaves_the_old_file_and_no_temporary_on_failure(tmp_path, error):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(error), atomic_file(path) as fh:
        fh.write("half of the new")
        raise error()
    assert path.read_text() == "old"
    assert _entries(tmp_path) == ["out.txt"]
    new = tmp_path / "new.txt"
    with pytest.raises(error), atomic_file(new) as fh:
        fh.write("half")
        raise error()
    assert _entries(tmp_path) == ["out.txt"]


def test_atomic_file_permissions(tmp_path):
    """A new file gets the umask's default mode (not mkstemp's 0600); a replaced file keeps its mode."""
    new = tmp_path / "new.txt"
    with atomic_file(new) as fh:
        fh.write("x")
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~_umask()
    old = tmp_path / "old.txt"
    old.write_text("x")
    old.chmod(0o640)
    with atomic_file(old) as fh:
        fh.write("y")
    assert stat.S_IMODE(old.stat().st_mode) == 0o640


# ------------------------------------------------------------------------------ atomic_dir


def _old_report(folder):
    folder.mkdir()
    (folder / "report.md").write_text("old report")
    (folder / "old.png").write_bytes(b"old png")


def test_atomic_dir_replaces_the_folder_as_a_whole(tmp_path):
    out = tmp_path / "report"
    _old_report(out)
    with atomic_dir(out) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path) and tmp != str(out)
        with open(os.path.join(tmp, "report.md"), "w") as fh:
            fh.write("new report")
        assert (out / "report.md").read_text() == "old report"  # old one untouched meanwhile
    assert _entries(out) == ["report.md"]  # old.png is gone with the old folder
    assert (out / "report.md").read_text() == "new report"
    assert _entries(tmp_path) == ["report"]  # no .tmp / .old siblings
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~_umask()  # not mkdtemp's 0700


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_atomic_dir_keeps_the_old_folder_on_failure(tmp_path, error):
    out = tmp_path / "report"
    _old_report(out)
    with pytest.raises(error), atomic_dir(out) as tmp:
        with open(os.path.join(tmp, "new.png"), "w") as fh:
            fh.write("new png")
        raise error()
    assert _entries(out) == ["old.png", "report.md"]
    assert (out / "report.md").read_text() == "old report"
    assert _entries(tmp_path) == ["report"]


def test_atomic_dir_interrupt_between_the_two_renames_restores_the_old_folder(tmp_path, monkeypatch):
    """The old folder is moved aside first; an interrupt before the new one is moved in must
    put the old one back, not leave no report at all."""
    out = tmp_path / "report"
    _old_report(out)
    real_replace = os.replace
    calls = []

    def replace(src, dst):
        calls.append((src, dst))
        real_replace(src, dst)
        if len(calls) == 1:  # the old folder has just been moved aside
            raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt), atomic_dir(out) as tmp:
        with open(os.path.join(tmp, "report.md"), "w") as fh:
            fh.write("new report")
    monkeypatch.undo()
    assert calls[0][0] == str(out)
    assert (out / "report.md").read_text() == "old report"
    assert _entries(tmp_path) == ["report"]


def test_atomic_dir_creates_missing_parents_and_removes_them_on_failure(tmp_path):
    out = tmp_path / "a" / "b" / "report"
    with pytest.raises(KeyboardInterrupt), atomic_dir(out):
        raise KeyboardInterrupt
    assert _entries(tmp_path) == []
    with atomic_dir(out) as tmp:
        open(os.path.join(tmp, "x"), "w").close()
    assert _entries(out) == ["x"]


def test_atomic_dir_refuses_a_file(tmp_path):
    path = tmp_path / "report"
    path.write_text("a file")
    with pytest.raises(NotADirectoryError), atomic_dir(path):
        pass
    assert path.read_text() == "a file" and _entries(tmp_path) == ["report"]


# ------------------------------------------------------------------------------ path checks


def _deny_writes_to(monkeypatch, folder):
    real_access = os.access

    def access(path, mode, *args, **kwargs):
        if os.path.abspath(path) == os.path.abspath(folder) and mode & os.W_OK:
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)


def test_check_output_dir(tmp_path, monkeypatch):
    check_output_dir(str(tmp_path / "new"))  # a missing folder under a writable one
    check_output_dir(str(tmp_path / "x" / "y" / "z"))
    check_output_dir(str(tmp_path))  # an existing folder (replaced at the end)
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(ValueError, match=r"^--out: .*afile.* is a file, expected a folder$"):
        check_output_dir(str(afile))
    with pytest.raises(ValueError, match=r"^--dir: .*afile.* is a file, so .*sub.* cannot be a folder$"):
        check_output_dir(str(afile / "sub" / "deeper"), "--dir")
    ro = tmp_path / "ro"
    ro.mkdir()
    _deny_writes_to(monkeypatch, ro)
    with pytest.raises(ValueError, match=r"^--out: the folder .*ro.* is not writable$"):
        check_output_dir(str(ro / "report"))
    with pytest.raises(ValueError, match="not writable"):
        check_output_dir(str(ro / "a" / "b"))


def test_check_output_dir_of_an_existing_folder_needs_a_writable_parent(tmp_path, monkeypatch):
    (tmp_path / "report").mkdir()
    _deny_writes_to(monkeypatch, tmp_path)
    with pytest.raises(ValueError, match="not writable"):
        check_output_dir(str(tmp_path / "report"))


def test_check_output_file(tmp_path, monkeypatch):
    check_output_file(str(tmp_path / "out.json"))
    with pytest.raises(ValueError, match=r"^--out: .* is a folder, expected a file path$"):
        check_output_file(str(tmp_path))
    with pytest.raises(ValueError, match="does not exist"):
        check_output_file(str(tmp_path / "missing" / "out.json"))
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(ValueError, match="does not exist"):
        check_output_file(str(afile / "out.json"))
    _deny_writes_to(monkeypatch, tmp_path)
    with pytest.raises(ValueError, match=r"^--export: the folder .* is not writable$"):
        check_output_file(str(tmp_path / "out.json"), "--export")

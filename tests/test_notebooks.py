"""Every notebook under notebooks/ runs top to bottom in small mode, so none of them rots."""

import os
import pathlib
import subprocess
import sys

import pytest

# 04_code_lines.py runs in tests/experiments/codelines/test_code_cli.py, with assertions on what it prints and saves;
# running it twice would cost a minute of the default suite.
_OWN_TEST = {"04_code_lines.py"}
NOTEBOOKS = sorted(p for p in (pathlib.Path(__file__).resolve().parents[1] / "notebooks").glob("*.py")
                   if p.name not in _OWN_TEST)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_in_small_mode(path, tmp_path):
    env = dict(os.environ, MDM_OT_SMALL="1", MPLBACKEND="Agg", MDM_OT_OUT=str(tmp_path))
    proc = subprocess.run([sys.executable, str(path)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"{path.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert any(tmp_path.glob("*.png")), f"{path.name} saved no figure"

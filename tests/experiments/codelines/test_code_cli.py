"""`mdm-ot code ...` and the shipped checkpoint."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from mdm_ot.cli import main
from mdm_ot.experiments.codelines import data as D
from mdm_ot.experiments.codelines import evaluate as E
from mdm_ot.experiments.codelines import model as M
from mdm_ot.experiments.codelines import train as T
from mdm_ot.schedules import parse_alpha

ROOT = Path(__file__).resolve().parents[3]

# On a machine whose standard library differs from the one the shipped model was trained on,
# the commands warn (and carry on); that is by design, not a test failure.
OTHER_STDLIB = pytest.mark.filterwarnings("ignore:the code-line data here:RuntimeWarning")


@pytest.fixture(scope="module")
def shipped():
    return E.load_model()


@pytest.fixture(scope="module")
def data():
    return D.load_dataset()


def test_shipped_checkpoint_is_small_and_complete(shipped):
    params, config, meta = shipped
    path = Path(str(E.shipped_checkpoint_path()))
    assert path.stat().st_size < 4_000_000
    assert config == T.DEFAULT_MODEL
    assert meta["step"] == meta["train"]["steps"] == T.DEFAULT_TRAIN.steps
    assert len(meta["data_fingerprint"]) == 64
    assert meta["train_seconds"] > 0
    for task in ("unconditional", "completion"):
        assert 0 < meta["heldout"][task]["bits_per_char"] < 8


def test_shipped_checkpoint_reproduces_its_heldout_nelbo(shipped, data):
    """The held-out bits/char stored at the end of training, recomputed here from the
    checkpoint and the data (same examples and masks), agree: checkpoint, data and evaluator
    are consistent."""
    params, config, meta = shipped
    if data.fingerprint != meta["data_fingerprint"]:
        pytest.skip("the standard library here differs from the one the model was trained on")
    held = T.heldout_examples(T.EncodedSplit.from_data(data, "tune"), meta["train"]["eval_examples"])
    got = T.make_evaluator(config)(params, *held)
    for task in ("unconditional", "completion"):
        np.testing.assert_allclose(got[task]["bits_per_char"], meta["heldout"][task]["bits_per_char"],
                                   rtol=1e-4, atol=1e-4)  # float32 network, other batch order ok


def test_shipped_model_beats_an_untrained_one(shipped):
    """The trained network's unconditional lines parse far more often than a random network's."""
    params, config, _ = shipped
    rand = M.init_params(0, config)
    sched = parse_alpha("linear")
    n = 32
    trained = D.decode_batch(E.generate_unconditional(params, config, sched, jax.random.PRNGKey(1),
                                                      num_samples=n, num_steps=16))
    untrained = D.decode_batch(E.generate_unconditional(rand, config, sched, jax.random.PRNGKey(1),
                                                        num_samples=n, num_steps=16))
    v_t = np.mean([E.is_valid_line(s) for s in trained])
    v_u = np.mean([E.is_valid_line(s) for s in untrained])
    se = math.sqrt(0.25 / n)
    assert v_t - v_u > 3 * se, (v_t, v_u, trained[:5], untrained[:5])


@OTHER_STDLIB
def test_cli_eval_json(capsys):
    rc = main(["code", "eval", "--alpha", "beta:1,0.2", "--steps", "4", "--samples", "4", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["alpha"] == "beta:1,0.2" and out["settings"]["temperature"] == 1.0
    assert out["metrics"]["n"] == 4 and 0 <= out["metrics"]["validity"][0] <= 1
    assert len(out["samples"]) == 4 and len(out["data_fingerprint"]) == 64
    rc = main(["code", "eval", "--alpha", "linear", "--steps", "4", "--samples", "3", "--task", "completion",
               "--sampler", "stochastic", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["temperature"] == 0.0 and "similarity" in out["metrics"]
    assert all(set(s) == {"prompt", "generated", "true"} for s in out["samples"])


@OTHER_STDLIB
def test_cli_table_small(tmp_path, capsys):
    rc = main(["code", "table", "--task", "unconditional", "--samples", "3", "--steps-list", "2,4", "--no-tune",
               "--no-progress", "--out", str(tmp_path), "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["steps"] == [2, 4] and set(out["results"]) == {"unconditional"}
    assert (tmp_path / "table.md").is_file() and (tmp_path / "table.png").is_file()
    assert json.loads((tmp_path / "table.json").read_text())["data_fingerprint"] == out["data_fingerprint"]


class _Stop(Exception):
    pass


@pytest.mark.parametrize("flag", [True, False])
def test_cli_table_passes_baselines_compete(flag, monkeypatch):
    from mdm_ot.experiments.codelines import table

    seen = {}

    def fake_run_table(**kw):
        seen.update(kw)
        raise _Stop

    monkeypatch.setattr(table, "run_table", fake_run_table)
    with pytest.raises(_Stop):
        main(["code", "table", "--no-progress"] + (["--baselines-compete"] if flag else []))
    assert seen["baselines_compete"] is flag


@OTHER_STDLIB
@pytest.mark.parametrize(
    "argv",
    [
        ["code", "eval", "--alpha", "zigzag", "--steps", "4"],
        ["code", "eval", "--alpha", "linear", "--steps", "0"],
        ["code", "eval", "--alpha", "beta:-1,2", "--steps", "4"],
        ["code", "eval", "--alpha", "linear", "--steps", "4", "--task", "poetry"],
        ["code", "table", "--steps-list", "4,x"],
        ["code", "eval", "--alpha", "linear", "--steps", "4", "--checkpoint", "/nonexistent.npz"],
    ],
)
def test_cli_bad_input_exits_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(argv))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("mdm-ot: error:") and err.count("\n") == 1


def test_notebook_runs_in_small_mode(tmp_path):
    env = dict(os.environ, MDM_OT_SMALL="1", MPLBACKEND="Agg", MDM_OT_OUT=str(tmp_path))
    proc = subprocess.run([sys.executable, str(ROOT / "notebooks" / "04_code_lines.py")], env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "linear vs tuned" in proc.stdout
    for name in ("table.png", "code_schedules.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


@OTHER_STDLIB
def test_full_report_section_writes_the_code_table(tmp_path, monkeypatch):
    # `reproduce --full` calls the table with its default sizes; shrink them so the wiring runs fast
    from mdm_ot.experiments import report
    from mdm_ot.experiments.codelines import table

    real = table.run_table
    monkeypatch.setattr(
        table, "run_table",
        lambda **kw: real(task="unconditional", samples=2, steps_list=(2,), tune=False, progress=False),
    )
    res, md = report._code_section(str(tmp_path))
    assert res["available"] is True
    assert (tmp_path / "code" / "table.md").is_file() and (tmp_path / "code" / "table.png").is_file()
    text = "\n".join(md)
    assert "2 samples per cell" in text and "![code table](code/table.png)" in text
    table_md = (tmp_path / "code" / "table.md").read_text()
    assert "\n# " not in "\n" + text and "**Code-line model: schedules x steps**" in text  # one H1 per report
    assert "#### unconditional: valid_distinct, count sampler" in text and "## unconditional" in table_md
    rows = [ln for ln in table_md.splitlines() if ln.startswith("| linear |")]
    assert rows and all(r in text for r in rows)

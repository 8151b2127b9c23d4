"""The loaders of the antibody files refuse malformed input with one line (issue 15, items 3, 8)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _antibody_helpers import state_dict_pickle, tensor_ops, write_archive

from mdm_ot.experiments.antibody import table
from mdm_ot.experiments.antibody.torchzip import UnsafeCheckpointError, load_state_dict


@pytest.mark.parametrize(("numel", "size", "stride"),
                         [(1, (30000, 30000), (0, 0)), (8, (4, 4), (1, 1)), (1, (2**30,), (0,))])
def test_restricted_reader_refuses_views_with_more_elements_than_storage(tmp_path, numel, size, stride):
    """Item 8: a one-element storage viewed as 30000 x 30000 by stride 0 (900 M elements from a
    few hundred bytes), or overlapping strides, is refused before anything is copied."""
    path = tmp_path / "m.bin"
    entries = [("w", tensor_ops("0", "FloatStorage", numel, 0, size, stride))]
    write_archive(path, state_dict_pickle(entries), {"0": np.zeros(numel, np.float32).tobytes()})
    with pytest.raises(UnsafeCheckpointError, match="elements"):
        load_state_dict(path)


def test_restricted_reader_still_reads_a_plain_view(tmp_path):
    path = tmp_path / "m.bin"
    base = np.arange(16, dtype=np.float32)
    write_archive(path, state_dict_pickle([("w", tensor_ops("0", "FloatStorage", 16, 0, (4, 4), (4, 1)))]),
                  {"0": base.tobytes()})
    np.testing.assert_array_equal(load_state_dict(path)["w"], base.reshape(4, 4))


def _good():
    return json.loads(Path("docs/results/antibody/cdr12.json").read_text())


def _mutants():
    g = _good()
    yield "list", "[]"
    yield "empty object", "{}"
    yield "empty file", ""
    yield "not json", "{"
    yield "NaN", json.dumps({**g, "cells": [{**g["cells"][0], "recovery": float("nan")}]})
    yield "Infinity", json.dumps({**g, "cells": [{**g["cells"][0], "recovery_se": float("inf")}]})
    yield "string K", json.dumps({**g, "cells": [{**g["cells"][0], "K": "2"}]})
    yield "no cells", json.dumps({k: v for k, v in g.items() if k != "cells"})
    yield "cells not a list", json.dumps({**g, "cells": {}})
    yield "bad tuned", json.dumps({**g, "tuned": {"x": {"K": {"a": 1}}}})
    yield "bad sets", json.dumps({**g, "sets": {"tune": 1, "test": []}})
    yield "pll without se", json.dumps({**g, "cells": [{**g["cells"][0], "pll": 1.0, "pll_se": None}]})


@pytest.mark.parametrize(("what", "text"), list(_mutants()), ids=[m[0] for m in _mutants()])
def test_from_json_loader_refuses_malformed_tables(tmp_path, what, text):
    path = tmp_path / "t.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"^--from-json '.*t\.json'") as info:
        table.read_result(path)
    assert "\n" not in str(info.value)


def test_from_json_loader_reads_a_written_table_and_refuses_folders_and_bytes(tmp_path):
    res = table.read_result("docs/results/antibody/cdr12.json")
    assert table.to_markdown(res) == table.to_markdown(_good())
    with pytest.raises(ValueError, match="is a folder"):
        table.read_result(tmp_path)
    (tmp_path / "b.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="cannot read it|not a table JSON"):
        table.read_result(tmp_path / "b.json")


def test_write_refuses_nan_and_leaves_nothing(tmp_path):
    g = _good()
    g["cells"][0]["recovery"] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        table.write(g, tmp_path / "out")
    assert not (tmp_path / "out").exists()

"""The tables committed in docs/results/ re-render byte for byte from their JSON, so the
markdown a reader sees is what the renderers make of the numbers stored beside it."""

import json
import pathlib

import pytest

from mdm_ot.experiments.antibody import table as antibody_table
from mdm_ot.experiments.codelines import table as code_table

RESULTS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "results"


@pytest.mark.parametrize("name", ["table", "blocks16"])
def test_code_tables_rerender(name):
    result = json.loads((RESULTS / "code" / f"{name}.json").read_text())
    # write_outputs ends the file with a newline after the rendered table
    assert code_table.to_markdown(result) + "\n" == (RESULTS / "code" / f"{name}.md").read_text()


@pytest.mark.parametrize("name", ["cdr12", "random_0.5", "span_0.5"])
def test_antibody_tables_rerender(name):
    result = json.loads((RESULTS / "antibody" / f"{name}.json").read_text())
    assert antibody_table.to_markdown(result) == (RESULTS / "antibody" / f"{name}.md").read_text()

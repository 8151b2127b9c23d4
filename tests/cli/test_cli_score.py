"""Tests of `mdm-ot score antibody|code` (in process, through mdm_ot.cli.main): one request on
stdin, one JSON answer line on stdout, scored with the real model on the request's schedule."""

from __future__ import annotations

import io
import json
import sys

import jax
import numpy as np
import pytest

from mdm_ot.cli import main
from mdm_ot.experiments.antibody import data as abdata
from mdm_ot.experiments.antibody import fetch, tasks
from mdm_ot.experiments.antibody.table import prepare
from mdm_ot.experiments.codelines import data as codedata
from mdm_ot.experiments.codelines import evaluate as ev
from mdm_ot.schedules import parse_alpha
from mdm_ot.tuning import make_request


def _no_nan(text):
    raise AssertionError(f"non-JSON constant {text} in the answer")


def score(capsys, monkeypatch, request, *argv):
    """Run `mdm-ot score ARGV` with ``request`` (a dict or raw text) on stdin."""
    text = request if isinstance(request, str) else json.dumps(request)
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    try:
        rc = main(["score", *argv])
    except SystemExit as exc:  # argparse's errors exit by themselves
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def answer_of(out):
    lines = out.splitlines()
    assert len(lines) == 1, out  # one JSON document, nothing else on stdout
    return json.loads(lines[0], parse_constant=_no_nan)


@pytest.fixture(scope="module")
def code_model():
    return ev.load_model()


def _completion_items(seed, whole, n):
    """The items the docs promise: the first ``n`` of the seed's permutation of the whole set
    (``whole`` pairs drawn by ``task_data``)."""
    td = ev.task_data(codedata.load_dataset(), "completion", "tune", whole, seed)
    order = np.random.default_rng([seed, 13]).permutation(whole)[:n]
    return td.prompts[order], [td.references[i] for i in order]


@pytest.mark.parametrize("spec", ["beta:0.9,0.3", "sin2"])
def test_score_code_is_the_model_metric_on_the_request_schedule(capsys, monkeypatch, code_model, spec):
    params, config, _ = code_model
    req = make_request(spec, 4, stage="coarse", subset_size=3, seed=5, trial=0)
    rc, out, err = score(capsys, monkeypatch, req, "code", "--max-items", "16")
    assert rc == 0, err
    ans = answer_of(out)
    assert (ans["items"], ans["available"], ans["metric"]) == (3, 16, "similarity")
    # the other side: the spec parsed afresh (not the request's tables), the same items
    prompts, refs = _completion_items(5, 16, 3)
    td = ev.TaskData("completion", "tune", prompts=prompts, references=tuple(refs))
    want = ev.evaluate_cell(params, config, parse_alpha(spec), jax.random.PRNGKey(5), td,
                            num_samples=3, num_steps=4, sampler="count", order="confidence")
    np.testing.assert_allclose(ans["score"], want["similarity"][0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ans["exact"], want["exact"][0], rtol=0, atol=1e-12)
    assert err.startswith(f"mdm-ot score code: {req['schedule']} K=4")  # the log goes to stderr


def test_score_code_subset_is_capped_by_the_whole_set(capsys, monkeypatch):
    # the same shapes as above (K = 4, 3 items): nothing new to compile
    req = make_request("sin2", 4, stage="fine", subset_size=5, seed=5)
    rc, out, err = score(capsys, monkeypatch, req, "code", "--max-items", "3")
    assert rc == 0, err
    ans = answer_of(out)
    assert (ans["items"], ans["available"]) == (3, 3)
    req["subset_size"] = None  # null: the whole set
    rc, out, err = score(capsys, monkeypatch, req, "code", "--max-items", "3")
    assert rc == 0 and (answer_of(out)["items"], answer_of(out)["available"]) == (3, 3)


@pytest.mark.slow
def test_score_code_unconditional_scores_valid_distinct(capsys, monkeypatch):
    req = make_request("linear", 2, stage="fine", subset_size=5, seed=0)
    rc, out, err = score(capsys, monkeypatch, req, "code", "--max-items", "2", "--task", "unconditional")
    assert rc == 0, err
    ans = answer_of(out)
    assert (ans["items"], ans["available"], ans["metric"]) == (2, 2, "valid_distinct")
    assert ans["score"] == ans["valid_distinct"]


def _bad(req_changes):
    req = make_request("beta:0.5,0.5", 4, seed=0)
    req.update(req_changes)
    return req


@pytest.mark.parametrize("stdin, argv, match", [
    ("not json", ["code"], "--request: the request on stdin is not JSON"),
    ("", ["code"], "--request: nothing on stdin"),
    ("[1, 2]", ["code"], "--request: a request is a JSON object"),
    (json.dumps({"schedule": "linear"}), ["code"], "--request: the request lacks a, b, steps"),
    (_bad({"alpha_grid": [0.0, 0.6, 0.4, 0.9, 1.0]}), ["code"], "non-decreasing"),
    (_bad({"mask_ratio_grid": [1.0] * 5}), ["code"], "mask_ratio_grid must be 1 - alpha_grid"),
    (_bad({"steps": 0}), ["code"], "steps must be an integer >= 1"),
    (_bad({}), ["code", "--max-items", "0"], "--max-items must be an integer in [1,"),
    (_bad({}), ["code", "--split", "train"], "--split"),
    (_bad({}), ["antibody", "--task", "random:2"], "unknown task"),
    (_bad({}), ["antibody", "--cache", "/nonexistent/mdm-ot-cache"], "mdm-ot antibody fetch"),
])
def test_score_bad_input_is_one_line_and_no_answer(capsys, monkeypatch, stdin, argv, match):
    rc, out, err = score(capsys, monkeypatch, stdin, *argv)
    assert rc == 2 and out == ""
    assert err.startswith("mdm-ot: error:") and err.count("\n") == 1 and match in err, err


# ----------------------------------------------------------------------------- AntiBERTy


@pytest.fixture(scope="module")
def fetched():
    if fetch.missing_files():
        pytest.skip(f"AntiBERTy not in the cache ({fetch.antibody_dir()}): run `mdm-ot antibody fetch`")


@pytest.fixture(scope="module")
def antiberty(fetched):
    from mdm_ot.experiments.antibody.model import load_antiberty

    return load_antiberty()


def test_score_antibody_unknown_species_names_the_known_ones(capsys, monkeypatch, fetched):
    rc, out, err = score(capsys, monkeypatch, _bad({}), "antibody", "--species", "dog")
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert "--species" in err and "human" in err and "mouse" in err


@pytest.mark.slow
def test_score_antibody_is_recovery_on_the_request_schedule(capsys, monkeypatch, antiberty):
    req = make_request("beta:1,0.2", 4, stage="coarse", subset_size=2, seed=3, trial=1)
    rc, out, err = score(capsys, monkeypatch, req, "antibody", "--max-items", "6", "--sampler", "stochastic")
    assert rc == 0, err
    ans = answer_of(out)
    assert (ans["items"], ans["available"], ans["sampler"]) == (2, 6, "stochastic")
    # the other side: the specs tabulated by the antibody package itself, on the prefix of
    # the seed's order of the tune split, with the same key
    tune_r, _ = abdata.split(abdata.v_domains(abdata.load_germlines(), "human", "H"))
    whole = prepare(tune_r, "cdr12", 3, 6, "tune")
    al, om = tasks.alphas_on_grid(["beta:1,0.2", "linear"], 4)
    smp = tasks.infill(antiberty, tasks.SAMPLERS[1], al, om, whole.x[:2], whole.hidden[:2],
                       jax.random.key(3), batch_size=2)
    want, linear = tasks.recovery(smp, whole.x[:2], whole.hidden[:2]).mean(axis=(1, 2))
    np.testing.assert_allclose(ans["score"], want, rtol=0, atol=1e-12)
    assert abs(want - linear) > 0.01  # the check sees the schedule (0.891 vs 0.922 measured)

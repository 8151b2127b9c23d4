"""Generation with the project's samplers and the metrics of the code-line model."""

import math

import jax
import numpy as np
import pytest

from mdm_ot import sampling
from mdm_ot.experiments.codelines import data as D
from mdm_ot.experiments.codelines import evaluate as E
from mdm_ot.experiments.codelines import model as M
from mdm_ot.schedules import parse_alpha

TINY = M.ModelConfig(num_layers=1, d_model=16, num_heads=2, d_ff=32)


@pytest.fixture(scope="module")
def tiny_params():
    return M.init_params(0, TINY)


@pytest.mark.parametrize(
    "line",
    [
        "x = 1", "return", "pass", "def f(self, x=1):", "class A(B, metaclass=M):", "if x:", "elif y:",
        "else:", "try:", "except (A, B) as e:", "finally:", "with open(f) as g:", "case [1, *rest]:",
        "match command.split():", "@functools.lru_cache(maxsize=None)", "else: return 1",
        "try: import foo", "except ImportError: foo = None", "for i in range(3): print(i)",
        "x = 1  # comment", "# only a comment", "async def g():", "lambda: 0", "'\\d'",
        "    indented = True",
    ],
)
def test_valid_lines(line):
    assert E.is_valid_line(line)


@pytest.mark.parametrize(
    "line", ["", "   ", "x = (", "def f(:", "abc def", "if x", "else", "return)", "'''", "x = = 1",
             "class:", "import", "@", "except E as:"]
)
def test_invalid_lines(line):
    assert not E.is_valid_line(line)


def test_every_real_line_of_a_module_is_valid():
    import argparse
    import inspect

    lines = D.extract_code_lines(inspect.getsource(argparse).encode())
    assert len(lines) > 500
    assert all(E.is_valid_line(s) for s in lines)
    shuffled = ["".join(np.random.default_rng(i).permutation(list(s))) for i, s in enumerate(lines)]
    assert np.mean([E.is_valid_line(s) for s in shuffled]) < 0.5  # the rule rejects junk


def test_distinct_fraction_jackknife_by_brute_force():
    lines = ["a", "b", "a", "c", "c", "c", "d", "e"]
    frac, se = E.distinct_fraction(lines)
    n = len(lines)
    assert frac == pytest.approx(5 / 8, rel=1e-12, abs=1e-12)
    loo = [len(set(lines[:i] + lines[i + 1 :])) / (n - 1) for i in range(n)]
    want = math.sqrt((n - 1) / n * sum((v - np.mean(loo)) ** 2 for v in loo))
    assert se == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert E.distinct_fraction(["x"] * 4) == (0.25, 0.0)


def test_valid_distinct_fraction_jackknife_by_brute_force():
    lines = ["x = 1", "x = 1", "x = (", "y = 2", "else:", "(", "(", "z"]
    valid = lambda ls: len({s for s in ls if E.is_valid_line(s)})  # noqa: E731
    frac, se = E.valid_distinct_fraction(lines)
    n = len(lines)
    assert frac == pytest.approx(valid(lines) / n, rel=1e-12, abs=1e-12)
    assert valid(lines) == 4  # "x = 1", "y = 2", "else:", "z"
    loo = [valid(lines[:i] + lines[i + 1 :]) / (n - 1) for i in range(n)]
    want = math.sqrt((n - 1) / n * sum((v - np.mean(loo)) ** 2 for v in loo))
    assert se == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert E.valid_distinct_fraction(["else:"] * 10)[0] == pytest.approx(0.1, rel=1e-12, abs=1e-12)


def test_similarity_and_line_metrics():
    assert E.similarity("abcd", "abcd") == 1.0
    assert E.similarity("", "") == 1.0
    assert E.similarity("ab", "cd") == 0.0
    assert E.similarity("abcd", "abxx") == pytest.approx(0.5, rel=1e-12, abs=1e-12)
    m = E.line_metrics(["x = 1", "x = 1", "x = ("], ["x = 1", "y", "x = ("])
    assert m["n"] == 3
    assert m["validity"][0] == pytest.approx(2 / 3, rel=1e-12, abs=1e-12)
    assert m["exact"][0] == pytest.approx(2 / 3, rel=1e-12, abs=1e-12)
    assert m["distinct"][0] == pytest.approx(2 / 3, rel=1e-12, abs=1e-12)
    with pytest.raises(ValueError):
        E.line_metrics(["a"], ["a", "b"])


@pytest.mark.parametrize("spec", ["linear", "sin", "beta:1,0.2"])
@pytest.mark.parametrize("K", [3, 8])
def test_grid_schedule_gives_the_same_samples(tiny_params, spec, K):
    """A schedule passed as its values on the grid samples exactly as the schedule itself."""
    den = E.LineDenoiser(tiny_params, TINY)
    sched = parse_alpha(spec)
    z0 = sampling.initial_state(TINY.line_length, TINY.vocab_size, batch=4)
    key = jax.random.PRNGKey(1)
    g = E.on_grid(sched, K)
    for kw in ({"order": "confidence", "temperature": 1.0}, {"order": "random", "temperature": 0.0}):
        a = sampling.sample_count(den, sched, key, z0, num_steps=K, **kw)
        b = sampling.sample_count(den, g, key, z0, num_steps=K, **kw)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    a = sampling.sample_stochastic(den, sched, key, z0, num_steps=K)
    b = sampling.sample_stochastic(den, g, key, z0, num_steps=K)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(
        np.asarray(sampling.num_transfer_tokens(g, 64, K)), np.asarray(sampling.num_transfer_tokens(sched, 64, K))
    )


def test_generation_fills_every_position_and_keeps_the_prompt(tiny_params):
    sched = parse_alpha("sin2")
    out = E.generate_unconditional(tiny_params, TINY, sched, jax.random.PRNGKey(0), num_samples=5,
                                   num_steps=4, batch_size=2)
    assert out.shape == (5, 64) and out.max() < TINY.vocab_size and out.min() >= 0
    prompts = D.encode_lines(["import os", "x = 1", "def f():"])
    comp = E.generate_completions(tiny_params, TINY, sched, jax.random.PRNGKey(0), prompts, num_steps=4)
    assert comp.shape == (3, 64) and comp.max() < TINY.vocab_size
    # count sampler, confidence order, temperature 0: deterministic (the key does not matter)
    comp2 = E.generate_completions(tiny_params, TINY, sched, jax.random.PRNGKey(9), prompts, num_steps=4)
    np.testing.assert_array_equal(comp, comp2)
    # each row depends on its own prompt only: reversing the prompts reverses the rows
    comp3 = E.generate_completions(tiny_params, TINY, sched, jax.random.PRNGKey(0), prompts[::-1], num_steps=4)
    np.testing.assert_array_equal(comp3, comp[::-1])
    den = E.CompletionDenoiser(tiny_params, TINY)
    full = np.concatenate([prompts, np.full_like(prompts, TINY.mask_id)], 1)
    probs = np.asarray(den(jax.numpy.asarray(full)))
    np.testing.assert_array_equal(probs[:, :64].argmax(-1), prompts)  # the prompt stays as it is
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5, atol=1e-5)
    # the line's distributions are the network's, given the prompt
    want = jax.nn.softmax(M.apply(tiny_params, jax.numpy.asarray(full[:, 64:]), jax.numpy.asarray(prompts),
                                  config=TINY), axis=-1)
    np.testing.assert_allclose(probs[:, 64:], np.asarray(want), rtol=1e-6, atol=1e-7)


def test_bad_sampler_and_task(tiny_params):
    with pytest.raises(ValueError, match="sampler"):
        E.generate_unconditional(tiny_params, TINY, parse_alpha("linear"), jax.random.PRNGKey(0), num_samples=1,
                                 num_steps=2, sampler="magic")
    files = {"train": (), "tune": (), "test": (D.CodeFile("a.py", ("a = 1", "b = 2")),)}
    data = D.CodeLines(files, D.fingerprint_of(files), {})
    with pytest.raises(ValueError, match="task"):
        E.task_data(data, "poetry", "test", 1)
    with pytest.raises(ValueError, match="fewer"):
        E.task_data(data, "completion", "test", 2)
    td = E.task_data(data, "completion", "test", 1)
    assert td.references == ("b = 2",) and td.prompt_text == ("a = 1",)

"""The code-line denoiser: a numpy re-implementation, shapes, dependencies, checkpoints."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mdm_ot.experiments.codelines import model as M
from mdm_ot.experiments.codelines import train as T

TINY = M.ModelConfig(num_layers=2, d_model=16, num_heads=2, d_ff=24, line_length=6, vocab_size=7)


def _np_forward(params, tokens, positions, config):
    """The transformer written again with numpy loops over heads (float64)."""
    p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
    H, D = config.num_heads, config.d_model
    Dh = D // H

    def ln(x, s, b):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / np.sqrt(v + 1e-5) * s + b

    def gelu(x):  # tanh approximation, as jax.nn.gelu's default
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))

    x = p["tok_emb"][tokens] + p["pos_emb"][positions][None]
    blocks = p["blocks"]
    half = config.conv_kernel // 2
    T = x.shape[1]
    for layer in range(config.num_layers):
        g = {k: v[layer] for k, v in blocks.items()}
        h = ln(x, g["ln0_scale"], g["ln0_bias"])
        conv = np.zeros_like(h)
        for t in range(T):  # position t sees t - half .. t + half (zeros beyond the ends)
            for j in range(config.conv_kernel):
                src = t + j - half
                if 0 <= src < T:
                    conv[:, t] += h[:, src] * g["conv"][j]
        x = x + conv + g["conv_bias"]
        h = ln(x, g["ln1_scale"], g["ln1_bias"])
        qkv = h @ g["qkv"] + g["qkv_bias"]
        out = np.zeros_like(x)
        heads = []
        for head in range(H):
            # layout of the fused projection: [q heads | k heads | v heads], Dh each
            q = qkv[..., head * Dh : (head + 1) * Dh]
            k = qkv[..., D + head * Dh : D + (head + 1) * Dh]
            v = qkv[..., 2 * D + head * Dh : 2 * D + (head + 1) * Dh]
            s = q @ np.swapaxes(k, -1, -2) / math.sqrt(Dh)
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            heads.append(s @ v)
        out = np.concatenate(heads, axis=-1)
        x = x + out @ g["attn_out"] + g["attn_out_bias"]
        h = ln(x, g["ln2_scale"], g["ln2_bias"])
        x = x + gelu(h @ g["mlp_in"] + g["mlp_in_bias"]) @ g["mlp_out"] + g["mlp_out_bias"]
    x = ln(x, p["ln_f_scale"], p["ln_f_bias"])
    return x @ p["head"] + p["head_bias"]


@pytest.fixture(scope="module")
def params():
    p = M.init_params(3, TINY)
    # give biases and norms non-trivial values so that every parameter matters
    rng = np.random.default_rng(4)
    return jax.tree_util.tree_map(lambda x: x + np.float32(0.1) * rng.standard_normal(x.shape).astype(np.float32), p)


def _tokens(key, batch, config, masked=True):
    hi = config.vocab_size + (1 if masked else 0)
    return jax.random.randint(key, (batch, config.line_length), 0, hi)


def test_matches_numpy_reimplementation(params):
    z = _tokens(jax.random.PRNGKey(0), 3, TINY)
    prompt = _tokens(jax.random.PRNGKey(1), 3, TINY, masked=False)
    L = TINY.line_length
    got_u = M.apply(params, z, None, config=TINY)
    want_u = _np_forward(params, np.asarray(z), np.arange(L, 2 * L), TINY)
    np.testing.assert_allclose(np.asarray(got_u), want_u, rtol=1e-4, atol=1e-4)  # float32 network
    got_c = M.apply(params, z, prompt, config=TINY)
    want_c = _np_forward(params, np.concatenate([prompt, z], 1), np.arange(2 * L), TINY)[:, L:]
    np.testing.assert_allclose(np.asarray(got_c), want_c, rtol=1e-4, atol=1e-4)


def test_output_is_float32_and_shaped(params):
    z = _tokens(jax.random.PRNGKey(0), 3, TINY)
    out = M.apply(params, z, None, config=TINY)
    assert out.shape == (3, TINY.line_length, TINY.vocab_size)
    assert out.dtype == jnp.float32  # even with jax_enable_x64 on (conftest)
    chex.assert_tree_all_finite(out)


def test_bidirectional_and_prompt_dependent(params):
    z = _tokens(jax.random.PRNGKey(0), 3, TINY)
    base = M.apply(params, z, None, config=TINY)
    first = z.at[0, 0].set((z[0, 0] + 1) % TINY.vocab_size)
    last = z.at[0, -1].set((z[0, -1] + 1) % TINY.vocab_size)
    # changing the first token changes the last position's output and vice versa (no causal mask)
    assert float(jnp.max(jnp.abs(M.apply(params, first, None, config=TINY)[0, -1] - base[0, -1]))) > 1e-4
    assert float(jnp.max(jnp.abs(M.apply(params, last, None, config=TINY)[0, 0] - base[0, 0]))) > 1e-4
    prompt = _tokens(jax.random.PRNGKey(1), 3, TINY, masked=False)
    other = prompt.at[0, 2].set((prompt[0, 2] + 1) % TINY.vocab_size)
    a = M.apply(params, z, prompt, config=TINY)
    b = M.apply(params, z, other, config=TINY)
    assert float(jnp.max(jnp.abs(a - b))) > 1e-4


def test_init_is_deterministic():
    chex.assert_trees_all_equal(M.init_params(5, TINY), M.init_params(5, TINY))
    a, b = M.init_params(5, TINY), M.init_params(6, TINY)
    assert not np.array_equal(np.asarray(a["head"]), np.asarray(b["head"]))


def test_num_params_formula():
    c = M.ModelConfig(num_layers=3, d_model=8, num_heads=2, d_ff=12, line_length=5, vocab_size=9)
    p = M.init_params(0, c)
    D, F, N, L, V, C = 8, 12, 3, 5, 9, 5
    per_block = 6 * D + (C * D + D) + (D * 3 * D + 3 * D) + (D * D + D) + (D * F + F) + (F * D + D)
    assert M.num_params(p) == (V + 1) * D + 2 * L * D + N * per_block + 2 * D + D * V + V


def test_bad_inputs():
    p = M.init_params(0, TINY)
    with pytest.raises(ValueError, match="shape"):
        M.apply(p, jnp.zeros((2, 5), jnp.int32), config=TINY)
    with pytest.raises(ValueError, match="integer"):
        M.apply(p, jnp.zeros((2, 6)), config=TINY)
    with pytest.raises(ValueError, match="batch"):
        M.apply(p, jnp.zeros((2, 6), jnp.int32), jnp.zeros((3, 6), jnp.int32), config=TINY)
    with pytest.raises(ValueError, match="divide"):
        M.ModelConfig(d_model=10, num_heads=4)
    with pytest.raises(ValueError, match="positive"):
        M.ModelConfig(num_layers=0)
    with pytest.raises(ValueError, match="odd"):
        M.ModelConfig(conv_kernel=4)
    with pytest.raises(ValueError, match="seed"):
        M.init_params(jax.random.PRNGKey(0), TINY)
    with pytest.raises(ValueError, match="unknown"):
        M.ModelConfig.from_dict({"num_layers": 1, "depth": 2})
    assert M.ModelConfig.from_dict(TINY.to_dict()) == TINY


def test_checkpoint_round_trip(tmp_path, params):
    opt = T.make_optimizer(T.TrainConfig(steps=10, warmup_steps=2))
    state = opt.init(params)
    path = tmp_path / "c.npz"
    T.save_checkpoint(path, params, TINY, {"step": 7, "note": "x"}, state)
    p2, c2, meta, leaves = T.load_checkpoint(path)
    assert c2 == TINY and meta["step"] == 7 and meta["note"] == "x"
    chex.assert_trees_all_equal(p2, params)
    state2 = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(state), leaves)
    chex.assert_trees_all_equal(state2, state)
    T.export_checkpoint(path, tmp_path / "e.npz")
    _, _, _, none = T.load_checkpoint(tmp_path / "e.npz")
    assert none == []
    with pytest.raises(FileNotFoundError):
        T.load_checkpoint(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not an mdm_ot"):
        T.load_checkpoint(tmp_path / "other.npz")

"""AntiBERTy's network in JAX (mdm_ot.experiments.antibody.model) on a tiny random BERT.

The JAX forward pass is checked against an independent numpy implementation written
here from the BERT definition (per-head loops, explicit erf GELU), in float64.
"""

from __future__ import annotations

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _antibody_helpers import archive_bytes, tiny_bert_state

from mdm_ot.experiments.antibody import model
from mdm_ot.experiments.antibody.model import (
    AMINO_ACIDS,
    MASK_ID,
    PAD_ID,
    AntibertyDenoiser,
    BertConfig,
    params_from_state_dict,
)
from mdm_ot.experiments.antibody.torchzip import load_state_dict

CFG = BertConfig(vocab_size=25, hidden_size=16, num_layers=2, num_heads=2, intermediate_size=32,
                 max_positions=40, layer_norm_eps=1e-12)
_erf = np.vectorize(math.erf)


def _ln(x, g, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def _gelu(x):
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


def reference_logits(s, tokens, att, heads=2, layers=2):
    """numpy BERT-MLM forward on one sequence, straight from the HuggingFace layout."""
    T = len(tokens)
    x = s["bert.embeddings.word_embeddings.weight"][tokens] \
        + s["bert.embeddings.position_embeddings.weight"][:T] \
        + s["bert.embeddings.token_type_embeddings.weight"][0]
    x = _ln(x, s["bert.embeddings.LayerNorm.weight"], s["bert.embeddings.LayerNorm.bias"])
    H = x.shape[1]
    dh = H // heads
    for i in range(layers):
        p = f"bert.encoder.layer.{i}."

        def lin(h, name, p=p):
            return h @ s[p + name + ".weight"].T + s[p + name + ".bias"]

        q, k, v = lin(x, "attention.self.query"), lin(x, "attention.self.key"), lin(x, "attention.self.value")
        ctx = np.zeros_like(x)
        for h in range(heads):
            sl = slice(h * dh, (h + 1) * dh)
            sc = q[:, sl] @ k[:, sl].T / math.sqrt(dh)
            sc = np.where(att[None, :], sc, -np.inf)
            w = np.exp(sc - sc.max(1, keepdims=True))
            w /= w.sum(1, keepdims=True)
            ctx[:, sl] = w @ v[:, sl]
        a = _ln(x + lin(ctx, "attention.output.dense"), s[p + "attention.output.LayerNorm.weight"],
                s[p + "attention.output.LayerNorm.bias"])
        f = lin(_gelu(lin(a, "intermediate.dense")), "output.dense")
        x = _ln(a + f, s[p + "output.LayerNorm.weight"], s[p + "output.LayerNorm.bias"])
    y = x @ s["cls.predictions.transform.dense.weight"].T + s["cls.predictions.transform.dense.bias"]
    y = _ln(_gelu(y), s["cls.predictions.transform.LayerNorm.weight"],
            s["cls.predictions.transform.LayerNorm.bias"])
    return y @ s["cls.predictions.decoder.weight"].T + s["cls.predictions.bias"]


@pytest.fixture(scope="module")
def tiny():
    state = tiny_bert_state(np.random.default_rng(0))
    loaded = load_state_dict(archive_bytes(state))  # through the restricted reader
    den = AntibertyDenoiser(params_from_state_dict(loaded, CFG, np.float64), CFG)
    return state, den


def test_logits_match_numpy_reference(tiny):
    state, den = tiny
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 25, size=(3, 12))
    att = np.ones((3, 12), bool)
    att[1, 9:] = False
    got = np.asarray(den.logits(tokens, att))
    assert got.dtype == np.float64
    for r in range(3):
        want = reference_logits(state, tokens[r], att[r])
        keep = att[r]
        np.testing.assert_allclose(got[r][keep], want[keep], rtol=1e-10, atol=1e-10)


def test_denoiser_framing_and_alphabet(tiny):
    state, den = tiny
    z = np.array([[0, 5, MASK_ID, 19, 3]])
    probs = np.asarray(den(z))
    assert probs.shape == (1, 5, 20)
    tokens = np.array([2, 5, 10, 4, 24, 8, 3])  # [CLS] A G [MASK] Y D [SEP]
    logits = reference_logits(state, tokens, np.ones(7, bool))[1:6, 5:]
    want = np.exp(logits - logits.max(-1, keepdims=True))
    want /= want.sum(-1, keepdims=True)
    np.testing.assert_allclose(probs[0], want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(probs[0], _reference_probs(state, z[0]), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-12, atol=1e-12)


def _reference_probs(state, z_row):
    """Denoiser output from the numpy reference: [CLS] z [SEP], amino-acid logits only."""
    tokens = np.concatenate([[2], np.where(z_row == MASK_ID, 4, z_row + 5), [3]])
    logits = reference_logits(state, tokens, np.ones(len(tokens), bool))[1:-1, 5:]
    p = np.exp(logits - logits.max(-1, keepdims=True))
    return p / p.sum(-1, keepdims=True)


def test_padding_changes_nothing_and_batches_over_leading_axes(tiny):
    state, den = tiny
    rng = np.random.default_rng(2)
    short = rng.integers(0, 21, size=7)
    longer = rng.integers(0, 21, size=10)
    z = np.full((2, 10), PAD_ID)
    z[0, :7] = short
    z[1] = longer
    batched = np.asarray(den(z.reshape(1, 2, 10)))[0]  # a leading batch axis too
    np.testing.assert_allclose(batched[0, :7], _reference_probs(state, short), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(batched[0, 7:], 1 / 20, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(batched[1], _reference_probs(state, longer), rtol=1e-10, atol=1e-12)


def test_denoiser_is_a_pytree_and_jits_without_retracing(tiny):
    _, den = tiny
    leaves = jax.tree_util.tree_leaves(den)
    assert len(leaves) == 5 + 16 + 6 and all(isinstance(v, jax.Array) for v in leaves)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def run(d, z):
        return d(z)

    z = jnp.zeros((2, 6), jnp.int32)
    run(den, z)
    other = jax.tree_util.tree_map(lambda a: a * 1.0, den)
    run(other, z)  # same structure: no second trace


def test_bad_inputs(tiny):
    _, den = tiny
    with pytest.raises(ValueError, match="integers"):
        den(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="length"):
        den(np.zeros((1, 39), np.int32))
    with pytest.raises(ValueError, match="not a multiple"):
        BertConfig(hidden_size=10, num_heads=3)


def test_params_from_state_dict_checks_names_and_shapes():
    state = tiny_bert_state(np.random.default_rng(3))
    bad = dict(state)
    del bad["cls.predictions.bias"]
    with pytest.raises(ValueError, match="lacks 'cls.predictions.bias'"):
        params_from_state_dict(bad, CFG)
    bad = dict(state)
    bad["bert.encoder.layer.1.output.dense.weight"] = np.zeros((16, 31))
    with pytest.raises(ValueError, match="shape"):
        params_from_state_dict(bad, CFG)
    extra = dict(state)
    extra["bert.encoder.layer.2.attention.self.query.weight"] = np.zeros((16, 16))
    with pytest.raises(ValueError, match="more than 2 layers"):
        params_from_state_dict(extra, CFG)
    tied = dict(state)
    del tied["cls.predictions.decoder.weight"]  # falls back to the tied word embeddings
    p = params_from_state_dict(tied, CFG)
    np.testing.assert_array_equal(np.asarray(p.decoder_w),
                                  state["bert.embeddings.word_embeddings.weight"].T.astype(np.float32))


def test_config_from_json(tmp_path):
    p = tmp_path / "config.json"
    p.write_text('{"vocab_size": 25, "hidden_size": 16, "num_hidden_layers": 2, '
                 '"num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 40, '
                 '"type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu"}')
    assert BertConfig.from_json(p) == CFG
    p.write_text(p.read_text().replace('"gelu"', '"relu"'))
    with pytest.raises(ValueError, match="hidden_act"):
        BertConfig.from_json(p)


def test_encode_decode():
    z = model.encode(["ACD_Y", "W"])
    np.testing.assert_array_equal(z, [[0, 1, 2, MASK_ID, 19], [18, PAD_ID, PAD_ID, PAD_ID, PAD_ID]])
    assert model.decode(z) == ["ACD_Y", "W"]
    assert model.encode("ACDEFGHIKLMNPQRSTVWY").tolist() == list(range(20))
    assert model.decode(model.encode(AMINO_ACIDS)) == AMINO_ACIDS
    with pytest.raises(ValueError, match="'B'"):
        model.encode("ACB")
    with pytest.raises(ValueError, match="length 3 > 2"):
        model.encode(["ACD"], 2)


def test_load_antiberty_from_a_cache(tmp_path, monkeypatch):
    """The loader reads vocab, config and weights through the pinned-file lookup."""
    state = tiny_bert_state(np.random.default_rng(4), dtype=np.float32)
    files = {
        "antiberty/vocab.txt": "\n".join(model.VOCAB).encode(),
        "antiberty/config.json": (b'{"vocab_size": 25, "hidden_size": 16, "num_hidden_layers": 2, '
                                  b'"num_attention_heads": 2, "intermediate_size": 32, '
                                  b'"max_position_embeddings": 40, "type_vocab_size": 2, '
                                  b'"layer_norm_eps": 1e-12}'),
        "antiberty/pytorch_model.bin": archive_bytes(state).getvalue(),
    }
    for rel, raw in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(raw)
    monkeypatch.setattr(model.fetch, "require_file", lambda rel, root=None: tmp_path / rel)
    den = model.load_antiberty()
    assert den.config == CFG
    np.testing.assert_array_equal(np.asarray(den.params.word),
                                  state["bert.embeddings.word_embeddings.weight"])
    (tmp_path / "antiberty/vocab.txt").write_text("[PAD]\nA\n")
    with pytest.raises(ValueError, match="vocabulary"):
        model.load_antiberty()

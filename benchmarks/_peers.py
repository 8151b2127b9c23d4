r"""The PyTorch peers of ``benchmarks/sampler_peers.py`` (needs torch; transformers and
flow_matching are imported where they are used).

* Torch ports of mdm_ot's exact oracles: the same mathematics (MATH.md section 4), written
  in torch with their own machinery. :class:`TorchTableOracle` reads the conditionals of an
  explicit ``q`` from its marginal table by index arithmetic on the flattened table (ours
  builds a conditional table by slicing); :class:`TorchMarkovOracle` uses
  :math:`q(x_j = v \mid z_{UM}) \propto P^{j-i}(z_i, v) P^{k-j}(v, z_k)` between the nearest
  unmasked positions ``i < j < k``, with the powers of ``P`` computed once at construction
  (ours computes them per call with an associative scan).
* :func:`flow_matching_model`: an oracle as a flow_matching ``ModelWrapper`` (posterior over
  the ``d`` tokens and the mask, which gets probability 0); :func:`exported_scheduler`: the
  module ``mdm-ot export --format flow_matching`` writes, loaded in memory.
* :func:`hf_bert`: transformers' ``BertForMaskedLM`` with the weights of a BERT state dict
  (the dict mdm_ot's reader returns), its sizes read from the weights' shapes.
* :func:`llada_infill`: few-step infilling with low-confidence remasking, written from the
  LLaDA paper's description (Nie et al., arXiv:2502.09992: its inference section and its
  low-confidence remasking algorithm), not from its code: at each step every masked position proposes its
  most probable token (temperature 0); the ``c_k`` masked positions whose proposal has the
  highest probability keep it, the rest stay masked. ``c_k`` splits the masked count of a
  row evenly over the steps, the remainder one each to the first steps (LLaDA's rule for
  the linear schedule, which docs/sampling.md states mdm_ot's split reproduces).
"""

from __future__ import annotations

import sys
import types

import numpy as np
import torch

from mdm_ot.experiments.antibody.model import AMINO_ACIDS, MASK_ID, VOCAB

__all__ = [
    "TorchMarkovOracle",
    "TorchTableOracle",
    "exported_scheduler",
    "flow_matching_model",
    "hf_bert",
    "llada_counts",
    "llada_infill",
]


def _finish(post: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Normalize masked rows (uniform where all zero), point masses at unmasked positions."""
    d = post.shape[-1]
    s = post.sum(-1, keepdim=True)
    masked = (z == d).unsqueeze(-1)
    out = torch.where(masked & (s > 0), post / s, torch.where(masked, 1.0 / d, 0.0))
    return out.scatter_add_(-1, torch.where(z == d, 0, z).unsqueeze(-1), (~masked).to(out.dtype))


class TorchTableOracle(torch.nn.Module):
    """Exact denoiser of an explicit ``q`` of shape ``(d,) * n`` (mask id ``d``)."""

    def __init__(self, q, dtype=torch.float32):
        super().__init__()
        big = torch.as_tensor(np.asarray(q), dtype=torch.float64)
        self.n, self.d = big.ndim, big.shape[0]
        for i in range(self.n):  # index d on an axis: that position summed over (masked)
            big = torch.cat([big, big.sum(i, keepdim=True)], dim=i)
        self.register_buffer("marginal", big.reshape(-1).to(dtype))
        self.register_buffer("weights", (self.d + 1) ** torch.arange(self.n - 1, -1, -1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z.long()
        base = (z * self.weights).sum(-1, keepdim=True) - z * self.weights  # z with z_i := 0
        cand = base.unsqueeze(-1) + torch.arange(self.d) * self.weights.unsqueeze(-1)  # z_i := v
        return _finish(self.marginal[cand], z)


class TorchMarkovOracle(torch.nn.Module):
    """Exact denoiser of the Markov chain ``(init, trans)`` for sequences of ``length``."""

    def __init__(self, init, trans, length: int, dtype=torch.float32):
        super().__init__()
        init = torch.as_tensor(np.asarray(init), dtype=dtype)
        trans = torch.as_tensor(np.asarray(trans), dtype=dtype)
        self.d = init.shape[0]
        powers = [torch.eye(self.d, dtype=dtype)]
        for _ in range(length):
            powers.append(powers[-1] @ trans)
        powers = torch.stack(powers)  # [n+1, d, d]: P^0 .. P^n
        self.register_buffer("powers", powers)
        self.register_buffer("head", init @ powers[:length])  # [n, d]: pi0 P^j

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z.long()
        batch, n = z.shape
        d = self.d
        pos = torch.arange(n)
        obs = z != d
        last_seen = torch.cummax(torch.where(obs, pos, -1), dim=1).values
        prev = torch.cat([torch.full((batch, 1), -1), last_seen[:, :-1]], dim=1)
        first_ahead = torch.flip(torch.cummin(torch.flip(torch.where(obs, pos, n), [1]), dim=1).values, [1])
        nxt = torch.cat([first_ahead[:, 1:], torch.full((batch, 1), n)], dim=1)
        tok = torch.where(obs, z, 0)
        z_prev = tok.gather(1, prev.clamp(min=0))
        z_next = tok.gather(1, nxt.clamp(max=n - 1))
        left = torch.where((prev >= 0).unsqueeze(-1), self.powers[(pos - prev).clamp(max=n), z_prev], self.head)
        gap = torch.where(nxt < n, nxt - pos, 0)
        right = self.powers[gap.unsqueeze(-1), torch.arange(d), z_next.unsqueeze(-1)]
        right = torch.where((nxt < n).unsqueeze(-1), right, 1.0)
        # off the support: an unmasked token of probability 0 given the previous unmasked one
        link = left.gather(-1, tok.unsqueeze(-1)).squeeze(-1)
        off = (obs & (link <= 0)).any(dim=1)
        post = torch.where(off[:, None, None], 0.0, left * right)
        return _finish(post, z)


def flow_matching_model(oracle: torch.nn.Module):
    """``oracle`` as a flow_matching ``ModelWrapper``: ``(x, t) -> [..., d + 1]`` posteriors
    (the mask token, id ``d``, gets probability 0)."""
    from flow_matching.utils import ModelWrapper

    class _Oracle(ModelWrapper):
        def forward(self, x, t, **extras):
            p = self.model(x)
            return torch.cat([p, p.new_zeros(p.shape[:-1] + (1,))], dim=-1)

    return _Oracle(oracle)


def exported_scheduler(spec: str, length: int, steps: int):
    """The flow_matching file of ``mdm-ot export --format flow_matching``, as a module."""
    from mdm_ot.exports import render_native
    from mdm_ot.sampling import export_table
    from mdm_ot.schedules import parse_alpha

    sched = parse_alpha(spec)
    name = f"mdm_ot_fm_export_{len(sys.modules)}"
    source = render_native("flow_matching", export_table(sched, length, steps), sched, module=name)
    module = types.ModuleType(name)
    sys.modules[name] = module  # dataclasses in the file look their module up
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


# ----------------------------------------------------------------------------- BERT, LLaDA

def hf_bert(state: dict, *, num_heads: int, layer_norm_eps: float = 1e-12):
    """transformers' ``BertForMaskedLM`` (eval mode, float32) holding the weights of a
    HuggingFace-named BERT state dict of numpy arrays; vocabulary, hidden size, layers,
    feed-forward size and positions are read from the shapes (the heads cannot be)."""
    from transformers import BertConfig, BertForMaskedLM

    word = state["bert.embeddings.word_embeddings.weight"]
    layers = 0
    while f"bert.encoder.layer.{layers}.attention.self.query.weight" in state:
        layers += 1
    config = BertConfig(
        vocab_size=word.shape[0], hidden_size=word.shape[1], num_hidden_layers=layers,
        num_attention_heads=num_heads,
        intermediate_size=state["bert.encoder.layer.0.intermediate.dense.weight"].shape[0],
        max_position_embeddings=state["bert.embeddings.position_embeddings.weight"].shape[0],
        type_vocab_size=state["bert.embeddings.token_type_embeddings.weight"].shape[0],
        layer_norm_eps=layer_norm_eps, hidden_act="gelu", tie_word_embeddings=False,
    )
    bert = BertForMaskedLM(config).eval()
    want = bert.state_dict()
    given = {k: torch.as_tensor(np.asarray(v, np.float32)) for k, v in state.items() if k in want}
    # a tied checkpoint may leave out the decoder: it is the word embeddings and the MLM bias
    given.setdefault("cls.predictions.decoder.weight", given["bert.embeddings.word_embeddings.weight"])
    given.setdefault("cls.predictions.decoder.bias", given["cls.predictions.bias"])
    missing = sorted(set(want) - set(given) - {"bert.embeddings.position_ids"})
    missing = [k for k in missing if not k.startswith("bert.pooler.")]  # the MLM never uses it
    if missing:
        raise ValueError(f"the state dict lacks {missing[:4]}")
    bert.load_state_dict(given, strict=False)
    return bert


def llada_counts(masked: torch.Tensor, steps: int) -> torch.Tensor:
    """Tokens to reveal per step ``[batch, steps]``: ``m // K`` each, one more for each of
    the first ``m % K`` steps (``m`` the masked positions of a row)."""
    k = torch.arange(steps)
    return (masked // steps).unsqueeze(-1) + (k < (masked % steps).unsqueeze(-1)).long()


_CLS, _SEP, _MASK = VOCAB.index("[CLS]"), VOCAB.index("[SEP]"), VOCAB.index("[MASK]")
_FIRST_AA = VOCAB.index(AMINO_ACIDS[0])


@torch.no_grad()
def llada_infill(bert, z0: torch.Tensor, steps: int) -> torch.Tensor:
    """LLaDA's few-step sampler at temperature 0 with low-confidence remasking.

    Args:
      bert: a ``BertForMaskedLM`` over AntiBERTy's vocabulary (:data:`VOCAB`).
      z0: ``[batch, L]`` states over the amino acids (ids ``0..19``, mask ``MASK_ID``); the
        unmasked positions are the prompt.
      steps: ``K``, one forward pass each.

    Returns:
      ``[batch, L]`` int64 with every mask filled. The model sees ``[CLS] z [SEP]``; its
      per-position distribution is the softmax of the logits of the 20 amino acids. Among
      equal confidences the lower position wins (a stable sort).
    """
    x = z0.long().clone()
    batch, length = x.shape
    counts = llada_counts((x == MASK_ID).sum(-1), steps)
    cls = torch.full((batch, 1), _CLS)
    sep = torch.full((batch, 1), _SEP)
    positions = torch.arange(length).expand(batch, length)
    for k in range(steps):
        masked = x == MASK_ID
        body = torch.where(masked, _MASK, x + _FIRST_AA)
        logits = bert(input_ids=torch.cat([cls, body, sep], dim=1)).logits
        probs = torch.softmax(logits[:, 1:length + 1, _FIRST_AA:_FIRST_AA + len(AMINO_ACIDS)].float(), dim=-1)
        conf, proposal = probs.max(dim=-1)  # the first maximal index on ties
        conf = torch.where(masked, conf, -torch.inf)
        order = torch.sort(conf, dim=-1, descending=True, stable=True).indices
        rank = torch.empty_like(order).scatter_(1, order, positions)
        x = torch.where(masked & (rank < counts[:, k:k + 1]), proposal, x)
    return x

"""Layer-by-layer, chunk-by-chunk graphs for long transcripts (``train`` extra).

The whole-transcript graph holds every layer's (window x 3 windows) local
attention scores for the full length at once: about 19 kB per nucleotide, so
2 GB for a 100 kb transcript.  These two graphs compute the same function in
pieces of a few thousand nucleotides, so that memory stays near the size of
one piece whatever the length:

- ``summary``: one layer's global-attention summary (``context`` = sum of
  phi(k) v^T and ``k_sum`` = sum of phi(k)) over a piece; the predictor adds
  the pieces up.  Global attention only ever sees the transcript through
  these sums, which is what makes the split exact.
- ``step``: one layer applied to a piece, given the layer's summary, with one
  window of context on either side (local attention looks exactly one window
  back and forward).  It also returns the probabilities (used after the last
  layer).

Both take the layer index as an input and gather that layer's weights from
stacked tensors, so one file serves every layer.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from tis_transformer.export.exportable import OPSET, ExportableTIS
from tis_transformer.training.network import TISNetwork, sinusoid


def _stack(tensors: list) -> nn.Parameter:
    return nn.Parameter(torch.stack([t.detach() for t in tensors]), requires_grad=False)


class _LayerWeights(nn.Module):
    """Every layer's weights stacked along a leading layer axis."""

    def __init__(self, tis: ExportableTIS):
        super().__init__()
        attn = tis.attentions
        self.attn_norm_w = _stack([m.weight for m in tis.attn_norms])
        self.attn_norm_b = _stack([m.bias for m in tis.attn_norms])
        self.wq = _stack([a.to_q.weight for a in attn])
        self.wk = _stack([a.to_k.weight for a in attn])
        self.wv = _stack([a.to_v.weight for a in attn])
        self.wo = _stack([a.to_out.weight for a in attn])
        self.bo = _stack([a.to_out.bias for a in attn])
        self.projection = _stack([a.fast_attention.projection_matrix for a in attn])
        self.ff_norm_w = _stack([m.weight for m in tis.ff_norms])
        self.ff_norm_b = _stack([m.bias for m in tis.ff_norms])
        self.w1 = _stack([f.w1.weight for f in tis.feedforwards])
        self.b1 = _stack([f.w1.bias for f in tis.feedforwards])
        self.w2 = _stack([f.w2.weight for f in tis.feedforwards])
        self.b2 = _stack([f.w2.bias for f in tis.feedforwards])
        for name in ("to_q", "to_k", "to_v"):
            if getattr(attn[0], name).bias is not None:
                raise ValueError("layer graphs expect attention projections without bias")


class _Pieces(nn.Module):
    """What the summary and step graphs share: embeddings, projections, rotary."""

    def __init__(self, network: TISNetwork, logit_offset: float):
        super().__init__()
        self.tis = ExportableTIS(network, logit_offset)
        self.weights = _LayerWeights(self.tis)
        c = network.config
        self.dim, self.dim_head, self.window = c.dim, c.dim_head, c.local_window_size
        self.heads = c.heads
        self.global_heads = c.heads - c.local_attn_heads

    def embed(self, tokens, features, start, x, layer):
        """Layer input: the embedding for layer 0, else ``x`` (chosen arithmetically)."""
        n = tokens.shape[1]
        positions = start.to(torch.float32) + torch.arange(n, dtype=torch.float32)
        emb = self.tis.network.embed(tokens, features, positions)
        first = (layer == 0).to(torch.float32)
        return first * emb + (1.0 - first) * x

    def qkv(self, x, layer, which):
        w = self.weights
        normed = F.layer_norm(x, (self.dim,), w.attn_norm_w[layer], w.attn_norm_b[layer])
        b, n, _ = x.shape
        return [F.linear(normed, getattr(w, name)[layer]).reshape(b, n, self.heads, -1).transpose(1, 2)
                for name in which]

    def rotary(self, start, n):
        positions = start.to(torch.float32) + torch.arange(n, dtype=torch.float32)
        table = sinusoid(positions, self.dim_head)
        half = self.dim_head // 2
        return table[:, :half].repeat_interleave(2, dim=-1), table[:, half:].repeat_interleave(2, dim=-1)


class SummaryGraph(_Pieces):
    """(layer, start, tokens, x2, valid[, features]) -> (context, k_sum) of that piece."""

    def forward(self, layer, start, tokens, x2, valid, features=None):
        x2 = self.embed(tokens, features, start, x2, layer)
        gh = self.global_heads
        k, v = self.qkv(x2, layer, ("wk", "wv"))
        k, v = k[:, :gh], v[:, :gh]
        sin, cos = self.rotary(start, x2.shape[1])
        k = self.tis.rotate_global(k, sin, cos)
        k = self.tis.feature_map(k, self.weights.projection[layer])
        keep = valid[:, None, :, None]
        k, v = k * keep, v * keep
        return k.transpose(-1, -2) @ v, k.sum(dim=-2)


class StepGraph(_Pieces):
    """(layer, start, tokens_halo, x1_halo, x2_halo, valid_halo, context, k_sum[, features_halo])
    -> (x1, x2, probabilities).

    The ``*_halo`` inputs span the piece plus one window on either side (only
    the piece's part of ``x1_halo`` is read); ``start`` is the piece's first
    position (a multiple of the window) and the piece's length is a multiple
    of the window.  Outputs cover the piece.
    """

    def forward(self, layer, start, tokens_halo, x1_halo, x2_halo, valid_halo, context, k_sum,
                features_halo=None):
        w, gh, h = self.window, self.global_heads, self.heads
        n = x1_halo.shape[1] - 2 * w
        x1 = x1_halo[:, w:w + n]
        x2_halo = self.embed(tokens_halo, features_halo, start - w, x2_halo, layer)
        features = None if features_halo is None else features_halo[:, w:w + n]
        x1 = self.embed(tokens_halo[:, w:w + n], features, start, x1, layer)
        q, k, v = self.qkv(x2_halo, layer, ("wq", "wk", "wv"))
        outs = []
        if gh > 0:
            sin, cos = self.rotary(start, n)
            q_global = self.tis.rotate_global(q[:, :gh, w:w + n], sin, cos)
            q_global = self.tis.feature_map(q_global, self.weights.projection[layer])
            outs.append(self.tis.read_global(q_global, context, k_sum))
        if h > gh:
            local = self.tis.local(q[:, gh:], k[:, gh:], v[:, gh:], valid_halo > 0.5)
            outs.append(local[:, :, w:w + n])
        b = x1.shape[0]
        attended = torch.cat(outs, dim=1).transpose(1, 2).reshape(b, n, -1)
        wt = self.weights
        x1 = x1 + F.linear(attended, wt.wo[layer], wt.bo[layer])
        hidden = F.linear(F.layer_norm(x1, (self.dim,), wt.ff_norm_w[layer], wt.ff_norm_b[layer]),
                          wt.w1[layer], wt.b1[layer])
        gate, value = hidden.chunk(2, dim=-1)
        x2 = x2_halo[:, w:w + n] + F.linear(F.gelu(gate) * value, wt.w2[layer], wt.b2[layer])
        probabilities = self.tis.head(x1, x2, features)
        return x1, x2, probabilities


def export_layer_graphs(network: TISNetwork, path: str | Path, logit_offset: float = 0.0) -> tuple[Path, Path]:
    """Write ``STEM.summary.onnx`` and ``STEM.step.onnx`` beside the model at ``path``."""
    import onnx

    network.eval()
    network.fix_projections()
    path = Path(path)
    c = network.config
    w, gh = c.local_window_size, c.heads - c.local_attn_heads
    n = 2 * w
    layer = torch.tensor(1)
    start = torch.tensor(w)
    piece = torch.export.Dim("piece", min=1)
    halo = torch.export.Dim("halo", min=2 * w + 1)
    tokens = torch.randint(0, 4, (1, n + 2 * w))
    x = torch.randn(1, n + 2 * w, c.dim)
    valid = torch.ones(1, n + 2 * w)
    context = torch.rand(1, gh, c.nb_features, c.dim_head)
    k_sum = torch.rand(1, gh, c.nb_features) + 1.0
    summary_in = [layer, start, tokens[:, :n], x[:, :n], valid[:, :n]]
    summary_names = ["layer", "start", "tokens", "x2", "valid"]
    summary_shapes = [None, None, {1: piece}, {1: piece}, {1: piece}]
    # distinct tensors: torch.export treats an aliased example input as one input
    step_in = [layer, start, tokens, x.clone(), x, valid, context, k_sum]
    step_names = ["layer", "start", "tokens_halo", "x1_halo", "x2_halo", "valid_halo", "context", "k_sum"]
    step_shapes = [None, None, {1: halo}, {1: halo}, {1: halo}, {1: halo}, None, None]
    if c.n_features:
        features = torch.rand(1, n + 2 * w, c.input_columns)
        summary_in.append(features[:, :n].clone())
        summary_names.append("features")
        summary_shapes.append({1: piece})
        step_in.append(features)
        step_names.append("features_halo")
        step_shapes.append({1: halo})
    outputs = []
    # torch.onnx reports its steps on stdout, which carries the command's JSON summary
    with torch.no_grad(), contextlib.redirect_stdout(sys.stderr):
        summary = torch.onnx.export(
            SummaryGraph(network, logit_offset).eval(), tuple(summary_in),
            dynamo=True, opset_version=OPSET, optimize=True,
            input_names=summary_names, output_names=["context", "k_sum"],
            dynamic_shapes=tuple(summary_shapes))
        outputs.append((summary, path.with_suffix(".summary.onnx")))
        step = torch.onnx.export(
            StepGraph(network, logit_offset).eval(), tuple(step_in),
            dynamo=True, opset_version=OPSET, optimize=True,
            input_names=step_names, output_names=["x1_out", "x2_out", "probabilities"],
            dynamic_shapes=tuple(step_shapes))
        outputs.append((step, path.with_suffix(".step.onnx")))
    for program, target in outputs:
        onnx.save(program.model_proto, str(target))
    return outputs[0][1], outputs[1][1]

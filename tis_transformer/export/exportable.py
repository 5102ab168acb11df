"""The inference function of a trained TIS network, re-stated for ONNX export (``train`` extra).

performer-pytorch's modules do not trace to a clean dynamic-shape graph
(local-attention's padding freezes lengths, the reversible layers run in a
custom autograd function), so ``ExportableTIS`` re-states the network's
inference function over the *same* parameters: reversible blocks as their
two-stream recurrence, positions computed from the length inside the graph,
local attention as padded windows with shifted key blocks, global attention
with padded keys masked.  ``stock_probabilities`` runs the stock modules, for parity.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from tis_transformer.predictor.tokens import PAD
from tis_transformer.training.network import sinusoid, TISNetwork

log = logging.getLogger("tis_transformer")

log = logging.getLogger("tis_transformer")

SHORT_WINDOWS = (32, 64)
OPSET = 18


def _rotation(dim: int, interleaved: bool) -> torch.Tensor:
    """Matrix R with ``x @ R`` equal to the rotary "rotate" of x.

    Interleaved pairs (performer-pytorch): (x0, x1, ...) -> (-x1, x0, ...);
    halves (local-attention): (a, b) -> (-b, a).  One small MatMul instead of
    Split/Neg/Concat nodes, which cost more than the arithmetic in onnxruntime.
    """
    rotation = torch.zeros(dim, dim)
    half = dim // 2
    for i in range(half):
        if interleaved:
            rotation[2 * i + 1, 2 * i] = -1.0
            rotation[2 * i, 2 * i + 1] = 1.0
        else:
            rotation[half + i, i] = -1.0
            rotation[i, half + i] = 1.0
    return rotation


class ExportableTIS(nn.Module):
    """The inference function of a ``TISNetwork``, written for ONNX export.

    Takes ``tokens`` (batch, length) int64 padded with ``PAD`` and returns TIS
    probabilities (batch, length) float32; ``logit_offset`` is added to the
    logits first (see ``TISModel.logit_offset``).  Holds references to, not copies of,
    the network's modules.
    """

    def __init__(self, network: TISNetwork, logit_offset: float = 0.0, window: int | None = None):
        super().__init__()
        self.logit_offset = float(logit_offset)
        config = network.config
        if not config.reversible:
            raise ValueError("export supports reversible networks (the default)")
        self.network = network
        self.config = config
        blocks = network.performer.net.blocks if config.depth else []
        self.attn_norms = nn.ModuleList(b.f.net.norm for b in blocks)
        self.attentions = nn.ModuleList(b.f.net.fn for b in blocks)
        self.ff_norms = nn.ModuleList(b.g.net.norm for b in blocks)
        self.feedforwards = nn.ModuleList(b.g.net.fn.fn for b in blocks)
        local = self.attentions[0].local_attn if config.depth else None
        # ``window`` below the network's: a graph for batches whose rows all fit in that many nucleotides (see
        # ``short_window_graph``); the local attention's rotary tables keep the network's absolute positions
        self.trained_window = config.local_window_size
        self.window = int(window or config.local_window_size)
        if not 0 < self.window <= self.trained_window:
            raise ValueError(f"window {self.window} must be in 1..{self.trained_window}")
        if local is not None and (local.look_backward, local.look_forward) != (1, 1):
            raise ValueError("export expects local attention looking one window back and forward")

    @staticmethod
    def rotate_global(t, sin, cos):
        """performer-pytorch's rotary embedding of global-head queries or keys."""
        return t * cos + (t @ _rotation(t.shape[-1], interleaved=True)) * sin

    @staticmethod
    def feature_map(t, projection):
        """Generalized ReLU random features phi(t) of FAVOR+ attention."""
        return torch.relu((t * t.shape[-1] ** -0.25) @ projection.t()) + 0.001

    @staticmethod
    def read_global(q_features, context, k_sum):
        """Linear attention output from query features and the keys' summary."""
        denominator = (q_features * k_sum.unsqueeze(-2)).sum(dim=-1, keepdim=True)
        return (q_features @ context) / denominator

    def _global(self, attn, q, k, v, keep, rotary):
        if not attn.fast_attention.generalized_attention:
            raise ValueError("export supports generalized (ReLU) attention, the default")
        sin, cos = rotary
        projection = attn.fast_attention.projection_matrix
        q = self.feature_map(self.rotate_global(q, sin, cos), projection)
        k = self.feature_map(self.rotate_global(k, sin, cos), projection) * keep
        v = v * keep
        return self.read_global(q, k.transpose(-1, -2) @ v, k.sum(dim=-2))

    def local(self, q, k, v, key_valid):
        """Local attention of (b, h, n, d) heads over windows one back and one forward."""
        b, h, n, d = q.shape
        w = self.window
        padded_n = (n + w - 1) // w * w
        pad = padded_n - n
        q, k, v = (torch.nn.functional.pad(t, (0, 0, 0, pad)) for t in (q, k, v))
        key_valid = torch.nn.functional.pad(key_valid, (0, pad), value=False)
        windows = padded_n // w
        q = q.reshape(b, h, windows, w, d) * d ** -0.5
        k = k.reshape(b, h, windows, w, d)
        v = v.reshape(b, h, windows, w, d)
        valid = key_valid.reshape(b, 1, windows, w)

        def around(t, fill):
            padded = torch.nn.functional.pad(t, (0, 0, 0, 0, 1, 1), value=fill) if t.dim() == 5 \
                else torch.nn.functional.pad(t, (0, 0, 1, 1), value=fill)
            return torch.cat((padded[:, :, :-2], padded[:, :, 1:-1], padded[:, :, 2:]), dim=3)

        k = around(k, -1.0)
        v = around(v, -1.0)
        # The key mask rides in the score MatMul as an extra dimension (query 1, key 0 or
        # -1e9) instead of a Where/Add over the largest tensor.  -1e9, not -inf, keeps a
        # window without valid keys finite, so padding can never turn into NaN.
        bias = (around(valid.to(torch.float32), 0.0) - 1.0) * 1e9
        # local-attention's relative rotary positions: keys 0..3W-1, queries the last W of them (W: the trained
        # window).  A shorter window w keeps the positions of the trained one's first w keys of each block and
        # first w queries, so that rows of at most w nucleotides (one window, whose neighbours are all masked)
        # see the very same rotations.
        trained = self.trained_window
        positions = torch.cat([torch.arange(w) + block * trained for block in range(3)]).to(torch.float32)
        inv_freq = self.attentions[0].local_attn.rel_pos.inv_freq
        freqs = positions[:, None] * inv_freq[None, :]
        freqs = torch.cat((freqs, freqs), dim=-1)
        q_freqs = freqs[2 * w:]
        rotation = _rotation(d, interleaved=False)
        q = q * q_freqs.cos() + (q @ rotation) * q_freqs.sin()
        k = k * freqs.cos() + (k @ rotation) * freqs.sin()
        q = torch.cat((q, torch.ones_like(q[..., :1])), dim=-1)
        k = torch.cat((k, bias.unsqueeze(-1).expand(b, h, windows, 3 * w, 1)), dim=-1)
        sim = q @ k.transpose(-1, -2)
        out = sim.softmax(dim=-1) @ v
        return out.reshape(b, h, padded_n, d)[:, :, :n]

    def _attention(self, attn, x, keep, key_valid, rotary):
        h, gh = attn.heads, attn.global_heads
        b, n, _ = x.shape
        q, k, v = (t.reshape(b, n, h, -1).transpose(1, 2) for t in (attn.to_q(x), attn.to_k(x), attn.to_v(x)))
        outs = []
        if gh > 0:
            outs.append(self._global(attn, q[:, :gh], k[:, :gh], v[:, :gh], keep, rotary))
        if h - gh > 0:
            outs.append(self.local(q[:, gh:], k[:, gh:], v[:, gh:], key_valid))
        out = torch.cat(outs, dim=1).transpose(1, 2).reshape(b, n, -1)
        return attn.to_out(out)

    def forward(self, tokens: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        if not self.config.depth:  # no transformer: the feature head (and trees) alone
            return torch.sigmoid(self.network.feature_logits(features)[..., 0] + self.logit_offset)
        w = self.window
        n = tokens.shape[1]
        # pad once to a multiple of the window: every layer then works on whole windows
        padded_n = (n + w - 1) // w * w
        tokens = torch.nn.functional.pad(tokens, (0, padded_n - n), value=PAD)
        if features is not None:
            features = torch.nn.functional.pad(features, (0, 0, 0, padded_n - n))
        valid = tokens != PAD
        keep = valid[:, None, :, None].to(torch.float32)
        positions = torch.arange(padded_n, dtype=torch.float32, device=tokens.device)
        x = self.network.embed(tokens, features, positions)
        table = sinusoid(positions, self.config.dim_head)
        half = self.config.dim_head // 2
        sin = table[:, :half].repeat_interleave(2, dim=-1)
        cos = table[:, half:].repeat_interleave(2, dim=-1)
        x1, x2 = x, x
        for attn_norm, attn, ff_norm, ff in zip(self.attn_norms, self.attentions, self.ff_norms,
                                                self.feedforwards):
            x1 = x1 + self._attention(attn, attn_norm(x2), keep, valid, (sin, cos))
            x2 = x2 + ff(ff_norm(x1))
        return self.head(x1, x2, features)[:, :n]

    def head(self, x1, x2, features=None):
        """TIS probabilities from the two reversible streams (and the features' direct path)."""
        logits = self.network.output(x1 + x2, features)[..., 0] + self.logit_offset
        return torch.sigmoid(logits)


def stock_probabilities(network: TISNetwork, tokens: list, logit_offset: float = 0.0) -> list:
    """TIS probabilities from the stock performer-pytorch modules, one transcript at a time.

    Trees that read isoform columns compare the transcripts of ``tokens`` with each other.
    """
    network.eval()
    inputs = network.model_inputs()
    isoforms = None if inputs is None else inputs.isoform_index([np.asarray(t) for t in tokens])
    out = []
    with torch.no_grad():
        for t in tokens:
            x = torch.as_tensor(np.asarray(t, dtype=np.int64))[None]
            features = None
            if inputs is not None:
                alike = isoforms.columns(np.asarray(t)) if isoforms is not None else None
                features = torch.from_numpy(inputs.with_trees(np.asarray(t), alike))[None]
            out.append(torch.sigmoid(network(x, features=features)[0, :, 0] + logit_offset).numpy())
    return out

"""The TIS Transformer network: a Performer over nucleotide tokens (needs the ``train`` extra).

The network is built from ``performer-pytorch`` blocks with one change: padded
keys are masked out of the global (FAVOR+) attention.  Stock performer-pytorch
zeroes padded values but not padded keys, so a transcript's scores would depend
on the batch it is padded into.  With the mask, a transcript scores the same
alone or in any batch.  The export step (``tis_transformer.export.onnx_model``) rebuilds
exactly this function from the same weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from einops import rearrange
from performer_pytorch import Performer
from performer_pytorch.performer_pytorch import (
    SelfAttention,
    apply_rotary_pos_emb,
    generalized_kernel,
    linear_attention,
    softmax_kernel,
)
from torch import nn

from tis_transformer.predictor.features import (HEXAMERS, IS_ATG_COLUMN, NEAR_COGNATE_COLUMN, START_CONTEXT,
                                                START_CONTEXT_SHAPE)
from tis_transformer.predictor.tokens import NUM_TOKENS, PAD


@dataclass
class NetworkConfig:
    """Architecture of a TIS Transformer network.

    Defaults are the original tool's: dim 30, depth 6, 6 heads of 16, 4 of
    them local with a 256-nt window, 80 random features, generalized ReLU
    attention, gated feed-forward, reversible layers.  ``n_features`` > 0
    adds a linear embedding of per-position input features (the reading-frame
    features of ``tis_transformer.predictor.features``) to the token embedding;
    ``feature_head`` > 0 also adds, to the output logits, a small per-position
    MLP of those features (that many hidden units, two layers): a direct
    path that learns in seconds what the Performer needs hours of CPU to.
    ``tree_blend`` > 0 (with a feature head) blends, at ATGs, the feature
    head's logit with that of boosted trees (``tis_transformer.predictor.trees``),
    which arrives as one more input-feature column: (1 - tree_blend) parts
    head to tree_blend parts trees.  ``depth`` 0 (with a feature head) is a
    network without the transformer: it computes the feature head, blended
    with the trees, and nothing else.
    """

    dim: int = 30
    depth: int = 6
    heads: int = 6
    dim_head: int = 16
    local_attn_heads: int = 4
    local_window_size: int = 256
    nb_features: int = 80
    feature_redraw_interval: int = 100
    generalized_attention: bool = True
    ff_glu: bool = True
    reversible: bool = True
    ff_chunks: int = 10
    emb_dropout: float = 0.1
    ff_dropout: float = 0.1
    attn_dropout: float = 0.1
    num_outputs: int = 1
    n_features: int = 0
    feature_head: int = 0
    tree_blend: float = 0.0

    @property
    def input_columns(self) -> int:
        """Columns of the ``features`` input: the reading-frame features, then the trees' logit if blended."""
        return self.n_features + (1 if self.tree_blend else 0) if self.n_features else 0

    def to_dict(self) -> dict:
        """Return the configuration as a plain dictionary."""
        return asdict(self)


def sinusoid(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal encoding of float ``positions``, shape ``(len(positions), dim)``: sines then cosines.

    The one definition used by training and by every exported graph, whose
    parity depends on it.
    """
    inv_freq = 1.0 / (10000 ** (torch.arange(0, dim, 2, device=positions.device, dtype=torch.float32) / dim))
    angles = positions[:, None] * inv_freq[None, :]
    return torch.cat((angles.sin(), angles.cos()), dim=-1)


def sinusoid_table(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """Sinusoidal position table of shape ``(length, dim)`` for positions 0..length-1.

    Computed from the length on every call, so there is no length cap.
    """
    return sinusoid(torch.arange(length, device=device, dtype=torch.float32), dim)


class KeyMaskedSelfAttention(SelfAttention):
    """performer-pytorch self-attention that also masks padded keys in global heads."""

    def forward(self, x, pos_emb=None, context=None, mask=None, context_mask=None, **kwargs):
        h, gh = self.heads, self.global_heads
        q, k, v = self.to_q(x), self.to_k(x), self.to_v(x)
        q, k, v = (rearrange(t, "b n (h d) -> b h n d", h=h) for t in (q, k, v))
        (q, lq), (k, lk), (v, lv) = ((t[:, :gh], t[:, gh:]) for t in (q, k, v))

        outs = []
        if q.shape[1] > 0:
            if pos_emb is not None:
                q, k = apply_rotary_pos_emb(q, k, pos_emb)
            fast = self.fast_attention
            if fast.generalized_attention:
                q = generalized_kernel(q, projection_matrix=fast.projection_matrix, kernel_fn=fast.kernel_fn)
                k = generalized_kernel(k, projection_matrix=fast.projection_matrix, kernel_fn=fast.kernel_fn)
            else:
                q = softmax_kernel(q, projection_matrix=fast.projection_matrix, is_query=True)
                k = softmax_kernel(k, projection_matrix=fast.projection_matrix, is_query=False)
            if mask is not None:
                keep = mask[:, None, :, None].to(k.dtype)
                k = k * keep
                v = v * keep
            outs.append(linear_attention(q, k, v))
        if lq.shape[1] > 0:
            outs.append(self.local_attn(lq, lk, lv, input_mask=mask))

        out = rearrange(torch.cat(outs, dim=1), "b h n d -> b n (h d)")
        return self.dropout(self.to_out(out))


class TISNetwork(nn.Module):
    """Token embedding, Performer encoder and a per-nucleotide linear head.

    Parameters
    ----------
    config : NetworkConfig
        Architecture; ``num_outputs`` is 1 for TIS logits and 5 for masked
        nucleotide prediction (A, T, C, G, N).
    """

    def __init__(self, config: NetworkConfig):
        super().__init__()
        self.config = config
        c = config
        self.token_emb = nn.Embedding(NUM_TOKENS, c.dim)
        self.feature_emb = nn.Linear(c.n_features, c.dim) if c.n_features else None
        if c.n_features:
            # the input features' hexamer table is fitted on the training data; kept
            # with the weights so that checkpoints and exports carry it
            self.register_buffer("hexamer_log_odds", torch.zeros(HEXAMERS))
        if c.n_features > START_CONTEXT.start:
            self.register_buffer("start_context_log_odds", torch.zeros(START_CONTEXT_SHAPE))
        self.dropout = nn.Dropout(c.emb_dropout)
        self.performer = Performer(
            dim=c.dim,
            depth=c.depth,
            heads=c.heads,
            dim_head=c.dim_head,
            local_attn_heads=c.local_attn_heads,
            local_window_size=c.local_window_size,
            nb_features=c.nb_features,
            feature_redraw_interval=c.feature_redraw_interval,
            generalized_attention=c.generalized_attention,
            ff_glu=c.ff_glu,
            reversible=c.reversible,
            ff_chunks=c.ff_chunks,
            ff_dropout=c.ff_dropout,
            attn_dropout=c.attn_dropout,
            qkv_bias=False,
            attn_out_bias=True,
        )
        # Swap in key masking without re-implementing performer-pytorch's layer
        # construction; the attribute layout of the class is unchanged.
        for module in self.performer.modules():
            if type(module) is SelfAttention:
                module.__class__ = KeyMaskedSelfAttention
        self.norm = nn.LayerNorm(c.dim)
        self.head = nn.Linear(c.dim, c.num_outputs)
        self.feature_head = None
        if c.feature_head:
            if not c.n_features:
                raise ValueError("feature_head needs input features (n_features > 0)")
            self.feature_head = nn.Sequential(
                nn.Linear(c.n_features, c.feature_head), nn.ReLU(),
                nn.Linear(c.feature_head, c.feature_head), nn.ReLU(),
                nn.Linear(c.feature_head, c.num_outputs))
            # the head reads standardized features; prefitting sets these from its training rows
            self.register_buffer("feature_shift", torch.zeros(c.n_features))
            self.register_buffer("feature_scale", torch.ones(c.n_features))
            # added to the head's logit where no ATG starts: prefitting sets it to undo the weight it gave those
            # positions' sample (see train.prefit_feature_head)
            self.register_buffer("non_atg_logit_shift", torch.zeros(()))
            # added again where neither an ATG nor a near-cognate codon starts (features orf-v5 and later): prefitting
            # sets it from how rarely translation starts at those in the training data
            self.register_buffer("non_start_logit_shift", torch.zeros(()))
        if not c.depth and not c.feature_head:
            raise ValueError("a network without transformer layers (depth 0) needs a feature head")
        if c.tree_blend:
            if not c.feature_head:
                raise ValueError("tree_blend needs a feature head (feature_head > 0)")
            # the serialized ONNX trees (tis_transformer.predictor.trees), the first of two stages apart; empty until fitted
            self.register_buffer("tree_model", torch.zeros(0, dtype=torch.uint8))
            self.register_buffer("tree_stage_one", torch.zeros(0, dtype=torch.uint8))
        self._tree_scorer = None

    def feature_tables(self):
        """The input features' ``FeatureTables``, or None for a network without features."""
        if not self.config.n_features:
            return None
        from tis_transformer.predictor.features import FeatureTables

        context = (self.start_context_log_odds.detach().cpu().numpy()
                   if self.config.n_features > START_CONTEXT.start else None)
        return FeatureTables(self.hexamer_log_odds.detach().cpu().numpy(), context)

    def set_feature_tables(self, tables) -> None:
        """Keep ``tables`` (``FeatureTables``) with the weights; None, or a table that is None, changes nothing."""
        if not self.config.n_features or tables is None:
            return
        if tables.hexamers is not None:
            self.hexamer_log_odds.copy_(torch.from_numpy(tables.hexamers))
        if self.config.n_features > START_CONTEXT.start and tables.start_context is not None:
            self.start_context_log_odds.copy_(torch.from_numpy(tables.start_context))

    def set_trees(self, model: bytes, stage_one: bytes = b"") -> None:
        """Keep serialized trees (``tis_transformer.predictor.trees``; the second stage and the first of two) with the weights."""
        if not self.config.tree_blend:
            raise ValueError("this network blends no trees (tree_blend is 0)")
        self.tree_model = torch.from_numpy(np.frombuffer(model, dtype=np.uint8).copy())
        self.tree_stage_one = torch.from_numpy(np.frombuffer(stage_one, dtype=np.uint8).copy())
        self._tree_scorer = None

    def trees(self) -> tuple[bytes, bytes]:
        """The serialized trees and first stage (empty when the trees have one stage or there are none)."""
        if not self.config.tree_blend:
            return b"", b""
        return self.tree_model.cpu().numpy().tobytes(), self.tree_stage_one.cpu().numpy().tobytes()

    def tree_scorer(self):
        """A ``TreeScorer`` for the network's trees, or None for a network without them."""
        model, stage_one = self.trees()
        if not model:
            return None
        if self._tree_scorer is None or self._tree_scorer[0] != (model, stage_one):
            from tis_transformer.predictor.trees import TreeScorer

            self._tree_scorer = ((model, stage_one), TreeScorer(model, stage_one, self.config.n_features))
        return self._tree_scorer[1]

    def model_inputs(self):
        """The network's ``ModelInputs`` (feature set, hexamer table, trees), or None without input features."""
        if not self.config.n_features:
            return None
        from tis_transformer.predictor.features import feature_set_of
        from tis_transformer.predictor.model_inputs import ModelInputs

        return ModelInputs(self.feature_tables(), feature_set_of(self.config.n_features), self.tree_scorer(),
                           self.config.tree_blend or None)

    def fix_projections(self) -> None:
        """Stop redrawing the random-feature projections (for evaluation and export)."""
        self.performer.fix_projection_matrices_()

    def embed(self, tokens: torch.Tensor, features: torch.Tensor | None, positions: torch.Tensor) -> torch.Tensor:
        """Input of the first layer: token, position and (when configured) feature embeddings."""
        x = self.token_emb(tokens) + sinusoid(positions, self.config.dim)[None]
        if self.feature_emb is not None:
            if features is None:
                raise ValueError("this network was trained with input features; pass them")
            x = x + self.feature_emb(features[..., :self.config.n_features])
        return x

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None,
                features: torch.Tensor | None = None) -> torch.Tensor:
        """Score every position.

        Parameters
        ----------
        tokens : torch.Tensor
            ``(batch, length)`` integer tokens, padded with ``PAD``.
        mask : torch.Tensor, optional
            ``(batch, length)`` bool, True at real positions; derived from
            ``PAD`` when omitted.
        features : torch.Tensor, optional
            ``(batch, length, config.input_columns)`` float, zero at padding;
            required when ``config.n_features`` > 0.

        Returns
        -------
        torch.Tensor
            ``(batch, length, num_outputs)`` logits.
        """
        if not self.config.depth:
            return self.feature_logits(features)
        if mask is None:
            mask = tokens != PAD
        n = tokens.shape[1]
        positions = torch.arange(n, dtype=torch.float32, device=tokens.device)
        x = self.dropout(self.embed(tokens, features, positions))
        layer_pos = sinusoid_table(n, self.config.dim_head, tokens.device)[None]
        x = self.performer(x, pos_emb=layer_pos, mask=mask)
        return self.output(x, features)

    def output(self, hidden: torch.Tensor, features: torch.Tensor | None) -> torch.Tensor:
        """Output logits from the encoder's last hidden state, plus the feature head's."""
        logits = self.head(self.norm(hidden))
        if self.feature_head is not None:
            logits = logits + self.feature_logits(features)
        return logits

    def feature_logits(self, features: torch.Tensor) -> torch.Tensor:
        """The feature head's logits from raw features (standardized here as when it was prefitted),
        blended with the trees' at ATGs when the network has them."""
        n = self.config.n_features
        head = self.feature_head((features[..., :n] - self.feature_shift) * self.feature_scale)
        is_atg = features[..., IS_ATG_COLUMN:IS_ATG_COLUMN + 1]
        if self.config.tree_blend:
            head = head + is_atg * self.config.tree_blend * (features[..., n:n + 1] - head)
        head = head + self.non_atg_logit_shift * (1.0 - is_atg)
        if n > NEAR_COGNATE_COLUMN:
            near = features[..., NEAR_COGNATE_COLUMN:NEAR_COGNATE_COLUMN + 1]
            head = head + self.non_start_logit_shift * (1.0 - is_atg - near)
        return head


def count_parameters(network: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in network.parameters() if p.requires_grad)


def pad_batch(sequences: list, pad_value: int = PAD) -> torch.Tensor:
    """Right-pad 1-D integer arrays into a ``(batch, max_length)`` long tensor."""
    length = max(len(s) for s in sequences)
    out = torch.full((len(sequences), length), pad_value, dtype=torch.long)
    for i, s in enumerate(sequences):
        out[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    return out


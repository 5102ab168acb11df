"""Prefitting: the feature head (and its boosted trees) fitted alone before the Performer trains on top."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from tis_transformer.predictor.features import IS_ATG_COLUMN, NEAR_COGNATE_COLUMN, feature_set_of, orf_features
from tis_transformer.predictor.isoforms import ISOFORM_NAMES, IsoformIndex
from tis_transformer.training.datasets import Dataset
from tis_transformer.training.fit_trees import fit_trees, fit_two_stage_trees
from tis_transformer.training.modules import TISModel


def prefit_feature_head(model: TISModel, data: Dataset, epochs: int, seed: int = 0,
                        other_fraction: float = 0.02, batch_size: int = 2048, lr: float = 1e-3,
                        other_weight: float = 2.0, tree_rounds: int = 600, tree_stages: int = 2,
                        isoform_trees: bool = True, alone_share: float = 0.3) -> dict:
    """Fit the network's feature head alone on the training transcripts, then hand it the output.

    Rows are every ATG and every annotated TIS, plus a random ``other_fraction``
    of the remaining positions, each weighing ``other_weight``; the loss is
    the TIS model's, ``pos_weight`` included.  Weighting the sample by the
    inverse of its fraction (50) would make the loss unbiased, but then
    nearly all of it comes from positions that ``is_atg`` alone rules out,
    and the head ranks ATGs worse: held-out PR AUC of the head alone on
    chr13 / chr18 / chr20 is 0.770 / 0.768 / 0.816 with 50 and
    0.787 / 0.776 / 0.827 with 2 (``benchmarks/feature_head.py``).  The
    sampled positions then weigh ``other_fraction * other_weight`` (0.04)
    times what all the positions they stand for would, so the head's odds
    wherever no ATG starts come out 1 / 0.04 = 25 times too high; the
    network's ``non_atg_logit_shift`` is set to log(0.04) to undo it (held-out
    ROC AUC of the shipped chr13 model 0.99954 -> 0.99980, ATG-only metrics
    unchanged).  The head reads the
    features standardized by the rows' mean and standard deviation (kept in
    the network), and its learning rate decays to zero over the passes.  The
    encoder's own output head is then zeroed, so that the network starts out
    computing exactly the fitted feature head and further training learns what
    the sequence adds to it.

    Parameters
    ----------
    model : TISModel
        With ``feature_head`` > 0 and its hexamer table set.
    data : Dataset
        Training transcripts.
    epochs : int
        Passes over the rows.
    seed : int
        Seed of the row sample and shuffles.
    other_weight : float
        Loss weight of each sampled position that is neither an ATG nor a TIS.
    tree_rounds : int
        For a network that blends trees (``tree_blend``), the boosting rounds
        of the trees then fitted to the ATG rows (raw features, TISs weighing
        ``pos_weight``), which the network keeps.
    tree_stages : int
        1: one set of trees; 2: cross-fitted first-stage trees whose scores,
        pooled over each transcript's ATGs, second-stage trees also read
        (``tis_transformer.training.fit_trees.fit_two_stage_trees``).
    isoform_trees : bool
        The trees also read how each ATG's ORF compares with the same start
        in the other transcripts of ``data`` (``tis_transformer.predictor.isoforms``).
    alone_share : float
        With ``isoform_trees``, the share of transcripts whose isoform
        columns are zeroed, as for a transcript scored alone, so that the
        trees learn to score both ways.  In a probe on chr18 (one stage of
        trees), 0.3 gave ATG-only PR AUC 0.820 with isoforms and 0.791
        alone; 0 gave 0.822 and 0.767, and trees without the columns 0.789.

    Returns
    -------
    dict
        ``rows``, ``positives`` and the last epoch's mean ``loss``; also
        ``trees`` (rounds) and ``tree_bytes`` when trees were fitted.
    """
    network = model.network
    if network.feature_head is None:
        raise ValueError("this network has no feature head (--feature_head)")
    rng = np.random.default_rng(seed)
    tables = network.feature_tables()
    rows, labels, weights, transcripts, alike = [], [], [], [], []
    # non-ATG positions and TISs there, at near-cognate codons and at the others
    starts = np.zeros((2, 2))
    isoforms = None
    if network.config.tree_blend and isoform_trees:
        isoforms = IsoformIndex.of(data.transcript(i)[0] for i in range(len(data)))
        # a generator of its own, so that the sample of other positions stays the same with or without
        alone = np.random.default_rng((seed, 1)).random(len(data)) < alone_share
    for i in range(len(data)):
        tokens, y = data.transcript(i)
        f = orf_features(tokens, tables, feature_set_of(network.config.n_features))
        candidate = (f[:, IS_ATG_COLUMN] > 0) | (y > 0)
        sampled = ~candidate & (rng.random(len(y)) < other_fraction)
        keep = candidate | sampled
        if network.config.n_features > NEAR_COGNATE_COLUMN:
            near = f[:, NEAR_COGNATE_COLUMN] > 0
            for row, at in enumerate((near, ~near)):
                at = at & (f[:, IS_ATG_COLUMN] == 0)
                starts[row] += (at.sum(), (y[at] > 0).sum())
        if isoforms is not None:
            alike.append(np.zeros((int(keep.sum()), len(ISOFORM_NAMES)), dtype=np.float32) if alone[i]
                         else isoforms.columns(tokens)[keep])
        rows.append(f[keep])
        labels.append(y[keep])
        weights.append(np.where(sampled[keep], other_weight, 1.0))
        transcripts.append(np.full(int(keep.sum()), i))
    x = torch.from_numpy(np.concatenate(rows))
    y = torch.from_numpy(np.concatenate(labels).astype(np.float32))
    w = torch.from_numpy(np.concatenate(weights).astype(np.float32))
    w = w * torch.where(y > 0, float(model.hparams.pos_weight), 1.0)
    fitted = {"rows": int(len(y)), "positives": int(y.sum())}
    if network.config.tree_blend:
        atg = (x[:, IS_ATG_COLUMN] > 0).numpy()
        tree_rows = x.numpy()[atg]
        if isoforms is not None:
            tree_rows = np.concatenate([tree_rows, np.concatenate(alike)[atg]], axis=1)
        at_atg = (tree_rows, y.numpy()[atg], w.numpy()[atg])
        if tree_stages == 2:
            row_transcripts = np.concatenate(transcripts)[atg]
            def pooled_elsewhere(probabilities: np.ndarray) -> np.ndarray:
                # the ATG rows are the index's starts, in the same order; a transcript taken as alone has none
                columns = isoforms.set_stage_one(probabilities).stage_one_rows()
                return columns * ~alone[row_transcripts][:, None]

            stage_one, trees = fit_two_stage_trees(*at_atg, row_transcripts, tree_rounds,
                                                   logit_offset=model.logit_offset, seed=seed,
                                                   threads=torch.get_num_threads(),
                                                   stage_one_columns=None if isoforms is None else pooled_elsewhere)
        elif tree_stages == 1:
            stage_one, trees = b"", fit_trees(*at_atg, tree_rounds, seed=seed, threads=torch.get_num_threads())
        else:
            raise ValueError(f"trees have 1 or 2 stages, not {tree_stages}")
        network.set_trees(trees, stage_one)
        fitted.update(trees=tree_rounds, tree_stages=tree_stages, tree_bytes=len(trees) + len(stage_one),
                      isoform_trees=isoforms is not None)
    with torch.no_grad():
        # standardize on the rows the head is fitted to (mostly ATGs), where its inputs matter
        network.feature_shift.copy_(x.mean(dim=0))
        network.feature_scale.copy_(1.0 / x.std(dim=0).clamp_min(1e-2))
    x = (x - network.feature_shift) * network.feature_scale
    frozen = [not p.requires_grad for p in network.feature_head.parameters()]
    network.feature_head.requires_grad_(True)
    optimizer = torch.optim.Adam(network.feature_head.parameters(), lr=lr)
    # a cosine decay to zero over the passes: the last ones settle instead of overfitting the rows
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(epochs, 1))
    generator = torch.Generator().manual_seed(seed)
    loss_sum = 0.0
    for _ in range(epochs):
        loss_sum, seen = 0.0, 0
        for batch in torch.randperm(len(y), generator=generator).split(batch_size):
            logits = network.feature_head(x[batch])[:, 0]
            loss = F.binary_cross_entropy_with_logits(logits, y[batch], weight=w[batch], reduction="sum")
            optimizer.zero_grad()
            (loss / w[batch].sum()).backward()
            optimizer.step()
            loss_sum, seen = loss_sum + loss.item(), seen + w[batch].sum().item()
        scheduler.step()
        loss_sum /= max(seen, 1.0)
    for parameter, was_frozen in zip(network.feature_head.parameters(), frozen):
        parameter.requires_grad_(not was_frozen)
    with torch.no_grad():
        network.head.weight.zero_()
        network.head.bias.zero_()
        if other_fraction * other_weight > 0:
            network.non_atg_logit_shift.fill_(math.log(other_fraction * other_weight))
        if network.config.n_features > NEAR_COGNATE_COLUMN and starts[:, 0].all():
            # log odds ratio of a TIS at other codons against near-cognate ones (half a TIS added to each)
            rate = (starts[:, 1] + 0.5) / starts[:, 0]
            network.non_start_logit_shift.fill_(min(0.0, math.log(rate[1] / rate[0])))
            fitted["non_start_logit_shift"] = float(network.non_start_logit_shift)
    return {**fitted, "loss": loss_sum}

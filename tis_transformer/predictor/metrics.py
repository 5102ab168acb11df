"""Pooled per-nucleotide metrics: ROC AUC, PR AUC (average precision) and top-k accuracy."""

from __future__ import annotations

import numpy as np


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve, with tied scores counted as half (Mann-Whitney U).

    Parameters
    ----------
    labels : numpy.ndarray
        0/1 truth per position.
    scores : numpy.ndarray
        Score per position; higher means more likely positive.

    Returns
    -------
    float
        ROC AUC, or NaN when only one class is present.
    """
    labels = np.asarray(labels).astype(bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    # average ranks over ties
    first = np.r_[True, sorted_scores[1:] != sorted_scores[:-1]]
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], scores.size]
    mean_rank = (starts + ends + 1) / 2.0  # 1-based average rank of each tie group
    ranks = np.empty(scores.size)
    ranks[order] = mean_rank[group]
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision.

    ``AP = sum_n (R_n - R_{n-1}) P_n`` over the distinct score thresholds,
    highest first, the definition scikit-learn uses.

    Parameters
    ----------
    labels : numpy.ndarray
        0/1 truth per position.
    scores : numpy.ndarray
        Score per position.

    Returns
    -------
    float
        Average precision, or NaN without positives.
    """
    labels = np.asarray(labels).astype(bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    n_pos = int(labels.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores = scores[order]
    hits = labels[order]
    tp = np.cumsum(hits)
    # one point per distinct threshold: the last index of each tie group
    last = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    tp = tp[last]
    predicted = (np.flatnonzero(last) + 1).astype(np.float64)
    precision = tp / predicted
    recall = tp / n_pos
    recall_step = np.diff(np.r_[0.0, recall])
    return float(np.sum(recall_step * precision))


def top_k_accuracy(labels: np.ndarray, scores: np.ndarray, k: int | None = None) -> float:
    """Fraction of the ``k`` highest-scoring positions that are positives.

    With ``k`` equal to the number of positives (the default), this is the
    paper's top-k accuracy (and equals recall at that cut-off).
    """
    labels = np.asarray(labels).astype(bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    k = int(labels.sum()) if k is None else int(k)
    if k == 0:
        return float("nan")
    top = np.argpartition(-scores, k - 1)[:k]
    return float(labels[top].mean())


def top_1_accuracy(labels: list, scores: list) -> float:
    """Fraction of the transcripts with an annotated TIS whose highest-scoring position is one.

    ``labels`` and ``scores`` hold one array per transcript.  A tie at the top
    counts as a hit only when the first of the tied positions is a TIS.
    """
    hits = [bool(y[int(np.argmax(s))]) for y, s in zip(labels, scores) if len(y) and np.any(y)]
    return float(np.mean(hits)) if hits else float("nan")


def tis_metrics(labels: np.ndarray, scores: np.ndarray, atg: np.ndarray) -> dict:
    """All pooled metrics of the paper for one set of transcripts.

    Parameters
    ----------
    labels, scores : numpy.ndarray
        Concatenated truth and scores over every nucleotide of every transcript.
    atg : numpy.ndarray
        Bool, True where an ATG codon starts.

    Returns
    -------
    dict
        ``positions``, ``tis``, ``roc_auc``, ``pr_auc``, ``roc_auc_atg``,
        ``pr_auc_atg``, ``top_k``.
    """
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores)
    atg = np.asarray(atg).astype(bool)
    return {
        "positions": int(labels.size),
        "tis": int(labels.sum()),
        "roc_auc": roc_auc(labels, scores),
        "pr_auc": average_precision(labels, scores),
        "roc_auc_atg": roc_auc(labels[atg], scores[atg]),
        "pr_auc_atg": average_precision(labels[atg], scores[atg]),
        "top_k": top_k_accuracy(labels, scores),
    }


def atg_mask(tokens: np.ndarray) -> np.ndarray:
    """Bool mask of positions where an ATG (tokens 0, 1, 3) starts."""
    tokens = np.asarray(tokens)
    mask = np.zeros(tokens.shape, dtype=bool)
    if tokens.size >= 3:
        mask[:-2] = (tokens[:-2] == 0) & (tokens[1:-1] == 1) & (tokens[2:] == 3)
    return mask

"""The start-context table of the reading-frame features, fitted on training transcripts (``train`` extra)."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from tis_transformer.predictor.codons import ATG, codon_codes
from tis_transformer.predictor.features import START_CONTEXT_OFFSETS, START_CONTEXT_SHAPE


def fit_start_context_log_odds(transcripts: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Log-odds of each nucleotide at each offset around an annotated TIS against around any ATG.

    Parameters
    ----------
    transcripts : iterable of (np.ndarray, np.ndarray)
        ``(tokens, labels)`` of training transcripts; every ATG is counted
        in the background, the ATGs labelled TIS in the foreground (each
        count starts at one, so an unseen nucleotide scores finitely).

    Returns
    -------
    np.ndarray
        ``START_CONTEXT_SHAPE`` float32 (offsets of ``START_CONTEXT_OFFSETS``
        by token A, T, C, G, N; N also stands for past either end), rounded
        to 1e-4 so that the table written into model metadata as JSON reads
        back bit-identical.
    """
    offsets = np.asarray(START_CONTEXT_OFFSETS)
    before, after = -offsets.min(), offsets.max()
    tis = np.ones(START_CONTEXT_SHAPE)
    background = np.ones(START_CONTEXT_SHAPE)
    rows = np.arange(len(offsets))
    for tokens, labels in transcripts:
        tokens = np.asarray(tokens)
        if len(tokens) < 3:
            continue
        atg = np.flatnonzero(codon_codes(tokens) == ATG)
        if not len(atg):
            continue
        padded = np.concatenate([np.full(before, 4), np.minimum(tokens, 4), np.full(after, 4)])
        around = padded[atg[:, None] + before + offsets[None, :]]
        np.add.at(background, (np.broadcast_to(rows, around.shape), around), 1)
        labelled = around[np.asarray(labels)[atg] > 0]
        np.add.at(tis, (np.broadcast_to(rows, labelled.shape), labelled), 1)
    table = np.log(tis / tis.sum(axis=1, keepdims=True)) - np.log(background / background.sum(axis=1, keepdims=True))
    return np.round(table, 4).astype(np.float32)

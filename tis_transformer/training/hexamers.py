"""The hexamer table of the reading-frame features, fitted on training transcripts (``train`` extra)."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from tis_transformer.predictor.features import HEXAMERS, _UNKNOWN_HEXAMER, _codons_and_hexamers
from tis_transformer.predictor.codons import STOP as _STOP


def fit_hexamer_log_odds(transcripts: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Log-odds of each in-frame hexamer in annotated coding sequence against all sequence.

    Parameters
    ----------
    transcripts : iterable of (np.ndarray, np.ndarray)
        ``(tokens, labels)`` of training transcripts; each TIS's reading
        frame is counted from the TIS up to its in-frame stop, the background
        from every position of every transcript.

    Returns
    -------
    np.ndarray
        ``(HEXAMERS,)`` float32, rounded to 1e-4 so that the table written
        into model metadata as JSON reads back bit-identical; 0 for the
        unknown code.
    """
    coding = np.ones(HEXAMERS)
    background = np.ones(HEXAMERS)
    for tokens, labels in transcripts:
        codes, hexamers = _codons_and_hexamers(tokens)
        background += np.bincount(hexamers, minlength=HEXAMERS)
        for site in np.flatnonzero(labels):
            frame = hexamers[site::3]
            stops = np.flatnonzero(_STOP[codes[site::3]])
            coding += np.bincount(frame[: stops[0] if len(stops) else len(frame)], minlength=HEXAMERS)
    table = np.log(coding / coding.sum()) - np.log(background / background.sum())
    table[_UNKNOWN_HEXAMER] = 0.0
    return np.round(table, 4).astype(np.float32)

"""Reading-frame features computed from a transcript's sequence.

A model trained with ``--orf_features`` reads, next to each nucleotide, a few
numbers about the open reading frame that would start there: how long it
runs to the next in-frame stop, whether it is the first ATG of that frame
segment, and how it compares with the longest ATG-initiated ORF of the whole
transcript.  The ``orf-v2`` set adds how coding-like that ORF reads: the
in-frame hexamer log-odds of annotated coding sequence against all sequence,
summed and averaged from the position to its stop, with a table fitted on the
training transcripts (``fit_hexamer_log_odds``) that travels inside the model.
A Performer can learn these from the tokens alone, but only with far more
training than a CPU gives; computed here in numpy they cost milliseconds per
transcript and are shared, unchanged, by training and the lean predictor.
"""

from __future__ import annotations

import numpy as np

from typing import Iterable

from .orfs import _STOP, _UNKNOWN_CODON, _codon_codes

__all__ = ["FEATURE_SET", "FEATURE_NAMES", "HEXAMERS", "LOG_SCALE", "fit_hexamer_log_odds", "orf_features",
           "padded_features"]

FEATURE_SET = "orf-v2"

FEATURE_NAMES = (
    "is_atg",
    "log_orf_codons",
    "stop_found",
    "first_atg_in_frame_segment",
    "starts_longest_orf",
    "orf_vs_longest",
    "log_distance_from_5prime",
    "log_distance_to_3prime",
    "orf_fraction_of_transcript",
    "log_longest_orf_codons",
    "orf_hexamer_mean",
    "orf_hexamer_sum",
    "orf_hexamer_sum_vs_best_atg",
    "best_hexamer_atg",
    "transcript_best_hexamer_sum",
)

# two consecutive codons, 64 * 64, plus one code for an incomplete or N-holding hexamer
HEXAMERS = 64 * 64 + 1
_UNKNOWN_HEXAMER = HEXAMERS - 1

_ATG = 16 * 0 + 4 * 1 + 3
# log1p(codons) / LOG_SCALE is about 1 for a 1,100-codon ORF
LOG_SCALE = 7.0
_POSITION_SCALE = 10.0


def _codons_and_hexamers(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codon code (0-63, or unknown) and hexamer code starting at every position."""
    n = len(tokens)
    codes = np.full(n, _UNKNOWN_CODON, dtype=np.int64)
    codes[: max(n - 2, 0)] = _codon_codes(np.asarray(tokens))
    hexamers = np.full(n, _UNKNOWN_HEXAMER, dtype=np.int64)
    if n >= 6:
        first, second = codes[:-3], codes[3:]
        known = (first != _UNKNOWN_CODON) & (second != _UNKNOWN_CODON)
        hexamers[:-3] = np.where(known, first * 64 + second, _UNKNOWN_HEXAMER)
    return codes, hexamers


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


def _signed_log(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def orf_features(tokens: np.ndarray, hexamer_log_odds: np.ndarray | None = None) -> np.ndarray:
    """Reading-frame features of every position of one transcript.

    Parameters
    ----------
    tokens : np.ndarray
        ``(length,)`` nucleotide tokens (A 0, T 1, C 2, G 3, N 4).
    hexamer_log_odds : np.ndarray, optional
        ``(HEXAMERS,)`` table from ``fit_hexamer_log_odds`` (a trained
        model's); None scores every hexamer 0, so that the hexamer columns
        carry no information.

    Returns
    -------
    np.ndarray
        ``(length, len(FEATURE_NAMES))`` float32, each column roughly in
        [0, 1] (the signed hexamer scores in [-1.6, 1.6]); see
        ``FEATURE_NAMES`` for their order.
    """
    n = len(tokens)
    out = np.zeros((n, len(FEATURE_NAMES)), dtype=np.float32)
    if n == 0:
        return out
    codes, hexamers = _codons_and_hexamers(tokens)
    log_odds = (np.zeros(n, dtype=np.float64) if hexamer_log_odds is None
                else np.asarray(hexamer_log_odds, dtype=np.float64)[hexamers])
    hexamer_sum = np.zeros(n, dtype=np.float64)
    stop = _STOP[codes]
    atg = codes == _ATG
    codons = np.zeros(n, dtype=np.int64)
    stop_found = np.zeros(n, dtype=bool)
    first_atg = np.zeros(n, dtype=bool)
    for frame in range(3):
        index = np.arange(frame, n, 3)
        if not len(index):
            continue
        is_stop = stop[index]
        # the next in-frame stop at or after each position (n when none)
        candidates = np.where(is_stop, index, n)
        next_stop = np.minimum.accumulate(candidates[::-1])[::-1]
        found = next_stop < n
        codons[index] = np.where(found, next_stop - index, n - index) // 3
        stop_found[index] = found
        # hexamer log-odds summed from each position up to (not into) its stop
        from_here = np.cumsum(log_odds[index][::-1])[::-1]
        at_stop = np.append(from_here, 0.0)[np.searchsorted(index, next_stop)]
        hexamer_sum[index] = from_here - at_stop
        # frame segments end at a stop; an ATG is first when no ATG precedes it in its segment
        is_atg = atg[index]
        segment = np.concatenate([[0], np.cumsum(is_stop)[:-1]])
        atg_before = np.cumsum(is_atg) - is_atg
        segment_start = np.searchsorted(segment, segment, side="left")
        first_atg[index] = is_atg & (atg_before == atg_before[segment_start])
    complete = atg & stop_found
    longest = int(codons[complete].max()) if complete.any() else 0
    log_codons = np.log1p(codons)
    out[:, 0] = atg
    out[:, 1] = log_codons / LOG_SCALE
    out[:, 2] = stop_found
    out[:, 3] = first_atg
    out[:, 4] = complete & first_atg & (codons == longest) & (longest > 0)
    if longest > 0:
        ratio = np.clip(log_codons - np.log1p(longest), -5.0, 0.0)
        out[:, 5] = np.where(stop_found, 1.0 + ratio / 5.0, 0.0)
    positions = np.arange(n)
    out[:, 6] = np.log1p(positions) / _POSITION_SCALE
    out[:, 7] = np.log1p(n - positions) / _POSITION_SCALE
    out[:, 8] = np.minimum(3.0 * codons / n, 1.0)
    out[:, 9] = np.log1p(longest) / LOG_SCALE
    out[:, 10] = np.clip(hexamer_sum / np.maximum(codons, 1), -2.0, 2.0) / 2.0
    out[:, 11] = _signed_log(hexamer_sum) / LOG_SCALE
    if atg.any():
        best = hexamer_sum[atg].max()
        out[:, 12] = np.where(atg, np.clip(_signed_log(hexamer_sum) - _signed_log(best), -LOG_SCALE, 0.0)
                              / LOG_SCALE + 1.0, 0.0)
        out[:, 13] = atg & (hexamer_sum == best) & (best > 0)
        out[:, 14] = _signed_log(best) / LOG_SCALE
    return out


def padded_features(tokens: list, length: int, hexamer_log_odds: np.ndarray | None = None) -> np.ndarray:
    """Features of several transcripts in one ``(batch, length, n_features)`` array, zero past each end."""
    out = np.zeros((len(tokens), length, len(FEATURE_NAMES)), dtype=np.float32)
    for row, t in enumerate(tokens):
        out[row, : len(t)] = orf_features(t, hexamer_log_odds)
    return out

"""Reading-frame features computed from a transcript's sequence.

A model trained with ``--orf_features`` reads, next to each nucleotide, a few
numbers about the open reading frame that would start there: how long it
runs to the next in-frame stop, whether it is the first ATG of that frame
segment, and how it compares with the longest ATG-initiated ORF of the whole
transcript.  A Performer can learn these from the tokens alone, but only with
far more training than a CPU gives; computed here in numpy they cost
milliseconds per transcript and are shared, unchanged, by training and the
lean predictor.
"""

from __future__ import annotations

import numpy as np

from .orfs import _STOP, _UNKNOWN_CODON, _codon_codes

__all__ = ["FEATURE_SET", "FEATURE_NAMES", "LOG_SCALE", "orf_features", "padded_features"]

FEATURE_SET = "orf-v1"

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
)

_ATG = 16 * 0 + 4 * 1 + 3
# log1p(codons) / LOG_SCALE is about 1 for a 1,100-codon ORF
LOG_SCALE = 7.0
_POSITION_SCALE = 10.0


def orf_features(tokens: np.ndarray) -> np.ndarray:
    """Reading-frame features of every position of one transcript.

    Parameters
    ----------
    tokens : np.ndarray
        ``(length,)`` nucleotide tokens (A 0, T 1, C 2, G 3, N 4).

    Returns
    -------
    np.ndarray
        ``(length, len(FEATURE_NAMES))`` float32, each column roughly in
        [0, 1]; see ``FEATURE_NAMES`` for their order.
    """
    n = len(tokens)
    out = np.zeros((n, len(FEATURE_NAMES)), dtype=np.float32)
    if n == 0:
        return out
    # the last two positions start no complete codon
    codes = np.full(n, _UNKNOWN_CODON, dtype=np.int64)
    codes[: max(n - 2, 0)] = _codon_codes(np.asarray(tokens))
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
    return out


def padded_features(tokens: list, length: int) -> np.ndarray:
    """Features of several transcripts in one ``(batch, length, n_features)`` array, zero past each end."""
    out = np.zeros((len(tokens), length, len(FEATURE_NAMES)), dtype=np.float32)
    for row, t in enumerate(tokens):
        out[row, : len(t)] = orf_features(t)
    return out

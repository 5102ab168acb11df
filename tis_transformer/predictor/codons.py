"""Codons: their codes, the standard genetic code, start and stop codons.

A codon of tokens (a, b, c), each 0-3 (A, T, C, G), gets the code 16a + 4b + c; a codon holding an N gets
``UNKNOWN_CODON``. ORFs, reading-frame features, isoform keys and the hexamer table all read codons through here.
"""

from __future__ import annotations

import numpy as np
from Bio.Data import CodonTable

from tis_transformer.predictor.tokens import NUCLEOTIDES

__all__ = ["AMINO", "ATG", "IS_START", "NEAR_COGNATE", "START_CODON_CODES", "STOP", "UNKNOWN_CODON", "codon_codes",
           "next_in_frame_stop"]

UNKNOWN_CODON = 64


def _codon_tables() -> tuple[np.ndarray, np.ndarray]:
    """Amino-acid letters and stop flags indexed by codon code."""
    table = CodonTable.unambiguous_dna_by_id[1]
    amino = np.full(UNKNOWN_CODON + 1, ord("X"), dtype=np.uint8)
    stop = np.zeros(UNKNOWN_CODON + 1, dtype=bool)
    for a in range(4):
        for b in range(4):
            for c in range(4):
                code = 16 * a + 4 * b + c
                codon = NUCLEOTIDES[a] + NUCLEOTIDES[b] + NUCLEOTIDES[c]
                if codon in table.stop_codons:
                    stop[code] = True
                    amino[code] = ord("*")
                else:
                    amino[code] = ord(table.forward_table[codon])
    return amino, stop


AMINO, STOP = _codon_tables()
ATG = 16 * 0 + 4 * 1 + 3
# the nine codons one letter from ATG, where translation also starts now and then (CTG most often)
NEAR_COGNATE = np.array([code for code in range(64) if sum(a != b for a, b in zip(
    (code // 16, code // 4 % 4, code % 4), (0, 1, 3))) == 1])
# where the sites table looks for starts
START_CODON_CODES = np.sort(np.append(NEAR_COGNATE, ATG))
IS_START = np.zeros(UNKNOWN_CODON + 1, dtype=bool)
IS_START[START_CODON_CODES] = True


def codon_codes(tokens: np.ndarray) -> np.ndarray:
    """Code of the codon starting at every position that has three letters."""
    if tokens.size < 3:
        return np.zeros(0, dtype=np.int64)
    first, second, third = (tokens[i : tokens.size - 2 + i].astype(np.int64) for i in range(3))
    codes = 16 * first + 4 * second + third
    codes[(first > 3) | (second > 3) | (third > 3)] = UNKNOWN_CODON
    return codes


def next_in_frame_stop(is_stop: np.ndarray, positions: np.ndarray, length: int) -> np.ndarray:
    """For the positions of one reading frame, where the next stop codon at or after each starts.

    Parameters
    ----------
    is_stop : numpy.ndarray
        ``(..., k)`` whether a stop codon starts at each of the frame's positions (rows: transcripts of one length).
    positions : numpy.ndarray
        ``(k,)`` those positions, ascending, 3 apart.
    length : int
        What to give where no stop follows (the transcript's length).

    Returns
    -------
    numpy.ndarray
        ``(..., k)`` position of the next in-frame stop, or ``length``.
    """
    candidates = np.where(is_stop, positions, length)
    return np.minimum.accumulate(candidates[..., ::-1], axis=-1)[..., ::-1]

"""Follow each predicted translation initiation site to the end of its open
reading frame, and gather the sites of a transcript into table rows.

Coordinates in the output are 1-based on the transcript. The sites table
lists only positions where a start codon begins: ATG or a near-cognate codon
(one letter from ATG, such as CTG), whole and free of N. The start codon is
the ORF's first codon and translates to M, since initiator tRNA carries
methionine whatever codon it reads; every later codon follows the standard
genetic code.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from tis_transformer.predictor.codons import AMINO as _AMINO, IS_START as _IS_START, START_CODON_CODES  # noqa: F401
from tis_transformer.predictor.codons import STOP as _STOP, codon_codes as _codon_codes
from tis_transformer.predictor.tokens import decode

__all__ = ["START_CODON_CODES", "TABLE_COLUMNS", "Orf", "Site", "find_orf", "find_orfs", "site_table",
           "start_codon_positions"]

TABLE_COLUMNS = (
    "transcript_id",
    "position",
    "probability",
    "start_codon",
    "orf_end",
    "orf_length_nt",
    "orf_length_aa",
    "stop_found",
    "protein",
)

DEFAULT_THRESHOLD = 0.5

class Orf(NamedTuple):
    """The open reading frame that starts at one site.

    Attributes
    ----------
    start_codon : str
        The (up to) three nucleotides at the site; shorter near the 3' end.
    orf_end : int
        1-based position of the last nucleotide of the stop codon, or of the
        last complete in-frame codon when no stop is found (``position - 1``
        when not even one complete codon fits).
    orf_length_nt : int
        Length in nucleotides, stop codon included.
    orf_length_aa : int
        Codons translated, stop codon excluded.
    stop_found : bool
        Whether an in-frame stop codon ends the ORF.
    protein : str
        The translation, ``X`` for codons holding an N, no trailing ``*``;
        a start codon (ATG or near-cognate) at the site reads ``M``.
    """

    start_codon: str
    orf_end: int
    orf_length_nt: int
    orf_length_aa: int
    stop_found: bool
    protein: str


class Site(NamedTuple):
    """One row of the sites table; its fields are :data:`TABLE_COLUMNS`."""

    transcript_id: str
    position: int
    probability: float
    start_codon: str
    orf_end: int
    orf_length_nt: int
    orf_length_aa: int
    stop_found: bool
    protein: str


def find_orfs(tokens: np.ndarray, starts: Sequence[int] | np.ndarray) -> list[Orf]:
    """Find the ORF of every start site of one transcript.

    The transcript is translated once per reading frame and the stop codons
    of each frame are listed once, so each site costs one binary search and
    one slice.

    Parameters
    ----------
    tokens : numpy.ndarray
        The transcript's tokens (A=0, T=1, C=2, G=3, N=4).
    starts : sequence of int
        0-based site positions, each within the transcript.

    Returns
    -------
    list of Orf
        One per site, in the order of ``starts``.

    Raises
    ------
    ValueError
        When a site lies outside the transcript or a token is not 0-4.
    """
    tokens = np.asarray(tokens)
    if tokens.ndim != 1:
        raise ValueError(f"tokens must be 1-D, got shape {tokens.shape}")
    if tokens.size and (tokens.min() < 0 or tokens.max() > 4):
        raise ValueError("tokens must be nucleotide codes 0-4")
    starts = np.asarray(starts, dtype=np.int64).reshape(-1)
    length = tokens.size
    if starts.size and (starts.min() < 0 or starts.max() >= length):
        raise ValueError(f"start sites must lie in 0..{length - 1}")
    codes = _codon_codes(tokens)

    # Per site: number of codons translated, and whether a stop ends them.
    n_amino = (length - starts) // 3
    stop_found = np.zeros(starts.size, dtype=bool)
    frame_protein: list[bytes] = []
    for frame in range(3):
        frame_codes = codes[frame::3]
        frame_protein.append(_AMINO[frame_codes].tobytes())
        in_frame = np.flatnonzero(starts % 3 == frame)
        if not in_frame.size:
            continue
        stops = np.flatnonzero(_STOP[frame_codes])
        first_codon = starts[in_frame] // 3
        nearest = np.searchsorted(stops, first_codon, side="left")
        found = nearest < stops.size
        hit = in_frame[found]
        stop_found[hit] = True
        n_amino[hit] = stops[nearest[found]] - first_codon[found]

    length_nt = 3 * (n_amino + stop_found)
    orfs = []
    for index, start in enumerate(starts.tolist()):
        amino = int(n_amino[index])
        first_codon = start // 3
        protein = frame_protein[start % 3][first_codon : first_codon + amino].decode()
        if protein and _IS_START[codes[start]]:
            protein = "M" + protein[1:]
        orfs.append(
            Orf(
                start_codon=decode(tokens[start : start + 3]),
                orf_end=start + int(length_nt[index]),
                orf_length_nt=int(length_nt[index]),
                orf_length_aa=amino,
                stop_found=bool(stop_found[index]),
                protein=protein,
            )
        )
    return orfs


def find_orf(tokens: np.ndarray, start: int) -> Orf:
    """Find the ORF that starts at one 0-based site; see :func:`find_orfs`.

    Parameters
    ----------
    tokens : numpy.ndarray
        The transcript's tokens.
    start : int
        0-based site position.

    Returns
    -------
    Orf
        The site's open reading frame.
    """
    return find_orfs(tokens, [start])[0]


def start_codon_positions(tokens: np.ndarray) -> np.ndarray:
    """Whether a start codon (ATG or near-cognate, no N) begins at each position of a transcript."""
    tokens = np.asarray(tokens)
    starts = np.zeros(tokens.size, dtype=bool)
    starts[: max(tokens.size - 2, 0)] = _IS_START[_codon_codes(tokens)]
    return starts


def select_sites(
    probabilities: np.ndarray, threshold: float | None = None, top_k: int | None = None,
    candidates: np.ndarray | None = None,
) -> np.ndarray:
    """Pick the predicted sites of one transcript, best first.

    Parameters
    ----------
    probabilities : numpy.ndarray
        One probability per nucleotide.
    candidates : numpy.ndarray, optional
        Boolean per nucleotide: only these positions may be picked (all when
        None).
    threshold : float, optional
        Keep sites with at least this probability. Defaults to 0.5 when
        ``top_k`` is not given either.
    top_k : int, optional
        Keep at most this many sites, the most probable ones; equal
        probabilities go to the lower position.

    Returns
    -------
    numpy.ndarray
        0-based positions, by descending probability then ascending position.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if threshold is None and top_k is None:
        threshold = DEFAULT_THRESHOLD
    if top_k is not None and (isinstance(top_k, bool) or int(top_k) != top_k or top_k < 0):
        raise ValueError(f"top_k must be a non-negative integer, got {top_k!r}")
    keep = ~np.isnan(probabilities)
    if candidates is not None:
        keep &= np.asarray(candidates, dtype=bool).reshape(-1)
    if threshold is not None:
        keep &= probabilities >= threshold
    positions = np.flatnonzero(keep)
    order = np.lexsort((positions, -probabilities[positions]))
    positions = positions[order]
    if top_k is not None:
        positions = positions[: int(top_k)]
    return positions


def site_table(
    transcript_id: str,
    tokens: np.ndarray,
    probabilities: np.ndarray,
    threshold: float | None = None,
    top_k: int | None = None,
) -> list[Site]:
    """Rows of the sites table for one transcript: its start codons that pass the limits.

    Parameters
    ----------
    transcript_id : str
        Written in the first column.
    tokens : numpy.ndarray
        The transcript's tokens.
    probabilities : numpy.ndarray
        One TIS probability per nucleotide.
    threshold : float, optional
        Report sites with at least this probability (0.5 when neither
        ``threshold`` nor ``top_k`` is given).
    top_k : int, optional
        Report at most the ``top_k`` most probable sites of the transcript,
        ties going to the lower position. With ``threshold`` as well, both
        limits apply.

    Returns
    -------
    list of Site
        By descending probability, then ascending position.

    Raises
    ------
    ValueError
        When ``tokens`` and ``probabilities`` differ in length.
    """
    tokens = np.asarray(tokens)
    probabilities = np.asarray(probabilities).reshape(-1)
    if probabilities.size != tokens.size:
        raise ValueError(
            f"{transcript_id}: {tokens.size} tokens but {probabilities.size} probabilities"
        )
    positions = select_sites(probabilities, threshold, top_k, candidates=start_codon_positions(tokens))
    orfs = find_orfs(tokens, positions)
    return [
        Site(transcript_id, int(position) + 1, float(probabilities[position]), *orf)
        for position, orf in zip(positions.tolist(), orfs)
    ]

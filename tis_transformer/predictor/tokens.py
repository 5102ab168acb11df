"""Nucleotide tokens shared by the predictor, the datasets and the models.

The first four codes follow the original tool's data files (A=0, T=1, C=2,
G=3) so its ``.npy`` files load as they are.
"""

import numpy as np

NUCLEOTIDES = "ATCGN"
A, T, C, G, N = range(5)
PAD = 5
MASK = 6
NUM_TOKENS = 7

# IUPAC ambiguity codes (and gap-free lowercase) become N; U reads as T.
_IUPAC_AMBIGUOUS = "RYSWKMBDHVN"
_LOOKUP = np.full(256, 255, dtype=np.uint8)
for _letter, _code in zip("ATCGU", (A, T, C, G, T)):
    _LOOKUP[ord(_letter)] = _code
    _LOOKUP[ord(_letter.lower())] = _code
for _letter in _IUPAC_AMBIGUOUS:
    _LOOKUP[ord(_letter)] = N
    _LOOKUP[ord(_letter.lower())] = N


class InvalidSequenceError(ValueError):
    """A sequence holds a character that is not a nucleotide code."""


def encode(sequence: str, name: str = "sequence") -> np.ndarray:
    """Turn a nucleotide string into token codes.

    Parameters
    ----------
    sequence : str
        DNA or RNA letters in any case; IUPAC ambiguity codes become N.
    name : str
        Record name used in the error message.

    Returns
    -------
    numpy.ndarray
        ``uint8`` codes, one per nucleotide.

    Raises
    ------
    InvalidSequenceError
        When a character is not a nucleotide code; the message names the
        record and the 1-based position.
    """
    raw = np.frombuffer(sequence.encode("latin-1", errors="replace"), dtype=np.uint8)
    codes = _LOOKUP[raw]
    bad = np.flatnonzero(codes == 255)
    if bad.size:
        pos = int(bad[0])
        raise InvalidSequenceError(
            f"{name}: invalid nucleotide {sequence[pos]!r} at position {pos + 1}"
        )
    return codes


def decode(tokens: np.ndarray) -> str:
    """Turn token codes 0-4 back into an uppercase DNA string.

    Parameters
    ----------
    tokens : numpy.ndarray
        Integer codes (A=0, T=1, C=2, G=3, N=4).

    Returns
    -------
    str
        The nucleotide string.
    """
    letters = np.frombuffer(NUCLEOTIDES.encode(), dtype=np.uint8)
    return letters[np.asarray(tokens, dtype=np.int64)].tobytes().decode()

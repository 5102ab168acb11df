"""Stream a genome FASTA one sequence at a time and cut transcripts out of it.

The genome is read once, in its own order, in large blocks: only the
sequence being read is held (its letters, one byte each), so memory follows
the largest chromosome, not the genome. Plain, gzip and bgzip files are read
alike (bgzip is gzip in independent members, which :mod:`gzip` reads).
"""

from __future__ import annotations

import gzip
import logging
import zlib
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from tis_transformer.predictor.read import InputError
from tis_transformer.predictor.tokens import _LOOKUP

__all__ = ["genome_sequences", "pair_names", "splice", "transcript_to_genome", "blocks"]

log = logging.getLogger("tis_transformer")

_BLOCK = 1 << 23
_SPACE = b" \t\r\n"
_LETTERS = b"ACGTUNRYSWKMBDHVacgtunryswkmbdhv"
# A<->T, C<->G, N stays N: the complement of each token code
_COMPLEMENT = np.array([1, 0, 3, 2, 4], dtype=np.uint8)


def _open(path: Path) -> IO[bytes]:
    try:
        with open(path, "rb") as raw:
            magic = raw.read(2)
        return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")  # type: ignore[return-value]
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror or error}") from None


def genome_sequences(path: str | Path) -> Iterator[tuple[str, bytearray]]:
    """Yield ``(name, letters)`` for each sequence of a genome FASTA, in file order.

    Parameters
    ----------
    path : str or pathlib.Path
        The genome; plain, gzip or bgzip.

    Yields
    ------
    tuple of (str, bytearray)
        The first word of the header and the sequence's letters, newlines
        removed, case kept. The bytearray is the caller's to keep or drop.

    Raises
    ------
    InputError
        When the file is not FASTA (text before the first ``>``, binary), a
        sequence holds a letter that is no nucleotide code, or a name repeats;
        the message names the file and line.
    """
    path = Path(path)
    seen: set[str] = set()
    try:
        with _open(path) as handle:
            yield from _parse(path, handle, seen)
    except (OSError, EOFError, zlib.error) as error:
        raise InputError(f"{path}: cannot read: {' '.join(str(error).split()) or type(error).__name__}") from None
    if not seen:
        raise InputError(f"{path}: not a FASTA file: no '>' header")


def _parse(path: Path, handle: IO[bytes], seen: set) -> Iterator[tuple[str, bytearray]]:
    name: str | None = None
    letters = bytearray()
    lines_before = 0  # newlines in the text already handed on
    pending = b""
    while True:
        block = handle.read(_BLOCK)
        text = pending + block if pending else block
        pending = b""
        if not text:
            break
        position = 0
        while position < len(text):
            header = text.find(b">", position)
            body = text[position:] if header < 0 else text[position:header]
            _take(path, name, body, letters, lines_before)
            lines_before += body.count(b"\n")
            if header < 0:
                break
            end = text.find(b"\n", header)
            if end < 0 and block:
                pending = text[header:]  # the header line goes on in the next block
                break
            if header > 0 and text[header - 1] != 10:
                _bad_letter(path, name, text[header:header + 1], lines_before)
            line = text[header + 1: end if end >= 0 else len(text)].decode("utf-8", "replace")
            if name is not None:
                yield name, letters
                letters = bytearray()
            words = line.split()
            if not words:
                raise InputError(f"{path}: line {lines_before + 1}: empty FASTA header")
            name = words[0]
            if name in seen:
                raise InputError(f"{path}: line {lines_before + 1}: sequence {name!r} appears twice")
            seen.add(name)
            lines_before += 1
            position = end + 1 if end >= 0 else len(text)
        if not block:
            break
    if name is not None:
        yield name, letters


def _take(path: Path, name: str | None, body: bytes, letters: bytearray, lines_before: int) -> None:
    """Append a piece of sequence text, checked, to the current sequence."""
    clean = body.translate(None, _SPACE)
    if not clean:
        return
    if name is None:
        shown = body.lstrip()[:20]
        if b"\0" in body or not shown.isascii():
            raise InputError(f"{path}: not a FASTA file (binary)")
        line = lines_before + body[:body.find(shown[:1])].count(b"\n") + 1
        shown = shown.split(b"\n")[0].decode("ascii", "replace")
        raise InputError(f"{path}: not a FASTA file: line {line} starts with {shown!r}, expected '>'")
    if clean.translate(None, _LETTERS):
        wrong = clean.translate(None, _LETTERS)[:1]
        _bad_letter(path, name, wrong, lines_before + body[:body.find(wrong)].count(b"\n"))
    letters += clean


def _bad_letter(path: Path, name: str | None, letter: bytes, lines_before: int) -> None:
    shown = letter.decode("latin-1")
    raise InputError(f"{path}: line {lines_before + 1}: sequence {name!r}: {shown!r} is not a nucleotide code")


def _aliases(name: str) -> list[str]:
    """Other spellings of a sequence name: chr1 <-> 1, chrM <-> MT."""
    if name in ("chrM", "chrMT"):
        return ["MT", "M"]
    if name in ("MT", "M"):
        return ["chrM", "chrMT"]
    if name.startswith("chr"):
        return [name[3:]]
    return ["chr" + name]


def pair_names(genome_name: str, annotation_names: set) -> str | None:
    """The annotation's name for a genome sequence: the same, or its other spelling; None when absent."""
    if genome_name in annotation_names:
        return genome_name
    for alias in _aliases(genome_name):
        if alias in annotation_names:
            return alias
    return None


def splice(letters: bytes | bytearray, exons: np.ndarray, strand: str) -> np.ndarray:
    """Tokens of a transcript, 5' to 3', from its exons on a sequence.

    Parameters
    ----------
    letters : bytes or bytearray
        The sequence, one letter a byte.
    exons : numpy.ndarray
        ``(n, 2)`` 1-based inclusive intervals by ascending position.
    strand : str
        ``+`` or ``-``; the minus strand is reverse-complemented.

    Returns
    -------
    numpy.ndarray
        ``uint8`` tokens (A=0, T=1, C=2, G=3, N=4).
    """
    view = memoryview(letters)
    joined = b"".join(view[start - 1:end] for start, end in exons.tolist())
    tokens = _LOOKUP[np.frombuffer(joined, dtype=np.uint8)]
    if strand == "-":
        tokens = _COMPLEMENT[tokens[::-1]]
    return tokens


def transcript_to_genome(exons: np.ndarray, strand: str, positions: np.ndarray) -> np.ndarray:
    """1-based genome coordinates of 0-based transcript positions."""
    lengths = exons[:, 1] - exons[:, 0] + 1
    if strand == "-":
        exons, lengths = exons[::-1], lengths[::-1]
    ends = np.cumsum(lengths)
    positions = np.asarray(positions, dtype=np.int64)
    index = np.searchsorted(ends, positions, side="right")
    offset = positions - (ends[index] - lengths[index])
    if strand == "-":
        return exons[index, 1] - offset
    return exons[index, 0] + offset


def genome_to_transcript(exons: np.ndarray, strand: str, coordinate: int) -> int | None:
    """0-based transcript position of a 1-based genome coordinate; None when not on an exon."""
    inside = np.flatnonzero((exons[:, 0] <= coordinate) & (coordinate <= exons[:, 1]))
    if not inside.size:
        return None
    lengths = exons[:, 1] - exons[:, 0] + 1
    index = int(inside[0])
    if strand == "+":
        return int(lengths[:index].sum() + coordinate - exons[index, 0])
    return int(lengths[index + 1:].sum() + exons[index, 1] - coordinate)


def blocks(exons: np.ndarray, strand: str, first: int, last: int) -> np.ndarray:
    """Genome intervals of transcript positions ``first..last`` (0-based, inclusive).

    Returns
    -------
    numpy.ndarray
        ``(k, 2)`` 1-based inclusive intervals by ascending position, the
        exonic pieces of the span.
    """
    ends = transcript_to_genome(exons, strand, np.array([first, last]))
    low, high = int(ends.min()), int(ends.max())
    clipped = np.stack([np.maximum(exons[:, 0], low), np.minimum(exons[:, 1], high)], axis=1)
    return clipped[clipped[:, 0] <= clipped[:, 1]]

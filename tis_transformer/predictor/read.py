"""Read transcripts from FASTA, from the original tool's ``.npy`` files, or
from a nucleotide string given on the command line.

Everything here streams: records are yielded one at a time, so a bad record
far into a file surfaces as an :class:`InputError` only when it is reached.
Callers that write output must therefore write atomically (see
:mod:`tis_transformer.predictor.write`).

``.npy`` files are read by :mod:`tis_transformer.predictor.npy`, which never
runs pickled code.
"""

from __future__ import annotations

import io
import itertools
import re
import zlib
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from Bio.SeqIO.FastaIO import SimpleFastaParser

from tis_transformer.predictor.errors import InputError
from tis_transformer.predictor.input_files import one_line as _one_line, open_binary as _open_binary
from tis_transformer.predictor.npy import NPY_MAGIC, load_npy, npy_records
from tis_transformer.predictor.tokens import InvalidSequenceError, encode

__all__ = ["InputError", "is_file_argument", "read_records", "load_npy"]

FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fas")
NPY_SUFFIX = ".npy"

# Longest part of a bad command-line argument quoted back in an error.
_QUOTE_LIMIT = 60
_NOT_LITERAL = re.compile(r"[^ACGTUNacgtun]")


def read_records(source: str) -> Iterator[tuple[str, np.ndarray]]:
    """Yield the transcripts held by a file or given as a literal sequence.

    Parameters
    ----------
    source : str
        A path to a FASTA file (``.fa``, ``.fasta``, ``.fna``, ``.fas``, any
        of them optionally gzipped), to an original-format ``.npy`` (or
        ``.npy.gz``) file, or to a file of unknown suffix whose first
        non-blank character is ``>``. A string that names no file is read as
        one DNA or RNA sequence, any case, with the id ``"sequence"``.

    Yields
    ------
    tuple of (str, numpy.ndarray)
        The transcript id and its ``uint8`` tokens (A=0, T=1, C=2, G=3, N=4).

    Raises
    ------
    InputError
        On a missing file that is not a nucleotide string either, an empty
        input, a file that is neither FASTA nor ``.npy``, an invalid
        character, an empty record or a repeated id.
    """
    if not is_file_argument(source):
        yield _literal_record(source)
        return
    path = Path(source)
    if path.is_dir():
        raise InputError(f"{source}: is a directory, not a FASTA or .npy file")
    seen: set[str] = set()
    count = 0
    for transcript_id, tokens in _file_records(path):
        if transcript_id in seen:
            raise InputError(f"{source}: record {transcript_id!r}: duplicate id")
        seen.add(transcript_id)
        count += 1
        yield transcript_id, tokens
    if count == 0:
        raise InputError(f"{source}: no records (empty input)")


def is_file_argument(source: str) -> bool:
    """Whether a command-line argument names an existing file or directory.

    A name too long for the file system is no file: it may be a long
    sequence typed on the command line.
    """
    # Path("") is the current directory; an empty argument is no file.
    if not source.strip():
        return False
    try:
        return Path(source).exists()
    except (OSError, ValueError):  # ENAMETOOLONG, an embedded NUL
        return False


def _literal_record(source: str) -> tuple[str, np.ndarray]:
    """Read a command-line argument that names no file as a sequence.

    Only A, C, G, T, U and N are read here, not the other IUPAC codes that
    a FASTA file may hold: otherwise a mistyped file name made of those
    letters (``BRCA``) would be predicted as a sequence.
    """
    sequence = source.strip()
    shown = source if len(source) <= _QUOTE_LIMIT else source[:_QUOTE_LIMIT] + "..."
    if not sequence:
        raise InputError(f"{shown!r}: no such file or not a nucleotide sequence (empty)")
    bad = _NOT_LITERAL.search(sequence)
    if bad:
        raise InputError(
            f"{shown!r}: no such file, and not a nucleotide sequence (character {bad.group()!r} at "
            f"position {bad.start() + 1}; a sequence on the command line holds only A, C, G, T, U and N)"
        )
    return "sequence", encode(sequence, "sequence")


def _inner_suffix(path: Path) -> str:
    """The suffix that says the format: ``.fa`` for both x.fa and x.fa.gz."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _file_records(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    """Pick the reader from the file's contents, checked against its suffix."""
    suffix = _inner_suffix(path)
    try:
        with _open_binary(path) as handle:
            head = handle.read(len(NPY_MAGIC))
    except (OSError, EOFError, zlib.error) as error:
        raise InputError(f"{path}: cannot read: {_one_line(error)}") from None
    if head == NPY_MAGIC:
        if suffix in FASTA_SUFFIXES:
            raise InputError(f"{path}: a .npy file with a FASTA suffix")
        yield from npy_records(path)
        return
    if suffix == NPY_SUFFIX:
        raise InputError(f"{path}: not a .npy file (no numpy header)")
    if suffix == ".npz" or head.startswith(b"PK\x03\x04"):
        raise InputError(f"{path}: a prepared training dataset or other zip archive, not transcripts to predict: "
                         "give FASTA or an original-format .npy (evaluate reads .npz)")
    yield from fasta_records(path)


# --------------------------------------------------------------------- FASTA


def fasta_records(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    """``(first word of the header, tokens)`` of each record of a FASTA file (gzipped or not), checked as
    ``read_records`` checks them, but for repeated ids."""
    try:
        # utf-8-sig: a byte-order mark that some editors write before the first '>' is dropped
        with _open_binary(path) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig") as text:
            yield from _parse_fasta(path, text)
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a FASTA file (binary or not UTF-8 text)") from None
    except (OSError, EOFError, zlib.error) as error:
        raise InputError(f"{path}: cannot read: {_one_line(error)}") from None


def _parse_fasta(path: Path, lines: Iterable[str]) -> Iterator[tuple[str, np.ndarray]]:
    """Parse FASTA text whose first non-blank line must be a header.

    Biopython's parser skips any text before the first header; such text
    means the file is not FASTA, so it is checked here first.
    """
    lines = iter(lines)
    first = None
    for number, line in enumerate(lines, start=1):
        if line.strip():
            first = line
            break
    if first is None:
        return
    if not first.lstrip().startswith(">"):
        shown = first.strip()[:20]
        raise InputError(
            f"{path}: not a FASTA file: line {number} starts with {shown!r}, expected '>'"
        )
    for index, (title, sequence) in enumerate(
        SimpleFastaParser(itertools.chain([first.lstrip()], lines)), start=1
    ):
        words = title.split(None, 1)
        if not words:
            raise InputError(f"{path}: record #{index} has an empty header")
        transcript_id = words[0]
        if not sequence:
            raise InputError(f"{path}: record {transcript_id!r}: empty sequence")
        try:
            tokens = encode(sequence, f"{path}: record {transcript_id!r}")
        except InvalidSequenceError as error:
            raise InputError(str(error)) from None
        yield transcript_id, tokens

"""Write predictions as the original tool's ``.npy`` results, or as a table of
sites in TSV, GFF3 or BED.

A file is written whole or not at all: the output goes to a temporary file
beside the target that replaces the target only once every transcript has
been written, because predictions are streamed and a bad record or an
interrupt may come at any point.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import IO, Iterable, Iterator
from urllib.parse import quote

import numpy as np

from .orfs import TABLE_COLUMNS, Site, site_table
from .read import InputError

__all__ = ["FORMATS", "OutputError", "format_from_path", "write_outputs", "write_results"]

FORMATS = ("npy", "tsv", "gff3", "bed", "positions")
POSITION_COLUMNS = ("transcript_id", "position", "nucleotide", "probability")
_ALIASES = {"gff": "gff3", "tab": "tsv", "txt": "tsv"}
_SUFFIXES = {
    ".npy": "npy",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "tsv",
    ".gff": "gff3",
    ".gff3": "gff3",
    ".bed": "bed",
}
SOURCE = "tis-transformer"
# GFF3 asks for percent-encoding of these in column 1 and in attribute values.
_GFF_SEQID_SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:^*$@!+_?-|"
_GFF_VALUE_SAFE = _GFF_SEQID_SAFE + " #/()[]{}'\"<>~`"


class OutputError(InputError):
    """A bad output request (unknown format, unusable path); one line."""


def format_from_path(path: str | None, fmt: str | None) -> str:
    """Decide the output format.

    Parameters
    ----------
    path : str or None
        The output file; ``None`` means standard output.
    fmt : str or None
        An explicit format (``npy``, ``tsv``, ``gff3``, ``bed``, ``positions``; ``gff``,
        ``tab`` and ``txt`` are accepted as aliases). It wins over the suffix.

    Returns
    -------
    str
        One of :data:`FORMATS`.

    Raises
    ------
    OutputError
        When the format is unknown, cannot be told from the suffix, or is
        ``npy`` for standard output.
    """
    if fmt:
        chosen = _ALIASES.get(fmt.lower(), fmt.lower())
        if chosen not in FORMATS:
            raise OutputError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")
    elif path is None:
        chosen = "tsv"
    else:
        suffix = Path(path).suffix.lower()
        if suffix not in _SUFFIXES:
            raise OutputError(
                f"{path}: cannot tell the output format from the suffix {suffix or '(none)'!r}; "
                f"use .npy, .tsv, .gff3 or .bed, or give the format"
            )
        chosen = _SUFFIXES[suffix]
    if path is None and chosen == "npy":
        raise OutputError("npy output needs a file path, not standard output")
    return chosen


def write_results(
    path: str | None,
    fmt: str | None,
    results: Iterable[tuple[str, np.ndarray, np.ndarray]],
    threshold: float | None = None,
    top_k: int | None = None,
) -> None:
    """Write predictions to a file, atomically, or to standard output.

    Parameters
    ----------
    path : str or None
        The output file, replaced only when everything has been written;
        ``None`` writes to standard output as the results arrive.
    fmt : str or None
        The format; see :func:`format_from_path`.
    results : iterable of (str, numpy.ndarray, numpy.ndarray)
        ``(transcript_id, tokens, probabilities)`` per transcript, consumed
        once. The table formats stream it; ``npy`` holds it all.
    threshold, top_k : float or int, optional
        Which sites the table formats report; see
        :func:`tis_transformer.orfs.site_table`. ``npy`` and ``positions``
        keep every probability.

    Raises
    ------
    OutputError
        For an unknown format or a path that cannot be written.
    Exception
        Whatever ``results`` raises, after removing the temporary file.
    """
    write_outputs([(path, fmt)], results, threshold, top_k)


def write_outputs(
    targets: list[tuple[str | None, str | None]],
    results: Iterable[tuple[str, np.ndarray, np.ndarray]],
    threshold: float | None = None,
    top_k: int | None = None,
) -> None:
    """Write one stream of predictions to several outputs at once.

    Every output is written whole or not at all: if ``results`` raises, none
    of the files appears.  See :func:`write_results` for the arguments;
    ``targets`` holds ``(path, format)`` pairs, at most one with path None.
    """
    chosen = [(path, format_from_path(path, fmt)) for path, fmt in targets]
    paths = [path for path, _ in chosen if path is not None]
    if len(set(map(os.path.abspath, paths))) != len(paths):
        raise OutputError("the same output file is named twice")
    with contextlib.ExitStack() as stack:
        sinks = []
        for path, fmt in chosen:
            handle = sys.stdout if path is None else stack.enter_context(
                _atomic_output(Path(path), binary=fmt == "npy"))
            sinks.append(_Sink(handle, fmt, threshold, top_k))
        for sink in sinks:
            sink.start()
        for result in results:
            for sink in sinks:
                sink.add(*result)
        for sink in sinks:
            sink.finish()
    sys.stdout.flush()


class _Sink:
    """One output being written: a header, a part per transcript, a footer."""

    def __init__(self, handle: IO, fmt: str, threshold: float | None, top_k: int | None):
        self.handle, self.fmt, self.threshold, self.top_k = handle, fmt, threshold, top_k
        self.rows: list = []

    def start(self) -> None:
        if self.fmt == "tsv":
            self.handle.write("\t".join(TABLE_COLUMNS) + "\n")
        elif self.fmt == "gff3":
            self.handle.write("##gff-version 3\n")
        elif self.fmt == "positions":
            self.handle.write("\t".join(POSITION_COLUMNS) + "\n")

    def add(self, transcript_id: str, tokens: np.ndarray, probs: np.ndarray) -> None:
        if self.fmt == "npy":
            self.rows.append((f">{transcript_id}", np.asarray(tokens, dtype=np.int64),
                              np.asarray(probs, dtype=np.float32)))
        elif self.fmt == "positions":
            self.handle.write(_positions_block(transcript_id, tokens, probs))
        else:
            line = {"tsv": _tsv_line, "gff3": _gff3_line, "bed": _bed_line}[self.fmt]
            length = len(tokens)
            for site in site_table(transcript_id, tokens, probs, threshold=self.threshold, top_k=self.top_k):
                self.handle.write(line(site, length) + "\n")

    def finish(self) -> None:
        if self.fmt == "npy":
            _write_npy(self.handle, self.rows)


def _positions_block(transcript_id: str, tokens: np.ndarray, probs: np.ndarray) -> str:
    """Every nucleotide of one transcript: id, 1-based position, nucleotide, probability."""
    if len(tokens) == 0:
        return ""
    from .tokens import NUCLEOTIDES

    letters = np.array(list(NUCLEOTIDES))[np.asarray(tokens, dtype=np.int64)]
    positions = np.arange(1, len(tokens) + 1).astype(str)
    values = np.char.mod("%.6g", np.asarray(probs, dtype=np.float64))
    prefix = transcript_id + "\t"
    return "".join(prefix + p + "\t" + n + "\t" + v + "\n" for p, n, v in zip(positions, letters, values))


@contextlib.contextmanager
def _atomic_output(path: Path, binary: bool) -> Iterator[IO]:
    """Open a temporary file beside ``path`` that becomes ``path`` on success."""
    directory = path.parent
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as error:
        raise OutputError(f"{path}: cannot write: {error.strerror or error}") from None
    try:
        if binary:
            handle = os.fdopen(fd, "wb")
        else:
            handle = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        with handle:
            yield handle
        # mkstemp makes the file private; give it the mode a plain open would.
        os.chmod(temporary, 0o666 & ~_umask())
        try:
            os.replace(temporary, path)
        except OSError as error:
            raise OutputError(f"{path}: cannot write: {error.strerror or error}") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_npy(handle: IO[bytes], rows: list) -> None:
    """The original tool's results: rows ``['>id', int64 tokens, float32 probabilities]``."""
    table = np.empty((len(rows), 3), dtype=object)
    # Filled cell by cell: handing numpy the arrays at once could broadcast them.
    for index, row in enumerate(rows):
        for column, value in enumerate(row):
            table[index, column] = value
    np.save(handle, table, allow_pickle=True)


def _probability(value: float) -> str:
    return f"{value:.6g}"


def _feature_end(site: Site, length: int) -> int:
    """Last nucleotide to cover: the ORF, or at least the site's codon.

    A site in the last two nucleotides has no complete codon, and an empty
    ORF would give a feature that ends before it starts.
    """
    return max(site.orf_end, min(site.position + 2, length))


def _site_name(site: Site) -> str:
    return f"{site.transcript_id}:{site.position}"


def _tsv_line(site: Site, length: int) -> str:
    values = [
        site.transcript_id,
        str(site.position),
        _probability(site.probability),
        site.start_codon,
        str(site.orf_end),
        str(site.orf_length_nt),
        str(site.orf_length_aa),
        "true" if site.stop_found else "false",
        site.protein,
    ]
    return "\t".join(values)


def _gff3_line(site: Site, length: int) -> str:
    attributes = ";".join(
        f"{key}={quote(str(value), safe=_GFF_VALUE_SAFE)}"
        for key, value in (
            ("ID", _site_name(site)),
            ("start_codon", site.start_codon),
            ("stop_found", "true" if site.stop_found else "false"),
            ("orf_length_aa", site.orf_length_aa),
        )
    )
    columns = [
        quote(site.transcript_id, safe=_GFF_SEQID_SAFE),
        SOURCE,
        "ORF",
        str(site.position),
        str(_feature_end(site, length)),
        _probability(site.probability),
        "+",
        ".",
        attributes,
    ]
    return "\t".join(columns)


def _bed_line(site: Site, length: int) -> str:
    """BED12 with the ORF as the thick part, one block (as genome mode's BED12)."""
    score = int(round(min(max(site.probability, 0.0), 1.0) * 1000))
    start, end = site.position - 1, _feature_end(site, length)
    columns = [
        site.transcript_id,
        str(start),
        str(end),
        _site_name(site),
        str(score),
        "+",
        str(start),
        str(max(site.orf_end, start)),
        "0",
        "1",
        f"{end - start},",
        "0,",
    ]
    return "\t".join(columns)

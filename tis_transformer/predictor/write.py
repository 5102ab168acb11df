"""Write predictions as the original tool's ``.npy`` results, or as a table of
sites in TSV, GFF3 or BED.

A regular file is written whole or not at all: the output goes to a
temporary file beside the target (through a symbolic link, beside the file
it points to) that replaces the target only once every transcript has been
written, because predictions are streamed and a bad record or an interrupt
may come at any point. Standard output (``-``), devices and pipes are
written as the results arrive. The table formats open with comment lines
that say which tool, model and mode made them.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator
from urllib.parse import quote

import numpy as np

from tis_transformer.predictor.output_files import (FORMATS, POSITION_COLUMNS, STDOUT, OutputError,  # noqa: F401
                                                    open_output, check_distinct, format_from_path,
                                                    header_lines, parse_output)
from tis_transformer.predictor.orfs import TABLE_COLUMNS, Site, site_table

log = logging.getLogger("tis_transformer")

__all__ = ["FORMATS", "STDOUT", "OutputError", "format_from_path", "parse_output", "write_outputs", "write_results"]

SOURCE = "tis-transformer"
# GFF3 asks for percent-encoding of these in column 1 and in attribute values.
_GFF_SEQID_SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:^*$@!+_?-|"
_GFF_VALUE_SAFE = _GFF_SEQID_SAFE + " #/()[]{}'\"<>~`"


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
        :func:`tis_transformer.predictor.orfs.site_table`. ``npy`` and ``positions``
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
    header: dict | None = None,
) -> dict:
    """Write one stream of predictions to several outputs at once.

    Every regular file is written whole or not at all: if ``results``
    raises, none of them appears.  See :func:`write_results` for the
    arguments; ``targets`` holds ``(path, format)`` pairs, at most one with
    path None (standard output).  ``header``: ``{name: value}`` written as
    comment lines at the top of the table formats (``# name: value``; GFF3
    ``#!name value``), e.g. the tool version, model and mode.

    Returns
    -------
    dict
        ``transcripts``, ``nucleotides``, ``sites`` (rows of the sites table,
        counted whether or not a table format was written) and
        ``transcripts_with_sites``.
    """
    chosen = [(path, format_from_path(path, fmt)) for path, fmt in targets]
    tables = sorted({fmt for _, fmt in chosen} & {"tsv", "bed", "positions"})
    if tables:
        results = saying_hashed_ids(results, tables)
    return write_streams(chosen, lambda handle, path, fmt: _Sink(handle, fmt, threshold, top_k, header or {}, path),
                         results, lambda result: site_table(*result, threshold=threshold, top_k=top_k),
                         lambda result: len(result[1]))


def write_streams(targets: list, make_sink: Callable, results: Iterable, sites_of: Callable,
                  nucleotides_of: Callable) -> dict:
    """Write one stream of results to every output at once, regular files whole or not at all.

    ``make_sink(handle, path, format)`` gives an object with ``start()``,
    ``add(result, sites)`` and ``finish()``; ``sites_of(result)`` lists the
    rows a result reports, found once for every output and for the counts.
    Transcript mode and genome mode both write through here.

    Returns
    -------
    dict
        ``transcripts``, ``nucleotides`` (``nucleotides_of`` each result),
        ``sites`` and ``transcripts_with_sites``.
    """
    check_distinct(targets)
    counts = {"transcripts": 0, "nucleotides": 0, "sites": 0, "transcripts_with_sites": 0}
    with contextlib.ExitStack() as stack:
        sinks = [make_sink(sys.stdout if path is None else stack.enter_context(
                     open_output(Path(path), binary=fmt == "npy")), path, fmt) for path, fmt in targets]
        for sink in sinks:
            sink.start()
        for result in results:
            sites = sites_of(result)
            for sink in sinks:
                sink.add(result, sites)
            counts["transcripts"] += 1
            counts["nucleotides"] += nucleotides_of(result)
            counts["sites"] += len(sites)
            counts["transcripts_with_sites"] += bool(sites)
        for sink in sinks:
            sink.finish()
    sys.stdout.flush()
    return counts


def table_id(transcript_id: str) -> str:
    """An id as a table or BED line starts with it: a leading '#' percent-encoded, as GFF3 writes it, since readers
    (bedtools, pandas' ``comment="#"``) skip lines that start with '#'."""
    return "%23" + transcript_id[1:] if transcript_id.startswith("#") else transcript_id


def saying_hashed_ids(results: Iterable, formats: list, id_of: Callable = lambda result: result[0]) -> Iterator:
    """The results, with one warning at the first id that ``formats`` write percent-encoded (``table_id``)."""
    said = False
    for result in results:
        transcript_id = id_of(result)
        if not said and transcript_id.startswith("#"):
            log.warning("ids that start with '#' are written with %%23 for it in %s outputs (%s as %s): their "
                        "readers take lines that start with '#' for comments", ", ".join(formats), transcript_id,
                        table_id(transcript_id))
            said = True
        yield result


class _Sink:
    """One output being written: a header, a part per transcript, a footer."""

    def __init__(self, handle: IO | None, fmt: str, threshold: float | None, top_k: int | None, header: dict,
                 path: str | None = None):
        self.handle, self.fmt, self.threshold, self.top_k = handle, fmt, threshold, top_k
        self.header, self.path = header, path
        self.rows: list = []
        if fmt == "multiqc":
            from tis_transformer.predictor.report import Summary

            self.summary = Summary(threshold, top_k)

    def start(self) -> None:
        comments = header_lines(self.header, self.fmt)
        if self.fmt == "tsv":
            self.handle.write(comments + "\t".join(TABLE_COLUMNS) + "\n")
        elif self.fmt == "positions":
            self.handle.write(comments + "\t".join(POSITION_COLUMNS) + "\n")
        elif self.fmt in ("gff3", "bed"):
            self.handle.write(comments)

    def add(self, result: tuple, sites: list) -> None:
        """Write one ``(transcript_id, tokens, probabilities)`` result and its ``sites``."""
        transcript_id, tokens, probs = result
        if self.fmt == "npy":
            self.rows.append((f">{transcript_id}", np.asarray(tokens, dtype=np.int64),
                              np.asarray(probs, dtype=np.float32)))
        elif self.fmt == "positions":
            self.handle.write(_positions_block(transcript_id, tokens, probs))
        elif self.fmt == "multiqc":
            self.summary.add(transcript_id, tokens, probs)
        else:
            line = {"tsv": _tsv_line, "gff3": _gff3_line, "bed": _bed_line}[self.fmt]
            length = len(tokens)
            self.handle.write("".join(line(site, length) + "\n" for site in sites))

    def finish(self) -> None:
        if self.fmt == "npy":
            _write_npy(self.handle, self.rows)
        elif self.fmt == "multiqc":
            from tis_transformer.predictor.multiqc import multiqc_sample, multiqc_table

            self.handle.write(multiqc_table(self.summary.counts(), multiqc_sample(self.path)))


def _positions_block(transcript_id: str, tokens: np.ndarray, probs: np.ndarray) -> str:
    """Every nucleotide of one transcript: id, 1-based position, nucleotide, probability."""
    if len(tokens) == 0:
        return ""
    from tis_transformer.predictor.tokens import NUCLEOTIDES

    letters = np.array(list(NUCLEOTIDES))[np.asarray(tokens, dtype=np.int64)]
    positions = np.arange(1, len(tokens) + 1).astype(str)
    values = np.char.mod("%.6g", np.asarray(probs, dtype=np.float64))
    prefix = table_id(transcript_id) + "\t"
    return "".join(prefix + p + "\t" + n + "\t" + v + "\n" for p, n, v in zip(positions, letters, values))


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
        table_id(site.transcript_id),
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
        table_id(site.transcript_id),
        str(start),
        str(end),
        table_id(_site_name(site)),
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

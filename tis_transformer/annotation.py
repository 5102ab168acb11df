"""Read transcript models (exons, strand, CDS, gene) from a GTF or GFF3 file.

Transcripts are built from ``exon`` features, whatever order the file lists
them in. GTF (Ensembl, GENCODE, StringTie) groups features by the
``transcript_id`` attribute; GFF3 (RefSeq, Ensembl) by ``Parent`` chains
gene -> transcript -> exon. The CDS of a transcript is the span of its
``CDS``, ``start_codon`` and ``stop_codon`` features together, so that it
holds the stop codon both where CDS features leave it out (GTF) and where
they include it (GFF3).

The whole annotation is held in memory, compactly: a human annotation
(250,000 transcripts, 1.5 million exons) takes a few hundred megabytes.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
from array import array
from pathlib import Path
from typing import IO, Iterator, NamedTuple
from urllib.parse import unquote

import numpy as np

from .read import InputError

__all__ = ["Transcript", "read_annotation"]

log = logging.getLogger("tis_transformer")

# Features that make up a transcript; everything else (genes, UTRs, ...) only
# lends attributes, or is skipped.
_EXON, _CDS = "exon", "CDS"
_CODING = ("CDS", "start_codon", "stop_codon")
_PARTS = (_EXON,) + _CODING
_GTF_PAIR = re.compile(r'\s*([^\s";]+)\s+(?:"([^"]*)"|([^\s";]+))\s*;?')
_BIOTYPE_KEYS = ("transcript_biotype", "transcript_type", "biotype")
_GENE_NAME_KEYS = ("gene_name", "Name", "gene")


class Transcript(NamedTuple):
    """One transcript model.

    Attributes
    ----------
    transcript_id, chrom, strand : str
        Its ID, the sequence it lies on as the annotation names it, and
        ``+`` or ``-``.
    exons : numpy.ndarray
        ``(n, 2)`` int64, 1-based inclusive ``start, end`` by ascending
        genome position (transcript order is reversed on the minus strand).
    cds : tuple of (int, int) or None
        Lowest and highest genome position of its coding features, start and
        stop codons included, or None for a non-coding transcript.
    gene_id, gene_name, biotype : str
        Empty where the annotation gives none (StringTie gives no name).
    line : int
        Line of the file where the transcript's first exon is.
    """

    transcript_id: str
    chrom: str
    strand: str
    exons: np.ndarray
    cds: tuple | None
    gene_id: str
    gene_name: str
    biotype: str
    line: int


class _Parts:
    """Exons and coding pieces of one transcript while the file is read."""

    __slots__ = ("chrom", "strand", "exons", "coding", "line")

    def __init__(self, chrom: str, strand: str, line: int):
        self.chrom, self.strand, self.line = chrom, strand, line
        self.exons = array("q")  # start, end, line per exon: 24 bytes each
        self.coding: list | None = None


def read_annotation(path: str | Path) -> tuple[list[Transcript], dict[str, bool]]:
    """Read every transcript of a GTF or GFF3 file (plain or gzipped).

    Parameters
    ----------
    path : str or pathlib.Path
        The annotation; GTF or GFF3 is told from its contents.

    Returns
    -------
    transcripts : list of Transcript
        In the order of their first exon in the file.
    coding_genes : dict of str to bool
        Whether each gene has a transcript with a CDS.

    Raises
    ------
    InputError
        One line naming the file and line: a malformed line, a transcript
        on two sequences or both strands, overlapping exons, coding features
        outside the exons, or no exon at all.
    """
    path = Path(path)
    with _open_text(path) as handle:
        lines = _numbered(path, handle)
        first = _first_feature(path, lines)
        if first is None:
            raise InputError(f"{path}: no features (empty annotation)")
        gff3 = first[2] is not None and _is_gff3(first)
        reader = _read_gff3 if gff3 else _read_gtf
        parts, attributes = reader(path, _chain(first[:2], lines))
    if not parts:
        raise InputError(f"{path}: no exon features (empty annotation)")
    transcripts, skipped = [], 0
    for transcript_id, found in parts.items():
        if not found.exons:
            continue  # coding pieces without exons: not a transcript we can build
        if found.strand not in "+-":
            skipped += 1
            continue
        transcripts.append(_finish(path, transcript_id, found, attributes(transcript_id)))
    if skipped:
        log.warning("skipped %d transcripts without a strand ('.'), which cannot be read 5' to 3'", skipped)
    if not transcripts:
        raise InputError(f"{path}: no transcript with exons on a strand (empty annotation)")
    coding_genes: dict[str, bool] = {}
    for t in transcripts:
        coding_genes[t.gene_id] = coding_genes.get(t.gene_id, False) or t.cds is not None
    return transcripts, coding_genes


# ------------------------------------------------------------------ reading


def _open_text(path: Path) -> IO[str]:
    try:
        with open(path, "rb") as raw:
            magic = raw.read(2)
        binary = gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror or error}") from None
    return io.TextIOWrapper(binary, encoding="utf-8", newline=None)  # type: ignore[arg-type]


def _numbered(path: Path, handle: IO[str]) -> Iterator[tuple[int, str]]:
    """Numbered lines; a binary file is reported as not an annotation."""
    try:
        yield from enumerate(handle, start=1)
    except (UnicodeDecodeError, EOFError, OSError) as error:
        raise InputError(f"{path}: not a GTF/GFF3 text file ({type(error).__name__})") from None


def _chain(first: tuple, lines: Iterator) -> Iterator[tuple[int, str]]:
    yield first
    yield from lines


def _first_feature(path: Path, lines: Iterator) -> tuple | None:
    """The first feature line, and whether a ``##gff-version 3`` came before it."""
    version3 = False
    for number, line in lines:
        if line.startswith("##gff-version 3"):
            version3 = True
        if line.startswith("#") or not line.strip():
            continue
        return number, line, version3
    return None


def _is_gff3(first: tuple) -> bool:
    number, line, version3 = first
    if version3:
        return True
    fields = line.rstrip("\n").split("\t")
    attributes = fields[8] if len(fields) > 8 else ""
    return _GTF_PAIR.match(attributes) is None and "=" in attributes


def _fields(path: Path, number: int, line: str) -> list | None:
    """The nine columns of a feature line, checked; None for a comment."""
    if line.startswith("#") or line == "\n" or not line.strip():
        return None
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) != 9:
        raise InputError(f"{path}: line {number}: expected 9 tab-separated columns, found {len(fields)}")
    try:
        start, end = int(fields[3]), int(fields[4])
    except ValueError:
        raise InputError(f"{path}: line {number}: start and end must be integers, "
                         f"got {fields[3][:20]!r} and {fields[4][:20]!r}") from None
    if start < 1 or end < start:
        raise InputError(f"{path}: line {number}: bad interval {start}-{end} (1-based, start <= end)")
    if fields[6] not in ("+", "-", ".", "?"):
        raise InputError(f"{path}: line {number}: strand must be +, - or ., got {fields[6][:10]!r}")
    fields[3], fields[4] = start, end
    return fields


def _add(path: Path, parts: dict, transcript_id: str, fields: list, number: int) -> None:
    found = parts.get(transcript_id)
    if found is None:
        found = parts[transcript_id] = _Parts(fields[0], fields[6], number)
    elif found.chrom != fields[0]:
        raise InputError(f"{path}: line {number}: transcript {transcript_id!r} is on {fields[0]!r} here "
                         f"but on {found.chrom!r} at line {found.line}")
    elif found.strand != fields[6]:
        raise InputError(f"{path}: line {number}: transcript {transcript_id!r} is on the {fields[6]} strand here "
                         f"but on the {found.strand} strand at line {found.line}")
    if fields[2] == _EXON:
        found.exons.extend((fields[3], fields[4], number))
    else:
        if found.coding is None:
            found.coding = [fields[3], fields[4], number]
        else:
            found.coding[0] = min(found.coding[0], fields[3])
            found.coding[1] = max(found.coding[1], fields[4])


def _gtf_attributes(path: Path, number: int, text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    position = 0
    text = text.strip()
    while position < len(text):
        match = _GTF_PAIR.match(text, position)
        if match is None or match.end() == position:
            raise InputError(f"{path}: line {number}: malformed GTF attributes near {text[position:position + 30]!r}")
        key, quoted, bare = match.groups()
        values.setdefault(key, quoted if quoted is not None else bare)
        position = match.end()
    return values


def _read_gtf(path: Path, lines: Iterator) -> tuple[dict, object]:
    parts: dict[str, _Parts] = {}
    # only what is kept of each transcript's attributes: a dict of them all would take 2 kB a transcript
    found_attributes: dict[str, tuple] = {}
    gene_names: dict[str, str] = {}
    for number, line in lines:
        fields = _fields(path, number, line)
        if fields is None:
            continue
        kind = fields[2]
        if kind in _PARTS:
            text = fields[8]
            # the transcript's attributes once; later lines only need its ID
            start = text.find('transcript_id "')
            if start >= 0 and (start == 0 or text[start - 1] in " ;\t"):
                stop = text.find('"', start + 15)
                transcript_id = text[start + 15:stop] if stop > 0 else None
            else:
                transcript_id = None
            if transcript_id is None or transcript_id not in found_attributes:
                values = _gtf_attributes(path, number, text)
                transcript_id = values.get("transcript_id")
                if not transcript_id:
                    raise InputError(f"{path}: line {number}: {kind} without a transcript_id attribute")
                found_attributes[transcript_id] = _kept(values)
            _add(path, parts, transcript_id, fields, number)
        elif kind == "transcript":
            values = _gtf_attributes(path, number, fields[8])
            if values.get("transcript_id"):
                old = found_attributes.get(values["transcript_id"], ("", "", ""))
                found_attributes[values["transcript_id"]] = tuple(a or b for a, b in zip(_kept(values), old))
        elif kind == "gene":
            values = _gtf_attributes(path, number, fields[8])
            if values.get("gene_id") and values.get("gene_name"):
                gene_names[values["gene_id"]] = values["gene_name"]

    def attributes(transcript_id: str) -> tuple[str, str, str]:
        gene_id, name, biotype = found_attributes.get(transcript_id, ("", "", ""))
        return gene_id, name or gene_names.get(gene_id, ""), biotype

    return parts, attributes


def _kept(values: dict) -> tuple[str, str, str]:
    return values.get("gene_id", ""), values.get("gene_name", ""), _first_of(values, _BIOTYPE_KEYS)


def _gff3_attributes(path: Path, number: int, text: str) -> dict[str, str]:
    values = {}
    for pair in text.strip().split(";"):
        if not pair.strip():
            continue
        key, equals, value = pair.partition("=")
        if not equals:
            raise InputError(f"{path}: line {number}: malformed GFF3 attribute {pair.strip()[:30]!r} (no '=')")
        values[key.strip()] = value
    return values


def _read_gff3(path: Path, lines: Iterator) -> tuple[dict, object]:
    parts: dict[str, _Parts] = {}
    # transcripts and genes: ID -> (type, first Parent, attributes we use)
    features: dict[str, tuple] = {}
    kept = ("Name", "gene", "gene_id", "gene_name", "transcript_id") + _BIOTYPE_KEYS
    for number, line in lines:
        if line.startswith("##FASTA"):
            break
        fields = _fields(path, number, line)
        if fields is None:
            continue
        values = _gff3_attributes(path, number, fields[8])
        if fields[2] in _PARTS:
            parents = values.get("Parent")
            if not parents:
                raise InputError(f"{path}: line {number}: {fields[2]} without a Parent attribute")
            for parent in parents.split(","):
                _add(path, parts, unquote(parent), fields, number)
        elif "ID" in values:
            parent = values.get("Parent", "").split(",")[0]
            features[unquote(values["ID"])] = (fields[2], unquote(parent),
                                               {k: unquote(values[k]) for k in kept if k in values})

    def attributes(transcript_id: str) -> tuple[str, str, str]:
        kind, parent, values = features.get(transcript_id, ("", "", {}))
        gene_kind, _, gene = features.get(parent, ("", "", {}))
        gene_id = parent or transcript_id
        name = _first_of(gene, _GENE_NAME_KEYS) or values.get("gene") or values.get("gene_name", "")
        biotype = _first_of(values, _BIOTYPE_KEYS) or kind
        return gene_id, name, biotype

    return parts, attributes


def _first_of(values: dict, keys: tuple) -> str:
    for key in keys:
        if values.get(key):
            return values[key]
    return ""


def _finish(path: Path, transcript_id: str, found: _Parts, attributes: tuple) -> Transcript:
    """Sort and check one transcript's exons; place its CDS."""
    table = np.frombuffer(found.exons, dtype=np.int64).reshape(-1, 3)
    table = table[np.lexsort((table[:, 1], table[:, 0]))]
    overlap = np.flatnonzero(table[1:, 0] <= table[:-1, 1])
    if overlap.size:
        a, b = table[overlap[0]], table[overlap[0] + 1]
        later, earlier = (a, b) if a[2] > b[2] else (b, a)
        raise InputError(f"{path}: line {later[2]}: exon {later[0]}-{later[1]} of transcript {transcript_id!r} "
                         f"overlaps exon {earlier[0]}-{earlier[1]} (line {earlier[2]})")
    cds = None
    if found.coding is not None:
        low, high, number = found.coding
        inside = (table[:, 0] <= low) & (low <= table[:, 1])
        inside_high = (table[:, 0] <= high) & (high <= table[:, 1])
        if not inside.any() or not inside_high.any():
            raise InputError(f"{path}: line {number}: coding features {low}-{high} of transcript "
                             f"{transcript_id!r} reach outside its exons")
        cds = (int(low), int(high))
    gene_id, gene_name, biotype = attributes
    return Transcript(transcript_id, found.chrom, found.strand, np.ascontiguousarray(table[:, :2]), cds,
                      gene_id, gene_name, biotype, int(table[:, 2].min()))

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

from tis_transformer.predictor.read import InputError

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
    cds_start_complete : bool
        False when the annotation marks the CDS as open at its 5' end, so
        that its first nucleotide is no start codon: a GTF that gives
        ``start_codon`` features but none to this transcript (Ensembl and
        GENCODE leave them off CDSs tagged ``cds_start_NF``), or a GFF3 CDS
        with ``start_range`` on the plus strand, ``end_range`` on the minus
        (RefSeq's partial CDSs) or whose 5'-most piece has phase 1 or 2 (how
        Ensembl's GFF3 shows a CDS open at its 5' end). True otherwise,
        non-coding transcripts included.
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
    cds_start_complete: bool = True


class _Parts:
    """Exons and coding pieces of one transcript while the file is read."""

    __slots__ = ("chrom", "strand", "exons", "coding", "line", "start_codon", "open_start", "first_cds")

    def __init__(self, chrom: str, strand: str, line: int):
        self.chrom, self.strand, self.line = chrom, strand, line
        self.exons = array("q")  # start, end, line per exon: 24 bytes each
        self.coding: list | None = None
        self.start_codon = False  # a start_codon feature was seen
        self.open_start = False  # a GFF3 CDS open at its 5' end was seen
        self.first_cds = None  # (5'-most position, phase) of the GFF3 CDS pieces read so far


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
        try:
            first = _first_feature(path, lines)
            if first is None:
                raise InputError(f"{path}: no features (empty annotation)")
            reader = _read_gff3 if _is_gff3(first) else _read_gtf
            parts, attributes = reader(path, _chain(first[:2], lines))
        except (UnicodeDecodeError, EOFError, OSError) as error:
            # a binary file, or a truncated gzip
            raise InputError(f"{path}: not a GTF/GFF3 text file ({type(error).__name__})") from None
    if not parts:
        raise InputError(f"{path}: no exon features (empty annotation)")
    transcripts, skipped = [], 0
    # a file that gives start codons at all leaves them off only CDSs that lack one
    with_start_codons = any(found.start_codon for found in parts.values())
    for transcript_id, found in parts.items():
        if not found.exons:
            continue  # coding pieces without exons: not a transcript we can build
        if found.strand not in "+-":
            skipped += 1
            continue
        transcripts.append(_finish(path, transcript_id, found, attributes(transcript_id), with_start_codons))
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
    """Numbered lines."""
    return enumerate(handle, start=1)


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
    if line.startswith("#") or not line.strip():
        return None
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) != 9:
        raise InputError(f"{path}: line {number}: expected 9 tab-separated columns, found {len(fields)}")
    fields[3], fields[4] = _interval(path, number, fields)
    return fields


def _interval(path: Path, number: int, fields: list) -> tuple[int, int]:
    """Start and end of a feature line, with its strand checked."""
    try:
        start, end = int(fields[3]), int(fields[4])
    except ValueError:
        raise InputError(f"{path}: line {number}: start and end must be integers, "
                         f"got {fields[3][:20]!r} and {fields[4][:20]!r}") from None
    if start < 1 or end < start:
        raise InputError(f"{path}: line {number}: bad interval {start}-{end} (1-based, start <= end)")
    if fields[6] not in ("+", "-", ".", "?"):
        raise InputError(f"{path}: line {number}: strand must be +, - or ., got {fields[6][:10]!r}")
    return start, end


def _parts_of(path: Path, parts: dict, transcript_id: str, fields: list, number: int) -> _Parts:
    """The parts of a transcript, new or checked to be on the same sequence and strand."""
    found = parts.get(transcript_id)
    if found is None:
        found = parts[transcript_id] = _Parts(fields[0], fields[6], number)
    elif found.chrom != fields[0]:
        raise InputError(f"{path}: line {number}: transcript {transcript_id!r} is on {fields[0]!r} here "
                         f"but on {found.chrom!r} at line {found.line}")
    elif found.strand != fields[6]:
        raise InputError(f"{path}: line {number}: transcript {transcript_id!r} is on the {fields[6]} strand here "
                         f"but on the {found.strand} strand at line {found.line}")
    return found


def _add(found: _Parts, kind: str, start: int, end: int, number: int) -> None:
    if kind == _EXON:
        found.exons.extend((start, end, number))
        return
    if kind == "start_codon":
        found.start_codon = True
    if found.coding is None:
        found.coding = [start, end, number]
    else:
        found.coding[0] = min(found.coding[0], start)
        found.coding[1] = max(found.coding[1], end)


def _gtf_value(text: str, key: str) -> str | None:
    """The quoted value of one GTF attribute, found without parsing the rest (None if absent)."""
    probe = key + ' "'
    at = text.find(probe)
    while at > 0 and text[at - 1] not in " ;\t":
        at = text.find(probe, at + 1)
    if at < 0:
        return None
    stop = text.find('"', at + len(probe))
    return text[at + len(probe):stop] if stop > 0 else None


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
    # The hot loop of a 3-million-line GTF: the columns are split once and only
    # the attributes needed are looked for; a transcript's first line is parsed whole.
    for number, line in lines:
        if line[0] == "#" or not line.strip():
            continue
        fields = line.rstrip("\r\n").split("\t")
        if len(fields) != 9:
            raise InputError(f"{path}: line {number}: expected 9 tab-separated columns, found {len(fields)}")
        start, end = _interval(path, number, fields)
        kind = fields[2]
        if kind in _PARTS:
            transcript_id = _gtf_value(fields[8], "transcript_id")
            if transcript_id is None or transcript_id not in found_attributes:
                values = _gtf_attributes(path, number, fields[8])
                transcript_id = values.get("transcript_id")
                if not transcript_id:
                    raise InputError(f"{path}: line {number}: {kind} without a transcript_id attribute")
                found_attributes[transcript_id] = _kept(values)
            _add(_parts_of(path, parts, transcript_id, fields, number), kind, start, end, number)
        elif kind == "transcript":
            text = fields[8]
            transcript_id = _gtf_value(text, "transcript_id")
            if transcript_id:
                biotype = _gtf_value(text, "transcript_biotype") or _gtf_value(text, "transcript_type")
                new = (_gtf_value(text, "gene_id"), _gtf_value(text, "gene_name"), biotype)
                old = found_attributes.get(transcript_id, ("", "", ""))
                found_attributes[transcript_id] = tuple(a or b or "" for a, b in zip(new, old))
        elif kind == "gene":
            gene_id, name = _gtf_value(fields[8], "gene_id"), _gtf_value(fields[8], "gene_name")
            if gene_id and name:
                gene_names[gene_id] = name

    for transcript_id, found in parts.items():
        # GTF requires both ids; without gene_id every such transcript would count as an isoform of one gene
        if not found_attributes.get(transcript_id, ("",))[0]:
            raise InputError(f"{path}: line {found.line}: transcript {transcript_id!r} has no gene_id attribute "
                             "(GTF requires gene_id and transcript_id)")

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
            # RefSeq marks a CDS without its start codon by a range open at its 5' end
            open_start = fields[2] == _CDS and ("start_range" if fields[6] == "+" else "end_range") in values
            five_prime = fields[3] if fields[6] == "+" else -fields[4]
            for parent in parents.split(","):
                transcript_id = unquote(parent)
                found = _parts_of(path, parts, transcript_id, fields, number)
                _add(found, fields[2], fields[3], fields[4], number)
                found.open_start = found.open_start or open_start
                if fields[2] == _CDS and (found.first_cds is None or five_prime < found.first_cds[0]):
                    found.first_cds = (five_prime, fields[7])
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


def _finish(path: Path, transcript_id: str, found: _Parts, attributes: tuple, with_start_codons: bool) -> Transcript:
    """Sort and check one transcript's exons; place its CDS."""
    values = found.exons
    # a few exons each: Python's sort beats numpy's per-call overhead here
    rows = sorted(zip(values[0::3], values[1::3], values[2::3]))
    for (a_start, a_end, a_line), (b_start, b_end, b_line) in zip(rows, rows[1:]):
        if b_start <= a_end:
            later, earlier = ((a_start, a_end, a_line), (b_start, b_end, b_line)) if a_line > b_line else \
                ((b_start, b_end, b_line), (a_start, a_end, a_line))
            raise InputError(f"{path}: line {later[2]}: exon {later[0]}-{later[1]} of transcript "
                             f"{transcript_id!r} overlaps exon {earlier[0]}-{earlier[1]} (line {earlier[2]})")
    exons = np.array([row[:2] for row in rows], dtype=np.int64)
    cds = None
    if found.coding is not None:
        low, high, number = found.coding
        if not any(a <= low <= b for a, b, _ in rows) or not any(a <= high <= b for a, b, _ in rows):
            raise InputError(f"{path}: line {number}: coding features {low}-{high} of transcript "
                             f"{transcript_id!r} reach outside its exons")
        cds = (int(low), int(high))
    gene_id, gene_name, biotype = attributes
    # a CDS whose 5'-most piece has phase 1 or 2 begins inside a codon: its start is not annotated (Ensembl's GFF3
    # carries no cds_start_NF tag; the phase is how it shows such a CDS)
    open_phase = found.first_cds is not None and found.first_cds[1] in ("1", "2")
    complete = cds is None or not (found.open_start or open_phase) and (found.start_codon or not with_start_codons)
    return Transcript(transcript_id, found.chrom, found.strand, exons, cds, gene_id, gene_name, biotype,
                      min(values[2::3]), complete)

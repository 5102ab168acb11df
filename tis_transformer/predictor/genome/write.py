"""Write the ORFs of genome mode in genome coordinates: TSV, BED12, GTF, GFF3.

Every output is written whole or not at all, as in transcript mode
(:mod:`tis_transformer.predictor.write`). An ORF runs from the first nucleotide of its
start codon to the last of its stop codon (or of its last complete codon
when no stop is found); its genome pieces are the exonic parts of that span.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, NamedTuple
from urllib.parse import quote

import numpy as np

from tis_transformer.predictor.genome.annotation import Transcript
from tis_transformer.predictor.genome.sequences import blocks, transcript_to_genome
from tis_transformer.predictor.genome.orf_types import classify
from tis_transformer.predictor.orfs import TABLE_COLUMNS, Site, site_table
from tis_transformer.predictor.output_files import header_lines
from tis_transformer.predictor.write import (_GFF_SEQID_SAFE, _GFF_VALUE_SAFE, SOURCE, OutputError, _Sink,
                                             format_from_path, saying_hashed_ids, table_id, write_streams)

__all__ = ["GENOME_COLUMNS", "GENOME_FORMATS", "OrfRecord", "orf_records", "write_genome_outputs"]

GENOME_COLUMNS = TABLE_COLUMNS + ("chrom", "strand", "tis_coordinate", "stop_coordinate", "gene_id", "gene_name",
                                  "transcript_biotype", "orf_type", "cds_position", "cds_coordinate")
GENOME_FORMATS = ("tsv", "bed", "gtf", "gff3", "npy", "positions")


class Scored(NamedTuple):
    """One predicted transcript with what its ORFs are typed and placed with."""

    transcript: Transcript
    chrom: str  # the genome's name for its sequence
    tokens: np.ndarray
    probabilities: np.ndarray
    reference: tuple | None  # reference_cds: 0-based inclusive transcript positions
    gene_coding: bool


class OrfRecord(NamedTuple):
    """A site of the table with its ORF placed on the genome."""

    site: Site
    transcript: Transcript
    chrom: str
    orf_type: str
    tis_coordinate: int
    stop_coordinate: int | None
    pieces: np.ndarray  # (k, 2) 1-based inclusive genome intervals of the ORF, ascending
    cds_position: int | None
    cds_coordinate: int | None

    @property
    def name(self) -> str:
        return f"{self.site.transcript_id}_{self.site.position}"


def orf_records(scored: Scored, threshold: float | None, top_k: int | None) -> list[OrfRecord]:
    """The reported sites of one transcript as genome ORFs."""
    t = scored.transcript
    length = len(scored.tokens)
    own = scored.reference if t.cds is not None else None
    cds_position = own[0] + 1 if own else None
    cds_coordinate = int(transcript_to_genome(t.exons, t.strand, [own[0]])[0]) if own else None
    records = []
    for site in site_table(t.transcript_id, scored.tokens, scored.probabilities, threshold, top_k):
        first = site.position - 1
        # at least the site's own (maybe partial) codon, as transcript mode does
        last = max(site.orf_end, min(site.position + 2, length)) - 1
        tis, end = transcript_to_genome(t.exons, t.strand, [first, last]).tolist()
        stop = end if site.orf_length_nt else None
        orf_type = classify(first, site.orf_end - 1, scored.reference, scored.gene_coding)
        records.append(OrfRecord(site, t, scored.chrom, orf_type, int(tis), stop,
                                 blocks(t.exons, t.strand, first, last), cds_position, cds_coordinate))
    return records


def _text(value) -> str:
    return "" if value is None else str(value)


def tsv_line(record: OrfRecord) -> str:
    s, t = record.site, record.transcript
    values = [table_id(s.transcript_id), s.position, f"{s.probability:.6g}", s.start_codon, s.orf_end, s.orf_length_nt,
              s.orf_length_aa, "true" if s.stop_found else "false", s.protein, record.chrom, t.strand,
              record.tis_coordinate, record.stop_coordinate, t.gene_id, t.gene_name, t.biotype, record.orf_type,
              record.cds_position, record.cds_coordinate]
    return "\t".join(map(_text, values))


def _score(probability: float) -> int:
    return int(round(min(max(probability, 0.0), 1.0) * 1000))


def bed12_line(record: OrfRecord) -> str:
    """BED12: the ORF as thick throughout, its exonic pieces as blocks."""
    pieces = record.pieces
    start, end = int(pieces[0, 0]) - 1, int(pieces[-1, 1])
    sizes = ",".join(str(b - a + 1) for a, b in pieces.tolist()) + ","
    starts = ",".join(str(a - 1 - start) for a, _ in pieces.tolist()) + ","
    return "\t".join(map(str, [record.chrom, start, end, record.name, _score(record.site.probability),
                               record.transcript.strand, start, end, 0, len(pieces), sizes, starts]))


def _stranded(pieces: np.ndarray, strand: str) -> list:
    """Intervals in transcript order."""
    ordered = pieces.tolist()
    return ordered[::-1] if strand == "-" else ordered


def _cut(pieces: list, strand: str, skip: int, take: int) -> list:
    """The intervals of ``take`` nucleotides after the first ``skip``, in transcript direction."""
    out = []
    for a, b in pieces:
        size = b - a + 1
        if skip >= size:
            skip -= size
            continue
        lo, hi = (a + skip, b) if strand == "+" else (a, b - skip)
        skip = 0
        size = hi - lo + 1
        if take < size:
            lo, hi = (lo, lo + take - 1) if strand == "+" else (hi - take + 1, hi)
            size = take
        out.append((lo, hi))
        take -= size
        if take <= 0:
            break
    return out


def _features(record: OrfRecord, cds_has_stop: bool) -> list[tuple[str, int, int, str]]:
    """(type, start, end, phase) rows of one ORF, in transcript order within each type."""
    s, strand = record.site, record.transcript.strand
    pieces = _stranded(record.pieces, strand)
    rows = [("exon", a, b, ".") for a, b in pieces]
    coding = 3 * s.orf_length_aa + (3 if cds_has_stop and s.stop_found else 0)
    rows += _phased("CDS", _cut(pieces, strand, 0, coding))
    if s.orf_length_aa:
        rows += _phased("start_codon", _cut(pieces, strand, 0, 3))
    if s.stop_found:
        rows += _phased("stop_codon", _cut(pieces, strand, 3 * s.orf_length_aa, 3))
    return rows


def _phased(kind: str, pieces: list) -> list[tuple[str, int, int, str]]:
    """Rows of a coding feature split by introns, each with its frame: the bases before its first full codon
    (a codon's second piece of 2 nt has frame 2)."""
    rows, done = [], 0
    for a, b in pieces:
        rows.append((kind, a, b, str((-done) % 3)))
        done += b - a + 1
    return rows


def _column_score(probability: float) -> str:
    # four significant digits: gffread 0.12.7 overflows a buffer on transcript scores of 10 characters or more
    # (gpertea/gffread#134); the probability attribute keeps six
    return f"{probability:.4g}"


def _span(record: OrfRecord) -> tuple[int, int]:
    return int(record.pieces[0, 0]), int(record.pieces[-1, 1])


def gtf_lines(record: OrfRecord) -> str:
    """GTF2.2: a transcript per ORF with its exons, CDS (stop codon left out), start and stop codons."""
    s, t = record.site, record.transcript
    pairs = [("gene_id", t.gene_id or t.transcript_id), ("transcript_id", record.name)]
    if t.gene_name:
        pairs.append(("gene_name", t.gene_name))
    pairs += [("parent_transcript", t.transcript_id), ("orf_type", record.orf_type),
              ("probability", f"{s.probability:.6g}"), ("tis_codon", s.start_codon)]
    attributes = " ".join(f'{key} "{value}";' for key, value in pairs)
    ids = " ".join(f'{key} "{value}";' for key, value in pairs[:2])
    low, high = _span(record)
    lines = [[record.chrom, SOURCE, "transcript", low, high, _column_score(s.probability), t.strand, ".", attributes]]
    for kind, a, b, phase in _features(record, cds_has_stop=False):
        lines.append([record.chrom, SOURCE, kind, a, b, ".", t.strand, phase, ids])
    return "".join("\t".join(map(str, line)) + "\n" for line in lines)


def _gff_value(value) -> str:
    return quote(str(value), safe=_GFF_VALUE_SAFE)


def gff3_lines(record: OrfRecord) -> str:
    """GFF3: an ``mRNA`` per ORF (its CDS holds the stop codon, as SO defines it)."""
    s, t = record.site, record.transcript
    pairs = [("ID", record.name), ("Name", record.name), ("parent_transcript", t.transcript_id),
             ("gene_id", t.gene_id), ("gene_name", t.gene_name), ("orf_type", record.orf_type),
             ("probability", f"{s.probability:.6g}"), ("tis_codon", s.start_codon)]
    attributes = ";".join(f"{key}={_gff_value(value)}" for key, value in pairs if value != "")
    seqid = quote(record.chrom, safe=_GFF_SEQID_SAFE)
    low, high = _span(record)
    lines = [[seqid, SOURCE, "mRNA", low, high, _column_score(s.probability), t.strand, ".", attributes]]
    parent = f"Parent={_gff_value(record.name)}"
    for kind, a, b, phase in _features(record, cds_has_stop=True):
        extra = f"ID={_gff_value(record.name)}.cds;" if kind == "CDS" else ""
        lines.append([seqid, SOURCE, kind, a, b, ".", t.strand, phase if kind == "CDS" else ".", extra + parent])
    return "".join("\t".join(map(str, line)) + "\n" for line in lines)


class _GenomeSink:
    def __init__(self, handle, fmt: str, threshold: float | None, top_k: int | None, header: dict):
        self.handle, self.fmt, self.header = handle, fmt, header
        # npy and positions hold every nucleotide of the spliced transcripts, as in transcript mode
        self.plain = _Sink(handle, fmt, threshold, top_k, header) if fmt in ("npy", "positions") else None

    def start(self) -> None:
        if self.plain:
            self.plain.start()
        else:
            self.handle.write(header_lines(self.header, self.fmt)
                              + ("\t".join(GENOME_COLUMNS) + "\n" if self.fmt == "tsv" else ""))

    def add(self, scored: Scored, records: list[OrfRecord]) -> None:
        if self.plain:
            self.plain.add((scored.transcript.transcript_id, scored.tokens, scored.probabilities), records)
            return
        line = {"tsv": lambda r: tsv_line(r) + "\n", "bed": lambda r: bed12_line(r) + "\n",
                "gtf": gtf_lines, "gff3": gff3_lines}[self.fmt]
        self.handle.write("".join(line(record) for record in records))

    def finish(self) -> None:
        if self.plain:
            self.plain.finish()


def check_targets(targets: list) -> list:
    """``(path, format)`` with each format decided and allowed in genome mode."""
    chosen = []
    for path, fmt in targets:
        if fmt is None and path is not None and Path(path).suffix.lower() == ".gtf":
            fmt = "gtf"
        fmt = fmt if fmt == "gtf" else format_from_path(path, fmt)
        if fmt not in GENOME_FORMATS:
            raise OutputError(f"{path}: genome mode writes {', '.join(GENOME_FORMATS)}, not {fmt}")
        chosen.append((path, fmt))
    return chosen


def write_genome_outputs(targets: list, results: Iterable[Scored], threshold: float | None,
                         top_k: int | None, header: dict | None = None) -> dict:
    """Write every output from one stream of scored transcripts; all of them or none.

    ``header``: comment lines at the top of each table, as in transcript mode. Returns the counts of
    transcripts, nucleotides, reported ORFs and transcripts with one.
    """
    tables = sorted({fmt for _, fmt in targets} & {"tsv", "positions"})  # BED and GTF lines start with the chrom
    if tables:
        results = saying_hashed_ids(results, tables, lambda scored: scored.transcript.transcript_id)
    return write_streams(targets, lambda handle, path, fmt: _GenomeSink(handle, fmt, threshold, top_k, header or {}),
                         results, lambda scored: orf_records(scored, threshold, top_k),
                         lambda scored: len(scored.tokens))

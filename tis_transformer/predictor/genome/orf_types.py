"""Type each predicted ORF against the annotated CDS of its transcript.

The classes are those of ribosome-profiling ORF callers (RiboCode, ORFquant,
ribotricer); README.md defines each. A non-coding isoform of a coding gene
is typed against a CDS of its gene whose start and stop codons both lie on
the isoform's exons, in frame; failing that its ORFs are
``noncoding_isoform_ORF``.
"""

from __future__ import annotations

from collections import defaultdict

from tis_transformer.predictor.genome.annotation import Transcript
from tis_transformer.predictor.genome.sequences import genome_to_transcript

__all__ = ["ORF_TYPES", "GeneCds", "classify", "reference_cds"]

ORF_TYPES = ("annotated_CDS", "N_extension", "N_truncation", "uORF", "uoORF", "dORF", "doORF", "intORF",
             "lncRNA_ORF", "noncoding_isoform_ORF")


class GeneCds:
    """The annotated CDSs of every gene, as (first, last) genome coordinates in transcript direction."""

    def __init__(self, transcripts: list[Transcript]):
        self.by_gene: dict[str, set] = defaultdict(set)
        for t in transcripts:
            if t.cds is not None:
                low, high = t.cds
                self.by_gene[t.gene_id].add((low, high) if t.strand == "+" else (high, low))

    def coding(self, gene_id: str) -> bool:
        """Whether the gene has any CDS."""
        return gene_id in self.by_gene


def reference_cds(transcript: Transcript, genes: GeneCds) -> tuple[int, int] | None:
    """The CDS to type a transcript's ORFs against, as 0-based inclusive transcript positions.

    Its own CDS; for a non-coding transcript, the longest CDS of its gene
    that fits on its exons in frame; None when there is none.
    """
    if transcript.cds is not None:
        low, high = transcript.cds
        candidates = [(low, high) if transcript.strand == "+" else (high, low)]
    else:
        candidates = sorted(genes.by_gene.get(transcript.gene_id, ()))
    best = None
    for first, last in candidates:
        start = genome_to_transcript(transcript.exons, transcript.strand, first)
        end = genome_to_transcript(transcript.exons, transcript.strand, last)
        if start is None or end is None or end <= start:
            continue
        if transcript.cds is None and (end - start + 1) % 3:
            continue  # the gene's CDS does not keep its frame on this isoform
        if best is None or end - start > best[1] - best[0]:
            best = (start, end)
    return best


def classify(start: int, end: int, cds: tuple[int, int] | None, gene_coding: bool) -> str:
    """The type of the ORF from ``start`` to ``end`` (0-based, inclusive, stop codon included).

    Parameters
    ----------
    start, end : int
        The ORF on the transcript.
    cds : tuple of (int, int) or None
        :func:`reference_cds` of the transcript.
    gene_coding : bool
        Whether the transcript's gene has a CDS anywhere.

    Returns
    -------
    str
        One of :data:`ORF_TYPES`.
    """
    if cds is None:
        return "noncoding_isoform_ORF" if gene_coding else "lncRNA_ORF"
    cds_start, cds_end = cds
    if start == cds_start:
        return "annotated_CDS"
    in_frame = (start - cds_start) % 3 == 0
    if start < cds_start:
        if end < cds_start:
            return "uORF"
        return "N_extension" if in_frame and end == cds_end else "uoORF"
    if start > cds_end:
        return "dORF"
    if in_frame:
        return "N_truncation"
    return "intORF" if end <= cds_end else "doORF"

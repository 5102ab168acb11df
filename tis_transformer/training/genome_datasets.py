"""Training data from a genome and its annotation: one dataset per chromosome.

Every transcript of the annotation, coding or not, is spliced from the
genome by the reader that ``impute --genome`` uses
(``tis_transformer.predictor.genome``), and the first nucleotide of its
annotated CDS is labelled as its TIS: the CDS's lowest coordinate on the plus
strand, its highest on the minus strand, placed on the transcript across the
exons (a start codon split by an intron is labelled at its first nucleotide,
as the genome reader types ORFs); a CDS the annotation marks as open at its
5' end (``Transcript.cds_start_complete``) gets no label. The datasets are those of
:mod:`tis_transformer.training.datasets`, one per genome sequence, named
after it, so that ``train`` can hold chromosomes out by file name.

No file appears until every chromosome is written and the annotation is
checked against the whole genome: the files are staged in a hidden folder on
the same file system and then moved into place, each at once.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tis_transformer.predictor.genome.annotation import Transcript, read_annotation
from tis_transformer.predictor.genome.pipeline import of_biotypes, spliced_transcripts
from tis_transformer.predictor.genome.sequences import genome_to_transcript
from tis_transformer.predictor.input_files import DATA_SUFFIXES
from tis_transformer.predictor.read import InputError
from tis_transformer.training.datasets import Dataset, from_arrays, save_dataset

__all__ = ["Written", "cds_start", "chromosome_datasets", "write_genome_datasets"]

log = logging.getLogger("tis_transformer")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass
class Written:
    """One dataset file written: its path and what it holds."""

    path: Path
    chromosome: str
    transcripts: int
    nucleotides: int
    tis: int


def cds_start(transcript: Transcript) -> int | None:
    """0-based position on the transcript of its CDS's first nucleotide.

    None for a non-coding transcript, and for a CDS that the annotation
    marks as open at its 5' end (``Transcript.cds_start_complete``): its
    first nucleotide is where the annotation stops knowing, not a TIS.
    """
    if transcript.cds is None or not transcript.cds_start_complete:
        return None
    low, high = transcript.cds
    # the reader checked that both ends of the coding features lie on exons
    return genome_to_transcript(transcript.exons, transcript.strand, low if transcript.strand == "+" else high)


def chromosome_datasets(genome: str | Path, annotation: str | Path,
                        biotypes: set[str] | None = None) -> Iterator[tuple[str, Dataset]]:
    """Yield ``(genome sequence name, dataset)`` for each sequence that holds transcripts, in genome order.

    Parameters
    ----------
    genome : str or pathlib.Path
        Genome FASTA (plain, gzip or bgzip).
    annotation : str or pathlib.Path
        GTF or GFF3 whose ``exon`` features make the transcripts.
    biotypes : set of str, optional
        Keep only transcripts of these biotypes (default: all).

    Raises
    ------
    InputError
        A bad annotation or genome, no transcript (of those biotypes), or a
        sequence of the annotation that the genome lacks: training data with
        a chromosome silently left out would go unnoticed.
    """
    transcripts, _ = read_annotation(annotation)
    if biotypes:
        transcripts = of_biotypes(transcripts, set(biotypes), annotation)
    coding = sum(t.cds is not None for t in transcripts)
    open_start = sum(t.cds is not None and not t.cds_start_complete for t in transcripts)
    log.info("%d transcripts (%d coding) in %s", len(transcripts), coding, annotation)
    if open_start:
        # kept, as every transcript is, but without a label: their TIS lies upstream of what is annotated
        log.info("%d coding transcripts have a CDS open at its 5' end (no start_codon feature, or a GFF3 "
                 "start_range/end_range) and get no TIS label", open_start)
    current, ids, tokens, labels = None, [], [], []
    for name, transcript, spliced in spliced_transcripts(genome, annotation, transcripts, missing="error"):
        if name != current:
            if current is not None:
                yield current, from_arrays(ids, tokens, labels)
            current, ids, tokens, labels = name, [], [], []
        label = np.zeros(len(spliced), dtype=np.uint8)
        start = cds_start(transcript)
        if start is not None:
            label[start] = 1
        ids.append(transcript.transcript_id)
        tokens.append(spliced)
        labels.append(label)
    if current is not None:
        yield current, from_arrays(ids, tokens, labels)


def write_genome_datasets(genome: str | Path, annotation: str | Path, out_dir: str | Path,
                          biotypes: set[str] | None = None) -> list[Written]:
    """Write one ``CHROMOSOME.npz`` per genome sequence into ``out_dir``; nothing is left on failure.

    ``out_dir`` may exist if it holds no dataset file (``.npz``, ``.npy``,
    ``.npy.gz``): ``train`` reads every such file of a folder, so old files
    beside new ones would be trained on unseen.

    Returns
    -------
    list of Written
        The files, in genome order.
    """
    for path in (genome, annotation):
        if not Path(path).is_file():
            raise InputError(f"{path}: no such file")
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    # staged on the same file system, so that each file is moved into place at once
    staging = Path(tempfile.mkdtemp(prefix=".tis-transformer-partial-" if out_dir.exists() else
                                    f".{out_dir.name}.partial-", dir=out_dir if out_dir.exists() else
                                    out_dir.resolve().parent))
    try:
        written, names = [], {}
        for chromosome, dataset in chromosome_datasets(genome, annotation, biotypes):
            name = _UNSAFE.sub("_", chromosome) + ".npz"
            if name in names:
                raise InputError(f"{genome}: sequences {names[name]!r} and {chromosome!r} would both be "
                                 f"written to {name}")
            names[name] = chromosome
            save_dataset(dataset, staging / name)
            written.append(Written(out_dir / name, chromosome, len(dataset), int(dataset.tokens.size),
                                   int(dataset.tis.size)))
        _check_out_dir(out_dir)  # again: the run may have taken a while
        out_dir.mkdir(exist_ok=True)
        for item in written:
            os.replace(staging / item.path.name, item.path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder; prepare --genome writes a folder of "
                         "per-chromosome .npz files")
    if not out_dir.exists():
        parent = out_dir.resolve().parent
        if not parent.is_dir():
            raise InputError(f"{out_dir}: its parent folder {parent} does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise InputError(f"{out_dir}: cannot create it: {parent} is not writable")
        return
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise InputError(f"{out_dir}: not writable")
    present = sorted(p.name for p in out_dir.iterdir() if p.name.endswith(DATA_SUFFIXES))
    if present:
        raise InputError(f"{out_dir}: already holds dataset files ({', '.join(present[:3])}"
                         f"{', ...' if len(present) > 3 else ''}); train would read them beside the new ones: "
                         "give a new or empty folder")


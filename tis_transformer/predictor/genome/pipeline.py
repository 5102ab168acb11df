"""``impute --genome G.fa --annotation A.gtf``: predict on the annotation's
transcripts and write their ORFs in genome coordinates.

The genome is read once, in its own order; the transcripts of each sequence
are cut out as it passes and written, as one-byte tokens, to an anonymous
temporary file. The isoform comparison and the prediction then read that
file (it holds the transcriptome, about 0.4 GB for human) rather than the
genome again, so memory follows the largest chromosome plus the annotation.
Output comes in genome order, then by transcript start.
"""

from __future__ import annotations

import logging
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Iterator

import numpy as np

from tis_transformer.predictor.genome.annotation import Transcript
from tis_transformer.predictor.genome.sequences import genome_sequences, pair_names, splice
from tis_transformer.predictor.genome.write import check_targets
from tis_transformer.predictor.output_files import _FORMAT_PREFIX, STDOUT
from tis_transformer.predictor.read import InputError

__all__ = ["TranscriptCache", "build_transcripts", "spliced_transcripts", "of_biotypes"]

log = logging.getLogger("tis_transformer")

_ANNOTATION_SUFFIXES = (".gz", ".gtf", ".gff", ".gff3")


class TranscriptCache:
    """Spliced transcripts in a temporary file, read back in the order they were added."""

    def __init__(self):
        self.handle = tempfile.TemporaryFile(prefix="tis-transformer-transcripts-")
        self.entries: list[tuple[Transcript, str, int, int]] = []  # model, genome name, offset, length
        self.size = 0

    def add(self, transcript: Transcript, chrom: str, tokens: np.ndarray) -> None:
        self.handle.seek(self.size)
        self.handle.write(tokens.astype(np.uint8, copy=False).tobytes())
        self.entries.append((transcript, chrom, self.size, len(tokens)))
        self.size += len(tokens)

    def tokens(self, offset: int, length: int) -> np.ndarray:
        # a seek per read: the passes of the isoform index may interleave
        self.handle.seek(offset)
        return np.frombuffer(self.handle.read(length), dtype=np.uint8)

    def records(self) -> Iterator[tuple[str, np.ndarray]]:
        for transcript, _, offset, length in self.entries:
            yield transcript.transcript_id, self.tokens(offset, length)

    def close(self) -> None:
        self.handle.close()

    def __enter__(self) -> "TranscriptCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def build_transcripts(genome: str | Path, annotation: str | Path, transcripts: list[Transcript],
                      cache: TranscriptCache) -> None:
    """Cut every transcript out of the genome into ``cache``, in genome order then by start.

    Transcripts on sequences the genome lacks are skipped with one warning
    (see :func:`spliced_transcripts`).
    """
    for name, transcript, tokens in spliced_transcripts(genome, annotation, transcripts):
        cache.add(transcript, name, tokens)


def spliced_transcripts(genome: str | Path, annotation: str | Path, transcripts: list[Transcript],
                        missing: str = "warn") -> Iterator[tuple[str, Transcript, np.ndarray]]:
    """Yield ``(genome sequence name, transcript, tokens)`` for every transcript, in genome order then by start.

    The genome is read once; only the sequence being read is held.

    Parameters
    ----------
    genome, annotation : str or pathlib.Path
        The genome FASTA, and the annotation the transcripts were read from (named in messages).
    transcripts : list of Transcript
        From :func:`tis_transformer.predictor.genome.annotation.read_annotation`.
    missing : {"warn", "error"}
        What transcripts on sequences the genome lacks make, once the genome
        has been read: one warning (they are skipped), or an ``InputError``.

    Raises
    ------
    InputError
        When no transcript lies on a sequence of the genome, an exon runs
        past the end of its sequence, or (``missing="error"``) a sequence of
        the annotation is not in the genome.
    """
    by_chrom: dict[str, list[Transcript]] = defaultdict(list)
    for t in transcripts:
        by_chrom[t.chrom].append(t)
    names = set(by_chrom)
    found: set[str] = set()
    paired: list[str] = []
    genome_names: list[str] = []
    for name, letters in genome_sequences(genome):
        genome_names.append(name)
        key = pair_names(name, names)
        if key is None or key in found:
            continue
        found.add(key)
        if key != name:
            paired.append(f"{key}->{name}")
        length = len(letters)
        for t in sorted(by_chrom[key], key=lambda t: (int(t.exons[0, 0]), int(t.exons[-1, 1]), t.transcript_id)):
            if t.exons[-1, 1] > length:
                raise InputError(f"{annotation}: line {t.line}: transcript {t.transcript_id!r} ends at "
                                 f"{t.exons[-1, 1]}, past the end of {name} ({length} nt) in {genome}")
            yield name, t, splice(letters, t.exons, t.strand)
        del letters
    if paired:
        log.info("paired %d annotation sequence names with the genome's: %s", len(paired),
                 ", ".join(paired[:5]) + (", ..." if len(paired) > 5 else ""))
    absent = sorted(names - found)
    if not found:
        raise InputError(f"no annotated sequence is in the genome: {annotation} has "
                         f"{', '.join(sorted(names)[:4])}; {genome} has {', '.join(genome_names[:4])}")
    if absent:
        lost = sum(len(by_chrom[name]) for name in absent)
        shown = ", ".join(absent[:5]) + (", ..." if len(absent) > 5 else "")
        if missing == "error":
            raise InputError(f"{lost} transcripts of {annotation} lie on {len(absent)} sequences missing from "
                             f"{genome}: {shown}")
        log.warning("%d transcripts on %d sequences missing from the genome were skipped: %s", lost, len(absent),
                    shown)


def of_biotypes(transcripts: list[Transcript], wanted: set[str], annotation: str | Path) -> list[Transcript]:
    """The transcripts of the ``wanted`` biotypes.

    Raises
    ------
    InputError
        When none is of those biotypes; the message lists the biotypes the
        annotation has (RefSeq writes ``lnc_RNA`` where Ensembl writes
        ``lncRNA``), as does a warning for each wanted biotype not found.
    """
    counts: dict[str, int] = defaultdict(int)
    for transcript in transcripts:
        counts[transcript.biotype or "(none)"] += 1
    found = ", ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=lambda item: -item[1])[:12])
    kept = [t for t in transcripts if t.biotype in wanted]
    if not kept:
        raise InputError(f"{annotation}: no transcript of biotype {', '.join(sorted(wanted))} (it has: {found})")
    for name in sorted(wanted - set(counts)):
        log.warning("%s: no transcript of biotype %s (it has: %s)", annotation, name, found)
    return kept


def _default_output(annotation: str, fmt: str | None) -> str:
    name = Path(annotation).name
    while Path(name).suffix.lower() in _ANNOTATION_SUFFIXES and Path(name).stem:
        name = Path(name).stem
    return f"{name}.{ {'positions': 'positions.tsv', None: 'tsv'}.get(fmt, fmt)}"


def output_targets(outputs: list | None, fmt: str | None, annotation: str) -> list:
    """``(path, format)`` pairs from ``-o [FORMAT:]PATH``; default: the annotation's stem + .tsv."""
    if not outputs:
        return check_targets([(_default_output(annotation, fmt), fmt)])
    if fmt and len(outputs) > 1:
        raise InputError("--format applies to a single output; use -o FORMAT:PATH for several")
    targets = []
    for output in outputs:
        match = _FORMAT_PREFIX.match(output)
        path, chosen = (match.group(2), match.group(1).lower()) if match else (output, fmt)
        targets.append((None if path == STDOUT else path, chosen))
    return check_targets(targets)

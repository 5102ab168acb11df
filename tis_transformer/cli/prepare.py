"""The ``prepare`` command: training data as pickle-free ``.npz`` datasets.

``prepare INPUT OUTPUT.npz`` converts one file (original .npy, or FASTA with
CDS ranges); ``prepare --genome G.fa --annotation A.gtf OUT_DIR`` writes one
dataset per chromosome from a genome and its annotation.
"""

from __future__ import annotations

import logging

import numpy as np

from tis_transformer.predictor.codons import IS_START, codon_codes
from tis_transformer.predictor.output_files import check_outputs
from tis_transformer.predictor.read import InputError
from tis_transformer.training.datasets import read_fasta, read_original, save_dataset

log = logging.getLogger("tis_transformer")


def run(args) -> int:
    """The ``prepare`` command: convert one file into a ``.npz`` dataset, or a genome into a folder of them."""
    if args.genome or args.annotation:
        return run_genome(args)
    if args.input is None or args.output is None:
        raise InputError("prepare needs INPUT and OUTPUT.npz, or --genome, --annotation and OUT_DIR")
    if args.biotypes:
        raise InputError("--biotypes applies to --genome input only")
    source = str(args.input)
    output = str(args.output)
    if not output.endswith(".npz"):
        raise InputError(f"{output}: the output must end in .npz")
    if source.endswith(".npz"):
        raise InputError(f"{source}: already a prepared dataset; train and evaluate read it as it is")
    check_outputs([(output, "npz")], inputs=[source, args.tis_table] if args.tis_table else [source])
    if source.endswith((".npy", ".npy.gz")):
        if args.tis_table:
            raise InputError("--tis_table applies to FASTA input only")
        dataset = read_original(source)
    else:
        dataset = read_fasta(source, args.tis_table)
    if len(dataset) == 0:
        raise InputError(f"{source}: no transcripts")
    check_start_codons(dataset, source)
    if not dataset.tis.size:
        # training and evaluation need labels: a file without any is most often a missing --tis_table (a table
        # none of whose ids matches is refused by read_fasta)
        log.warning("%s: no annotated TIS (no CDS:START-END header field, no --tis_table); nothing to train or "
                    "evaluate on", source)
    save_dataset(dataset, output)
    print(f"{output}: {len(dataset)} transcripts, {dataset.tokens.size} nt, {dataset.tis.size} TISs")
    return 0


def run_genome(args) -> int:
    """``prepare --genome G.fa --annotation A.gtf OUT_DIR``: one ``CHROMOSOME.npz`` per genome sequence."""
    from tis_transformer.training.genome_datasets import write_genome_datasets

    if not (args.genome and args.annotation):
        raise InputError("--genome and --annotation go together (a genome FASTA and its GTF or GFF3)")
    if args.input is None or args.output is not None:
        raise InputError("prepare --genome G.fa --annotation A.gtf takes one OUT_DIR, the folder to write")
    if args.tis_table:
        raise InputError("--tis_table applies to FASTA input only; --genome labels each annotated CDS start")
    biotypes = {b.strip() for b in args.biotypes.split(",") if b.strip()} if args.biotypes else None
    written = write_genome_datasets(args.genome, args.annotation, args.input, biotypes)
    for item in written:
        log.info("%s: %s, %d transcripts, %d nt, %d TISs", item.path, item.chromosome, item.transcripts,
                 item.nucleotides, item.tis)
    print(f"{args.input}: {len(written)} files, {sum(w.transcripts for w in written)} transcripts, "
          f"{sum(w.nucleotides for w in written)} nt, {sum(w.tis for w in written)} TISs")
    return 0


def _start_like(dataset, shift: int) -> int:
    """How many TISs, moved by ``shift`` nt, lie at ATG or a near-cognate codon (the sites table's ``IS_START``)."""
    starts = dataset.tis + shift
    # the codon must lie within the transcript the TIS is in
    which = np.searchsorted(dataset.offsets, dataset.tis, side="right") - 1
    inside = (starts >= dataset.offsets[which]) & (starts + 3 <= dataset.offsets[which + 1])
    codons = dataset.tokens[starts[inside, None] + np.arange(3)]
    return int(IS_START[codon_codes(codons.ravel())[::3]].sum())


def check_start_codons(dataset, source: str, least: int = 10) -> None:
    """Refuse labels that are mostly off start codons: a TIS table off by a few nucleotides (0-based, or the
    CDS's last nucleotide) would otherwise train a model on noise without a word."""
    n = dataset.tis.size
    at_starts = _start_like(dataset, 0) if n >= least else n
    if at_starts >= n / 2:
        return
    found = {shift: _start_like(dataset, shift) for shift in range(-3, 4) if shift}
    best = max(found, key=found.get)
    hint = (f"; moved by {best:+d} nt, {found[best]} would: are the positions 1-based, on the first nucleotide "
            "of the start codon?" if found[best] >= n / 2 else "")
    raise InputError(f"{source}: only {at_starts} of {n} TISs lie at ATG or a codon one letter from it{hint}")

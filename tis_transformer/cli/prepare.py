"""The ``prepare`` command: one data file (original .npy, or FASTA with CDS ranges) to a pickle-free ``.npz``."""

from __future__ import annotations

from tis_transformer.predictor.read import InputError
from tis_transformer.training.datasets import read_fasta, read_original, save_dataset


def run(args) -> int:
    """The ``prepare`` command: convert one file into a ``.npz`` dataset."""
    source = str(args.input)
    if source.endswith((".npy", ".npy.gz")):
        if args.tis_table:
            raise InputError("--tis_table applies to FASTA input only")
        dataset = read_original(source)
    else:
        dataset = read_fasta(source, args.tis_table)
    if len(dataset) == 0:
        raise InputError(f"{source}: no transcripts")
    output = str(args.output)
    if not output.endswith(".npz"):
        raise InputError(f"{output}: the output must end in .npz")
    save_dataset(dataset, output)
    print(f"{output}: {len(dataset)} transcripts, {dataset.tokens.size} nt, {dataset.tis.size} TISs")
    return 0

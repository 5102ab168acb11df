"""Genome mode of the ``impute`` command: a genome FASTA and its GTF/GFF3 in, typed ORFs in genome coordinates out."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from tis_transformer.cli.run_summary import closing_lines, run_header
from tis_transformer.predictor.genome.annotation import read_annotation
from tis_transformer.predictor.genome.orf_types import GeneCds, reference_cds
from tis_transformer.predictor.genome.pipeline import build_transcripts, of_biotypes, output_targets, TranscriptCache
from tis_transformer.predictor.genome.write import Scored, write_genome_outputs
from tis_transformer.predictor.read import InputError
from tis_transformer.predictor.report import open_report, run_description

log = logging.getLogger("tis_transformer")


def _looks_like_transcripts(argument: str) -> bool:
    """Whether a positional argument is a FASTA or .npy file (by name or first byte) rather than a model."""
    from tis_transformer.predictor.read import FASTA_SUFFIXES, NPY_SUFFIX, _inner_suffix

    path = Path(argument)
    if not path.is_file():
        return False
    if _inner_suffix(path) in (*FASTA_SUFFIXES, NPY_SUFFIX):
        return True
    with open(path, "rb") as handle:
        return handle.read(1) == b">"


def run(args) -> int:
    """Genome mode of ``impute``, from the parsed arguments."""
    from tis_transformer.predictor.ensemble import open_models
    from tis_transformer.predictor.progress import Progress
    from tis_transformer.predictor.output_files import (check_outputs, refuse_overwriting_inputs,
                                                        refuse_writing_model_files)

    if not args.annotation:
        raise InputError("--genome needs --annotation (a GTF or GFF3 of the transcripts)")
    if not args.genome:
        raise InputError("--annotation needs --genome (the FASTA of the sequences its transcripts lie on)")
    if args.input is not None and _looks_like_transcripts(args.input):
        # the first positional argument would be taken for a model and fail to load as one
        raise InputError(f"{args.input}: genome mode reads its transcripts from --genome and --annotation; "
                         f"give either an input file or those two, not both")
    # no transcript input in genome mode: the first positional argument is already a model
    models = ([args.input] if args.input is not None else []) + list(args.model or [])
    started = time.perf_counter()
    targets = output_targets(args.output, args.format, args.annotation)
    if not Path(args.genome).exists():
        raise InputError(f"{args.genome}: no such file")
    # the report is an output too: it must not replace an input, the model or another output
    written = targets + ([(args.report, "html")] if getattr(args, "report", None) else [])
    refuse_overwriting_inputs(written, [args.genome, args.annotation])
    check_outputs(targets)
    transcripts, _ = read_annotation(args.annotation)
    genes = GeneCds(transcripts)
    report = (open_report(args, None, targets, annotated_cds(transcripts, genes))
              if getattr(args, "report", None) else None)
    log.info("%d transcripts of %d genes in %s", len(transcripts), len({t.gene_id for t in transcripts}),
             args.annotation)
    if args.biotypes:
        wanted = {b.strip() for b in args.biotypes.split(",") if b.strip()}
        transcripts = of_biotypes(transcripts, wanted, args.annotation)
        log.info("%d transcripts of biotypes %s", len(transcripts), ", ".join(sorted(wanted)))
    predictor = open_models(models, device=args.device, threads=args.threads, max_tokens=args.max_tokens)
    refuse_writing_model_files(written, [file for m in predictor.members for file in m.files])
    log.info("model %s on %s", predictor.label, predictor.device.upper())
    with TranscriptCache() as cache:
        build_transcripts(args.genome, args.annotation, transcripts, cache)
        log.info("%d transcripts, %d nt spliced from %s", len(cache.entries), cache.size, args.genome)
        if not any(t.cds is not None for t in transcripts):  # said once the inputs are known good
            log.warning("%s has no CDS features (an assembly such as StringTie's): orf_type has no CDS to place "
                        "ORFs against and reads lncRNA_ORF for every one", args.annotation)
        isoforms = None
        compare = predictor.reads_isoforms and not args.alone
        if not compare:  # an unusable alone variant is refused before any work
            for member in predictor.members:
                member.scoring_alone()
        if compare:
            isoforms = predictor.isoform_index(lambda: (tokens for _, tokens in cache.records()))
            log.info("compared %d starts of %d distinct transcripts across the annotation (--alone skips this)",
                     len(isoforms), isoforms.transcripts)
        header = run_header(predictor.label, compare, "annotation",
                            {"genome": args.genome, "annotation": args.annotation}, args.threshold, args.top_k)
        total = {"transcripts": len(cache.entries), "nucleotides": cache.size}
        with Progress(enabled=not args.quiet, total=total) as progress:
            predicted = progress.track(predictor.predict_records(cache.records(), isoforms))
            if report is not None:
                predicted = report.watch(predicted)
            results = (Scored(t, chrom, tokens, probabilities, reference_cds(t, genes), genes.coding(t.gene_id))
                       for (t, chrom, _, _), (_, tokens, probabilities) in zip(cache.entries, predicted))
            counts = write_genome_outputs(targets, results, threshold=args.threshold, top_k=args.top_k,
                                          header=header)
    if report is not None:
        report.write(args.report, run_description(header, predictor, isoforms, progress, targets))
    closing_lines(targets, counts, args, time.perf_counter() - started)
    return 0


def annotated_cds(transcripts: list, genes: GeneCds) -> dict[str, tuple[int, int]]:
    """Each coding transcript's own CDS, 1-based and inclusive on the transcript, as the report draws it."""
    annotated = {}
    for t in transcripts:
        if t.cds is not None:
            cds = reference_cds(t, genes)
            if cds is not None:
                annotated[t.transcript_id] = (cds[0] + 1, cds[1] + 1)
    return annotated

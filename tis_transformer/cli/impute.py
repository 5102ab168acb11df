"""The ``impute`` command: TIS probabilities for every nucleotide of the input transcripts."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from tis_transformer.cli.run_summary import closing_lines, run_header
from tis_transformer.predictor.output_files import (check_outputs, refuse_overwriting_inputs,
                                                    refuse_writing_model_files)
from tis_transformer.predictor.progress import Progress
from tis_transformer.predictor.read import InputError, is_file_argument, read_records
from tis_transformer.predictor.report import open_report, run_description
from tis_transformer.predictor.ensemble import open_models
from tis_transformer.predictor.write import STDOUT, parse_output, write_outputs

log = logging.getLogger("tis_transformer")

_INPUT_SUFFIXES = (".gz", ".fa", ".fasta", ".fna", ".fas", ".npy")
DEFAULT_FORMAT = "tsv"


def default_output(source: str, fmt: str | None) -> str:
    """Output path for a file input without ``-o``: its stem in the current directory."""
    fmt = fmt or DEFAULT_FORMAT
    # MultiQC finds its custom content by the _mqc.tsv ending
    extension = {"positions": ".positions.tsv", "multiqc": "_mqc.tsv"}.get(fmt, f".{fmt}")
    name = Path(source).name
    while True:
        stem, suffix = os.path.splitext(name)
        if suffix.lower() not in _INPUT_SUFFIXES or not stem:
            break
        name = stem
    return f"{name}{extension}"


@contextlib.contextmanager
def _spooled_stdin() -> Iterator[str]:
    """Standard input copied to a private temporary file, which is read more than once."""
    with tempfile.TemporaryDirectory(prefix="tis-transformer-") as directory:
        path = os.path.join(directory, "stdin")
        with open(path, "wb") as handle:
            shutil.copyfileobj(sys.stdin.buffer, handle)
        yield path


def run(args) -> int:
    """Predict and write results as the parsed arguments ask."""
    if getattr(args, "plot", None) and not getattr(args, "report", None):
        raise InputError("--plot draws transcripts in the report: give --report HTML too")
    if args.genome or args.annotation:
        from tis_transformer.cli.impute_genome import run as run_genome

        return run_genome(args)
    if args.input is None:
        raise InputError("give an input (FASTA, .npy, - or a sequence), or --genome and --annotation")
    if args.biotypes:
        raise InputError("--biotypes needs genome mode (--genome and --annotation): a FASTA names no biotypes")
    with contextlib.ExitStack() as stack:
        source = stack.enter_context(_spooled_stdin()) if args.input == STDOUT else args.input
        try:
            return _run(args, source, shown=args.input)
        except InputError as error:
            if args.input != STDOUT:
                raise
            # the spooled copy's path means nothing to the user
            raise InputError(str(error).replace(source, "standard input")) from None


def _run(args, source: str, shown: str) -> int:
    started = time.perf_counter()
    literal = not is_file_argument(source)
    targets = output_targets(args.output, args.format, source, literal or shown == STDOUT)
    # the report is an output too: it must not replace an input, the model or another output
    written = targets + ([(args.report, "html")] if getattr(args, "report", None) else [])
    refuse_overwriting_inputs(written, [source] if not literal else [])
    check_outputs(targets)
    report = open_report(args, source, targets) if getattr(args, "report", None) else None
    records: Iterable = read_records(source)
    if literal:
        # a literal sequence prints to stdout, which cannot be unwritten: check it first
        records = list(records)
    predictor = open_models(args.model, device=args.device, threads=args.threads, max_tokens=args.max_tokens)
    refuse_writing_model_files(written, [file for m in predictor.members for file in m.files])
    log.info("model %s on %s", predictor.label, predictor.device.upper())
    compare = predictor.reads_isoforms and not args.alone
    if not compare:  # an unusable alone variant is refused before any work
        for member in predictor.members:
            member.scoring_alone()
    total = None
    isoforms = None
    if compare:
        # a pass over the input before predicting: each start is compared with the same start elsewhere
        seen = {"transcripts": 0, "nucleotides": 0}

        def transcripts():
            seen["transcripts"] = seen["nucleotides"] = 0
            for _, tokens in (records if literal else read_records(source)):
                seen["transcripts"] += 1
                seen["nucleotides"] += len(tokens)
                yield tokens

        isoforms = predictor.isoform_index(transcripts)
        total = dict(seen)
        log.info("compared %d starts of %d distinct transcripts across the input (--alone skips this)",
                 len(isoforms), isoforms.transcripts)
    shown_input = "standard input" if shown == STDOUT else "a sequence on the command line" if literal else shown
    header = run_header(predictor.label, compare, "input", {"input": shown_input}, args.threshold, args.top_k)
    progress = Progress(enabled=not args.quiet and not literal, total=total)
    results = progress.track(predictor.predict_records(records, isoforms))
    with progress:
        counts = write_outputs(targets, report.watch(results) if report else results,
                               threshold=args.threshold, top_k=args.top_k, header=header)
    if report is not None:
        report.write(args.report, run_description(header, predictor, isoforms, progress, targets))
    closing_lines(targets, counts, args, time.perf_counter() - started)
    return 0


def output_targets(outputs: list | None, fmt: str | None, source: str, to_stdout: bool) -> list:
    """``(path, format)`` pairs from the ``-o [FORMAT:]PATH`` options; path None is standard output.

    ``--format`` applies when exactly one output is given; without ``-o`` a
    file input writes its site table to ``INPUT_STEM.tsv`` (or the
    ``--format`` suffix) in the working directory, and a sequence or
    standard input prints it.
    """
    if not outputs:
        if to_stdout:
            return [parse_output(STDOUT, fmt)]
        return [parse_output(default_output(source, fmt), fmt)]
    if fmt and len(outputs) > 1:
        raise InputError("--format applies to a single output; use -o FORMAT:PATH for several")
    return [parse_output(output, fmt) for output in outputs]

"""The ``impute`` command: TIS probabilities for every nucleotide of the input transcripts."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from .predict import Predictor
from .read import InputError, read_records
from .write import FORMATS, format_from_path, write_outputs

log = logging.getLogger("tis_transformer")

_INPUT_SUFFIXES = (".gz", ".fa", ".fasta", ".fna", ".fas", ".npy")


def default_output(source: str, fmt: str | None) -> str:
    """Output path for a file input without ``-o``: its stem in the current directory."""
    extension = {"positions": "positions.tsv"}.get(fmt or "npy", fmt or "npy")
    name = Path(source).name
    while True:
        stem, suffix = os.path.splitext(name)
        if suffix.lower() not in _INPUT_SUFFIXES or not stem:
            break
        name = stem
    return f"{name}.{extension}"


class Progress:
    """Transcripts and nucleotides done, on stderr, at most once a second."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.records = 0
        self.nucleotides = 0
        self.started = time.perf_counter()
        self.shown = 0.0

    def track(self, results: Iterable[tuple[str, np.ndarray, np.ndarray]]) -> Iterator:
        for item in results:
            self.records += 1
            self.nucleotides += len(item[1])
            now = time.perf_counter()
            if self.enabled and now - self.shown >= 1.0:
                self.shown = now
                self._show(now, end="\r")
            yield item
        if self.enabled and self.records > 1:
            self._show(time.perf_counter(), end="\n")

    def _show(self, now: float, end: str) -> None:
        rate = self.nucleotides / max(now - self.started, 1e-9)
        print(f"{self.records} transcripts, {self.nucleotides:,} nt, {rate:,.0f} nt/s",
              end=end, file=sys.stderr, flush=True)


def run(args) -> int:
    """Predict and write results as the parsed arguments ask."""
    if args.top_k is not None and args.top_k < 1:
        raise InputError("--top_k must be at least 1")
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise InputError("--threshold must lie between 0 and 1")
    if args.genome or args.annotation:
        from .genome_mode import run as run_genome
        return run_genome(args)
    if args.input is None:
        raise InputError("give an input (sequence, FASTA or .npy), or --genome and --annotation")
    literal = not os.path.exists(args.input)
    targets = output_targets(args.output, args.format, args.input, literal)
    for path, fmt in targets:
        if path is None and fmt == "npy":
            raise InputError("npy output needs a file: give -o OUT.npy")
    records: Iterable = read_records(args.input)
    if literal:
        # a literal sequence prints to stdout, which cannot be unwritten: check it first
        records = list(records)
    predictor = Predictor(args.model, device=args.device, threads=args.threads,
                          max_tokens=args.max_tokens)
    log.info("model %s on %s", predictor.path.name, predictor.device.upper())
    isoforms = None
    if predictor.reads_isoforms and not args.alone:
        # passes over the input before predicting: each start is compared with the same start elsewhere
        isoforms = predictor.isoform_index(lambda: (tokens for _, tokens in (records if literal
                                                                             else read_records(args.input))))
        log.info("compared %d starts of %d distinct transcripts across the input (--alone skips this)", len(isoforms),
                 isoforms.transcripts)
    progress = Progress(enabled=not args.quiet and not literal)
    results = progress.track(predictor.predict_records(records, isoforms))
    write_outputs(targets, results, threshold=args.threshold, top_k=args.top_k)
    for path, fmt in targets:
        if path is not None:
            log.info("%d transcripts, %d nt -> %s (%s)", progress.records, progress.nucleotides, path, fmt)
    return 0


def output_targets(outputs: list | None, fmt: str | None, source: str, literal: bool) -> list:
    """``(path, format)`` pairs from the ``-o [FORMAT:]PATH`` options.

    ``--format`` applies when exactly one output is given; without ``-o`` a
    file input writes ``INPUT_STEM.npy`` (or the ``--format`` suffix) in the
    working directory and a literal sequence prints its table.
    """
    if not outputs:
        if literal:
            return [(None, format_from_path(None, fmt))]
        path = default_output(source, fmt)
        return [(path, format_from_path(path, fmt))]
    if fmt and len(outputs) > 1:
        raise InputError("--format applies to a single output; use -o FORMAT:PATH for several")
    targets = []
    for output in outputs:
        prefix, _, rest = output.partition(":")
        if rest and prefix in FORMATS:
            targets.append((rest, prefix))
        else:
            targets.append((output, format_from_path(output, fmt)))
    return targets

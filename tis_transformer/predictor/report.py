"""A self-contained HTML report of a prediction run, and a MultiQC summary.

Predictions stream through :meth:`Report.watch` on their way to the outputs.
The report keeps a few numbers per transcript and the arrays of only the
transcripts it will draw: the ``top`` with the best scores (a bounded heap)
and those named with ``--plot``, so its memory does not grow with the input.
:meth:`Report.write` then writes one HTML file, atomically: figures are inline
SVG, the only script is a small inline table sorter, and nothing is loaded


Annotations plug in through two optional hooks, so that other inputs (such as
a genome annotation) can supply them later:

- ``annotated``: a mapping from transcript id to its annotated CDS as
  ``(start, end)``, 1-based and inclusive; :func:`npy_annotations` makes one
  from the TIS labels of an original-format ``.npy`` data file;
- ``classify``: a callable ``(Site, (start, end) or None) -> str`` that names
  the class of each reported ORF; :func:`orf_class` is the default.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import heapq
import numpy as np
from html import escape

from tis_transformer import __version__
from tis_transformer.predictor.orfs import (DEFAULT_THRESHOLD, find_orf, select_sites, Site, site_table,
    start_codon_positions)
from tis_transformer.predictor.report_svg import LEGEND, PAGE_HEAD, SORTER, bar_chart, Box, track

__all__ = ["Report", "Summary", "npy_annotations", "orf_class"]

log = logging.getLogger("tis_transformer")

# Sites per transcript that feed the codon and ORF-length distributions: with
# --threshold 0 every nucleotide is a site and their ORFs would cost more than
# the prediction; the count of reported sites stays exact.
SITES_PER_TRANSCRIPT = 100
# Rows per drawn transcript in the report's site table.
TABLE_ROWS = 20
CUTOFFS = (0.01, 0.1, 0.5, 0.9)
_SCORE_BINS = np.linspace(0.0, 1.0, 11)
_LENGTH_BINS = (0, 10, 30, 100, 300, 1000, 3000)
Annotation = tuple[int, int]
_CODON_ORDER = ("ATG", "CTG", "GTG", "TTG", "ACG", "AGG", "AAG", "ATC", "ATT", "ATA")
# How the report names the counts; the MultiQC file keeps the keys.
_LABELS = {"sites_reported": "sites reported", "transcripts_with_site": "transcripts with a reported site",
           "fraction_with_site": "fraction with a reported site",
           "transcripts_best_ge_half": "transcripts with best score ≥ 0.5",
           "annotated_cds": "transcripts with an annotated CDS"}


def orf_class(site: Site, cds: Annotation | None) -> str:
    """Name the reported ORF of ``site`` relative to the annotated CDS.

    Parameters
    ----------
    site : Site
        A reported site and its ORF.
    cds : (int, int) or None
        The transcript's annotated CDS, 1-based and inclusive, or None when
        it has none.

    Returns
    -------
    str
        ``annotated``, ``N-terminal extension``, ``N-terminal truncation``,
        ``uORF``, ``overlapping uORF``, ``dORF``, ``internal out-of-frame``,
        or ``no annotated CDS``.
    """
    if cds is None:
        return "no annotated CDS"
    start, end = cds
    if site.position == start:
        return "annotated"
    if (site.position - start) % 3 == 0 and start < site.position <= end:
        return "N-terminal truncation"
    if (site.position - start) % 3 == 0 and site.position < start and site.orf_end >= end:
        return "N-terminal extension"
    if site.position < start:
        return "uORF" if site.orf_end < start else "overlapping uORF"
    if site.position > end:
        return "dORF"
    return "internal out-of-frame"


def npy_annotations(source: str) -> dict[str, Annotation]:
    """Annotated CDS of each transcript of an original-format ``.npy`` data file.

    The data files hold per-nucleotide labels beside the tokens, 1 at the
    annotated TIS; the CDS runs from there to its in-frame stop. Transcripts
    without a label (non-coding) are left out, as are inputs that are not such
    files: the result is then empty.
    """
    from tis_transformer.predictor.read import InputError, load_npy

    try:
        array = load_npy(source)
    except InputError:
        return {}
    annotated = {}
    if array.dtype != object or array.ndim != 2:
        return annotated
    for row in array:
        tokens, name = row[0], row[1]
        if not (isinstance(tokens, np.ndarray) and tokens.ndim == 2 and tokens.shape[1] == 2):
            continue
        starts = np.flatnonzero(tokens[:, 1] == 1)
        if starts.size:
            orf = find_orf(tokens[:, 0].astype(np.uint8), int(starts[0]))
            annotated[str(name).lstrip(">")] = (int(starts[0]) + 1, max(orf.orf_end, int(starts[0]) + 3))
    return annotated


class Summary:
    """Counts and distributions over every transcript of a run.

    Parameters
    ----------
    threshold, top_k : float or int, optional
        The sites reported, as in :func:`tis_transformer.predictor.orfs.site_table`.
    annotated : mapping, optional
        Annotated CDS per transcript id; see the module docstring.
    classify : callable, optional
        ORF class of a reported site; :func:`orf_class` by default.
    """

    def __init__(self, threshold: float | None = None, top_k: int | None = None,
                 annotated: Mapping[str, Annotation] | None = None,
                 classify: Callable[[Site, Annotation | None], str] | None = None):
        self.threshold, self.top_k = threshold, top_k
        self.annotated = annotated or {}
        self.classify = classify or orf_class
        self.transcripts = self.nucleotides = self.sites = self.with_site = self.capped = 0
        self.best_scores = np.zeros(len(_SCORE_BINS) - 1, dtype=np.int64)
        self.above = Counter()
        self.codons: Counter = Counter()
        self.orf_lengths = np.zeros(len(_LENGTH_BINS), dtype=np.int64)
        self.classes: Counter = Counter()

    def add(self, transcript_id: str, tokens: np.ndarray, probabilities: np.ndarray) -> tuple[float, list[Site]]:
        """Count one transcript; returns its best score and its first reported sites."""
        probabilities = np.asarray(probabilities).reshape(-1)
        # only start codons can be reported (orfs.site_table): the best score is theirs
        starts = start_codon_positions(tokens)
        best = float(np.nanmax(probabilities[starts], initial=0.0)) if starts.any() else 0.0
        best = 0.0 if np.isnan(best) else best
        self.transcripts += 1
        self.nucleotides += probabilities.size
        self.best_scores[min(np.searchsorted(_SCORE_BINS, best, side="right") - 1, len(self.best_scores) - 1)] += 1
        for cutoff in CUTOFFS:
            self.above[cutoff] += best >= cutoff
        threshold = self.threshold
        if threshold is None and self.top_k is None:
            threshold = DEFAULT_THRESHOLD
        count = select_sites(probabilities, threshold, self.top_k, candidates=starts).size
        self.sites += count
        self.with_site += count > 0
        limit = min(self.top_k or SITES_PER_TRANSCRIPT, SITES_PER_TRANSCRIPT)
        sites = site_table(transcript_id, tokens, probabilities, threshold=threshold, top_k=limit)
        self.capped += count > len(sites)
        cds = self.annotated.get(transcript_id)
        for site in sites:
            self.codons[site.start_codon if site.start_codon in _CODON_ORDER else "other"] += 1
            self.orf_lengths[np.searchsorted(_LENGTH_BINS, site.orf_length_aa, side="right") - 1] += 1
            self.classes[self.classify(site, cds)] += 1
        return best, sites

    def counts(self) -> dict[str, float]:
        """The headline numbers, in the order of the report and MultiQC file."""
        counts = {"transcripts": self.transcripts, "nucleotides": self.nucleotides,
                  "sites_reported": self.sites, "transcripts_with_site": self.with_site,
                  "fraction_with_site": round(self.with_site / self.transcripts, 4) if self.transcripts else 0.0,
                  "transcripts_best_ge_half": int(self.above[0.5])}
        if self.annotated:
            counts["annotated_cds"] = len(self.annotated)
        return counts

    def figures(self) -> list[str]:
        """The distribution charts, as SVG."""
        scores = [f"{edge:.1f}" for edge in _SCORE_BINS[:-1]]
        lengths = [f"≥{edge:,}" if i == len(_LENGTH_BINS) - 1 else f"{edge:,}" for i, edge in enumerate(_LENGTH_BINS)]
        codons = [c for c in _CODON_ORDER + ("other",) if self.codons.get(c)]
        figures = [
            bar_chart(scores, self.best_scores.tolist(), "Best score per transcript", "probability (bin start)"),
            bar_chart([f"≥{c:g}" for c in CUTOFFS], [self.above[c] for c in CUTOFFS],
                      "Transcripts with a site above", "best probability"),
            bar_chart(codons, [self.codons[c] for c in codons], "Start codons of reported sites", "codon"),
            bar_chart(lengths, self.orf_lengths.tolist(), "ORF lengths of reported sites", "amino acids (bin start)"),
        ]
        if self.annotated or self.classify is not orf_class:
            names = sorted(self.classes, key=lambda c: -self.classes[c])
            figures.append(bar_chart([n.replace("N-terminal ", "N-") for n in names],
                                     [self.classes[n] for n in names], "ORF classes of reported sites",
                                     width=480))
        return figures


class Report:
    """Watches the prediction stream and writes the HTML report at the end.

    Parameters
    ----------
    top : int
        Draw the transcripts with the ``top`` best scores.
    plot : sequence of str
        Also draw these transcripts, whatever their scores.
    threshold, top_k, annotated, classify
        See :class:`Summary`.
    """

    def __init__(self, top: int = 20, plot: Sequence[str] = (), threshold: float | None = None,
                 top_k: int | None = None, annotated: Mapping[str, Annotation] | None = None,
                 classify: Callable[[Site, Annotation | None], str] | None = None):
        self.top, self.wanted = max(int(top), 0), list(dict.fromkeys(plot))
        self._wanted = set(self.wanted)
        self.summary = Summary(threshold, top_k, annotated, classify)
        self._heap: list = []  # (best, -order, item): the lowest score, then the latest, leaves first
        self._named: dict[str, tuple] = {}
        self._order = itertools.count()
        self.started = time.time()

    def watch(self, results: Iterable[tuple[str, np.ndarray, np.ndarray]]) -> Iterator:
        """Pass ``results`` through unchanged, taking note of each transcript."""
        for item in results:
            self.add(*item)
            yield item

    def add(self, transcript_id: str, tokens: np.ndarray, probabilities: np.ndarray) -> None:
        """Take note of one transcript's predictions."""
        best, sites = self.summary.add(transcript_id, tokens, probabilities)
        key = (best, -next(self._order))
        top = bool(self.top) and (len(self._heap) < self.top or key > self._heap[0][:2])
        if not top and transcript_id not in self._wanted:
            return
        # copies: the predictor's arrays may be views into a whole batch
        entry = (*key, (transcript_id, np.array(tokens), np.array(probabilities), sites))
        if transcript_id in self._wanted:
            self._named[transcript_id] = entry
        if top and len(self._heap) < self.top:
            heapq.heappush(self._heap, entry)
        elif top:
            heapq.heapreplace(self._heap, entry)

    def missing(self) -> list[str]:
        """Ids named with ``plot`` that the input did not hold."""
        return [name for name in self.wanted if name not in self._named]

    def drawn(self) -> list[tuple]:
        """The transcripts to draw: the best first, then the named ones."""
        best = [entry[2] for entry in sorted(self._heap, reverse=True)]
        shown = {item[0] for item in best}
        return best + [self._named[n][2] for n in self.wanted if n in self._named and n not in shown]

    def write(self, path: str, run: Mapping[str, str]) -> None:
        """Write the report to ``path``, atomically.

        Parameters
        ----------
        path : str
            The HTML file.
        run : mapping of str to str
            Lines of the run description (model, mode, input, ...), shown in
            this order before the counts.
        """
        from tis_transformer.predictor.output_files import open_output

        for name in self.missing():
            log.warning("--plot %s: no such transcript in the input; not drawn", name)
        run = {"tis-transformer": __version__, **run,
               "wall time": f"{time.time() - self.started:.1f} s",
               "written": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        with open_output(Path(path), binary=False) as handle:
            handle.write(self.html(run))

    def html(self, run: Mapping[str, str]) -> str:
        """The whole report as one HTML document."""
        summary = self.summary
        drawn = self.drawn()
        rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in run.items())
        counts = "".join(f"<tr><th>{escape(_LABELS.get(k, k))}</th><td>{v:,}</td></tr>" if isinstance(v, int)
                         else f"<tr><th>{escape(_LABELS.get(k, k))}</th><td>{v:g}</td></tr>"
                         for k, v in summary.counts().items())
        capped = (f"<p>Codons, ORF lengths and classes count the {SITES_PER_TRANSCRIPT} best sites of each "
                  f"transcript; {summary.capped:,} transcripts had more.</p>" if summary.capped else "")
        links = " ".join(f'<a href="#t{i}">{escape(item[0])}</a>' for i, item in enumerate(drawn))
        parts = [PAGE_HEAD, "<h1>TIS Transformer report</h1>",
                 f'<section id="run"><h2>Run</h2><table class="kv">{rows}</table>'
                 f'<h3>Counts</h3><table class="kv">{counts}</table></section>',
                 '<section id="distributions"><h2>Distributions</h2><div class="figs">',
                 *(f"<figure>{svg}</figure>" for svg in summary.figures()),
                 f"</div>{capped}</section>",
                 f'<section id="transcripts"><h2>Transcripts ({len(drawn)})</h2>',
                 f"<p>The {min(self.top, summary.transcripts)} best-scoring transcripts"
                 f"{' and those named with --plot' if self.wanted else ''}: {links}</p>",
                 LEGEND]
        for index, (name, tokens, probabilities, sites) in enumerate(drawn):
            parts.append(self._transcript(index, name, tokens, probabilities, sites))
        parts.append("</section>")
        parts.append(self._table(drawn))
        parts.append(SORTER + "</body></html>\n")
        return "\n".join(parts)

    def _transcript(self, index: int, name: str, tokens, probabilities, sites: list[Site]) -> str:
        cds = self.summary.annotated.get(name)
        boxes = [Box(s.position, max(s.orf_end, s.position), f"{s.position}-{s.orf_end} "
                     f"{s.start_codon} p={s.probability:.3g} {s.orf_length_aa} aa") for s in sites[:TABLE_ROWS]]
        if cds:
            boxes.append(Box(cds[0], cds[1], f"annotated CDS {cds[0]}-{cds[1]}", annotated=True))
        clean = np.nan_to_num(probabilities, nan=0.0)
        best = int(np.argmax(clean)) + 1 if clean.size else 0
        facts = [f"{len(tokens):,} nt", f"best {float(clean.max(initial=0.0)):.4g} at {best}",
                 f"{len(sites)} site{'s' if len(sites) != 1 else ''} reported"
                 + (f" (first {len(sites)})" if len(sites) >= SITES_PER_TRANSCRIPT else "")]
        if cds:
            facts.append(f"annotated CDS {cds[0]}-{cds[1]}")
        svg = track(tokens, probabilities, boxes, [(s.position, s.probability) for s in sites[:TABLE_ROWS]],
                    threshold=self.summary.threshold if self.summary.top_k is None else None, title=name)
        return (f'<div class="tx" id="t{index}"><h3>{escape(name)}</h3>'
                f'<p class="facts">{escape(" · ".join(facts))}</p>{svg}</div>')

    def _table(self, drawn: list[tuple]) -> str:
        head = ["transcript", "position", "probability", "codon", "ORF end", "aa", "stop", "class", "protein"]
        body = []
        for name, _, _, sites in drawn:
            cds = self.summary.annotated.get(name)
            for s in sites[:TABLE_ROWS]:
                protein = s.protein if len(s.protein) <= 40 else s.protein[:40] + "…"
                cells = [escape(name), str(s.position), f"{s.probability:.4g}", s.start_codon, str(s.orf_end),
                         str(s.orf_length_aa), "yes" if s.stop_found else "no",
                         escape(self.summary.classify(s, cds)),
                         f'<span title="{escape(s.protein)}">{escape(protein)}</span>']
                body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        header = "".join(f"<th>{h}</th>" for h in head)
        return (f'<section id="sites"><h2>Sites of the drawn transcripts</h2><p>At most {TABLE_ROWS} per '
                f'transcript, best first; click a column title to sort.</p><table class="sites sortable">'
                f"<thead><tr>{header}</tr></thead><tbody>{''.join(body)}</tbody></table></section>")


def open_report(args, source: str | None, targets: list,
                annotated: Mapping[str, Annotation] | None = None) -> Report:
    """A :class:`Report` for the ``impute`` options, checked before predicting.

    ``source`` is the file read (standard input is spooled to one); an
    original-format ``.npy`` input supplies the annotated CDS from its labels,
    unless ``annotated`` gives them (genome mode: from the annotation).
    ``targets``: the run's ``(path, format)`` outputs, which the report must not be.
    """
    from tis_transformer.predictor.read import InputError
    from tis_transformer.predictor.output_files import check_writable

    if args.report_top < 0:
        raise InputError("--report_top must be 0 or more")
    check_writable(args.report)
    _refuse_replacing_other_files(Path(args.report))
    for path, _ in targets:  # the outputs as resolved, the default one included
        if path is not None and Path(path).resolve() == Path(args.report).resolve():
            raise InputError(f"{args.report}: named both as an output and as the report")
    if annotated is None and source is not None and Path(source).is_file():
        annotated = npy_annotations(source)
    return Report(args.report_top, args.plot, args.threshold, args.top_k, annotated)


def _refuse_replacing_other_files(path: Path) -> None:
    """The report may replace an earlier report or an empty file, never other data (``--report README.md``)."""
    from tis_transformer.predictor.read import InputError

    path = Path(os.path.realpath(path))  # a link is written through: its target is what would be replaced
    if path.suffix.lower() in (".html", ".htm") or not path.is_file():
        return
    with open(path, "rb") as handle:
        start = handle.read(512).lstrip().lower()
    if start and not start.startswith((b"<!doctype html", b"<html")):
        raise InputError(f"{path}: --report would replace a file that is not an HTML report; give a .html name")


def run_description(header: Mapping[str, str], predictor, isoforms, progress, targets) -> dict[str, str]:
    """The run section of the report: the tables' header lines, then the device, the
    isoform comparison, the outputs and the size of the input."""
    run = dict(header)
    if isoforms is not None:
        run["mode"] = f"{run.get('mode', 'isoform comparison')} ({len(isoforms):,} starts of " \
                      f"{isoforms.transcripts:,} transcripts)"
    from tis_transformer.predictor.runner import card_name

    described = [f"{m.path.name} ({card_name(m) or m.path.stem})" for m in predictor.members]
    run["model"] = described[0] if len(described) == 1 else \
        f"mean of {len(described)} models: " + ", ".join(described)
    run["device"] = predictor.device.upper()
    run["outputs"] = ", ".join(f"{path or 'standard output'} ({fmt})" for path, fmt in targets)
    run["input size"] = f"{progress.records:,} transcripts, {progress.nucleotides:,} nt"
    return run

"""SVG drawing for the HTML report: bar charts and per-transcript tracks.

The SVG is written as text, without a plotting library, so that the lean
predictor install (numpy, onnxruntime, biopython) gains no dependency and the
report needs nothing from the network to display. Every function returns an
``<svg>`` element as a string, ready to be placed inline in HTML; the figures
scale with the page through their ``viewBox``.
"""

from __future__ import annotations

from html import escape
from typing import Iterable, NamedTuple, Sequence

import numpy as np

__all__ = ["LEGEND", "PAGE_HEAD", "SORTER", "Box", "bar_chart", "track"]

# Probabilities below this are drawn at the bottom of the log axis: the model
# gives most nucleotides values far smaller, which would only stretch the axis.
LOG_FLOOR = 1e-6
TRACK_WIDTH = 1000
_LEFT = 70  # room for the axis labels and lane names
_PLOT = TRACK_WIDTH - _LEFT - 10
ATG = (0, 1, 3)  # tokens: A=0, T=1, C=2, G=3
# Codons one letter away from ATG (none is a stop codon): the usual near-cognate starts.
NEAR_COGNATE = ("CTG", "GTG", "TTG", "ACG", "AGG", "AAG", "ATC", "ATT", "ATA")
COLORS = {"curve": "#1f5fa8", "site": "#d2551e", "atg": "#222", "near": "#999",
          "orf": "#4a86c5", "annotated": "#2a9d3a", "threshold": "#d2551e"}


class Box(NamedTuple):
    """A stretch of a transcript drawn in a frame lane (1-based, inclusive)."""

    start: int
    end: int
    label: str
    annotated: bool = False


def _f(value: float) -> str:
    """A coordinate with one decimal, without a trailing ``.0``: smaller files."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def bar_chart(labels: Sequence[str], values: Sequence[float], title: str, xlabel: str = "",
              width: int = 320, height: int = 200) -> str:
    """A vertical bar chart with the value written above each bar.

    Parameters
    ----------
    labels : sequence of str
        One label per bar, written below it (every other one when crowded).
    values : sequence of float
        Bar heights, non-negative.
    title, xlabel : str
        Written above the chart and below the labels.
    width, height : int
        Size of the SVG in its own units.

    Returns
    -------
    str
        An ``<svg>`` element.
    """
    left, right, top, bottom = 10, 10, 28, 44
    n = max(len(values), 1)
    peak = max([float(v) for v in values] + [1.0])
    slot = (width - left - right) / n
    parts = [_svg_open(width, height, title),
             f'<text x="{width / 2}" y="16" text-anchor="middle" class="t">{escape(title)}</text>',
             f'<line x1="{left}" x2="{width - right}" y1="{height - bottom}" y2="{height - bottom}" '
             f'stroke="#888"/>']
    every = 1 if n <= 12 else int(np.ceil(n / 10))
    for index, (label, value) in enumerate(zip(labels, values)):
        bar = (height - top - bottom) * float(value) / peak
        x = left + index * slot
        parts.append(f'<rect x="{_f(x + slot * 0.1)}" y="{_f(height - bottom - bar)}" '
                     f'width="{_f(slot * 0.8)}" height="{_f(bar)}" fill="{COLORS["orf"]}">'
                     f'<title>{escape(str(label))}: {value:g}</title></rect>')
        if value and n <= 24:
            parts.append(f'<text x="{_f(x + slot / 2)}" y="{_f(height - bottom - bar - 3)}" '
                         f'text-anchor="middle" class="s">{value:g}</text>')
        if index % every == 0:
            parts.append(f'<text x="{_f(x + slot / 2)}" y="{height - bottom + 13}" text-anchor="middle" '
                         f'class="s">{escape(str(label))}</text>')
    if xlabel:
        parts.append(f'<text x="{width / 2}" y="{height - 8}" text-anchor="middle" class="s">'
                     f'{escape(xlabel)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _svg_open(width: float, height: float, label: str) -> str:
    return (f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
            f'aria-label="{escape(label)}">')


def _columns(positions: np.ndarray, length: int) -> np.ndarray:
    """Distinct pixel columns of 0-based positions: a long transcript has
    more codons than pixels, and one tick per pixel looks the same."""
    return np.unique(np.round(_LEFT + (positions + 0.5) * _PLOT / max(length, 1), 1))


def _curve(probabilities: np.ndarray, y0: float, height: float) -> str:
    """Path of log10 probability; the maximum of each pixel's nucleotides
    when they outnumber the pixels, so that no peak is lost."""
    length = probabilities.size
    logs = np.log10(np.clip(np.nan_to_num(probabilities, nan=0.0), LOG_FLOOR, 1.0))
    if length > _PLOT:
        edges = np.linspace(0, length, _PLOT + 1).astype(np.int64)
        logs = np.maximum.reduceat(logs, edges[:-1])
        xs = _LEFT + np.arange(_PLOT) + 0.5
    else:
        xs = _LEFT + (np.arange(length) + 0.5) * _PLOT / length
    ys = y0 + height * (logs / np.log10(LOG_FLOOR))
    points = " ".join(f"{_f(x)},{_f(y)}" for x, y in zip(xs, ys))
    return (f'<polyline points="{points}" fill="none" stroke="{COLORS["curve"]}" '
            f'stroke-width="1" stroke-linejoin="round"/>')


def _codon_ticks(tokens: np.ndarray, y: float) -> list[str]:
    """Ticks under the curve at every ATG (tall, dark) and near-cognate codon (short, grey)."""
    from tis_transformer.predictor.tokens import NUCLEOTIDES

    tokens = np.asarray(tokens, dtype=np.int64)
    length = tokens.size
    if length < 3:
        return []
    codes = tokens[:-2] * 25 + tokens[1:-1] * 5 + tokens[2:]

    def code(codon):
        a, b, c = (NUCLEOTIDES.index(letter) for letter in codon)
        return a * 25 + b * 5 + c

    atg = np.flatnonzero(codes == code("ATG"))
    near = np.flatnonzero(np.isin(codes, [code(c) for c in NEAR_COGNATE]))
    parts = []
    for positions, size, color in ((near, 5, COLORS["near"]), (atg, 10, COLORS["atg"])):
        if positions.size:
            path = "".join(f"M{_f(x)} {y}v{size}" for x in _columns(positions, length))
            parts.append(f'<path d="{path}" stroke="{color}" stroke-width="1"/>')
    return parts


def track(tokens: np.ndarray, probabilities: np.ndarray, boxes: Iterable[Box],
          sites: Sequence[tuple[int, float]] = (), threshold: float | None = None,
          title: str = "") -> str:
    """The probability track of one transcript, with its codons and ORFs.

    Parameters
    ----------
    tokens : numpy.ndarray
        The transcript's tokens (A=0, T=1, C=2, G=3, N=4).
    probabilities : numpy.ndarray
        One TIS probability per nucleotide, drawn on a log axis from
        :data:`LOG_FLOOR` to 1.
    boxes : iterable of Box
        ORFs drawn in the lane of their frame (frame 1 holds position 1):
        reported ones filled, annotated ones outlined in green.
    sites : sequence of (int, float)
        Reported sites (1-based position, probability), marked with a dot.
    threshold : float, optional
        Drawn as a dashed line.
    title : str
        The accessible name of the figure.

    Returns
    -------
    str
        An ``<svg>`` element.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    length = max(probabilities.size, 1)
    top, curve_height, lane = 8, 110, 16
    ticks_y = top + curve_height + 6
    lanes_y = ticks_y + 16
    height = lanes_y + 3 * lane + 22
    scale = _PLOT / length

    def y_of(p):
        return top + curve_height * np.log10(min(max(p, LOG_FLOOR), 1.0)) / np.log10(LOG_FLOOR)

    parts = [_svg_open(TRACK_WIDTH, height, title)]
    for exponent in range(0, -7, -2):
        y = _f(y_of(10.0 ** exponent))
        parts.append(f'<line x1="{_LEFT}" x2="{_LEFT + _PLOT}" y1="{y}" y2="{y}" stroke="#e4e4e4"/>'
                     f'<text x="{_LEFT - 4}" y="{y}" dy="3" text-anchor="end" class="s">'
                     f'{"1" if exponent == 0 else f"1e{exponent}"}</text>')
    if threshold is not None and threshold > 0:
        y = _f(y_of(threshold))
        parts.append(f'<line x1="{_LEFT}" x2="{_LEFT + _PLOT}" y1="{y}" y2="{y}" '
                     f'stroke="{COLORS["threshold"]}" stroke-dasharray="4 3" stroke-width="0.8"/>')
    parts.append(_curve(probabilities, top, curve_height))
    for position, probability in sites:
        parts.append(f'<circle cx="{_f(_LEFT + (position - 0.5) * scale)}" cy="{_f(y_of(probability))}" '
                     f'r="3" fill="{COLORS["site"]}"><title>{position}: {probability:.4g}</title></circle>')
    parts.append(f'<text x="{_LEFT - 4}" y="{ticks_y + 8}" text-anchor="end" class="s">codons</text>')
    parts += _codon_ticks(tokens, ticks_y)
    for frame in range(3):
        y = lanes_y + frame * lane
        parts.append(f'<text x="{_LEFT - 4}" y="{y + 11}" text-anchor="end" class="s">frame {frame + 1}</text>'
                     f'<line x1="{_LEFT}" x2="{_LEFT + _PLOT}" y1="{y + lane / 2}" y2="{y + lane / 2}" '
                     f'stroke="#ddd"/>')
    # reported ORFs first, so that the outline of an annotated CDS stays on top
    for box in sorted(boxes, key=lambda b: b.annotated):
        y = lanes_y + ((box.start - 1) % 3) * lane + 2
        x = _LEFT + (box.start - 1) * scale
        w = max((box.end - box.start + 1) * scale, 1.5)
        style = (f'fill="none" stroke="{COLORS["annotated"]}" stroke-width="2"' if box.annotated
                 else f'fill="{COLORS["orf"]}" fill-opacity="0.75"')
        parts.append(f'<rect x="{_f(x)}" y="{y}" width="{_f(w)}" height="{lane - 4}" {style}>'
                     f'<title>{escape(box.label)}</title></rect>')
    axis_y = lanes_y + 3 * lane + 14
    for fraction in np.linspace(0, 1, 6):
        position = max(1, int(round(fraction * length)))
        anchor = "start" if fraction == 0 else "end" if fraction == 1 else "middle"
        parts.append(f'<text x="{_f(_LEFT + fraction * _PLOT)}" y="{axis_y}" text-anchor="{anchor}" '
                     f'class="s">{position:,}</text>')
    parts.append("</svg>")
    return "".join(parts)


PAGE_HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>TIS Transformer report</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:1.5em auto;
max-width:1100px;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
h3{margin:.6em 0 .1em;font-size:1.05em}
table.kv th{text-align:left;font-weight:600;padding:1px 1.2em 1px 0}table.kv td{font-variant-numeric:tabular-nums}
.figs{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0;border:1px solid #eee;padding:4px}
svg{max-width:100%;height:auto;font-size:11px}svg .t{font-size:13px;font-weight:600}svg .s{font-size:10px;fill:#444}
.tx{margin:1em 0 1.4em}.tx svg{width:100%}.facts{margin:0;color:#555;font-size:.9em}
.legend span{margin-right:1.2em;font-size:.9em}.sw{display:inline-block;width:14px;height:10px;margin-right:4px}
table.sites{border-collapse:collapse;font-size:.85em}table.sites td,table.sites th{border-bottom:1px solid #e4e4e4;
padding:2px 6px;text-align:left}table.sites th{background:#f3f3f3;cursor:pointer}
table.sites td:nth-child(n+2):nth-child(-n+6){text-align:right;font-variant-numeric:tabular-nums}
</style></head><body>"""

LEGEND = ('<p class="legend"><span><i class="sw" style="background:#1f5fa8;height:2px"></i>TIS probability '
           '(log scale, floor 1e-6)</span><span><i class="sw" style="background:#d2551e;border-radius:5px"></i>'
           'reported site</span><span><i class="sw" style="background:#222;width:2px"></i>ATG</span>'
           '<span><i class="sw" style="background:#999;width:2px"></i>near-cognate (CTG, GTG, TTG, ...)</span>'
           '<span><i class="sw" style="background:#4a86c5"></i>reported ORF, in its frame</span>'
           '<span><i class="sw" style="border:2px solid #2a9d3a"></i>annotated CDS</span></p>')

# The page around the figures: style, legend and the one inline script.
# Sorting is a convenience: the table reads the same without script.
SORTER = """<script>
document.querySelectorAll("table.sortable th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0], rows = Array.from(body.rows);
    var dir = th.dataset.dir === "asc" ? -1 : 1; th.dataset.dir = dir === 1 ? "asc" : "desc";
    rows.sort(function (a, b) {
      var x = a.cells[col].textContent, y = b.cells[col].textContent, p = parseFloat(x), q = parseFloat(y);
      return dir * (isNaN(p) || isNaN(q) ? x.localeCompare(y) : p - q);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
</script>"""

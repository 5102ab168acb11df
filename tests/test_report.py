"""The HTML report and the MultiQC summary of ``impute`` (issue #20)."""

import os
import shutil
import struct
import subprocess
import sys
import time
import zlib
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from tis_transformer.predictor.orfs import Site
from tis_transformer.predictor.read import read_records
from tis_transformer.predictor.tokens import encode
from tis_transformer.predictor.multiqc import multiqc_sample
from tis_transformer.predictor.report import Report, orf_class
from tis_transformer.predictor.write import format_from_path

ROOT = Path(__file__).resolve().parents[1]
FASTA = ROOT / "galaxy" / "test-data" / "transcripts.fasta"
# The shipped human model ranks these two first on the four chrY transcripts;
# ENST00000517139 (non-coding) is drawn only because --plot names it.
TOP_TWO = {"ENST00000250825", "ENST00000250823"}
NAMED = "ENST00000517139"
NOT_DRAWN = "ENST00000382585"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "tis_transformer", *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "PYTHONWARNINGS": "ignore",
                                        "PYTHONPATH": str(ROOT)})


class Page(HTMLParser):
    """What the tests look at: headings and SVGs per transcript block, links, scripts."""

    def __init__(self, text):
        super().__init__()
        self.blocks, self.urls, self.tags, self.text = {}, [], [], []
        self._block, self._in_h3 = None, False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        self.urls += [(tag, key, value) for key, value in attrs.items()
                      if key in ("src", "href", "xlink:href", "action", "data", "poster")]
        if tag == "div" and attrs.get("class") == "tx":
            self._block = []
        elif tag == "h3" and self._block is not None:
            self._in_h3 = True
        elif tag == "svg" and self._block is not None:
            self._block.append("svg")

    def handle_endtag(self, tag):
        if tag == "h3":
            self._in_h3 = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_h3 and self._block is not None:
            self.blocks[data] = self._block


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One ``impute`` run with every report option, as a user would type it."""
    out = tmp_path_factory.mktemp("report")
    started = time.perf_counter()
    result = run_cli("impute", str(FASTA), "-o", "sites.tsv", "-o", "multiqc:chrY_mqc.tsv",
                     "--report", "report.html", "--report_top", "2", "--plot", NAMED, "--plot", "NO_SUCH_ID",
                     cwd=out)
    assert result.returncode == 0, result.stderr
    result.seconds = time.perf_counter() - started
    result.dir = out
    return result


def test_report_header_and_counts(run):
    html = (run.dir / "report.html").read_text()
    text = " ".join(Page(html).text)
    from tis_transformer import __version__

    for expected in ("TIS Transformer report", __version__, "human.onnx", "isoform comparison",
                     str(FASTA), "probability >= 0.5", "wall time", "1,515", "Distributions",
                     "Best score per transcript", "Start codons of reported sites", "ORF lengths of reported sites",
                     "Transcripts with a site above"):
        assert expected in text, expected
    assert "ORF classes" not in text  # FASTA input: no annotation to classify against


def test_tracks_for_top_and_named_transcripts_only(run):
    page = Page((run.dir / "report.html").read_text())
    assert set(page.blocks) == TOP_TWO | {NAMED}
    assert all(block == ["svg"] for block in page.blocks.values())
    assert NOT_DRAWN not in page.blocks
    assert "table" in page.tags and "sortable" in (run.dir / "report.html").read_text()


def test_unknown_plot_id_warns_in_one_line(run):
    warnings = [line for line in run.stderr.splitlines() if "NO_SUCH_ID" in line]
    assert len(warnings) == 1 and "no such transcript" in warnings[0]


def test_nothing_from_the_network(run):
    html = (run.dir / "report.html").read_text()
    page = Page(html)
    assert all(value.startswith("#") for _, _, value in page.urls), page.urls
    assert not {"link", "img", "iframe", "object", "embed"} & set(page.tags)
    assert "@import" not in html and "url(" not in html
    assert "http://" not in html and "https://" not in html and "//cdn" not in html


def test_multiqc_custom_content(run):
    lines = (run.dir / "chrY_mqc.tsv").read_text().splitlines()
    config = dict(line[2:].split(": ", 1) for line in lines if line.startswith("# ") and ": " in line
                  and not line.startswith("#  "))
    assert config["id"] == "'tis_transformer'" and config["plot_type"] == "'table'"
    assert config["section_name"] == "'TIS Transformer'"
    rows = [line.split("\t") for line in lines if not line.startswith("#")]
    assert len(rows) == 2 and rows[0][0] == "Sample" and rows[1][0] == "chrY"
    counts = dict(zip(rows[0][1:], rows[1][1:]))
    sites = [line for line in (run.dir / "sites.tsv").read_text().splitlines() if not line.startswith("#")][1:]
    assert counts["transcripts"] == "4" and counts["nucleotides"] == "1515"
    assert counts["sites_reported"] == str(len(sites))
    assert counts["transcripts_with_site"] == str(len({line.split("\t")[0] for line in sites}))


def test_multiqc_counts_written_in_full():
    from tis_transformer.predictor.multiqc import multiqc_table

    row = multiqc_table({"nucleotides": 1_097_011, "transcripts": 3.0, "mean": 0.1234567}, "s").splitlines()[-1]
    assert row == "s\t1097011\t3\t0.123457"


def test_multiqc_reads_the_counts_of_two_samples(tmp_path):
    # the real MultiQC (its own environment: TIS_MULTIQC names its executable; .ci/run installs one)
    multiqc = os.environ.get("TIS_MULTIQC") or shutil.which("multiqc")
    if not multiqc:
        pytest.skip("MultiQC is not installed (pip install multiqc, or TIS_MULTIQC=/path/to/multiqc)")
    from tis_transformer.__main__ import main

    runs = tmp_path / "runs"
    runs.mkdir()
    assert main(["impute", str(FASTA), "-q", "-o", f"multiqc:{runs / 'sampleA_mqc.tsv'}"]) == 0
    example = ROOT / "examples" / "example.fa"
    assert main(["impute", str(example), "--alone", "-q", "-o", str(runs / "sampleB_mqc.tsv")]) == 0
    subprocess.run([multiqc, str(runs), "-o", str(tmp_path / "out"), "--no-ansi"], check=True, capture_output=True)
    table = (tmp_path / "out" / "multiqc_data" / "multiqc_tis_transformer_table.txt").read_text().splitlines()
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in table[1:]}
    header = table[0].split("\t")[1:]
    assert sorted(rows) == ["sampleA", "sampleB"]
    assert dict(zip(header, rows["sampleA"]))["nucleotides"] == "1515"
    assert dict(zip(header, rows["sampleB"]))["transcripts"] == "3"


def test_multiqc_format_from_the_name():
    assert format_from_path("sample_mqc.tsv", None) == "multiqc"
    assert format_from_path("sample_MQC.txt", None) == "multiqc"
    assert format_from_path("sample.tsv", None) == "tsv"
    assert multiqc_sample("/x/sample_mqc.tsv") == "sample" and multiqc_sample(None) == "tis-transformer"


def test_small_and_fast(run):
    assert (run.dir / "report.html").stat().st_size < 200_000
    assert run.seconds < 30


def test_failed_run_leaves_no_report(tmp_path):
    bad = tmp_path / "bad.fasta"
    bad.write_text(FASTA.read_text() + ">broken\nACGTJ\n")
    result = run_cli("impute", str(bad), "-o", "sites.tsv", "--report", "report.html", cwd=tmp_path)
    assert result.returncode == 1 and "invalid nucleotide" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.fasta"]


def test_report_never_replaces_other_data(tmp_path, capsys):
    from tis_transformer.__main__ import main

    notes = tmp_path / "README.md"
    notes.write_text("# my notes\n")
    assert main(["impute", str(FASTA), "-o", str(tmp_path / "a.tsv"), "--report", str(notes), "-q"]) == 1
    assert "not an HTML report" in capsys.readouterr().err
    assert notes.read_text() == "# my notes\n" and not (tmp_path / "a.tsv").exists()
    link = tmp_path / "link.html"  # written through: the check is on the file the link points to
    link.symlink_to(notes)
    assert main(["impute", str(FASTA), "-o", str(tmp_path / "a.tsv"), "--report", str(link), "-q"]) == 1
    assert notes.read_text() == "# my notes\n"
    # Galaxy's output paths end in .dat: an empty file, or an earlier report, is replaced
    for name, before in (("empty.dat", ""), ("earlier.dat", "<!DOCTYPE html>\n<html></html>\n")):
        (tmp_path / name).write_text(before)
        assert main(["impute", str(FASTA), "-o", str(tmp_path / "b.tsv"), "--report", str(tmp_path / name),
                     "-q"]) == 0
        page = (tmp_path / name).read_text()
        assert "TIS Transformer report" in page and "human.onnx (human)" in page  # the card's name, unquoted


def test_report_path_checked_before_predicting(tmp_path, capsys):
    from tis_transformer.__main__ import main

    same = str(tmp_path / "same.tsv")
    assert main(["impute", str(FASTA), "-o", f"tsv:{same}", "--report", same, "-q"]) == 1
    assert main(["impute", str(FASTA), "--report", str(tmp_path / "no" / "r.html"), "-q"]) == 1
    with pytest.raises(SystemExit):
        main(["impute", str(FASTA), "--report", "r.html", "--report_top", "-1", "-q"])
    errors = capsys.readouterr().err
    assert "both as an output and as the report" in errors and "no such directory" in errors
    assert "--report_top" in errors and not list(tmp_path.iterdir())


def test_genome_mode_report_draws_the_annotations_cds(tmp_path, capsys):
    """In genome mode the report takes each coding transcript's CDS from the annotation: the fixture's truth
    (checked against gffread in tests/test_genome.py) is what it draws and classifies against."""
    import csv

    from tis_transformer.__main__ import main

    genome = ROOT / "tests" / "data" / "genome"
    report = tmp_path / "genome.html"
    assert main(["impute", "--genome", str(genome / "genome.fa"), "--annotation", str(genome / "ensembl.gtf"),
                 "-o", str(tmp_path / "orfs.tsv"), "--top_k", "1", "--report", str(report),
                 "--report_top", "100", "-q"]) == 0
    html = report.read_text()
    with open(genome / "truth.tsv") as handle:
        truth = list(csv.DictReader(handle, delimiter="\t"))
    coding = [t for t in truth if t["cds_start"]]
    assert coding and len(coding) < len(truth)
    for t in coding:
        assert f"annotated CDS {t['cds_start']}-{t['cds_end']}" in html, t["transcript_id"]
    # every transcript is drawn (100 > the fixture's), the non-coding ones without a CDS box
    assert html.count('<div class="tx"') == len(truth)
    assert html.count("annotated CDS ") == 2 * len(coding)  # the box's label and the facts line
    assert "<td>annotated</td>" in html and "<td>no annotated CDS</td>" in html
    assert "annotation" in html and str(genome / "ensembl.gtf") in html
    # an output named twice, or the annotation as the report, is refused before anything is written
    out = tmp_path / "refused"
    out.mkdir()
    assert main(["impute", "--genome", str(genome / "genome.fa"), "--annotation", str(genome / "ensembl.gtf"),
                 "-o", str(out / "o.tsv"), "--report", str(out / "o.tsv"), "-q"]) == 1
    assert main(["impute", "--genome", str(genome / "genome.fa"), "--annotation", str(genome / "ensembl.gtf"),
                 "-o", str(out / "o.tsv"), "--report", str(genome / "ensembl.gtf"), "-q"]) == 1
    errors = capsys.readouterr().err
    assert "both as an output and as the report" in errors and "would overwrite the input" in errors
    assert not list(out.iterdir())


def test_report_of_many_long_transcripts_stays_small():
    """300 transcripts, some of 100 kb: the size depends on the drawn ones and
    each track on the width of the figure, not on the input."""
    rng = np.random.default_rng(0)
    report = Report(top=20, threshold=0.5)
    started = time.perf_counter()
    for index in range(300):
        length = 100_000 if index % 50 == 0 else int(rng.integers(200, 5000))
        tokens = rng.integers(0, 4, length).astype(np.uint8)
        probabilities = (rng.random(length) ** 8).astype(np.float32)
        report.add(f"tx{index}", tokens, probabilities)
    html = report.html({"input": "synthetic"})
    assert time.perf_counter() - started < 20
    assert len(html.encode()) < 3_000_000
    assert len(report.drawn()) == 20 and len(report._heap) == 20


def test_heap_keeps_the_best_and_breaks_ties_by_input_order():
    report = Report(top=2)
    tokens = encode("AATGAA")  # the best score is that of a start codon
    for name, best in (("a", 0.2), ("b", 0.9), ("c", 0.9), ("d", 0.1), ("e", 0.95)):
        report.add(name, tokens, np.array([0, best, 0, 0, 0, 0], dtype=np.float32))
    assert [item[0] for item in report.drawn()] == ["e", "b"]


def test_orf_classes():
    def site(position, end):
        return Site("t", position, 0.9, "ATG", end, end - position + 1, 0, True, "")

    cds = (100, 399)
    assert orf_class(site(100, 399), cds) == "annotated"
    assert orf_class(site(40, 399), cds) == "N-terminal extension"
    assert orf_class(site(160, 399), cds) == "N-terminal truncation"
    assert orf_class(site(10, 60), cds) == "uORF"
    assert orf_class(site(11, 120), cds) == "overlapping uORF"
    assert orf_class(site(101, 200), cds) == "internal out-of-frame"
    assert orf_class(site(500, 600), cds) == "dORF"
    assert orf_class(site(5, 50), None) == "no annotated CDS"


def test_npy_input_draws_the_annotated_cds(tmp_path):
    """An original-format data file carries the annotated TIS as a label."""
    rows = np.empty((4, 2), dtype=object)
    for index, (name, tokens) in enumerate(read_records(str(FASTA))):
        labels = np.zeros(tokens.size, dtype=np.int64)
        if name == "ENST00000250823":
            labels[63] = 1  # Ensembl CDS 64-441
        rows[index, 0] = np.stack([tokens.astype(np.int64), labels], axis=1)
        rows[index, 1] = name
    np.save(tmp_path / "four.npy", rows, allow_pickle=True)
    result = run_cli("impute", "four.npy", "-o", "sites.tsv", "--report", "r.html", "--report_top", "1",
                     "--plot", "ENST00000250823", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "r.html").read_text()
    assert "annotated CDS 64-441" in html and "ORF classes of reported sites" in html
    assert "<td>annotated</td>" in html


def test_predictor_stays_lean():
    code = ("import sys, tis_transformer.predictor.report, tis_transformer.predictor.report_svg; "
            "bad = [m for m in ('torch', 'lightning', 'lightgbm', 'onnx') if m in sys.modules]; "
            "sys.exit(str(bad) if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------- a real browser


def png_pixels(data: bytes) -> np.ndarray:
    """Decode an 8-bit RGB or RGBA PNG (what Chromium writes) without PIL."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks, header = 8, [], None
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        offset += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    channels = 3 if color == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), dtype=np.uint8).reshape(height, 1 + width * channels)
    image = np.zeros((height, width * channels), dtype=np.int64)
    previous = np.zeros(width * channels, dtype=np.int64)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int64)
        if kind == 0:
            row = line
        elif kind == 2:
            row = (line + previous) % 256
        elif kind == 1:
            # each channel is a running sum along the row
            row = np.cumsum(line.reshape(width, channels), axis=0).reshape(-1) % 256
        else:
            row = np.zeros_like(line)
            for x in range(line.size):
                left = row[x - channels] if x >= channels else 0
                up = previous[x]
                if kind == 3:
                    row[x] = (line[x] + (left + up) // 2) % 256
                else:
                    corner = previous[x - channels] if x >= channels else 0
                    p = left + up - corner
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                    guess = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                    row[x] = (line[x] + guess) % 256
        image[y], previous = row, row
    return image.reshape(height, width, channels)[:, :, :3].astype(np.uint8)


def test_chromium_renders_the_report(run, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip("no Chromium at /usr/bin/chromium (Debian package 'chromium'); .ci/run installs it")
    shot = tmp_path / "report.png"
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1000,1400",
         (run.dir / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    assert shot.exists(), result.stderr[-2000:]
    pixels = png_pixels(shot.read_bytes())
    assert pixels.shape[:2] == (1400, 1000)
    not_white = np.any(pixels < 235, axis=2)
    assert not_white.mean() > 0.02  # text and figures, not a blank page
    # the bars of the distribution charts (#4a86c5) were drawn: the SVG rendered
    bars = np.all(np.abs(pixels.astype(int) - (0x4A, 0x86, 0xC5)) < 12, axis=2)
    assert bars.sum() > 2000
